import {
  type AcceptedPending,
  type AccessLevel,
  type Claimant,
  ConnectionError,
  type ConnectionListQuery,
  type ConnectionPage,
  type ConnectionRecord,
  type ConnectionRepository,
  ConnectionState,
  type ContextRef,
  type CreateSnapshot,
  type EndingGrant,
  type EndingGrantsQuery,
  type ExpectedPending,
  type Instant,
  instantOf,
  SnapshotNotEmpty,
  type SupersededPending,
} from "@conn/core";
import {
  acceptRoutine,
  activeKeySql,
  activeMerge,
  C_COLUMNS,
  COLUMNS,
  contextLockStatement,
  expectNoneCall,
  findForCreateCall,
  RECORDSET,
  sameC,
  savePendingAsExpectedCall,
  savePendingFreshCall,
  savePendingStatement,
  X_COLUMNS,
} from "./connection-sql.js";
import { type Database, planEachCall, type Queryable } from "./database.js";
import { guard, isSnapshotNotEmpty, retryAborted } from "./errors.js";
import { holdForCommit } from "./held-calls.js";
import { type ConnectionRow, toAccessLevel, toJsonRow, toRecord } from "./rows.js";
import { type PostgresAdapterOptions, statementsBySchema } from "./schema-name.js";

/** The statements of one schema, built once per schema. */
function statementsFor(s: string) {
  const t = `${s}.connections`;
  /** A pending row that has not expired at `$now`, or an active row; either with access that has not ended. */
  const live = (now: string) =>
    `(state = 1 OR expires_at > ${now}) AND (access_expires_at IS NULL OR access_expires_at > ${now})`;
  return {
    // A transaction-scoped advisory lock on a 64-bit hash of (org, context): a collision only makes two contexts wait
    // for each other, never lets two writers of one context through.
    // lockContext sends the key as a literal (textLiteral), with no parameter: a statement without parameters can go in
    // the same round trip as the transaction's BEGIN (see the Database's transaction).
    lockContext: contextLockStatement,
    // Planned on every call: a generic plan made while the table was empty (every index one page, every estimate one
    // row) may walk the context's index by org alone, every row of the org, for as long as the connection lives.
    findById: planEachCall(`SELECT ${COLUMNS} FROM ${t} WHERE org = $1 AND id = $2 AND ${live("$3")}`),
    // `state + 0 = 0` rather than `state = 0` (here, in claimPending and in deleteSuperseded): on stale statistics
    // (autovacuum off, or not yet run) the planner may think no pending row exists and walk the expiry index, a partial
    // index on `state = 0`, over every pending row of the org. Written so, no partial index on `state = 0` matches and
    // each statement keeps the index it is written for (test/stale-statistics.test.ts checks the plans).
    // The three prepared look-ups compare their keys in "C" (sameC): only the unique index they are written for can
    // serve them, whatever the tables held when the generic plan was made (test/generic-plans.test.ts).
    findPendingByTokenHash: `SELECT ${COLUMNS} FROM ${t}
      WHERE ${sameC("org", "$1")} AND ${sameC("token_hash", "$2")} AND state + 0 = 0 AND expires_at > $3`,
    activeAccess: `SELECT access FROM ${t} WHERE ${activeKeySql()}
        AND ($5::timestamptz IS NULL OR access_expires_at IS NULL OR access_expires_at > $5::timestamptz)`,
    activeGrant: `SELECT access, access_expires_at FROM ${t} WHERE ${activeKeySql()}
        AND ($5::timestamptz IS NULL OR access_expires_at IS NULL OR access_expires_at > $5::timestamptz)`,
    // Create's look-up, one call of the routine of migration 41, which takes the context's lock itself: its argument
    // goes as a literal, so the call rides in the same round trip as the transaction's BEGIN (connection-sql.ts).
    findForCreate: (params: readonly unknown[]) => findForCreateCall(s, params),
    // Create's check, one call of the routine of migration 46 (which takes the context's lock itself), likewise.
    expectNoneForCreate: (params: readonly unknown[]) => expectNoneCall(s, params),
    savePending: savePendingStatement(s),
    // savePendingAsExpected: the routine of migration 42, called with a literal, held for the commit's round trip.
    savePendingAsExpected: (args: string) => savePendingAsExpectedCall(s, args),
    // savePendingAsExpected of records expected to become themselves: the routine of migration 45.
    savePendingFresh: (args: string) => savePendingFreshCall(s, args),
    saveActive: `INSERT INTO ${t} AS c (${COLUMNS})
      SELECT ${X_COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS x(${RECORDSET})
      ${activeMerge("$2")}
      RETURNING ${C_COLUMNS}`,
    // Accept's writes, one call of the routine of migration 40, which takes the context's lock itself (see
    // connection-sql.ts). Outside a transaction it is its own: accept sends no BEGIN or COMMIT.
    acceptPending: `SELECT * FROM ${acceptRoutine(s)}($1, $2, $3, $4, $5)`,
    claimPending: `DELETE FROM ${t} WHERE org = $1 AND id = $2 AND state + 0 = 0 AND expires_at > $3
      RETURNING ${COLUMNS}`,
    // claimPending with the context's lock taken first, in the same round trip: the lock is an InitPlan under a
    // one-time filter, so it is held before the row is read (the row itself is then re-checked at its latest version,
    // as any DELETE under READ COMMITTED does).
    claimPendingLocked: `WITH locked AS MATERIALIZED (SELECT pg_advisory_xact_lock(hashtextextended($4, 0)))
      DELETE FROM ${t} WHERE org = $1 AND id = $2 AND state + 0 = 0 AND expires_at > $3
        AND EXISTS (SELECT 1 FROM locked)
      RETURNING ${COLUMNS}`,
    // The ids are picked item by item (a LATERAL subquery kept apart by OFFSET 0, so it stays a nested loop over the
    // items whatever the statistics), in an InitPlan; the delete then walks the primary key. As a join of the items
    // with the table, stale statistics made the planner hash-join every pending row.
    // Planned on every call, as findById: the ids go in as an InitPlan's array, and a generic plan made on the empty
    // table walked the context's index by org alone instead of the primary key.
    deleteSuperseded: planEachCall(`DELETE FROM ${t} AS c
      WHERE c.org = $1 AND c.state + 0 = 0 AND c.id = ANY(ARRAY(
        SELECT p.id
        FROM jsonb_to_recordset($2::jsonb) AS x(context_object text, context_id text, account text,
                                                max_access integer, except_id text)
        CROSS JOIN LATERAL (
          SELECT s.id FROM ${t} AS s
          WHERE s.org = $1 AND s.state + 0 = 0
            AND s.context_object = x.context_object AND s.context_id = x.context_id
            AND s.target_account = x.account AND s.access <= x.max_access
            AND (x.except_id IS NULL OR s.id <> x.except_id)
          OFFSET 0) AS p))
      RETURNING ${C_COLUMNS}`),
    deleteById: `DELETE FROM ${t} WHERE org = $1 AND id = $2 RETURNING ${COLUMNS}`,
    bindEmail: `UPDATE ${t} SET target_account = $3, updated = $4
      WHERE org = $1 AND state = 0 AND target_account IS NULL AND target_email = $2 AND expires_at > $4
      RETURNING ${COLUMNS}`,
    // The batch is chosen once in a CTE: as an IN (subquery) the locking subquery may run again per row and, seeing
    // its own deleted rows skipped, pick more than the limit.
    // A purge batch is two statements: pick and lock the batch on the expiry index, then delete those ids by primary
    // key. As one statement (IN-subquery or CTE join) the planner, on stale statistics, joined the whole table and
    // took seconds per batch (benchmark: 13-26 s against 62-175 ms).
    purgeExpiredPick: `SELECT id FROM ${t} WHERE org = $1 AND state = 0 AND expires_at <= $2
      ORDER BY expires_at, id LIMIT $3 FOR UPDATE SKIP LOCKED`,
    purgeExpiredDelete: `DELETE FROM ${t} WHERE org = $1 AND id = ANY($2::text[]) AND state = 0
      RETURNING ${COLUMNS}`,
    // Ended grants, two statements as above, on the access-expiry index.
    purgeGrantsPick: `SELECT id FROM ${t} WHERE org = $1 AND access_expires_at <= $2
      ORDER BY access_expires_at, id LIMIT $3 FOR UPDATE SKIP LOCKED`,
    purgeGrantsDelete: `DELETE FROM ${t} WHERE org = $1 AND id = ANY($2::text[]) AND access_expires_at <= $3
      RETURNING ${COLUMNS}`,
    // Grants ending within the lead time whose end is not noticed yet, in (end, id) order from the cursor ($4, $5):
    // one range of the access-end index. `state + 0 = 1`, so no partial index on `state = 1` matches (see above).
    findEndingGrants: `SELECT ${COLUMNS} FROM ${t}
      WHERE org = $1 AND access_expires_at > $2 AND access_expires_at <= $3
        AND (access_expires_at, id) > ($4::timestamptz, $5::text)
        AND state + 0 = 1 AND access_end_noticed IS DISTINCT FROM access_expires_at
      ORDER BY access_expires_at, id LIMIT $6`,
    // Compare-and-set, one statement: the InitPlan picks and locks, by primary key, the grants still active with the
    // expected end ($3, by position in $2) and creator ($4) and not yet noticed for that end, skipping rows another
    // transaction holds (a concurrent sweep, or a write under the context's lock: a later sweep finds them); under
    // READ COMMITTED a row changed and committed meanwhile is re-checked at its latest version. Only ends after now
    // are sent (the caller filters: the stored end must equal the expected one), and the end is compared with IS NOT
    // DISTINCT FROM (the expected end is never null): nothing implies the access-end index's predicate, so stale
    // statistics that make it look empty cannot tempt the planner off the primary key (test/stale-statistics.test.ts).
    markEndNoticed: `UPDATE ${t} SET access_end_noticed = access_expires_at
      WHERE org = $1 AND id = ANY(ARRAY(
        SELECT id FROM ${t}
        WHERE org = $1 AND id = ANY($2::text[]) AND state + 0 = 1
          AND access_expires_at IS NOT DISTINCT FROM (($3::text[])[array_position($2::text[], id::text)])::timestamptz
          AND creator = ($4::text[])[array_position($2::text[], id::text)]
          AND access_end_noticed IS DISTINCT FROM access_expires_at
        FOR UPDATE SKIP LOCKED))
      RETURNING ${COLUMNS}`,
    /** The head of a list statement; the caller appends the filter, bounds, order and limit. */
    listHead: `SELECT ${COLUMNS} FROM ${t} WHERE org = $1 AND ${live("$2")}`,
  };
}

type Statements = ReturnType<typeof statementsFor>;

/** The statements of a schema (built on first use). */
// Prepared once: the hot reads, the create path and accept's writes, whose generic plans walk the index they are written for even on
// empty tables (test/generic-plans.test.ts). Every other statement is planned on every call.
// (The context lock has no parameters: it goes as a simple query, in the same round trip as BEGIN.)
const statements = statementsBySchema(statementsFor, [
  "findPendingByTokenHash",
  "activeAccess",
  "activeGrant",
  "savePending",
  "saveActive",
  "acceptPending",
]);

/** The key that identifies the stored row a pending record merges into. */
function pendingKey(org: string, context: ContextRef, creator: string, targetKey: string): string {
  return JSON.stringify([org, context.object, context._id, creator, targetKey]);
}

/** The key that identifies the stored row an active record merges into. */
function activeKey(org: string, context: ContextRef, account: string | null): string {
  return JSON.stringify([org, context.object, context._id, account]);
}

/** The text whose 64-bit hash names a context's advisory lock. */
function contextLockKey(org: string, context: ContextRef): string {
  return JSON.stringify([org, context.object, context._id]);
}

/** An error for a call the adapter refuses before touching the database (a bug in the caller). */
function misuse(reason: string): ConnectionError {
  return new ConnectionError("cortex.error.unspecified", { reason });
}

/** Puts returned rows back into the order of the input records, by the merge key of each. */
function inInputOrder(
  operation: string,
  keys: readonly string[],
  rows: readonly ConnectionRow[],
  keyOf: (row: ConnectionRow) => string,
): ConnectionRecord[] {
  const byKey = new Map(rows.map((row) => [keyOf(row), row]));
  return keys.map((key) => {
    const row = byKey.get(key);
    if (row === undefined) throw misuse(`${operation}: the database returned no row for an input record`);
    return toRecord(row);
  });
}

/** Orders records by the end of their access, then id (RETURNING keeps no order). */
function byEnd(a: ConnectionRecord, b: ConnectionRecord): number {
  return (
    (a.accessExpiresAt?.getTime() ?? 0) - (b.accessExpiresAt?.getTime() ?? 0) || (a._id < b._id ? -1 : 1)
  );
}

/** Refuses a batch in which two records would merge into the same stored row (one statement cannot do that). */
function assertDistinct(operation: string, keys: readonly string[]): void {
  if (new Set(keys).size !== keys.length) {
    throw misuse(`${operation}: two records share a merge key; merge duplicate targets before saving`);
  }
}

/** The argument of create's look-up routine (migration 41), in its order: org, object, context id, accounts, creator, now, emails. */
function lookUpArgs(
  org: string,
  context: ContextRef,
  creator: string,
  targets: { accounts: readonly string[]; emails: readonly string[] },
  now: Date,
): unknown[] {
  return [org, context.object, context._id, targets.accounts, creator, now.toISOString(), targets.emails];
}

/**
 * The {@link ConnectionRepository} on PostgreSQL or PGlite. Every statement is scoped by org; each method is one
 * statement (see the package README for the indexes each uses). Construct it on a `Database` for autocommit use, or
 * on the `Queryable` of a transaction (what `PostgresUnitOfWork.transaction` does).
 */
export class PostgresConnectionRepository implements ConnectionRepository {
  private readonly sql: Statements;
  /** On a Database (each statement a transaction of its own), not on a transaction's Queryable. */
  private readonly autocommit: boolean;

  constructor(
    private readonly db: Queryable,
    options: PostgresAdapterOptions = {},
  ) {
    this.sql = statements(options.schema);
    this.autocommit = typeof (db as Partial<Database>).transaction === "function";
  }

  async lockContext(org: string, context: ContextRef): Promise<void> {
    await guard("lockContext", () => this.db.query(this.sql.lockContext(contextLockKey(org, context))));
  }

  async acceptPending(
    org: string,
    tokenHash: string,
    claimant: Claimant,
    now: Date,
  ): Promise<AcceptedPending | null> {
    const call = () =>
      guard(
        "acceptPending",
        () =>
          this.db.query<ConnectionRow & { part: number }>(this.sql.acceptPending, [
            org,
            tokenHash,
            now,
            claimant.account,
            claimant.email,
          ]),
        "cortex.conflict.connectionExists",
      );
    // On its own the call is a transaction of its own: one the server aborted (deadlock, serialization failure) left
    // nothing behind and runs again, as a unit of work's would. Inside a transaction the caller's unit of work retries.
    const { rows } = this.autocommit ? await retryAborted(call) : await call();
    const claimed = rows.find((row) => row.part === 0);
    const active = rows.find((row) => row.part === 1);
    if (claimed === undefined) return null;
    if (active === undefined) throw misuse("acceptPending: the database stored no active row for the claim");
    return {
      claimed: toRecord(claimed),
      active: toRecord(active),
      superseded: rows
        .filter((row) => row.part === 2)
        .map(toRecord)
        .sort((a, b) => (a._id < b._id ? 1 : a._id > b._id ? -1 : 0)),
    };
  }

  async findById(org: string, id: string, now: Date): Promise<ConnectionRecord | null> {
    const { rows } = await guard("findById", () =>
      this.db.query<ConnectionRow>(this.sql.findById, [org, id, now]),
    );
    return rows[0] === undefined ? null : toRecord(rows[0]);
  }

  async findPendingByTokenHash(org: string, tokenHash: string, now: Date): Promise<ConnectionRecord | null> {
    const { rows } = await guard("findPendingByTokenHash", () =>
      this.db.query<ConnectionRow>(this.sql.findPendingByTokenHash, [org, tokenHash, now]),
    );
    return rows[0] === undefined ? null : toRecord(rows[0]);
  }

  async activeAccess(
    org: string,
    context: ContextRef,
    account: string,
    now?: Instant,
  ): Promise<AccessLevel | null> {
    const at = now === undefined ? null : instantOf(now);
    const { rows } = await guard("activeAccess", () =>
      this.db.query<{ access: number }>(this.sql.activeAccess, [
        org,
        context.object,
        context._id,
        account,
        at,
      ]),
    );
    return rows[0] === undefined ? null : toAccessLevel(rows[0].access);
  }

  /**
   * The access of the active connection and the instant it ends (null: never), or null when there is none, as
   * {@link activeAccess} judges it: what the access cache reads, so it never serves a grant for a time at or after
   * its end.
   */
  async activeGrant(
    org: string,
    context: ContextRef,
    account: string,
    now?: Instant,
  ): Promise<{ access: AccessLevel; until: Date | null } | null> {
    const at = now === undefined ? null : instantOf(now);
    const { rows } = await guard("activeGrant", () =>
      this.db.query<{ access: number; access_expires_at: Date | null }>(this.sql.activeGrant, [
        org,
        context.object,
        context._id,
        account,
        at,
      ]),
    );
    const row = rows[0];
    return row === undefined ? null : { access: toAccessLevel(row.access), until: row.access_expires_at };
  }

  async findForCreate(
    org: string,
    context: ContextRef,
    creator: string,
    targets: { accounts: readonly string[]; emails: readonly string[] },
    now: Date,
  ): Promise<CreateSnapshot> {
    const { rows } = await guard("findForCreate", () =>
      this.db.query<ConnectionRow>(this.sql.findForCreate(lookUpArgs(org, context, creator, targets, now))),
    );
    const records = rows.map(toRecord);
    return {
      active: records.filter((record) => record.state === ConnectionState.Active),
      pending: records.filter((record) => record.state === ConnectionState.Pending),
    };
  }

  async expectNoneForCreate(
    org: string,
    context: ContextRef,
    creator: string,
    targets: { accounts: readonly string[]; emails: readonly string[] },
    now: Date,
  ): Promise<void> {
    // Create's check (migration 46): the lock, then whether the look-up would find a row; it raises
    // SNAPSHOT_NOT_EMPTY when it would.
    const args = lookUpArgs(org, context, creator, targets, now);
    // In a transaction that holds statements for its commit, the check goes first in the COMMIT's round trip: the
    // lock is taken and the rows looked for before the writes held after it, and a row found fails the commit (the
    // unit of work turns that failure into SnapshotNotEmpty).
    const text = () => this.sql.expectNoneForCreate(args);
    if (holdForCommit(this.db, { routine: "expect_none_for_create", arg: JSON.stringify(args) }, text))
      return;
    try {
      await guard("expectNoneForCreate", () => this.db.query(text()));
    } catch (error) {
      if (isSnapshotNotEmpty(error)) throw new SnapshotNotEmpty();
      throw error;
    }
  }

  async savePending(records: readonly ConnectionRecord[], now: Date): Promise<ConnectionRecord[]> {
    if (records.length === 0) return [];
    for (const record of records) {
      if (record.state !== ConnectionState.Pending) throw misuse("savePending: a record is not pending");
    }
    const keys = records.map((r) => pendingKey(r.org, r.context, r.creator, r.targetKey));
    assertDistinct("savePending", keys);
    const { rows } = await guard(
      "savePending",
      () => this.db.query<ConnectionRow>(this.sql.savePending, [JSON.stringify(records.map(toJsonRow)), now]),
      "cortex.conflict.connectionExists",
    );
    return inInputOrder("savePending", keys, rows, (row) =>
      pendingKey(row.org, { object: row.context_object, _id: row.context_id }, row.creator, row.target_key),
    );
  }

  async savePendingAsExpected(
    records: readonly ConnectionRecord[],
    expected: readonly ExpectedPending[],
    now: Date,
  ): Promise<void> {
    if (records.length === 0) return;
    if (expected.length !== records.length) throw misuse("savePendingAsExpected: one expectation per record");
    for (const record of records) {
      if (record.state !== ConnectionState.Pending)
        throw misuse("savePendingAsExpected: a record is not pending");
    }
    assertDistinct(
      "savePendingAsExpected",
      records.map((r) => pendingKey(r.org, r.context, r.creator, r.targetKey)),
    );
    // Every record expected to become itself (a create's new invitations): the plain insert of migration 45, which
    // fails as the check would when a row meets an unexpired invitation. Otherwise the merge and its check.
    const fresh = records.every((record, i) => {
      const e = expected[i] as ExpectedPending;
      return e._id === record._id && e.access === record.access && e.account === record.target.account;
    });
    const rows = fresh
      ? records.map(toJsonRow)
      : records.map((record, i) => {
          const e = expected[i] as ExpectedPending;
          return {
            ...toJsonRow(record),
            expected_id: e._id,
            expected_access: e.access,
            expected_account: e.account,
          };
        });
    const arg = JSON.stringify([rows, now.toISOString()]);
    // In a transaction that holds writes for its commit, the rows go in the COMMIT's round trip; nothing reads them
    // before (create reports what they were expected to become, and the routine fails the commit if they are not).
    const text = () => (fresh ? this.sql.savePendingFresh(arg) : this.sql.savePendingAsExpected(arg));
    const call = { routine: fresh ? "save_pending_fresh" : "save_pending_as_expected", arg } as const;
    if (holdForCommit(this.db, call, text)) return;
    await guard("savePendingAsExpected", () => this.db.query(text()), "cortex.conflict.connectionExists");
  }

  async saveActive(records: readonly ConnectionRecord[], now?: Date): Promise<ConnectionRecord[]> {
    if (records.length === 0) return [];
    for (const record of records) {
      if (record.state !== ConnectionState.Active) throw misuse("saveActive: a record is not active");
      if (record.target.account === null) throw misuse("saveActive: an active record has no target account");
    }
    const keys = records.map((r) => activeKey(r.org, r.context, r.target.account));
    assertDistinct("saveActive", keys);
    const { rows } = await guard(
      "saveActive",
      () =>
        this.db.query<ConnectionRow>(this.sql.saveActive, [
          JSON.stringify(records.map(toJsonRow)),
          now ?? null,
        ]),
      "cortex.conflict.connectionExists",
    );
    return inInputOrder("saveActive", keys, rows, (row) =>
      activeKey(row.org, { object: row.context_object, _id: row.context_id }, row.target_account),
    );
  }

  async claimPending(
    org: string,
    id: string,
    now: Date,
    lock?: ContextRef,
  ): Promise<ConnectionRecord | null> {
    const { rows } = await guard("claimPending", () =>
      lock === undefined
        ? this.db.query<ConnectionRow>(this.sql.claimPending, [org, id, now])
        : this.db.query<ConnectionRow>(this.sql.claimPendingLocked, [
            org,
            id,
            now,
            contextLockKey(org, lock),
          ]),
    );
    return rows[0] === undefined ? null : toRecord(rows[0]);
  }

  async deleteSuperseded(org: string, items: readonly SupersededPending[]): Promise<ConnectionRecord[]> {
    if (items.length === 0) return [];
    const json = JSON.stringify(
      items.map((item) => ({
        context_object: item.context.object,
        context_id: item.context._id,
        account: item.account,
        max_access: item.maxAccess,
        except_id: item.exceptId ?? null,
      })),
    );
    const { rows } = await guard("deleteSuperseded", () =>
      this.db.query<ConnectionRow>(this.sql.deleteSuperseded, [org, json]),
    );
    return rows.map(toRecord).sort((a, b) => (a._id < b._id ? 1 : a._id > b._id ? -1 : 0));
  }

  async deleteById(org: string, id: string): Promise<ConnectionRecord | null> {
    const { rows } = await guard("deleteById", () =>
      this.db.query<ConnectionRow>(this.sql.deleteById, [org, id]),
    );
    return rows[0] === undefined ? null : toRecord(rows[0]);
  }

  async list(org: string, query: ConnectionListQuery): Promise<ConnectionPage> {
    if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > 1000) {
      throw new ConnectionError("cortex.invalidArgument.unspecified", {
        reason: "limit must be an integer in 1..1000",
        path: "limit",
      });
    }
    const params: unknown[] = [org, query.now];
    const param = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    const where: string[] = [];
    const { filter } = query;
    switch (filter.by) {
      case "creator":
        where.push(`creator = ${param(filter.account)}`);
        break;
      case "target":
        where.push(
          filter.email === null
            ? `target_account = ${param(filter.account)}`
            : `(target_account = ${param(filter.account)}
                OR (state = 0 AND target_account IS NULL AND target_email = ${param(filter.email)}))`,
        );
        break;
      case "context":
        where.push(
          `context_object = ${param(filter.context.object)} AND context_id = ${param(filter.context._id)}`,
        );
        break;
    }
    if (query.state !== undefined) where.push(`state = ${param(query.state)}`);
    if (query.objects !== undefined) where.push(`context_object = ANY(${param([...query.objects])}::text[])`);
    if (query.startingAfter !== undefined) where.push(`id < ${param(query.startingAfter)}`);
    if (query.endingBefore !== undefined) where.push(`id > ${param(query.endingBefore)}`);
    // endingBefore pages walk towards newer records: read ascending from the cursor, then reverse.
    const backwards = query.endingBefore !== undefined;
    const text = `${this.sql.listHead} AND ${where.join(" AND ")}
      ORDER BY id ${backwards ? "ASC" : "DESC"} LIMIT ${param(query.limit + 1)}`;
    const { rows } = await guard("list", () => this.db.query<ConnectionRow>(text, params));
    const hasMore = rows.length > query.limit;
    const page = rows.slice(0, query.limit).map(toRecord);
    if (backwards) page.reverse();
    return { records: page, hasMore };
  }

  async bindEmail(org: string, email: string, account: string, now: Date): Promise<ConnectionRecord[]> {
    const { rows } = await guard("bindEmail", () =>
      this.db.query<ConnectionRow>(this.sql.bindEmail, [org, email, account, now]),
    );
    return rows.map(toRecord).sort((a, b) => (a._id < b._id ? 1 : a._id > b._id ? -1 : 0));
  }

  async purgeExpired(org: string, now: Date, limit: number): Promise<ConnectionRecord[]> {
    if (!Number.isInteger(limit) || limit < 0)
      throw misuse("purgeExpired: limit must be a non-negative integer");
    if (limit === 0) return [];
    const picked = await guard("purgeExpired", () =>
      this.db.query<{ id: string }>(this.sql.purgeExpiredPick, [org, now, limit]),
    );
    if (picked.rows.length === 0) return [];
    const { rows } = await guard("purgeExpired", () =>
      this.db.query<ConnectionRow>(this.sql.purgeExpiredDelete, [org, picked.rows.map((row) => row.id)]),
    );
    return rows
      .map(toRecord)
      .sort(
        (a, b) => (a.expiresAt?.getTime() ?? 0) - (b.expiresAt?.getTime() ?? 0) || (a._id < b._id ? -1 : 1),
      );
  }

  async purgeExpiredGrants(org: string, now: Date, limit: number): Promise<ConnectionRecord[]> {
    if (!Number.isInteger(limit) || limit < 0)
      throw misuse("purgeExpiredGrants: limit must be a non-negative integer");
    if (limit === 0) return [];
    const picked = await guard("purgeExpiredGrants", () =>
      this.db.query<{ id: string }>(this.sql.purgeGrantsPick, [org, now, limit]),
    );
    if (picked.rows.length === 0) return [];
    const { rows } = await guard("purgeExpiredGrants", () =>
      this.db.query<ConnectionRow>(this.sql.purgeGrantsDelete, [org, picked.rows.map((row) => row.id), now]),
    );
    return rows.map(toRecord).sort(byEnd);
  }

  async findEndingGrants(org: string, query: EndingGrantsQuery): Promise<ConnectionRecord[]> {
    if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > 10_000)
      throw misuse("findEndingGrants: limit must be an integer from 1 to 10000");
    const after = query.after ?? { accessExpiresAt: query.now, id: "" };
    const { rows } = await guard("findEndingGrants", () =>
      this.db.query<ConnectionRow>(this.sql.findEndingGrants, [
        org,
        query.now,
        query.until,
        after.accessExpiresAt,
        after.id,
        query.limit,
      ]),
    );
    return rows.map(toRecord);
  }

  async markEndNoticed(org: string, grants: readonly EndingGrant[], now: Date): Promise<ConnectionRecord[]> {
    if (new Set(grants.map((g) => g.id)).size !== grants.length)
      throw misuse("markEndNoticed: a grant is named twice");
    // A grant whose end is not after now has ended: it is never noticed (the stored end must equal this one).
    const live = grants.filter((g) => g.accessExpiresAt.getTime() > now.getTime());
    if (live.length === 0) return [];
    const { rows } = await guard("markEndNoticed", () =>
      this.db.query<ConnectionRow>(this.sql.markEndNoticed, [
        org,
        live.map((g) => g.id),
        live.map((g) => g.accessExpiresAt.toISOString()),
        live.map((g) => g.creator),
      ]),
    );
    return rows.map(toRecord).sort(byEnd);
  }
}
