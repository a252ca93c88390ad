import {
  ConnectionState,
  isInvitationKind,
  type Outbox,
  type OutboxClaim,
  type OutboxEntry,
  type OutboxListQuery,
  type OutboxMessage,
  type OutboxMessageStatus,
  type OutboxStats,
  type RequeueOutcome,
  type SealedNotice,
} from "@conn/core";
import { copyData } from "./copy-data.js";
import type { Runner } from "./in-memory-connection-repository.js";
import { copyRow, keys, type MemoryState, type OutboxRow } from "./memory-state.js";

/** True when the row can be claimed at `now` for a drain that serves what was due by `dueBy`. */
function claimable(row: OutboxRow, dueBy: number, now: number): boolean {
  return (
    row.status === "pending" &&
    row.availableAt.getTime() <= dueBy &&
    (row.leaseUntil === null || row.leaseUntil.getTime() <= now)
  );
}

/** The operator's view of a row: everything but the token seal. */
function entryOf(row: OutboxRow): OutboxEntry {
  const { tokenSeal: _seal, ...notice } = copyData(row.notice);
  return {
    id: row.id,
    org: row.org,
    status: row.status,
    notice,
    attempts: row.attempts,
    availableAt: new Date(row.availableAt),
    lastError: row.lastError,
    lastAttemptAt: row.lastAttemptAt === null ? null : new Date(row.lastAttemptAt),
    deliveredAt: row.deliveredAt === null ? null : new Date(row.deliveredAt),
  };
}

/**
 * The in-memory {@link Outbox}: claims with leases and fencing tokens, retries, dead letters and retention, as the
 * Postgres outbox does. Claims walk an index of the org's pending messages by due time, never the delivered ones.
 */
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
        notice: copyData(m.notice),
        attempts: 0,
        availableAt: new Date(m.availableAt),
        lastError: null,
        status: "pending",
        leaseUntil: null,
        claims: 0,
        created: new Date(m.availableAt),
        lastAttemptAt: null,
        deliveredAt: null,
      }),
    );
    return this.run.write(() => {
      const ids = new Set<string>();
      for (const row of rows) {
        if (this.state.outbox.has(row.id) || ids.has(row.id))
          throw new Error(`in-memory outbox: duplicate message id ${row.id}`);
        ids.add(row.id);
      }
      for (const row of rows) this.state.putRow({ ...row, seq: ++this.state.outboxSeq });
    });
  }

  dueOrgs(dueBy: Date, now: Date, limit: number, since?: Date): Promise<string[]> {
    const from = since?.getTime() ?? Number.NEGATIVE_INFINITY;
    return this.run.read(() => {
      const due: { org: string; t: number; seq: number }[] = [];
      for (const [org, index] of this.state.outbox.orgsWithPending()) {
        for (const entry of index.inOrder()) {
          if (entry.t > dueBy.getTime()) break;
          if (entry.t < from) continue;
          const row = this.state.outbox.get(entry.id) as OutboxRow;
          if (claimable(row, dueBy.getTime(), now.getTime())) {
            due.push({ org, t: entry.t, seq: entry.seq });
            break;
          }
        }
      }
      due.sort((a, b) => a.t - b.t || a.seq - b.seq);
      return due.slice(0, limit).map((d) => d.org);
    });
  }

  claim(
    org: string,
    now: Date,
    limit: number,
    leaseMs: number,
    dueBy: Date = now,
    since?: Date,
  ): Promise<OutboxMessage[]> {
    const from = since?.getTime() ?? Number.NEGATIVE_INFINITY;
    return this.run.write(() => {
      const picked: OutboxRow[] = [];
      for (const entry of this.state.outbox.pendingOf(org)?.inOrder() ?? []) {
        if (picked.length >= limit || entry.t > dueBy.getTime()) break;
        if (entry.t < from) continue;
        const row = this.state.outbox.get(entry.id) as OutboxRow;
        if (claimable(row, dueBy.getTime(), now.getTime())) picked.push(row);
      }
      const leaseUntil = new Date(now.getTime() + leaseMs);
      return picked.map((r) => {
        const row: OutboxRow = { ...copyRow(r), leaseUntil, claims: r.claims + 1 };
        this.state.putRow(row);
        return {
          id: row.id,
          org: row.org,
          notice: copyData(row.notice),
          attempts: row.attempts,
          availableAt: new Date(row.availableAt),
          lastError: row.lastError,
          claim: row.claims,
          leaseUntil: new Date(leaseUntil),
        };
      });
    });
  }

  renew(claim: OutboxClaim, leaseUntil: Date): Promise<boolean> {
    return this.settle(claim, (row) => ({ ...row, leaseUntil: new Date(leaseUntil) }));
  }

  release(claim: OutboxClaim): Promise<boolean> {
    return this.settle(claim, (row) => ({ ...row, leaseUntil: null }));
  }

  markDelivered(claim: OutboxClaim, now: Date): Promise<boolean> {
    return this.settle(claim, (row) => ({
      ...row,
      status: "delivered",
      leaseUntil: null,
      lastAttemptAt: new Date(now),
      deliveredAt: new Date(now),
      notice: { ...row.notice, tokenSeal: null },
    }));
  }

  markFailed(claim: OutboxClaim, error: string, retryAt: Date | null, now: Date): Promise<boolean> {
    return this.settle(claim, (row) => ({
      ...row,
      attempts: row.attempts + 1,
      lastError: error,
      lastAttemptAt: new Date(now),
      leaseUntil: null,
      status: retryAt === null ? "dead" : "pending",
      availableAt: retryAt === null ? row.availableAt : new Date(retryAt),
      notice: retryAt === null ? { ...row.notice, tokenSeal: null } : row.notice,
    }));
  }

  counts(): Promise<Record<OutboxMessageStatus, number>> {
    return this.run.read(() => this.state.outbox.counts());
  }

  stats(now: Date): Promise<OutboxStats> {
    return this.run.read(() => {
      let due = 0;
      let oldest: number | null = null;
      for (const [, index] of this.state.outbox.orgsWithPending()) {
        for (const entry of index.inOrder()) {
          if (entry.t > now.getTime()) break;
          if (!claimable(this.state.outbox.get(entry.id) as OutboxRow, now.getTime(), now.getTime()))
            continue;
          due++;
          if (oldest === null || entry.t < oldest) oldest = entry.t;
        }
      }
      const { pending, dead } = this.state.outbox.counts();
      return { pending, dead, due, oldestDueAt: oldest === null ? null : new Date(oldest) };
    });
  }

  purgeableOrgs(before: Date, limit: number): Promise<string[]> {
    return this.run.read(() => {
      const orgs: { org: string; t: number }[] = [];
      for (const [org, index] of this.state.outbox.orgsWithDelivered()) {
        const first = index.first();
        if (first !== undefined && first.t < before.getTime()) orgs.push({ org, t: first.t });
      }
      return orgs
        .sort((a, b) => a.t - b.t)
        .slice(0, limit)
        .map((o) => o.org);
    });
  }

  purgeDelivered(org: string, before: Date, limit: number): Promise<number> {
    return this.run.write(() => {
      const ids: string[] = [];
      for (const entry of this.state.outbox.deliveredOf(org)?.inOrder() ?? []) {
        if (ids.length >= limit || entry.t >= before.getTime()) break;
        ids.push(entry.id);
      }
      for (const id of ids) this.state.deleteRow(id);
      return ids.length;
    });
  }

  list(query: OutboxListQuery): Promise<OutboxEntry[]> {
    return this.run.read(() => {
      const rows: OutboxRow[] = [];
      const add = (org: string, ids: Iterable<string>) => {
        if (query.org !== undefined && org !== query.org) return;
        for (const id of ids) rows.push(this.state.outbox.get(id) as OutboxRow);
      };
      const outbox = this.state.outbox;
      if (query.status === "dead") for (const [org, ids] of outbox.orgsWithDead()) add(org, ids);
      else {
        const indexes = query.status === "pending" ? outbox.orgsWithPending() : outbox.orgsWithDelivered();
        for (const [org, index] of indexes)
          add(
            org,
            [...index.inOrder()].map((e) => e.id),
          );
      }
      const after = query.after;
      return rows
        .filter((r) => after === undefined || r.org > after.org || (r.org === after.org && r.id > after.id))
        .sort((a, b) => (a.org < b.org ? -1 : a.org > b.org ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .slice(0, query.limit)
        .map(entryOf);
    });
  }

  get(id: string, org?: string): Promise<OutboxEntry | null> {
    return this.run.read(() => {
      const row = this.state.outbox.get(id);
      return row === undefined || (org !== undefined && row.org !== org) ? null : entryOf(row);
    });
  }

  requeue(org: string, id: string, now: Date): Promise<RequeueOutcome> {
    return this.run.write((): RequeueOutcome => {
      const row = this.state.outbox.get(id);
      if (row === undefined || row.org !== org) return "notFound";
      if (row.status !== "dead") return "notDead";
      let notice = row.notice;
      const record = this.state.records.get(keys.record(org, notice.connectionId));
      if (isInvitationKind(notice.kind)) {
        if (
          record === undefined ||
          record.state !== ConnectionState.Pending ||
          record.tokenSeal === null ||
          record.expiresAt === null ||
          record.expiresAt <= now
        )
          return "invitationClosed";
        notice = { ...notice, tokenSeal: record.tokenSeal, expiresAt: new Date(record.expiresAt) };
      } else if (notice.kind === "access-ending") {
        const end = notice.accessEnding?.endsAt?.getTime();
        const stored = record?.accessExpiresAt?.getTime();
        if (
          record?.state !== ConnectionState.Active ||
          end === undefined ||
          stored !== end ||
          end <= now.getTime()
        )
          return "grantChanged";
      }
      this.state.putRow({
        ...copyRow(row),
        notice: copyData(notice),
        status: "pending",
        attempts: 0,
        availableAt: new Date(now),
        leaseUntil: null,
      });
      return "requeued";
    });
  }

  purgeDead(org: string, id: string): Promise<boolean> {
    return this.run.write(() => {
      const row = this.state.outbox.get(id);
      if (row === undefined || row.org !== org || row.status !== "dead") return false;
      this.state.deleteRow(id);
      return true;
    });
  }

  /** Every row, copied (for tests and inspection). */
  rows(): Promise<OutboxRow[]> {
    return this.run.read(() => [...this.state.outbox.values()].map(copyRow));
  }

  /** Applies `change` to the claimed row when the claim is still held (pending, same fencing token). */
  private settle(claim: OutboxClaim, change: (row: OutboxRow) => OutboxRow): Promise<boolean> {
    return this.run.write(() => {
      const row = this.state.outbox.get(claim.id);
      if (
        row === undefined ||
        row.org !== claim.org ||
        row.status !== "pending" ||
        row.claims !== claim.claim
      )
        return false;
      this.state.putRow(change(copyRow(row)));
      return true;
    });
  }
}
