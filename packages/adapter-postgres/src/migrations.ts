import {
  acceptRoutineDefinition,
  expectNoneRoutineDefinition,
  findForCreateRoutineDefinition,
  runRoutineDefinition,
  savePendingAsExpectedDefinition,
  savePendingFreshDefinition,
} from "./connection-sql.js";
import type { Database, Queryable } from "./database.js";
import { guard } from "./errors.js";
import { enqueueRoutineDefinition } from "./outbox-sql.js";
import { DEFAULT_SCHEMA, quoteSchema } from "./schema-name.js";

/** One versioned schema change: single statements (so both engines run them through `query`), in order. */
export interface Migration {
  /** Applied in ascending order; recorded in `connection_migrations` once applied. */
  version: number;
  /** A short description. */
  name: string;
  /** The statements, with every table qualified by the (already quoted) schema `s`. */
  statements(s: string): string[];
}

/** The adapter's schema, as versioned migrations. Never edit a released migration: add a new one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "connections and outbox",
    statements: (s) => [
      `CREATE TABLE ${s}.connections (
        org            text NOT NULL,
        id             text COLLATE "C" NOT NULL,
        access         smallint NOT NULL,
        roles          text[] NOT NULL DEFAULT '{}',
        context_object text NOT NULL,
        context_id     text NOT NULL,
        context_source text,
        created        timestamptz NOT NULL,
        updated        timestamptz NOT NULL,
        creator        text NOT NULL,
        target_account text,
        target_email   text,
        target_name    jsonb,
        via_email      boolean NOT NULL DEFAULT false,
        target_key     text NOT NULL,
        state          smallint NOT NULL,
        token_hash     text,
        token_seal     text,
        expires_at     timestamptz,
        CONSTRAINT connections_pkey PRIMARY KEY (org, id),
        CONSTRAINT connections_id_check CHECK (id ~ '^[0-9a-f]{24}$'),
        CONSTRAINT connections_state_check CHECK (state IN (0, 1)),
        CONSTRAINT connections_access_check CHECK (access BETWEEN 2 AND 7),
        CONSTRAINT connections_roles_check CHECK (array_position(roles, NULL) IS NULL),
        CONSTRAINT connections_target_check CHECK (target_account IS NOT NULL OR target_email IS NOT NULL),
        CONSTRAINT connections_pending_check
          CHECK (state <> 0 OR (token_hash IS NOT NULL AND expires_at IS NOT NULL)),
        CONSTRAINT connections_active_check
          CHECK (state <> 1 OR (target_account IS NOT NULL AND token_hash IS NULL AND token_seal IS NULL
                                AND expires_at IS NULL))
      )`,
      // At most one active connection per (org, context, target account); serves activeAccess (index-only, hence
      // INCLUDE access), findForCreate (active part) and saveActive's ON CONFLICT.
      `CREATE UNIQUE INDEX connections_active_uq
         ON ${s}.connections (org, context_object, context_id, target_account) INCLUDE (access) WHERE state = 1`,
      // One pending invitation per (org, context, creator, target key); serves savePending's ON CONFLICT and
      // findForCreate (pending part).
      `CREATE UNIQUE INDEX connections_pending_uq
         ON ${s}.connections (org, context_object, context_id, creator, target_key) WHERE state = 0`,
      // A token hash is unique per org; serves findPendingByTokenHash.
      `CREATE UNIQUE INDEX connections_token_uq ON ${s}.connections (org, token_hash) WHERE token_hash IS NOT NULL`,
      // list by creator, in id order.
      `CREATE INDEX connections_creator_idx ON ${s}.connections (org, creator, id)`,
      // list by target (account part), in id order.
      `CREATE INDEX connections_target_account_idx
         ON ${s}.connections (org, target_account, id) WHERE target_account IS NOT NULL`,
      // bindEmail, and list by target (unbound email part), in id order.
      `CREATE INDEX connections_unbound_email_idx
         ON ${s}.connections (org, target_email, id) WHERE state = 0 AND target_account IS NULL`,
      // list by context in id order, and deleteSuperseded.
      `CREATE INDEX connections_context_idx ON ${s}.connections (org, context_object, context_id, id)`,
      // purgeExpired.
      `CREATE INDEX connections_expiry_idx ON ${s}.connections (org, expires_at) WHERE state = 0`,
      `CREATE TABLE ${s}.connection_outbox (
        id           text COLLATE "C" NOT NULL,
        org          text NOT NULL,
        notice       jsonb NOT NULL,
        attempts     integer NOT NULL DEFAULT 0,
        available_at timestamptz NOT NULL,
        lease_until  timestamptz,
        status       text NOT NULL DEFAULT 'pending',
        last_error   text,
        last_attempt_at timestamptz,
        created      timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        CONSTRAINT connection_outbox_pkey PRIMARY KEY (id),
        CONSTRAINT connection_outbox_status_check CHECK (status IN ('pending', 'delivered', 'dead')),
        CONSTRAINT connection_outbox_attempts_check CHECK (attempts >= 0),
        CONSTRAINT connection_outbox_delivered_check CHECK (status <> 'delivered' OR delivered_at IS NOT NULL)
      )`,
      // claim: the due pending messages in order.
      `CREATE INDEX connection_outbox_due_idx
         ON ${s}.connection_outbox (available_at, id) WHERE status = 'pending'`,
    ],
  },
  {
    version: 2,
    name: "analyze connections often",
    // Pending invitations live in partial indexes (WHERE state = 0). With the server's default thresholds a table is
    // re-analyzed only after ~10% of it changed, and until then the planner may think no pending row exists and walk
    // the expiry index instead of the token index (the benchmark saw accept at 20 ms instead of 4 ms). Analyze after
    // 2% + 500 rows changed instead.
    statements: (s) => [
      `ALTER TABLE ${s}.connections SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 500,
         autovacuum_vacuum_scale_factor = 0.05)`,
      `ALTER TABLE ${s}.connection_outbox SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_scale_factor = 0.05)`,
    ],
  },
  {
    version: 3,
    name: "outbox enqueue order",
    // Message ids are random (spec: ids cannot be walked), so they no longer tell which notice came first: an
    // identity column does, and due messages are claimed in that order.
    statements: (s) => [
      `ALTER TABLE ${s}.connection_outbox ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY`,
      `DROP INDEX ${s}.connection_outbox_due_idx`,
      `CREATE INDEX connection_outbox_due_idx ON ${s}.connection_outbox (available_at, seq) WHERE status = 'pending'`,
    ],
  },
  {
    version: 10,
    name: "outbox by org: fenced claims, retention and dead-letter indexes",
    // Every key leads with org so the table can be sharded by org (e.g. Citus): the primary key becomes (org, id),
    // and claims go org by org through (org, available_at, seq). `claims` counts the claims of a message: it is the
    // fencing token a relay names to renew, release or settle its claim. The delivered indexes serve retention (which
    // orgs have old deliveries; an org's oldest first); the dead index serves the dead-letter list.
    statements: (s) => [
      `ALTER TABLE ${s}.connection_outbox ADD COLUMN claims integer NOT NULL DEFAULT 0`,
      `ALTER TABLE ${s}.connection_outbox DROP CONSTRAINT connection_outbox_pkey`,
      `ALTER TABLE ${s}.connection_outbox ADD CONSTRAINT connection_outbox_pkey PRIMARY KEY (org, id)`,
      `CREATE INDEX connection_outbox_org_due_idx
         ON ${s}.connection_outbox (org, available_at, seq) WHERE status = 'pending'`,
      `CREATE INDEX connection_outbox_delivered_idx
         ON ${s}.connection_outbox (delivered_at) WHERE status = 'delivered'`,
      `CREATE INDEX connection_outbox_org_delivered_idx
         ON ${s}.connection_outbox (org, delivered_at) WHERE status = 'delivered'`,
      `CREATE INDEX connection_outbox_dead_idx ON ${s}.connection_outbox (org, id) WHERE status = 'dead'`,
    ],
  },
  {
    version: 20,
    name: "share links",
    // A link is kept after it is revoked, expires or is used up, so its creator can see what became of it. uses_left
    // goes down by one per redemption in one UPDATE whose WHERE re-checks it (see takeUse).
    statements: (s) => [
      `CREATE TABLE ${s}.share_links (
        org            text NOT NULL,
        id             text COLLATE "C" NOT NULL,
        context_object text NOT NULL,
        context_id     text NOT NULL,
        access         smallint NOT NULL,
        creator        text NOT NULL,
        created        timestamptz NOT NULL,
        updated        timestamptz NOT NULL,
        expires_at     timestamptz NOT NULL,
        uses_allowed   integer NOT NULL,
        uses_left      integer NOT NULL,
        email_domain   text,
        token_hash     text NOT NULL,
        token_seal     text NOT NULL,
        revoked_at     timestamptz,
        CONSTRAINT share_links_pkey PRIMARY KEY (org, id),
        CONSTRAINT share_links_id_check CHECK (id ~ '^[0-9a-f]{24}$'),
        CONSTRAINT share_links_access_check CHECK (access BETWEEN 2 AND 7),
        CONSTRAINT share_links_uses_check CHECK (uses_allowed BETWEEN 1 AND 1000 AND uses_left BETWEEN 0 AND uses_allowed)
      )`,
      // findByTokenHash.
      `CREATE UNIQUE INDEX share_links_token_uq ON ${s}.share_links (org, token_hash)`,
      // listByContext, in id order.
      `CREATE INDEX share_links_context_idx ON ${s}.share_links (org, context_object, context_id, id)`,
    ],
  },
  {
    version: 21,
    name: "time-limited grants",
    // access_expires_at: when the access a connection gives ends (null: never). Every read compares it with the
    // caller's clock, so an ended grant counts nowhere before the purge; the index serves the purge.
    statements: (s) => [
      `ALTER TABLE ${s}.connections ADD COLUMN access_expires_at timestamptz`,
      `CREATE INDEX connections_access_expiry_idx
         ON ${s}.connections (org, access_expires_at) WHERE access_expires_at IS NOT NULL`,
    ],
  },
  {
    version: 30,
    name: "notify access changes",
    // Every change to an active connection row (accept, upgrade, delete, a grant's expiry or purge), by any path (this
    // library's statements, another version of it, a host's own SQL), notifies the schema's channel with the (org,
    // context, target account) whose access may have changed, for the access caches of other processes
    // (docs/caching.md). Only active rows answer an access check, so changes to pending rows alone (create, reject,
    // bind, purge of invitations) stay silent: a NOTIFY serialises the commits that send one. pg_notify inside the
    // writing transaction is delivered at commit, in commit order, and not at all on rollback. TRUNCATE notifies `*`.
    statements: (s) => [
      `CREATE FUNCTION ${s}.connections_notify_access() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE
         channel text := 'conn_access_' || left(md5(TG_TABLE_SCHEMA), 16);
       BEGIN
         IF TG_OP = 'TRUNCATE' THEN
           PERFORM pg_notify(channel, '*');
           RETURN NULL;
         END IF;
         IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state = 1 THEN
           PERFORM pg_notify(channel,
             json_build_array(OLD.org, OLD.context_object, OLD.context_id, OLD.target_account)::text);
         END IF;
         IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.state = 1 THEN
           PERFORM pg_notify(channel,
             json_build_array(NEW.org, NEW.context_object, NEW.context_id, NEW.target_account)::text);
         END IF;
         RETURN NULL;
       END $$`,
      `CREATE TRIGGER connections_notify_access AFTER INSERT OR UPDATE OR DELETE ON ${s}.connections
         FOR EACH ROW EXECUTE FUNCTION ${s}.connections_notify_access()`,
      `CREATE TRIGGER connections_notify_access_truncate AFTER TRUNCATE ON ${s}.connections
         FOR EACH STATEMENT EXECUTE FUNCTION ${s}.connections_notify_access()`,
    ],
  },
  {
    version: 31,
    name: "access-ending notices",
    // access_end_noticed: the access_expires_at whose access-ending notice was queued (null: none yet). A grant is
    // due while its end is within the lead time and differs from it, so a re-grant that moves the end makes the new
    // end due without touching this column. The access-expiry index gains id, so the notice sweep (and the purge)
    // walk ends in (end, id) order from a cursor. Marking a grant noticed changes no access: the trigger of version 30
    // stays silent for an update that changes nothing else.
    statements: (s) => [
      `ALTER TABLE ${s}.connections ADD COLUMN access_end_noticed timestamptz`,
      `DROP INDEX ${s}.connections_access_expiry_idx`,
      `CREATE INDEX connections_access_end_idx
         ON ${s}.connections (org, access_expires_at, id) WHERE access_expires_at IS NOT NULL`,
      `CREATE OR REPLACE FUNCTION ${s}.connections_notify_access() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE
         channel text := 'conn_access_' || left(md5(TG_TABLE_SCHEMA), 16);
       BEGIN
         IF TG_OP = 'TRUNCATE' THEN
           PERFORM pg_notify(channel, '*');
           RETURN NULL;
         END IF;
         IF TG_OP = 'UPDATE' AND OLD.access_end_noticed IS DISTINCT FROM NEW.access_end_noticed
            AND (to_jsonb(OLD) - 'access_end_noticed') = (to_jsonb(NEW) - 'access_end_noticed') THEN
           RETURN NULL;
         END IF;
         IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state = 1 THEN
           PERFORM pg_notify(channel,
             json_build_array(OLD.org, OLD.context_object, OLD.context_id, OLD.target_account)::text);
         END IF;
         IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.state = 1 THEN
           PERFORM pg_notify(channel,
             json_build_array(NEW.org, NEW.context_object, NEW.context_id, NEW.target_account)::text);
         END IF;
         RETURN NULL;
       END $$`,
    ],
  },
  {
    version: 40,
    name: "accept in one call",
    // Accept's writes as a routine that takes the context's lock itself and then decides on a snapshot taken after
    // it: accept is its token look-up and this one call, with no BEGIN or COMMIT of its own (connection-sql.ts).
    statements: (s) => [acceptRoutineDefinition(s, 40)],
  },
  {
    version: 41,
    name: "create in three round trips",
    // Create's look-up as a routine that takes the context's lock itself and then reads on a snapshot taken after it,
    // on a generic plan: called with a literal argument, it rides in the same round trip as create's BEGIN
    // (connection-sql.ts). The outbox's enqueue as a routine, called with a literal in the round trip of a
    // transaction's COMMIT (outbox-sql.ts).
    statements: (s) => [findForCreateRoutineDefinition(s, 41), enqueueRoutineDefinition(s)],
  },
  {
    version: 42,
    name: "create's invitations stored at commit",
    // savePendingAsExpected as a routine: create's invitations, stored as the core expects them to be stored or not at
    // all (a serialization failure), called with a literal in the round trip of the transaction's COMMIT
    // (connection-sql.ts).
    statements: (s) => [savePendingAsExpectedDefinition(s)],
  },
  {
    version: 43,
    name: "unique look-ups on their own index",
    // The active, token and pending indexes again, with their columns in the "C" collation, and the routines of
    // accept and of create's look-up with their look-ups compared so (connection-sql.ts, sameC). A generic plan made while the tables are small, when these
    // indexes have split into two levels and the primary key or the context's index has not, walked that other index
    // by org alone, every row of the org on every call, for as long as the connection lived (resolveAccess, accept and
    // create in `pnpm bench`'s PostgreSQL flows). No other index holds a column in "C" but the id, so the look-ups written
    // for these indexes can use no other. Uniqueness is unchanged: equality is the same in every deterministic
    // collation, and the ON CONFLICT clauses, which name no collation, infer the new indexes. The indexes are built in
    // the migration's transaction, which holds off writes to the table while they build.
    statements: (s) => [
      `CREATE UNIQUE INDEX connections_active_uq_c ON ${s}.connections
         (org COLLATE "C", context_object COLLATE "C", context_id COLLATE "C", target_account COLLATE "C")
         INCLUDE (access) WHERE state = 1`,
      `DROP INDEX ${s}.connections_active_uq`,
      `ALTER INDEX ${s}.connections_active_uq_c RENAME TO connections_active_uq`,
      `CREATE UNIQUE INDEX connections_token_uq_c ON ${s}.connections (org COLLATE "C", token_hash COLLATE "C")
         WHERE token_hash IS NOT NULL`,
      `DROP INDEX ${s}.connections_token_uq`,
      `ALTER INDEX ${s}.connections_token_uq_c RENAME TO connections_token_uq`,
      // `state <= 0`, the same rows as `state = 0` (state is 0 or 1): savePending's `ON CONFLICT … WHERE state = 0`
      // implies it, and the look-ups that say `state <= 0` imply it and not the expiry index's `state = 0`, so that
      // index cannot be walked whole in their place (a partial index whose predicate a query implies may be).
      `CREATE UNIQUE INDEX connections_pending_uq_c ON ${s}.connections
         (org COLLATE "C", context_object COLLATE "C", context_id COLLATE "C", creator COLLATE "C",
          target_key COLLATE "C") WHERE state <= 0`,
      `DROP INDEX ${s}.connections_pending_uq`,
      `ALTER INDEX ${s}.connections_pending_uq_c RENAME TO connections_pending_uq`,
      acceptRoutineDefinition(s, 43),
      findForCreateRoutineDefinition(s, 43),
      // The access-change trigger, split by event with a WHEN condition each: a change to pending rows alone (create,
      // reject, claim, supersede, purge of invitations) no longer calls the trigger's function at all, where it used to
      // be called for every row and return without notifying (about 25 µs an invitation).
      `DROP TRIGGER connections_notify_access ON ${s}.connections`,
      `CREATE TRIGGER connections_notify_access_insert AFTER INSERT ON ${s}.connections
         FOR EACH ROW WHEN (NEW.state = 1) EXECUTE FUNCTION ${s}.connections_notify_access()`,
      `CREATE TRIGGER connections_notify_access_update AFTER UPDATE ON ${s}.connections
         FOR EACH ROW WHEN (OLD.state = 1 OR NEW.state = 1) EXECUTE FUNCTION ${s}.connections_notify_access()`,
      `CREATE TRIGGER connections_notify_access_delete AFTER DELETE ON ${s}.connections
         FOR EACH ROW WHEN (OLD.state = 1) EXECUTE FUNCTION ${s}.connections_notify_access()`,
    ],
  },
  {
    version: 44,
    name: "create in one round trip",
    // Create's look-up routine takes an eighth element, `expectNone`: when set and the look-up finds rows, it fails
    // with SQLSTATE CN001 instead of returning them (connection-sql.ts). A create whose plan holds on an empty
    // look-up (expectNoneForCreate) sends the look-up so, held with its writes for the COMMIT: BEGIN, the look-up,
    // the invitations, the notices and COMMIT go in one round trip, and when the look-up finds rows nothing is
    // written and the create runs again on them. Without the element the routine does what migration 43's did.
    statements: (s) => [findForCreateRoutineDefinition(s, 44)],
  },
  {
    version: 45,
    name: "a create's held writes in one statement",
    // Two routines (connection-sql.ts). conn_save_pending_fresh stores invitations that are expected to become
    // themselves (a create's new ones) with a plain insert, where savePendingAsExpected's routine merges and then
    // checks each row by a join. conn_run runs a transaction's statements held for its COMMIT, each one call of a
    // routine with one jsonb argument, in order, in one statement: the unit of work sends a create's look-up, its
    // invitations and its notices as one call instead of three.
    statements: (s) => [savePendingFreshDefinition(s), runRoutineDefinition(s, 45)],
  },
  {
    version: 46,
    name: "create's held calls run in place",
    // A routine for create's check, conn_expect_none_for_create: the context's lock, then whether the look-up would
    // find any row, as two EXISTS, without reading one out (create's look-up routine called with `expectNone` read the
    // rows, sorted them and returned them through a function scan, to raise when there were any). conn_run runs that
    // check, the fresh invitations' insert and the notices' insert in place, where it called a routine for each; it keeps
    // calling the routines of the other steps (connection-sql.ts).
    statements: (s) => [expectNoneRoutineDefinition(s), runRoutineDefinition(s, 46)],
  },
];

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** The schema to migrate (created when missing); default `public`. */
  schema?: string | undefined;
}

/** What {@link migrate} did. */
export interface MigrateResult {
  schema: string;
  /** The versions this call applied, ascending (empty when the schema was up to date). */
  applied: number[];
  /** The schema's version after the call. */
  version: number;
}

/** The two int4 keys of the advisory lock that serialises migrations of one schema (stable across processes). */
export function migrationLockKeys(schema: string): [number, number] {
  // FNV-1a, 32 bits, of the schema name; the first key marks the lock as this library's.
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(schema)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return [0x636f6e6e /* "conn" */, hash | 0];
}

/**
 * Brings the schema up to the latest migration, in one transaction under a transaction-level advisory lock: two
 * processes that start at once apply each migration exactly once (the second waits, then finds nothing to do).
 * Idempotent. Each applied version is recorded in `<schema>.connection_migrations`.
 */
export async function migrate(db: Database, options: MigrateOptions = {}): Promise<MigrateResult> {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  const s = quoteSchema(schema);
  const [classId, objectId] = migrationLockKeys(schema);
  return guard("migrate", () =>
    db.transaction(async (tx: Queryable) => {
      await tx.query("SELECT pg_advisory_xact_lock($1::int4, $2::int4)", [classId, objectId]);
      await tx.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await tx.query(
        `CREATE TABLE IF NOT EXISTS ${s}.connection_migrations (
           version    integer PRIMARY KEY,
           name       text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const { rows } = await tx.query<{ version: number }>(
        `SELECT version FROM ${s}.connection_migrations ORDER BY version`,
      );
      const done = new Set(rows.map((row) => row.version));
      const applied: number[] = [];
      for (const migration of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
        if (done.has(migration.version)) continue;
        for (const statement of migration.statements(s)) await tx.query(statement);
        await tx.query(`INSERT INTO ${s}.connection_migrations (version, name) VALUES ($1, $2)`, [
          migration.version,
          migration.name,
        ]);
        applied.push(migration.version);
      }
      const version = Math.max(0, ...done, ...applied);
      return { schema, applied, version };
    }),
  );
}
