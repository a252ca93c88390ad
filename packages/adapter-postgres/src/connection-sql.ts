/** SQL fragments over the `connections` columns, shared by the repository's statements and the routines of the migrations. */
import { CONNECTION_COLUMN_TYPES, CONNECTION_COLUMNS } from "./rows.js";

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
 * Accept's routine (migration 40): `(org, token_hash, now, account, email)`, one call, its own transaction when called
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
 * and the claim are unique look-ups (token or primary key); the superseding delete compares the account with IS NOT
 * DISTINCT FROM, which no index can serve and which does not imply the target-account index's `target_account IS NOT
 * NULL` (that partial index, walked by org alone, won on empty tables: every pending row of the org), and `state + 0`,
 * which no partial index on `state` matches. The context's index is then the cheapest whatever the statistics
 * (test/generic-plans.test.ts and test/stale-statistics.test.ts check the plans).
 */
export function acceptRoutineDefinition(s: string): string {
  return `CREATE FUNCTION ${acceptRoutine(s)}(text, text, timestamptz, text, text)
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
      ${acceptRoutineLookup(s)} INTO found_id, found_object, found_context;
      IF found_id IS NULL THEN
        RETURN;
      END IF;
      PERFORM pg_advisory_xact_lock(hashtextextended(to_json(ARRAY[$1, found_object, found_context])::text, 0));
      RETURN QUERY ${acceptRoutineQuery(s, "found_id", "found_object", "found_context")};
    END
    $routine$`;
}

/** The accept routine's look-up of the invitation by token (the plan tests probe it). */
export function acceptRoutineLookup(s: string): string {
  return `SELECT id, context_object, context_id FROM ${s}.connections WHERE org = $1 AND token_hash = $2 AND state + 0 = 0`;
}

/**
 * The statement the accept routine runs after taking the lock: its parameters the routine's, and the found id, context
 * object and context id as `id`, `object`, `context` (variables in the routine; parameters $6-$8 for the plan tests).
 */
export function acceptRoutineQuery(s: string, id = "$6", object = "$7", context = "$8"): string {
  const t = `${s}.connections`;
  return `WITH claimed AS (
          DELETE FROM ${t} WHERE org = $1 AND id = ${id} AND state + 0 = 0 AND expires_at > $3 AND token_hash = $2
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
          WHERE s.org = $1 AND s.context_object = ${object} AND s.context_id = ${context}
            AND s.target_account IS NOT DISTINCT FROM $4 AND s.state + 0 = 0 AND s.id <> ${id}
            AND s.access <= (SELECT access FROM saved)
          RETURNING ${CONNECTION_COLUMNS.map((column) => `s.${column}`).join(", ")})
        SELECT 0, ${COLUMNS} FROM claimed
        UNION ALL SELECT 1, ${COLUMNS} FROM saved
        UNION ALL SELECT 2, ${COLUMNS} FROM superseded`;
}

/** A statement with the parameters it binds. */
export interface BoundStatement {
  text: string;
  params: unknown[];
}

/**
 * The statements a call of one of the adapter's routines runs inside, each with the parameters it binds, for audits of
 * the adapter's SQL (org scoping, sharding, plans): accept's call becomes its token look-up and then its writes, which
 * take the invitation it found (`found`: id, context object, context id) as $6-$8. Any other statement comes back as
 * it is.
 */
export function statementsInside(
  text: string,
  params: readonly unknown[] = [],
  found: readonly [string, string, string] = ["0".repeat(24), "", ""],
): BoundStatement[] {
  const call = /^SELECT \* FROM ("[a-z_][a-z0-9_]*")\.conn_accept_pending\(/.exec(text);
  if (call === null) return [{ text, params: [...params] }];
  const s = call[1] as string;
  return [
    { text: acceptRoutineLookup(s), params: params.slice(0, 2) },
    { text: acceptRoutineQuery(s), params: [...params, ...found] },
  ];
}
