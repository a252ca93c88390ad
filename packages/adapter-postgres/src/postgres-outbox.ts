import {
  ConnectionError,
  type Outbox,
  type OutboxMessage,
  type OutboxMessageStatus,
  type SealedNotice,
} from "@conn/core";
import type { Queryable } from "./database.js";
import { guard } from "./errors.js";
import { type OutboxRow, toSealedNotice } from "./rows.js";
import { type PostgresAdapterOptions, statementsBySchema } from "./schema-name.js";

/** The longest `last_error` kept; longer errors are cut. */
export const MAX_LAST_ERROR_LENGTH = 2000;

/** The statements of one schema, built once per schema. */
function statementsFor(s: string) {
  const t = `${s}.connection_outbox`;
  return {
    enqueue: `INSERT INTO ${t} (id, org, notice, available_at)
      SELECT x.id, x.org, x.notice, x.available_at
      FROM jsonb_to_recordset($1::jsonb) AS x(id text, org text, notice jsonb, available_at timestamptz)`,
    claim: `UPDATE ${t} AS o SET lease_until = $3
      FROM (SELECT id FROM ${t}
            WHERE status = 'pending' AND available_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
            ORDER BY available_at, seq
            LIMIT $2
            FOR UPDATE SKIP LOCKED) AS due
      WHERE o.id = due.id
      RETURNING o.id, o.org, o.notice, o.attempts, o.available_at, o.last_error, o.seq::float8 AS seq`,
    markDelivered: `UPDATE ${t}
      SET status = 'delivered', delivered_at = $2, lease_until = NULL,
          notice = jsonb_set(notice, '{tokenSeal}', 'null'::jsonb)
      WHERE id = $1 AND status = 'pending'`,
    markFailed: `UPDATE ${t}
      SET attempts = attempts + 1, last_error = $2, last_attempt_at = $4, lease_until = NULL,
          status = CASE WHEN $3::timestamptz IS NULL THEN 'dead' ELSE 'pending' END,
          available_at = COALESCE($3::timestamptz, available_at),
          notice = CASE WHEN $3::timestamptz IS NULL THEN jsonb_set(notice, '{tokenSeal}', 'null'::jsonb)
                        ELSE notice END
      WHERE id = $1 AND status = 'pending'`,
    counts: `SELECT status, count(*)::int AS n FROM ${t} GROUP BY status`,
  };
}

type Statements = ReturnType<typeof statementsFor>;

/** The statements of a schema (built on first use). */
const statements = statementsBySchema(statementsFor);

/**
 * The transactional {@link Outbox} in the `connection_outbox` table. `enqueue` writes in whatever transaction the
 * `Queryable` belongs to. Claiming and settling are global, not per org, by design: a relay serves every org, and
 * a message id is unique across orgs. `claim` locks due rows with `FOR UPDATE SKIP LOCKED` and leases them, so
 * relays running at once never claim the same message while its lease lasts; run it outside a transaction so the
 * lease commits at once. A failed attempt is counted by `markFailed`, not by `claim`. A delivered or dead-lettered
 * message loses its token seal (ADR 0001), so no settled message can yield a token.
 */
export class PostgresOutbox implements Outbox {
  private readonly sql: Statements;

  constructor(
    private readonly db: Queryable,
    options: PostgresAdapterOptions = {},
  ) {
    this.sql = statements(options.schema);
  }

  async enqueue(
    messages: readonly { id: string; org: string; notice: SealedNotice; availableAt: Date }[],
  ): Promise<void> {
    if (messages.length === 0) return;
    const json = JSON.stringify(
      messages.map((m) => ({
        id: m.id,
        org: m.org,
        notice: m.notice,
        available_at: m.availableAt.toISOString(),
      })),
    );
    await guard("outbox.enqueue", () => this.db.query(this.sql.enqueue, [json]));
  }

  async claim(now: Date, limit: number, leaseMs: number): Promise<OutboxMessage[]> {
    if (!Number.isInteger(limit) || limit < 0) {
      throw new ConnectionError("cortex.error.unspecified", {
        reason: "outbox.claim: limit must be an integer >= 0",
      });
    }
    if (!Number.isFinite(leaseMs) || leaseMs <= 0) {
      throw new ConnectionError("cortex.error.unspecified", { reason: "outbox.claim: leaseMs must be > 0" });
    }
    if (limit === 0) return [];
    const leaseUntil = new Date(now.getTime() + leaseMs);
    const { rows } = await guard("outbox.claim", () =>
      this.db.query<OutboxRow>(this.sql.claim, [now, limit, leaseUntil]),
    );
    // RETURNING keeps no order: put the batch back in claim order (due time, then enqueue order).
    return [...rows]
      .sort(
        (a, b) => new Date(a.available_at).getTime() - new Date(b.available_at).getTime() || a.seq - b.seq,
      )
      .map((row) => ({
        id: row.id,
        org: row.org,
        notice: toSealedNotice(row.notice),
        attempts: row.attempts,
        availableAt: new Date(row.available_at),
        lastError: row.last_error,
      }));
  }

  async markDelivered(id: string, now: Date): Promise<void> {
    await guard("outbox.markDelivered", () => this.db.query(this.sql.markDelivered, [id, now]));
  }

  async markFailed(id: string, error: string, retryAt: Date | null, now: Date): Promise<void> {
    await guard("outbox.markFailed", () =>
      this.db.query(this.sql.markFailed, [id, error.slice(0, MAX_LAST_ERROR_LENGTH), retryAt, now]),
    );
  }

  async counts(): Promise<Record<OutboxMessageStatus, number>> {
    const { rows } = await guard("outbox.counts", () =>
      this.db.query<{ status: OutboxMessageStatus; n: number }>(this.sql.counts),
    );
    const counts: Record<OutboxMessageStatus, number> = { pending: 0, delivered: 0, dead: 0 };
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }
}
