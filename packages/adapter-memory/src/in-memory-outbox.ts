import type { Outbox, OutboxMessage, OutboxMessageStatus, SealedNotice } from "@conn/core";
import type { Runner } from "./in-memory-connection-repository.js";
import { copyRow, type MemoryState, type OutboxRow } from "./memory-state.js";

/** The in-memory {@link Outbox}: claims with leases, retries and dead letters, as the Postgres outbox does. */
export class InMemoryOutbox implements Outbox {
  constructor(
    private readonly state: MemoryState,
    private readonly run: Runner,
  ) {}

  enqueue(
    messages: readonly { id: string; org: string; notice: SealedNotice; availableAt: Date }[],
  ): Promise<void> {
    const rows = messages.map(
      (m): Omit<OutboxRow, "seq"> => ({
        id: m.id,
        org: m.org,
        notice: structuredClone(m.notice),
        attempts: 0,
        availableAt: new Date(m.availableAt),
        lastError: null,
        status: "pending",
        leaseUntil: null,
        created: new Date(m.availableAt),
        deliveredAt: null,
      }),
    );
    return this.run.write(() => {
      for (const row of rows) {
        if (this.state.outbox.has(row.id))
          throw new Error(`in-memory outbox: duplicate message id ${row.id}`);
      }
      for (const row of rows) this.state.putRow({ ...row, seq: ++this.state.outboxSeq });
    });
  }

  claim(now: Date, limit: number, leaseMs: number): Promise<OutboxMessage[]> {
    return this.run.write(() => {
      const due = [...this.state.outbox.values()]
        .filter(
          (r) =>
            r.status === "pending" && r.availableAt <= now && (r.leaseUntil === null || r.leaseUntil <= now),
        )
        .sort((a, b) => a.availableAt.getTime() - b.availableAt.getTime() || a.seq - b.seq)
        .slice(0, limit);
      return due.map((r) => {
        this.state.putRow({ ...copyRow(r), leaseUntil: new Date(now.getTime() + leaseMs) });
        const { seq: _q, status: _s, leaseUntil: _l, created: _c, deliveredAt: _d, ...message } = copyRow(r);
        return message;
      });
    });
  }

  markDelivered(id: string, now: Date): Promise<void> {
    return this.run.write(() => {
      const r = this.state.outbox.get(id);
      if (r === undefined) return;
      this.state.putRow({
        ...copyRow(r),
        status: "delivered",
        leaseUntil: null,
        deliveredAt: new Date(now),
        notice: { ...copyRow(r).notice, tokenSeal: null },
      });
    });
  }

  markFailed(id: string, error: string, retryAt: Date | null, _now: Date): Promise<void> {
    return this.run.write(() => {
      const r = this.state.outbox.get(id);
      if (r === undefined) return;
      const row = copyRow(r);
      this.state.putRow({
        ...row,
        attempts: row.attempts + 1,
        lastError: error,
        leaseUntil: null,
        status: retryAt === null ? "dead" : "pending",
        availableAt: retryAt ?? row.availableAt,
        notice: retryAt === null ? { ...row.notice, tokenSeal: null } : row.notice,
      });
    });
  }

  counts(): Promise<Record<OutboxMessageStatus, number>> {
    return this.run.read(() => {
      const counts: Record<OutboxMessageStatus, number> = { pending: 0, delivered: 0, dead: 0 };
      for (const r of this.state.outbox.values()) counts[r.status]++;
      return counts;
    });
  }

  /** Every row, copied (for tests and inspection). */
  rows(): Promise<OutboxRow[]> {
    return this.run.read(() => [...this.state.outbox.values()].map(copyRow));
  }
}
