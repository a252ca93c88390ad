/** SQL fragments over the `connections` columns, shared by the repository's statements and the routines of the migrations. */

import { enqueueQuery, enqueueRoutine } from "./outbox-sql.js";
import { CONNECTION_COLUMN_TYPES, CONNECTION_COLUMNS } from "./rows.js";
import { jsonbRoutine, literalText, TEXT_LITERAL, textLiteral } from "./sql-text.js";

/** `org, id, …` — the column list every statement returns. */
export const COLUMNS = CONNECTION_COLUMNS.join(", ");
/** `c.org, c.id, …`. */
export const C_COLUMNS = CONNECTION_COLUMNS.map((column) => `c.${column}`).join(", ");
/** `x.org, x.id, …`. */
export const X_COLUMNS = CONNECTION_COLUMNS.map((column) => `x.${column}`).join(", ");
/** `org text, id text, …` — the record definition of a `jsonb_to_recordset` of connection rows. */
export const RECORDSET = CONNECTION_COLUMNS.map(
  (column) => `${column} ${CONNECTION_COLUMN_TYPES[column]}`,
).join(", ");

/** The union of two role arrays, in first-seen order (stored roles first). */
export const ROLES_UNION =
  "ARRAY(SELECT r FROM unnest(c.roles || EXCLUDED.roles) WITH ORDINALITY AS u(r, n) GROUP BY r ORDER BY min(n))";

/**
 * The ON CONFLICT of an active row: merged into the stored active row of the same (context, target account). `now` is
 * the parameter holding the caller's clock: a stored row whose access had ended by then (null: never) is gone, purged
 * or not, and the new row replaces it outright (its id, creator, dates, all).
 */
export function activeMerge(now: string): string {
  const ended = `(c.access_expires_at <= ${now}::timestamptz)`;
  const replaced = [
    "id",
    "context_source",
    "created",
    "target_email",
    "target_name",
    "via_email",
    "target_key",
  ]
    .map((column) => `${column} = CASE WHEN ${ended} THEN EXCLUDED.${column} ELSE c.${column} END`)
    .join(",\n        ");
  return `ON CONFLICT (org, context_object, context_id, target_account) WHERE state = 1 DO UPDATE SET
        ${replaced},
        access = CASE WHEN ${ended} THEN EXCLUDED.access ELSE GREATEST(c.access, EXCLUDED.access) END,
        roles = CASE WHEN ${ended} THEN EXCLUDED.roles ELSE ${ROLES_UNION} END,
        creator = CASE WHEN ${ended} OR EXCLUDED.access > c.access THEN EXCLUDED.creator ELSE c.creator END,
        updated = CASE WHEN ${ended} OR EXCLUDED.access > c.access OR NOT (EXCLUDED.roles <@ c.roles)
                         OR c.access_expires_at IS DISTINCT FROM EXCLUDED.access_expires_at
                       THEN EXCLUDED.updated ELSE c.updated END,
        access_expires_at = EXCLUDED.access_expires_at,
        access_end_noticed = CASE WHEN ${ended} THEN NULL ELSE c.access_end_noticed END`;
}

/**
 * savePending's write without its RETURNING: the rows of the jsonb array `rows` inserted, each merged into the creator's
 * pending invitation with the same (context, creator, target key); `now` is the caller's clock (an invitation expired
 * by then is replaced outright, as if purged).
 */
export function pendingUpsert(s: string, rows: string, now: string): string {
  const expired = `c.expires_at <= ${now}`;
  return `INSERT INTO ${s}.connections AS c (${COLUMNS})
      SELECT ${X_COLUMNS} FROM jsonb_to_recordset(${rows}) AS x(${RECORDSET})
      ON CONFLICT (org, context_object, context_id, creator, target_key) WHERE state = 0 DO UPDATE SET
        id = CASE WHEN ${expired} THEN EXCLUDED.id ELSE c.id END,
        access = CASE WHEN ${expired} THEN EXCLUDED.access ELSE GREATEST(c.access, EXCLUDED.access) END,
        roles = CASE WHEN ${expired} THEN EXCLUDED.roles ELSE ${ROLES_UNION} END,
        context_source = CASE WHEN ${expired} THEN EXCLUDED.context_source ELSE c.context_source END,
        created = CASE WHEN ${expired} THEN EXCLUDED.created ELSE c.created END,
        updated = EXCLUDED.updated,
        target_account = CASE WHEN ${expired} THEN EXCLUDED.target_account
                              ELSE COALESCE(EXCLUDED.target_account, c.target_account) END,
        target_email = CASE WHEN ${expired} THEN EXCLUDED.target_email
                            ELSE COALESCE(EXCLUDED.target_email, c.target_email) END,
        target_name = CASE WHEN ${expired} THEN EXCLUDED.target_name
                           ELSE COALESCE(EXCLUDED.target_name, c.target_name) END,
        via_email = EXCLUDED.via_email,
        token_hash = EXCLUDED.token_hash,
        token_seal = EXCLUDED.token_seal,
        expires_at = EXCLUDED.expires_at,
        access_expires_at = EXCLUDED.access_expires_at`;
}

/** savePending as the repository sends it: {@link pendingUpsert} of `$1` at `$2`, every stored row returned. */
export function savePendingStatement(s: string): string {
  return `${pendingUpsert(s, "$1::jsonb", "$2")}
      RETURNING ${C_COLUMNS}`;
}

/** The name of the routine of savePendingAsExpected (migration 42) in schema `s`. */
export function savePendingAsExpectedRoutine(s: string): string {
  return `${s}.conn_save_pending_as_expected`;
}

/**
 * savePendingAsExpected's routine (migration 42): one jsonb argument, `[rows, now]`, each row a connection row with its
 * expected stored id, access and target account (`expected_id`, `expected_access`, `expected_account`). It stores the
 * rows as savePending does and compares what each became with what was expected (matched by the merge key); when any
 * differs it raises a serialization failure, so nothing of the transaction is committed and the unit of work runs it
 * again on a fresh snapshot. Called with its argument as a literal, it is held for the round trip of the transaction's
 * COMMIT (\`Queryable.atCommit\`). Its statement keeps a generic plan, as the other routines' do.
 */
export function savePendingAsExpectedDefinition(s: string): string {
  return jsonbRoutine(
    savePendingAsExpectedRoutine(s),
    `
      changed integer;`,
    `WITH saved AS (
        ${pendingUpsert(s, "($1->0)", "(($1->>1)::timestamptz)")}
        RETURNING c.org, c.context_object, c.context_id, c.creator, c.target_key, c.id, c.access, c.target_account)
      SELECT count(*) INTO changed
      FROM saved AS v
      FULL JOIN jsonb_to_recordset($1->0) AS e(org text, context_object text, context_id text, creator text,
          target_key text, expected_id text, expected_access smallint, expected_account text)
        ON v.org = e.org AND v.context_object = e.context_object AND v.context_id = e.context_id
          AND v.creator = e.creator AND v.target_key = e.target_key
      WHERE v.id IS DISTINCT FROM e.expected_id OR v.access IS DISTINCT FROM e.expected_access
        OR v.target_account IS DISTINCT FROM e.expected_account;
      IF changed > 0 THEN
        RAISE EXCEPTION 'conn: % pending invitation(s) changed since they were read', changed
          USING ERRCODE = 'serialization_failure';
      END IF;`,
  );
}

/** The call of savePendingAsExpected's routine with its argument (the JSON of `[rows, now]`) as a literal. */
export function savePendingAsExpectedCall(s: string, args: string): string {
  return `SELECT ${savePendingAsExpectedRoutine(s)}(${textLiteral(args)}::jsonb)`;
}

/** The name of savePendingAsExpected's routine for rows expected to be new (migration 45) in schema `s`. */
export function savePendingFreshRoutine(s: string): string {
  return `${s}.conn_save_pending_fresh`;
}

/** The columns an invitation that had expired takes from the new row (all but its key and its state). */
const FRESH_REPLACED = CONNECTION_COLUMNS.filter(
  (column) => !["org", "context_object", "context_id", "creator", "target_key", "state"].includes(column),
);

/**
 * savePendingAsExpected when every row is expected to become itself (its own id, access and target account): the
 * rows of the jsonb array `rows` inserted, each replacing outright an invitation with the same (context, creator,
 * target key) that had expired by `now`, as {@link pendingUpsert} does; a row that meets an unexpired one is neither
 * inserted nor merged, and so is not counted. What the upsert and its check would do, without the merge's
 * expressions and the join that checks them.
 */
export function pendingFreshInsert(s: string, rows: string, now: string): string {
  return `INSERT INTO ${s}.connections AS c (${COLUMNS})
      SELECT ${X_COLUMNS} FROM jsonb_to_recordset(${rows}) AS x(${RECORDSET})
      ON CONFLICT (org, context_object, context_id, creator, target_key) WHERE state = 0 DO UPDATE SET
        ${FRESH_REPLACED.map((column) => `${column} = EXCLUDED.${column}`).join(", ")}
      WHERE c.expires_at <= ${now}`;
}

/**
 * The routine of {@link pendingFreshInsert} (migration 45): one jsonb argument, `[rows, now]`, as savePendingAsExpected's.
 * When fewer rows were stored than sent (one met an unexpired invitation: it would have merged into it, not become
 * itself), it raises a serialization failure, as that routine's check does: nothing of the transaction is committed
 * and the unit of work runs it again on a fresh snapshot.
 */
export function savePendingFreshDefinition(s: string): string {
  return jsonbRoutine(
    savePendingFreshRoutine(s),
    `
      stored integer;`,
    savePendingFreshStatements(s, "$1"),
  );
}

/**
 * The body of {@link savePendingFreshDefinition}'s routine on the argument `arg` (`[rows, now]`), in PL/pgSQL that
 * declares `stored integer`: the insert, then the check of how many rows it stored. `conn_run` (migration 46) runs
 * the same statements in place of a call of the routine.
 */
function savePendingFreshStatements(s: string, arg: string): string {
  return `${pendingFreshInsert(s, `(${arg}->0)`, `((${arg}->>1)::timestamptz)`)};
      GET DIAGNOSTICS stored = ROW_COUNT;
      IF stored <> jsonb_array_length(${arg}->0) THEN
        RAISE EXCEPTION 'conn: % pending invitation(s) changed since they were read', jsonb_array_length(${arg}->0) - stored
          USING ERRCODE = 'serialization_failure';
      END IF;`;
}

/** The call of {@link savePendingFreshDefinition}'s routine with its argument (the JSON of `[rows, now]`) as a literal. */
export function savePendingFreshCall(s: string, args: string): string {
  return `SELECT ${savePendingFreshRoutine(s)}(${textLiteral(args)}::jsonb)`;
}

/** The routines a transaction's held statements call, each with one jsonb argument, by the name `conn_run` knows them. */
export const RUN_STEPS = [
  "find_for_create",
  "expect_none_for_create",
  "save_pending_as_expected",
  "save_pending_fresh",
  "enqueue",
] as const;

/** A routine `conn_run` can call. */
export type RunStep = (typeof RUN_STEPS)[number];

/** A statement held for the commit that is one call of a routine `conn_run` knows: its name and argument (JSON). */
export interface HeldCall {
  routine: RunStep;
  /** The routine's one argument, as JSON text. */
  arg: string;
}

/** The name of the routine that runs a transaction's held calls in order (migration 45) in schema `s`. */
export function runRoutine(s: string): string {
  return `${s}.conn_run`;
}

/**
 * The routine that runs held calls in order: one jsonb argument, an array of `[name, argument]`, each name one of
 * {@link RUN_STEPS}. Each call runs as it would on its own, on a snapshot of its own (a volatile routine takes one per
 * statement), and an error in one ends the whole: one statement where each call sent as its own paid its own parse,
 * plan and executor start-up. Migration 45's (`version` 45) called a routine for each step. Migration 46's runs the
 * statements of create's check (`expect_none_for_create`), of the fresh invitations and of the notices in place, on
 * generic plans of its own, where each routine call cost an executor start-up, a PL/pgSQL frame and its settings;
 * the other steps still call their routine.
 */
export function runRoutineDefinition(s: string, version: 45 | 46 = 46): string {
  if (version === 45) {
    return `CREATE FUNCTION ${runRoutine(s)}(jsonb) RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS $routine$
    DECLARE
      i integer;
      step text;
    BEGIN
      FOR i IN 0 .. jsonb_array_length($1) - 1 LOOP
        step := $1->i->>0;
        CASE step
          WHEN 'find_for_create' THEN PERFORM 1 FROM ${findForCreateRoutine(s)}($1->i->1);
          WHEN 'save_pending_as_expected' THEN PERFORM ${savePendingAsExpectedRoutine(s)}($1->i->1);
          WHEN 'save_pending_fresh' THEN PERFORM ${savePendingFreshRoutine(s)}($1->i->1);
          WHEN 'enqueue' THEN PERFORM ${enqueueRoutine(s)}($1->i->1);
          ELSE RAISE EXCEPTION 'conn_run: no routine %', step USING ERRCODE = 'invalid_parameter_value';
        END CASE;
      END LOOP;
    END
    $routine$`;
  }
  return `CREATE OR REPLACE FUNCTION ${runRoutine(s)}(jsonb) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET plan_cache_mode = force_generic_plan
    AS $routine$
    DECLARE
      i integer;
      step text;
      a jsonb;
      stored integer;${EXPECT_NONE_VARIABLES}
    BEGIN
      FOR i IN 0 .. jsonb_array_length($1) - 1 LOOP
        step := $1->i->>0;
        a := $1->i->1;
        CASE step
          WHEN 'expect_none_for_create' THEN
            ${inCase(expectNoneStatements(s, "a"))}
          WHEN 'save_pending_fresh' THEN
            ${inCase(savePendingFreshStatements(s, "a"))}
          WHEN 'enqueue' THEN
            ${inCase(`${enqueueQuery(s, "a")};`)}
          WHEN 'find_for_create' THEN PERFORM 1 FROM ${findForCreateRoutine(s)}(a);
          WHEN 'save_pending_as_expected' THEN PERFORM ${savePendingAsExpectedRoutine(s)}(a);
          ELSE RAISE EXCEPTION 'conn_run: no routine %', step USING ERRCODE = 'invalid_parameter_value';
        END CASE;
      END LOOP;
    END
    $routine$`;
}

/** A routine's statements (their lines indented by 6) as the statements of a branch of `conn_run`'s CASE (by 12). */
function inCase(statements: string): string {
  return statements.replaceAll("\n      ", "\n            ");
}

/** The call of `conn_run` on held calls, in order, as a literal. */
export function runCall(s: string, calls: readonly HeldCall[]): string {
  const steps = calls.map((call) => `[${JSON.stringify(call.routine)},${call.arg}]`).join(",");
  return `SELECT ${runRoutine(s)}(${textLiteral(`[${steps}]`)}::jsonb)`;
}

/** A claimed pending row made active for the accepting account (`$4`) at `$3`: the domain's `activated`, in SQL. */
const ACTIVATED: Partial<Record<(typeof CONNECTION_COLUMNS)[number], string>> = {
  updated: "$3::timestamptz",
  target_account: "$4::text",
  state: "1",
  token_hash: "NULL",
  token_seal: "NULL",
  expires_at: "NULL",
};
/** The select list of {@link ACTIVATED} over the `claimed` rows. */
export const ACTIVATED_COLUMNS = CONNECTION_COLUMNS.map((column) => ACTIVATED[column] ?? column).join(", ");

/** The name of the accept routine (migration 40) in schema `s`. */
export function acceptRoutine(s: string): string {
  return `${s}.conn_accept_pending`;
}

/**
 * Accept's routine (migration 40; `version` 40 gives its text as released, 43 as redefined): `(org, token_hash, now,
 * account, email)`, one call, its own transaction when called
 * outside one. It finds the pending invitation of the org with that token hash (the unique token index), takes its
 * context's lock (lockContext's key, JSON.stringify([org, object, id]), here made by to_json: test/lock-key.test.ts
 * checks the two agree), then, in a statement with a snapshot taken after the lock (a VOLATILE PL/pgSQL routine takes
 * a new one per statement under READ COMMITTED), claims the invitation by compare-and-set (same id, token and
 * context, still pending and unexpired, and the claimant's: its target account, or none and its target email),
 * stores it activated (merged as saveActive merges), and deletes the target's pending invitations on the context that
 * it supersedes. The claimed row is visible to the last delete too, so it is left out by id. Rows come back tagged by
 * `part`: 0 claimed, 1 stored, 2 superseded; none when nothing was claimed.
 *
 * Its statements keep a generic plan (`plan_cache_mode` is set for the routine only): PostgreSQL's cost model kept
 * making a custom plan on every call, 0.6-1.3 ms of planning each. The generic plan is made from the tables as they
 * are on the session's first call, empty ones included, so each part is written to leave one index usable: the look-up
 * and the claim compare org and token in "C" (since migration 43, which redefines the routine), so the unique token
 * index is the only one they can walk, whatever the tables held (at some small sizes the primary key or the context's
 * index, walked by org alone, looked cheaper than the token index, which had split first). The superseding delete
 * compares its context in "C" and says `state <= 0`, so the pending index is the only one it can walk (the expiry
 * index's `state = 0` is not implied); it compares the account with IS NOT DISTINCT FROM, which no index can serve
 * and which does not imply the target-account index's `target_account IS NOT NULL` (that partial index, walked by org
 * alone, won on empty tables: every pending row of the org). Migration 40's text walked the context's index there
 * (`state + 0`). test/generic-plans.test.ts and test/stale-statistics.test.ts check the plans.
 */
export function acceptRoutineDefinition(s: string, version: 40 | 43 = 43): string {
  const v40 = version === 40;
  const lookup = v40 ? acceptRoutineLookupV40(s) : acceptRoutineLookup(s);
  const query = acceptRoutineQuery(s, "found_id", "found_object", "found_context", version);
  return `${v40 ? "CREATE" : "CREATE OR REPLACE"} FUNCTION ${acceptRoutine(s)}(text, text, timestamptz, text, text)
    RETURNS TABLE (part integer, ${RECORDSET})
    LANGUAGE plpgsql VOLATILE
    SET plan_cache_mode = force_generic_plan
    AS $routine$
    #variable_conflict use_column
    DECLARE
      found_id text;
      found_object text;
      found_context text;
    BEGIN
      ${lookup} INTO found_id, found_object, found_context;
      IF found_id IS NULL THEN
        RETURN;
      END IF;
      PERFORM pg_advisory_xact_lock(hashtextextended(to_json(ARRAY[$1, found_object, found_context])::text, 0));
      RETURN QUERY ${query};
    END
    $routine$`;
}

/**
 * `column = value` compared in the "C" collation: only an index that holds the column in that collation can serve it.
 * The unique indexes the hot look-ups are written for hold their columns so (migration 43) and no other index does, so
 * no generic plan can walk another index led by org (by org alone: every row of the org), whatever the tables held
 * when it was made. Equality is the same in every deterministic collation, so the rows found are the same.
 */
export function sameC(column: string, value: string): string {
  return `${column} = ${value} COLLATE "C"`;
}

/**
 * The key of the active index, `$1`-`$4` (org, context object, context id, target account) compared in "C", and the
 * active state: activeAccess's and activeGrant's condition, which the active index alone can serve.
 */
export function activeKeySql(): string {
  const key = ["org", "context_object", "context_id", "target_account"].map((c, i) => sameC(c, `$${i + 1}`));
  return `${key.join(" AND ")} AND state = 1`;
}

/** The accept routine's look-up of the invitation by token, on the token index alone (the plan tests probe it). */
export function acceptRoutineLookup(s: string): string {
  return `SELECT id, context_object, context_id FROM ${s}.connections
      WHERE ${sameC("org", "$1")} AND ${sameC("token_hash", "$2")} AND state + 0 = 0`;
}

/** The accept routine's look-up as migration 40 defined it (a released migration's text never changes). */
function acceptRoutineLookupV40(s: string): string {
  return `SELECT id, context_object, context_id FROM ${s}.connections WHERE org = $1 AND token_hash = $2 AND state + 0 = 0`;
}

/**
 * The statement the accept routine runs after taking the lock: its parameters the routine's, and the found id, context
 * object and context id as `id`, `object`, `context` (variables in the routine; parameters $6-$8 for the plan tests).
 */
export function acceptRoutineQuery(
  s: string,
  id = "$6",
  object = "$7",
  context = "$8",
  version: 40 | 43 = 43,
): string {
  const t = `${s}.connections`;
  // Since migration 43 the claim compares org and token in "C", as the look-up does: the token index is then the only
  // index it can walk, a unique one (migration 40's walked the primary key or the context's index, by whole key).
  const [org, token] =
    version === 40 ? ["org = $1", "token_hash = $2"] : [sameC("org", "$1"), sameC("token_hash", "$2")];
  // The superseding delete: since migration 43 on the pending index alone (its context, in "C", and `state <= 0`,
  // which implies that index's predicate and not the expiry index's: see migration 43).
  const superseded =
    version === 40
      ? `s.org = $1 AND s.context_object = ${object} AND s.context_id = ${context}
            AND s.target_account IS NOT DISTINCT FROM $4 AND s.state + 0 = 0 AND s.id <> ${id}`
      : `${sameC("s.org", "$1")} AND ${sameC("s.context_object", object)} AND ${sameC("s.context_id", context)}
            AND s.target_account IS NOT DISTINCT FROM $4 AND s.state <= 0 AND s.id <> ${id}`;
  return `WITH claimed AS (
          DELETE FROM ${t} WHERE ${org} AND id = ${id} AND state + 0 = 0 AND expires_at > $3 AND ${token}
            AND context_object = ${object} AND context_id = ${context}
            AND (target_account = $4 OR (target_account IS NULL AND target_email = $5))
          RETURNING ${COLUMNS}),
        saved AS (
          INSERT INTO ${t} AS c (${COLUMNS})
          SELECT ${ACTIVATED_COLUMNS} FROM claimed
          ${activeMerge("$3")}
          RETURNING ${C_COLUMNS}),
        superseded AS (
          DELETE FROM ${t} AS s
          WHERE ${superseded}
            AND s.access <= (SELECT access FROM saved)
          RETURNING ${CONNECTION_COLUMNS.map((column) => `s.${column}`).join(", ")})
        SELECT 0, ${COLUMNS} FROM claimed
        UNION ALL SELECT 1, ${COLUMNS} FROM saved
        UNION ALL SELECT 2, ${COLUMNS} FROM superseded`;
}

/** The name of create's look-up routine (migration 41) in schema `s`. */
export function findForCreateRoutine(s: string): string {
  return `${s}.conn_find_for_create`;
}

/** The parameters of {@link findForCreateQuery}, in order: org, context object, context id, accounts, creator, now, emails. */
const FIND_FOR_CREATE_PARAMS = ["$1", "$2", "$3", "$4", "$5", "$6", "$7"] as const;

/**
 * Create's look-up (findForCreate): the active connections on the context to the listed accounts, and the creator's
 * unexpired pending invitations on it to the listed accounts or emails, by id. Its parameters are `p` (the routine's
 * variables inside it; $1-$7 for the plan tests). Since migration 43 its active part walks the active index and its
 * pending part the pending index, by the context compared in "C", and nothing else whatever the statistics or the
 * tables' sizes (see the comment inside). Migration 41's text (`version` 41) walked the context's index and said
 * `state + 0 = 0`, which matches no partial index on `state = 0`, to keep off the expiry index
 * (test/generic-plans.test.ts and test/stale-statistics.test.ts check the plans).
 */
export function findForCreateQuery(
  s: string,
  p: readonly string[] = FIND_FOR_CREATE_PARAMS,
  version: 41 | 43 = 43,
): string {
  if (version === 43) {
    // Two parts, each on the unique index of its state, both compared in "C" (sameC): no other index can serve either,
    // whatever the tables held when the routine's plan was made. The pending part says `state <= 0`, which implies the
    // pending index's predicate and not the expiry index's `state = 0` (that index, walked whole, looked cheapest on
    // stale statistics).
    const where = forCreateWhere(p);
    return `SELECT ${COLUMNS} FROM (
        SELECT ${COLUMNS} FROM ${s}.connections
        WHERE ${where.active}
        UNION ALL
        SELECT ${COLUMNS} FROM ${s}.connections
        WHERE ${where.pending}) AS found
      ORDER BY id`;
  }
  const [org, object, context, accounts, creator, now, emails] = p as ForCreateParams;
  return `SELECT ${COLUMNS} FROM ${s}.connections
      WHERE org = ${org} AND context_object = ${object} AND context_id = ${context}
        AND ((state = 1 AND target_account = ANY(${accounts}::text[])
              AND (access_expires_at IS NULL OR access_expires_at > ${now}))
          OR (state + 0 = 0 AND creator = ${creator} AND expires_at > ${now}
              AND (target_account = ANY(${accounts}::text[]) OR target_email = ANY(${emails}::text[]))))
      ORDER BY id`;
}

/**
 * The SQLSTATE create's look-up routine raises (since migration 44) when it was called expecting no rows and found some
 * (a class of its own, so no server error is ever mistaken for it).
 */
export const SNAPSHOT_NOT_EMPTY = "CN001";

/** The parameters of create's look-up, in order: org, context object, context id, accounts, creator, now, emails. */
type ForCreateParams = [string, string, string, string, string, string, string];

/**
 * The conditions of create's look-up (since migration 43) on its parameters `p`: an active connection on the context
 * to one of the accounts, whose access has not ended (`active`), and the creator's unexpired invitation on it to one of
 * the accounts or emails (`pending`). Each names the whole key of one unique index, compared in "C" (sameC), so that
 * only that index can serve it (see {@link findForCreateQuery}).
 */
function forCreateWhere(p: readonly string[]): { active: string; pending: string } {
  const [org, object, context, accounts, creator, now, emails] = p as ForCreateParams;
  const onContext = `${sameC("org", org)} AND ${sameC("context_object", object)} AND ${sameC("context_id", context)}`;
  return {
    active: `${onContext} AND target_account = ANY(${accounts}::text[] COLLATE "C") AND state = 1
          AND (access_expires_at IS NULL OR access_expires_at > ${now})`,
    pending: `${onContext} AND ${sameC("creator", creator)} AND state <= 0 AND expires_at > ${now}
          AND (target_account = ANY(${accounts}::text[]) OR target_email = ANY(${emails}::text[]))`,
  };
}

/**
 * Create's check (expectNoneForCreate, migration 46): true when {@link findForCreateQuery} would find any row, as two
 * `EXISTS` on the same conditions, each on its own unique index. No row is read out, sorted or returned.
 */
export function expectNoneQuery(s: string, p: readonly string[] = FIND_FOR_CREATE_PARAMS): string {
  return `SELECT ${expectNoneCondition(s, p)}`;
}

/** The condition of {@link expectNoneQuery}. */
function expectNoneCondition(s: string, p: readonly string[]): string {
  const where = forCreateWhere(p);
  return `EXISTS (SELECT FROM ${s}.connections
        WHERE ${where.active})
      OR EXISTS (SELECT FROM ${s}.connections
        WHERE ${where.pending})`;
}

/** The PL/pgSQL variables create's look-up and check read their argument into, in the order of its elements. */
const FOR_CREATE_VARIABLES = [
  "v_org",
  "v_object",
  "v_context",
  "v_accounts",
  "v_creator",
  "v_now",
  "v_emails",
];

/** Takes the context's lock, keyed as lockContext keys it, in a routine that has read its argument into the variables. */
const CONTEXT_LOCK =
  "PERFORM pg_advisory_xact_lock(hashtextextended(to_json(ARRAY[v_org, v_object, v_context])::text, 0));";

/** Fails the transaction with SNAPSHOT_NOT_EMPTY: create's look-up found rows where its plan expected none. */
const SNAPSHOT_NOT_EMPTY_RAISE = `RAISE EXCEPTION 'conn: create''s look-up found rows where none were expected' USING ERRCODE = '${SNAPSHOT_NOT_EMPTY}';`;

/** The declarations of {@link expectNoneStatements}' variables, each on a line of its own. */
const EXPECT_NONE_VARIABLES = `
      v_org text;
      v_object text;
      v_context text;
      v_accounts text[];
      v_creator text;
      v_now timestamptz;
      v_emails text[];`;

/**
 * Create's check on the argument `arg` (create's look-up's, `[org, object, context id, accounts, creator, now,
 * emails]`), in PL/pgSQL that declares {@link EXPECT_NONE_VARIABLES}: the argument read, the context's lock taken, then
 * {@link expectNoneCondition} on a snapshot taken after it; when it holds, SNAPSHOT_NOT_EMPTY is raised.
 */
function expectNoneStatements(s: string, arg: string): string {
  return `v_org := ${arg}->>0;
      v_object := ${arg}->>1;
      v_context := ${arg}->>2;
      v_accounts := ARRAY(SELECT jsonb_array_elements_text(${arg}->3));
      v_creator := ${arg}->>4;
      v_now := (${arg}->>5)::timestamptz;
      v_emails := ARRAY(SELECT jsonb_array_elements_text(${arg}->6));
      ${CONTEXT_LOCK}
      IF ${expectNoneCondition(s, FOR_CREATE_VARIABLES)} THEN
        ${SNAPSHOT_NOT_EMPTY_RAISE}
      END IF;`;
}

/** The name of create's check routine (migration 46) in schema `s`. */
export function expectNoneRoutine(s: string): string {
  return `${s}.conn_expect_none_for_create`;
}

/**
 * Create's check as a routine of its own (migration 46): one jsonb argument, the look-up's 7 elements. It does what
 * create's look-up routine does when called with `expectNone` (the lock, then the look-up on a snapshot after it,
 * SNAPSHOT_NOT_EMPTY when it finds a row) without reading a row out: a repository outside a transaction that holds
 * calls (PGlite) calls it; a held check runs the same statements inside `conn_run`.
 */
export function expectNoneRoutineDefinition(s: string): string {
  return jsonbRoutine(expectNoneRoutine(s), EXPECT_NONE_VARIABLES, expectNoneStatements(s, "$1"));
}

/** The call of create's check routine with its argument (the JSON array of the look-up's parameters) as a literal. */
export function expectNoneCall(s: string, params: readonly unknown[]): string {
  return `SELECT ${expectNoneRoutine(s)}(${textLiteral(JSON.stringify(params))}::jsonb)`;
}

/**
 * Create's look-up routine (migration 41): one jsonb argument, the array `[org, object, context id, accounts, creator,
 * now, emails]` of {@link findForCreateQuery}. It takes the context's lock (lockContext's key, as accept's routine
 * makes it), then runs the look-up on a snapshot taken after the lock (a new one per statement, as in accept's
 * routine). The repository calls it with its argument as a literal and no parameters, so the call rides in the same
 * round trip as the transaction's BEGIN; its look-up keeps a generic plan (`plan_cache_mode` set for the routine only),
 * where a prepared statement was planned again on every call (PostgreSQL's cost model kept choosing a custom plan:
 * 0.3 ms of planning on every create).
 */
export function findForCreateRoutineDefinition(s: string, version: 41 | 43 | 44 = 44): string {
  // Migration 44 adds an eighth element, `expectNone`: when true and the look-up finds rows, the routine fails with
  // SNAPSHOT_NOT_EMPTY instead of returning them (expectNoneForCreate), which aborts the transaction it runs in.
  const expectNone =
    version === 44
      ? `
      v_expect_none boolean := coalesce(($1->>7)::boolean, false);`
      : "";
  const check =
    version === 44
      ? `
      IF FOUND AND v_expect_none THEN
        ${SNAPSHOT_NOT_EMPTY_RAISE}
      END IF;`
      : "";
  return `${version === 41 ? "CREATE" : "CREATE OR REPLACE"} FUNCTION ${findForCreateRoutine(s)}(jsonb)
    RETURNS TABLE (${RECORDSET})
    LANGUAGE plpgsql VOLATILE
    SET plan_cache_mode = force_generic_plan
    AS $routine$
    #variable_conflict use_column
    DECLARE
      v_org text := $1->>0;
      v_object text := $1->>1;
      v_context text := $1->>2;
      v_accounts text[] := ARRAY(SELECT jsonb_array_elements_text($1->3));
      v_creator text := $1->>4;
      v_now timestamptz := ($1->>5)::timestamptz;
      v_emails text[] := ARRAY(SELECT jsonb_array_elements_text($1->6));${expectNone}
    BEGIN
      ${CONTEXT_LOCK}
      RETURN QUERY ${findForCreateQuery(s, FOR_CREATE_VARIABLES, version === 41 ? 41 : 43)};${check}
    END
    $routine$`;
}

/** The call of create's look-up routine with its argument (the JSON array of its parameters) as a literal. */
export function findForCreateCall(s: string, params: readonly unknown[]): string {
  return `SELECT * FROM ${findForCreateRoutine(s)}(${textLiteral(JSON.stringify(params))}::jsonb)`;
}

/** The statement that takes a context's lock by its key (JSON.stringify([org, object, id])), as a literal (textLiteral). */
export function contextLockStatement(key: string): string {
  return `SELECT pg_advisory_xact_lock(hashtextextended(${textLiteral(key)}, 0))::text AS locked`;
}

/** A statement with the parameters it binds. */
export interface BoundStatement {
  text: string;
  params: unknown[];
}

/** A call of a routine with one literal jsonb argument: the schema, the routine, the literal's two groups. */
const ROUTINE_CALL = new RegExp(
  String.raw`^SELECT (?:\* FROM )?("[a-z_][a-z0-9_]*")\.(conn_[a-z_]+)\(${TEXT_LITERAL}::jsonb\)$`,
);

/**
 * The statements a call of one of the adapter's routines runs inside, each with the parameters it binds, for audits of
 * the adapter's SQL (org scoping, sharding, plans): create's look-up call becomes the context's lock (as lockContext
 * sends it) and then its look-up, bound to the call's argument; savePendingAsExpected's call becomes savePending's
 * statement, bound to its rows and clock, and savePendingFresh's its INSERT (pendingFreshInsert) so bound; the outbox's
 * enqueue call becomes its INSERT, bound to the messages; `conn_run`'s call becomes what each of its calls would; accept's
 * call becomes its token look-up and then its writes, which take the invitation it found (`found`: id, context object, context id) as $6-$8. Any other statement
 * comes back as it is.
 */
export function statementsInside(
  text: string,
  params: readonly unknown[] = [],
  found: readonly [string, string, string] = ["0".repeat(24), "", ""],
): BoundStatement[] {
  // A routine called with one literal argument: create's look-up, savePendingAsExpected, the outbox's enqueue.
  const literal = ROUTINE_CALL.exec(text);
  if (literal !== null) {
    const [, s, routine, dollarQuoted, hex] = literal as unknown as [
      string,
      string,
      string,
      string?,
      string?,
    ];
    const json = literalText(dollarQuoted, hex);
    if (routine === "conn_find_for_create") {
      const args = JSON.parse(json) as unknown[];
      return [
        { text: contextLockStatement(JSON.stringify(args.slice(0, 3))), params: [] },
        // The eighth element (expectNone, migration 44) only decides whether rows found fail the call.
        { text: findForCreateQuery(s), params: args.slice(0, 7) },
      ];
    }
    if (routine === "conn_expect_none_for_create") {
      const args = JSON.parse(json) as unknown[];
      return [
        { text: contextLockStatement(JSON.stringify(args.slice(0, 3))), params: [] },
        { text: expectNoneQuery(s), params: args.slice(0, 7) },
      ];
    }
    if (routine === "conn_save_pending_as_expected") {
      const [rows, now] = JSON.parse(json) as [unknown, string];
      return [{ text: savePendingStatement(s), params: [JSON.stringify(rows), now] }];
    }
    if (routine === "conn_save_pending_fresh") {
      const [rows, now] = JSON.parse(json) as [unknown, string];
      return [
        { text: pendingFreshInsert(s, "$1::jsonb", "$2::timestamptz"), params: [JSON.stringify(rows), now] },
      ];
    }
    if (routine === "conn_enqueue") return [{ text: enqueueQuery(s), params: [json] }];
    if (routine === "conn_run") {
      // Each held call, as the statement it would have been on its own.
      const steps = JSON.parse(json) as [string, unknown][];
      return steps.flatMap(([name, arg]) =>
        statementsInside(
          `SELECT ${name === "find_for_create" ? "* FROM " : ""}${s}.conn_${name}(${textLiteral(JSON.stringify(arg))}::jsonb)`,
        ),
      );
    }
  }
  const call = /^SELECT \* FROM ("[a-z_][a-z0-9_]*")\.conn_accept_pending\(/.exec(text);
  if (call === null) return [{ text, params: [...params] }];
  const s = call[1] as string;
  return [
    { text: acceptRoutineLookup(s), params: params.slice(0, 2) },
    { text: acceptRoutineQuery(s), params: [...params, ...found] },
  ];
}
