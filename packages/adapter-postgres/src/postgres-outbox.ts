import {
  ConnectionError,
  INVITATION_KINDS,
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
import type { Queryable } from "./database.js";
import { guard } from "./errors.js";
import { holdForCommit } from "./held-calls.js";
import { enqueueCall, enqueueQuery } from "./outbox-sql.js";
import { type OutboxEntryRow, type OutboxRow, reviveNotice, toSealedNotice } from "./rows.js";
import { type PostgresAdapterOptions, statementsBySchema } from "./schema-name.js";

/** The longest `last_error` kept; longer errors are cut. */
export const MAX_LAST_ERROR_LENGTH = 2000;

/** How many of the oldest due (or delivered) rows the cross-org discovery reads look at, per org asked for. */
const SAMPLE_PER_ORG = 64;

/** The invitation kinds as an SQL list (`'invite-existing-user', …`): only they carry a token seal. */
const INVITATION_SQL = [...INVITATION_KINDS].map((kind) => `'${kind}'`).join(", ");

/** The operator's columns: the notice without its token seal. */
const ENTRY_COLUMNS = `id, org, status, notice - 'tokenSeal' AS notice, attempts, available_at, last_error,
  last_attempt_at, delivered_at`;

/** The statements of one schema, built once per schema. Every write and claim names one org (`org = $1`). */
function statementsFor(s: string) {
  const t = `${s}.connection_outbox`;
  const claimable = `status = 'pending' AND available_at <= $2 AND (lease_until IS NULL OR lease_until <= $3)`;
  // `status || '' = 'pending'` rather than `status = 'pending'` (here and in claim's update): no partial index on
  // `status = 'pending'` matches, so the primary key is the only index these statements can walk. A generic plan made
  // while the table was empty (every index one page, every estimate one row) otherwise kept the org's due index,
  // which it then walked whole on every call, dead entries of every delivered message included.
  const held = `org = $1 AND id = $2 AND claims = $3 AND status || '' = 'pending'`;
  return {
    enqueue: enqueueQuery(s),
    // enqueue in a transaction: the routine of migration 41, called with a literal in the round trip of the COMMIT.
    enqueueCall: (json: string) => enqueueCall(s, json),
    // Cross-org, read-only: the orgs of the oldest due messages (a bounded sample, so a backlog costs nothing).
    // `since` ($5, null for none) bounds the due index's scan from below: the entries of delivered messages stay in
    // the index until a vacuum, at its old end, and a scan from the oldest walked them all (with autovacuum off:
    // test/outbox.test.ts, "since: a scan bounded from below"). COALESCE keeps it an index bound in a generic plan.
    dueOrgs: `SELECT org FROM (
        SELECT org, available_at, seq FROM ${t}
        WHERE status = 'pending' AND available_at >= COALESCE($5::timestamptz, '-infinity') AND available_at <= $1
          AND (lease_until IS NULL OR lease_until <= $2)
        ORDER BY available_at, seq LIMIT $4) AS due
      GROUP BY org ORDER BY min(available_at) LIMIT $3`,
    // The batch is picked once, in an InitPlan, then updated by primary key: as a join, a generic plan made on the
    // empty table read every row of the org by the primary key's first column for each claim.
    claim: `UPDATE ${t} AS o SET lease_until = $4, claims = o.claims + 1
      WHERE o.org = $1 AND o.id = ANY(ARRAY(
        SELECT id FROM ${t} WHERE org = $1 AND available_at >= COALESCE($6::timestamptz, '-infinity') AND ${claimable}
        ORDER BY available_at, seq LIMIT $5
        FOR UPDATE SKIP LOCKED))
      RETURNING o.id, o.org, o.notice, o.attempts, o.available_at, o.last_error, o.seq::float8 AS seq, o.claims,
                o.lease_until`,
    renew: `UPDATE ${t} SET lease_until = $4 WHERE ${held} RETURNING claims`,
    release: `UPDATE ${t} SET lease_until = NULL WHERE ${held} RETURNING claims`,
    markDelivered: `UPDATE ${t}
      SET status = 'delivered', delivered_at = $4, last_attempt_at = $4, lease_until = NULL,
          notice = jsonb_set(notice, '{tokenSeal}', 'null'::jsonb)
      WHERE ${held} RETURNING claims`,
    markFailed: `UPDATE ${t}
      SET attempts = attempts + 1, last_error = $4, last_attempt_at = $6, lease_until = NULL,
          status = CASE WHEN $5::timestamptz IS NULL THEN 'dead' ELSE 'pending' END,
          available_at = COALESCE($5::timestamptz, available_at),
          notice = CASE WHEN $5::timestamptz IS NULL THEN jsonb_set(notice, '{tokenSeal}', 'null'::jsonb)
                        ELSE notice END
      WHERE ${held} RETURNING claims`,
    // Cross-org, read-only figures.
    counts: `SELECT status, count(*)::int AS n FROM ${t} GROUP BY status`,
    pendingStats: `SELECT count(*)::int AS pending,
        count(*) FILTER (WHERE available_at <= $1 AND (lease_until IS NULL OR lease_until <= $1))::int AS due,
        min(available_at) FILTER (WHERE available_at <= $1 AND (lease_until IS NULL OR lease_until <= $1))
          AS oldest_due_at
      FROM ${t} WHERE status = 'pending'`,
    deadCount: `SELECT count(*)::int AS dead FROM ${t} WHERE status = 'dead'`,
    // Cross-org, read-only: the orgs of the oldest deliveries past retention (a bounded sample).
    purgeableOrgs: `SELECT org FROM (
        SELECT org, delivered_at FROM ${t} WHERE status = 'delivered' AND delivered_at < $1
        ORDER BY delivered_at LIMIT $3) AS old
      GROUP BY org ORDER BY min(delivered_at) LIMIT $2`,
    purgePick: `SELECT id FROM ${t} WHERE org = $1 AND status = 'delivered' AND delivered_at < $2
      ORDER BY delivered_at LIMIT $3`,
    purgeDelete: `DELETE FROM ${t} WHERE org = $1 AND id = ANY($2::text[]) AND status = 'delivered'
      RETURNING id`,
    listInOrg: `SELECT ${ENTRY_COLUMNS} FROM ${t}
      WHERE org = $1 AND status = $2 AND id > $3 ORDER BY id LIMIT $4`,
    // Cross-org, read-only (operators): a page of every org's messages of one status.
    listAll: `SELECT ${ENTRY_COLUMNS} FROM ${t}
      WHERE status = $1 AND (org, id) > ($2::text, $3::text) ORDER BY org, id LIMIT $4`,
    getInOrg: `SELECT ${ENTRY_COLUMNS} FROM ${t} WHERE org = $1 AND id = $2`,
    // Cross-org, read-only (operators): a message by id alone.
    getById: `SELECT ${ENTRY_COLUMNS} FROM ${t} WHERE id = $1 ORDER BY org LIMIT 1`,
    // An invitation gets back the seal and expiry of its connection, which must still be a pending, unexpired
    // invitation of the same org; an access-ending notice needs its grant still active, ending at the instant it
    // names, after now; any other notice is requeued as it is.
    requeue: `WITH m AS (
        SELECT o.status, o.notice->>'kind' AS kind, c.token_seal, c.expires_at, g.id AS grant_id
        FROM ${t} AS o
        LEFT JOIN ${s}.connections AS c
          ON c.org = o.org AND c.id = (o.notice->>'connectionId') COLLATE "C" AND c.state = 0 AND c.expires_at > $3
        LEFT JOIN ${s}.connections AS g
          ON g.org = o.org AND g.id = (o.notice->>'connectionId') COLLATE "C" AND g.state = 1
            AND g.access_expires_at > $3
            AND g.access_expires_at = (o.notice->'accessEnding'->>'endsAt')::timestamptz
        WHERE o.org = $1 AND o.id = $2),
      u AS (
        UPDATE ${t} AS o SET status = 'pending', attempts = 0, available_at = $3, lease_until = NULL,
          notice = CASE WHEN m.kind IN (${INVITATION_SQL})
                        THEN o.notice || jsonb_build_object('tokenSeal', m.token_seal, 'expiresAt', m.expires_at)
                        ELSE o.notice END
        FROM m
        WHERE o.org = $1 AND o.id = $2 AND o.status = 'dead'
          AND CASE WHEN m.kind IN (${INVITATION_SQL}) THEN m.token_seal IS NOT NULL
                   WHEN m.kind = 'access-ending' THEN m.grant_id IS NOT NULL
                   ELSE true END
        RETURNING o.id)
      SELECT m.status, m.kind, (SELECT count(*) FROM u)::int AS requeued FROM m`,
    purgeDead: `DELETE FROM ${t} WHERE org = $1 AND id = $2 AND status = 'dead' RETURNING id`,
  };
}

type Statements = ReturnType<typeof statementsFor>;

/** The statements of a schema (built on first use). */
// Prepared once: the relay's statements, whose generic plans walk the due index or the primary key even on empty
// tables (test/generic-plans.test.ts). Operator statements are planned on every call.
const statements = statementsBySchema(statementsFor, [
  "enqueue",
  "dueOrgs",
  "claim",
  "renew",
  "release",
  "markDelivered",
  "markFailed",
]);

/** Maps an operator row to an {@link OutboxEntry}. */
function toEntry(row: OutboxEntryRow): OutboxEntry {
  return {
    id: row.id,
    org: row.org,
    status: row.status,
    notice: reviveNotice(row.notice),
    attempts: row.attempts,
    availableAt: new Date(row.available_at),
    lastError: row.last_error,
    lastAttemptAt: row.last_attempt_at === null ? null : new Date(row.last_attempt_at),
    deliveredAt: row.delivered_at === null ? null : new Date(row.delivered_at),
  };
}

function checkLimit(operation: string, limit: number, max = 10_000): void {
  if (!Number.isInteger(limit) || limit < 0 || limit > max) {
    throw new ConnectionError("cortex.invalidArgument.unspecified", {
      reason: `${operation}: limit must be an integer from 0 to ${max}`,
    });
  }
}

/**
 * The transactional {@link Outbox} in the `connection_outbox` table. `enqueue` writes in whatever transaction the
 * `Queryable` belongs to. Every write and every claim names one org and its keys lead with org, so the table can be
 * sharded by org; the reads that span orgs (`dueOrgs`, `purgeableOrgs`, `counts`, `stats`, and `list` / `get`
 * without an org) lock nothing. `claim` locks an org's due rows with `FOR UPDATE SKIP LOCKED` and leases them, so
 * relays running at once never claim the same message while its lease lasts; run it outside a transaction so the
 * lease commits at once. Each claim raises the row's `claims` count, the fencing token that renew, release and
 * settle must name. A delivered or dead-lettered message loses its token seal (ADR 0001), so no settled message can
 * yield a token; a requeued invitation takes the current seal of its still-pending connection, and a requeued
 * access-ending notice must still match its grant's end.
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
    // In a transaction that can hold writes until its commit, the messages go with the COMMIT, in the same round trip
    // (nothing reads them before: the relay sees them only once committed), through the routine of migration 41.
    if (holdForCommit(this.db, { routine: "enqueue", arg: json }, () => this.sql.enqueueCall(json))) return;
    await guard("outbox.enqueue", () => this.db.query(this.sql.enqueue, [json]));
  }

  async dueOrgs(dueBy: Date, now: Date, limit: number, since?: Date): Promise<string[]> {
    checkLimit("outbox.dueOrgs", limit, 1_000);
    if (limit === 0) return [];
    const { rows } = await guard("outbox.dueOrgs", () =>
      this.db.query<{ org: string }>(this.sql.dueOrgs, [
        dueBy,
        now,
        limit,
        limit * SAMPLE_PER_ORG,
        since ?? null,
      ]),
    );
    return rows.map((r) => r.org);
  }

  async claim(
    org: string,
    now: Date,
    limit: number,
    leaseMs: number,
    dueBy: Date = now,
    since?: Date,
  ): Promise<OutboxMessage[]> {
    checkLimit("outbox.claim", limit);
    if (!Number.isFinite(leaseMs) || leaseMs <= 0) {
      throw new ConnectionError("cortex.invalidArgument.unspecified", {
        reason: "outbox.claim: leaseMs must be > 0",
      });
    }
    if (limit === 0) return [];
    const leaseUntil = new Date(now.getTime() + leaseMs);
    const { rows } = await guard("outbox.claim", () =>
      this.db.query<OutboxRow>(this.sql.claim, [org, dueBy, now, leaseUntil, limit, since ?? null]),
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
        claim: row.claims,
        leaseUntil: new Date(row.lease_until ?? leaseUntil),
      }));
  }

  renew(claim: OutboxClaim, leaseUntil: Date): Promise<boolean> {
    return this.held("outbox.renew", this.sql.renew, claim, [leaseUntil]);
  }

  release(claim: OutboxClaim): Promise<boolean> {
    return this.held("outbox.release", this.sql.release, claim, []);
  }

  markDelivered(claim: OutboxClaim, now: Date): Promise<boolean> {
    return this.held("outbox.markDelivered", this.sql.markDelivered, claim, [now]);
  }

  markFailed(claim: OutboxClaim, error: string, retryAt: Date | null, now: Date): Promise<boolean> {
    const text = error.slice(0, MAX_LAST_ERROR_LENGTH);
    return this.held("outbox.markFailed", this.sql.markFailed, claim, [text, retryAt, now]);
  }

  async counts(): Promise<Record<OutboxMessageStatus, number>> {
    const { rows } = await guard("outbox.counts", () =>
      this.db.query<{ status: OutboxMessageStatus; n: number }>(this.sql.counts),
    );
    const counts: Record<OutboxMessageStatus, number> = { pending: 0, delivered: 0, dead: 0 };
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  async stats(now: Date): Promise<OutboxStats> {
    const [pending, dead] = await Promise.all([
      guard("outbox.stats", () =>
        this.db.query<{ pending: number; due: number; oldest_due_at: Date | null }>(this.sql.pendingStats, [
          now,
        ]),
      ),
      guard("outbox.stats", () => this.db.query<{ dead: number }>(this.sql.deadCount)),
    ]);
    const p = pending.rows[0];
    return {
      pending: p?.pending ?? 0,
      dead: dead.rows[0]?.dead ?? 0,
      due: p?.due ?? 0,
      oldestDueAt: p?.oldest_due_at == null ? null : new Date(p.oldest_due_at),
    };
  }

  async purgeableOrgs(before: Date, limit: number): Promise<string[]> {
    checkLimit("outbox.purgeableOrgs", limit, 1_000);
    if (limit === 0) return [];
    const { rows } = await guard("outbox.purgeableOrgs", () =>
      this.db.query<{ org: string }>(this.sql.purgeableOrgs, [before, limit, limit * SAMPLE_PER_ORG]),
    );
    return rows.map((r) => r.org);
  }

  async purgeDelivered(org: string, before: Date, limit: number): Promise<number> {
    checkLimit("outbox.purgeDelivered", limit);
    if (limit === 0) return 0;
    // Pick, then delete by id: the delete never plans a join, whatever the statistics say.
    const picked = await guard("outbox.purgeDelivered", () =>
      this.db.query<{ id: string }>(this.sql.purgePick, [org, before, limit]),
    );
    if (picked.rows.length === 0) return 0;
    const ids = picked.rows.map((r) => r.id);
    const { rows } = await guard("outbox.purgeDelivered", () =>
      this.db.query<{ id: string }>(this.sql.purgeDelete, [org, ids]),
    );
    return rows.length;
  }

  async list(query: OutboxListQuery): Promise<OutboxEntry[]> {
    checkLimit("outbox.list", query.limit, 1_000);
    if (query.limit === 0) return [];
    const { org, status, limit, after } = query;
    const { rows } = await guard("outbox.list", () =>
      org === undefined
        ? this.db.query<OutboxEntryRow>(this.sql.listAll, [status, after?.org ?? "", after?.id ?? "", limit])
        : this.db.query<OutboxEntryRow>(this.sql.listInOrg, [
            org,
            status,
            after === undefined || after.org < org ? "" : after.org > org ? "\uffff" : after.id,
            limit,
          ]),
    );
    return rows.map(toEntry);
  }

  async get(id: string, org?: string): Promise<OutboxEntry | null> {
    const { rows } = await guard("outbox.get", () =>
      org === undefined
        ? this.db.query<OutboxEntryRow>(this.sql.getById, [id])
        : this.db.query<OutboxEntryRow>(this.sql.getInOrg, [org, id]),
    );
    const row = rows[0];
    return row === undefined ? null : toEntry(row);
  }

  async requeue(org: string, id: string, now: Date): Promise<RequeueOutcome> {
    const { rows } = await guard("outbox.requeue", () =>
      this.db.query<{ status: OutboxMessageStatus; kind: string; requeued: number }>(this.sql.requeue, [
        org,
        id,
        now,
      ]),
    );
    const row = rows[0];
    if (row === undefined) return "notFound";
    if (row.status !== "dead") return "notDead";
    if (row.requeued > 0) return "requeued";
    return row.kind === "access-ending" ? "grantChanged" : "invitationClosed";
  }

  async purgeDead(org: string, id: string): Promise<boolean> {
    const { rows } = await guard("outbox.purgeDead", () => this.db.query(this.sql.purgeDead, [org, id]));
    return rows.length > 0;
  }

  /** Runs a fenced statement (`org = $1 AND id = $2 AND claims = $3`); true when the claim was still held. */
  private async held(
    operation: string,
    text: string,
    claim: OutboxClaim,
    rest: readonly unknown[],
  ): Promise<boolean> {
    const { rows } = await guard(operation, () =>
      this.db.query(text, [claim.org, claim.id, claim.claim, ...rest]),
    );
    return rows.length > 0;
  }
}
