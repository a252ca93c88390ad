import {
  CryptoTokenService,
  InMemoryAccountDirectory,
  InMemoryContextAccess,
  InMemoryOrgDirectory,
  InMemoryUnitOfWork,
  RandomIdGenerator,
  SystemClock,
} from "@conn/adapter-memory";
import {
  activeKeySql,
  connectPostgres,
  type Database,
  migrate,
  openPglite,
  PostgresUnitOfWork,
} from "@conn/adapter-postgres";
import { type Connections, createConnections, type EventPublisher, type UnitOfWork } from "@conn/core";
import pg from "pg";
import { CountingDatabase } from "./counting.js";
import {
  activeRecord,
  activeSeedSql,
  COLUMNS,
  expiredRecord,
  expiredSeedSql,
  FLOOR_ORG,
  ids,
  OBJECT,
  ORG,
  PURGE_ORG,
  strideOf,
} from "./dataset.js";
import type { DataSetSize, EngineName } from "./options.js";
import { poolReplay, type SqlReplay } from "./replay.js";

/** Rows per bulk write when seeding. */
export const SEED_CHUNK = 1_000;

/** A fixed token key, so runs are alike. */
const TOKEN_KEY = "conn-bench-token-key-0123456789abcdef";

/** The access query of the adapter's `activeAccess`, as the floor sends it raw (same key, same index). */
export function activeAccessSql(schema: string): string {
  return `SELECT access FROM "${schema}".connections WHERE ${activeKeySql()}`;
}

/** One store the scenarios run on, with the library over it and the host's ports in memory. */
export interface BenchEngine {
  readonly name: EngineName;
  /** The facade, as a host calls it. */
  readonly connections: Connections;
  /** The unit of work under the facade (its repository is used to seed and to set up consumed records). */
  readonly store: UnitOfWork;
  readonly accounts: InMemoryAccountDirectory;
  readonly contexts: InMemoryContextAccess;
  readonly orgs: InMemoryOrgDirectory;
  readonly tokens: CryptoTokenService;
  readonly clock: SystemClock;
  /** The statement counter the adapter's queries go through (null for memory: no SQL). */
  readonly counter: CountingDatabase | null;
  /** The driver under the adapter: a pg pool or PGlite (for raw floor statements), or null for memory. */
  readonly raw: RawDriver | null;
  /** The schema the tables live in (Postgres engines). */
  readonly schema: string | null;
  /**
   * The write floor (the server only): BEGIN, a one-row INSERT into `connections` (a named prepared statement, a row
   * of {@link FLOOR_ORG}), COMMIT, on a client of the same pool; null on the other engines.
   */
  readonly writeFloor: (() => Promise<void>) | null;
  /** Captures a call's round trips on the pool and replays them raw (the server only; null on the other engines). */
  readonly replay: SqlReplay | null;
  /** Writes rows [from, to) of the warm data set. */
  seedActive(size: DataSetSize, from: number, to: number, at: Date): Promise<void>;
  /** Writes expired invitations [from, to) to the purge org. */
  seedExpired(size: DataSetSize, from: number, to: number, at: Date): Promise<void>;
  /** Refreshes the planner's statistics of the connections table (what autovacuum does on a server; PGlite has none). */
  analyze(): Promise<void>;
  /** Deletes every row of an org in one statement (clean-up, untimed). */
  deleteOrg(org: string): Promise<void>;
  /** Rows of the connections table and its total size with indexes and TOAST (Postgres engines). */
  tableSize(): Promise<{ rows: number; bytes: number } | null>;
  /** Drops what the run made and closes. */
  close(): Promise<void>;
}

/** The raw driver of a Postgres engine, for the floor. */
export interface RawDriver {
  /** Runs the access look-up as a named prepared statement (pg) or as PGlite runs any parameterised query. */
  prepared(params: unknown[]): Promise<{ rows: { access: number }[] }>;
  /** Runs it unnamed: parse, plan and execute each time (what `Queryable.query(text, params)` does on pg). */
  unprepared(params: unknown[]): Promise<{ rows: { access: number }[] }>;
}

const noEvents: EventPublisher = { publish: async () => {} };

/** The host's side, in memory for every engine: one org, one object open to connections. */
export function hostPorts() {
  const accounts = new InMemoryAccountDirectory();
  const contexts = new InMemoryContextAccess();
  const orgs = new InMemoryOrgDirectory();
  for (const org of [ORG, PURGE_ORG]) {
    orgs.put({ code: org, name: "Bench Health" });
    contexts.defineObject(org, { name: OBJECT, allowConnections: true, label: "file" });
  }
  return { accounts, contexts, orgs };
}

/** Puts the directory's accounts: the targets, the strangers, the creator and the owner (all verified). */
export function seedAccounts(accounts: InMemoryAccountDirectory, size: DataSetSize): void {
  const put = (_id: string, email: string) =>
    accounts.put(ORG, {
      _id,
      email,
      name: { first: "Bench", last: email.split("@")[0] ?? "" },
      verified: true,
    });
  for (let n = 0; n < size.accounts; n++) put(ids.account(n), `a${n}@bench.example`);
  for (let n = 0; n < size.accounts; n++) put(ids.stranger(n), `b${n}@bench.example`);
  put(ids.creator, "creator@bench.example");
  put(ids.owner, "owner@bench.example");
}

/**
 * Opens an engine: the facade wired by hand over the engine's unit of work, with no notifier relay (the Postgres
 * engines run none either: notices wait in the outbox) and no event recorder, so every engine does the same work.
 */
export async function openEngine(name: EngineName, pgUrl: string | undefined): Promise<BenchEngine> {
  const { accounts, contexts, orgs } = hostPorts();
  const clock = new SystemClock();
  const tokens = new CryptoTokenService({ key: TOKEN_KEY });
  const idGen = new RandomIdGenerator(clock);
  const wire = (store: UnitOfWork) =>
    createConnections({ store, accounts, contexts, orgs, tokens, ids: idGen, clock, events: noEvents });

  if (name === "memory") {
    const store = new InMemoryUnitOfWork();
    return {
      name,
      connections: wire(store),
      store,
      accounts,
      contexts,
      orgs,
      tokens,
      clock,
      counter: null,
      raw: null,
      schema: null,
      writeFloor: null,
      replay: null,
      async seedActive(size, from, to, at) {
        for (let start = from; start < to; start += SEED_CHUNK) {
          const chunk: ReturnType<typeof activeRecord>[] = [];
          for (let i = start; i < Math.min(to, start + SEED_CHUNK); i++)
            chunk.push(activeRecord(i, size, at));
          await store.connections.saveActive(chunk);
        }
      },
      async seedExpired(size, from, to, at) {
        for (let start = from; start < to; start += SEED_CHUNK) {
          const chunk: ReturnType<typeof expiredRecord>[] = [];
          for (let i = start; i < Math.min(to, start + SEED_CHUNK); i++)
            chunk.push(expiredRecord(i, size, at));
          await store.connections.savePending(chunk, at);
        }
      },
      analyze: async () => {},
      deleteOrg: async () => {},
      tableSize: async () => null,
      close: async () => {},
    };
  }

  const schema = `conn_bench_${process.pid}`;
  let db: Database;
  let raw: RawDriver;
  let pool: pg.Pool | null = null;
  let writeFloor: (() => Promise<void>) | null = null;
  const sql = activeAccessSql(schema);
  if (name === "pglite") {
    db = await openPglite();
    const pglite = db;
    raw = {
      prepared: (params) => pglite.query<{ access: number }>(sql, params),
      unprepared: (params) => pglite.query<{ access: number }>(sql, params),
    };
  } else {
    if (pgUrl === undefined) throw new Error("the postgres engine needs CONN_PG_URL");
    const own = new pg.Pool({ connectionString: pgUrl, max: 10 });
    pool = own;
    db = await connectPostgres({ pool: own });
    const statementName = `conn_bench_access_${process.pid}`;
    raw = {
      prepared: (params) => own.query<{ access: number }>({ name: statementName, text: sql, values: params }),
      unprepared: (params) => own.query<{ access: number }>(sql, params),
    };
    const insert = `INSERT INTO "${schema}".connections (${COLUMNS})
      VALUES ($1, $2, 2, '{}', '${OBJECT}', $3, NULL, now(), now(), $4, $5, NULL, NULL, false, 'account:' || $5, 1,
              NULL, NULL, NULL)`;
    let n = 0;
    writeFloor = async () => {
      const client = await own.connect();
      try {
        const k = n++;
        await client.query("BEGIN");
        await client.query({
          name: `conn_bench_floor_${process.pid}`,
          text: insert,
          values: [FLOOR_ORG, ids.floor(k), ids.context(k), ids.owner, ids.account(k)],
        });
        await client.query("COMMIT");
      } finally {
        client.release();
      }
    };
    await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
  await migrate(db, { schema });
  const counter = new CountingDatabase(db);
  const store = new PostgresUnitOfWork(counter, { schema });
  const seed = async (text: string, org: string, size: DataSetSize, from: number, to: number, at: Date) => {
    for (let start = from; start < to; start += SEED_CHUNK * 10) {
      await db.query(text, [
        org,
        start,
        Math.min(to, start + SEED_CHUNK * 10),
        size.contexts,
        size.accounts,
        strideOf(size),
        ids.owner,
        at.toISOString(),
      ]);
    }
  };
  return {
    name,
    connections: wire(store),
    store,
    accounts,
    contexts,
    orgs,
    tokens,
    clock,
    counter,
    raw,
    schema,
    writeFloor,
    replay: pool === null ? null : poolReplay(pool),
    seedActive: (size, from, to, at) => seed(activeSeedSql(schema), ORG, size, from, to, at),
    seedExpired: (size, from, to, at) =>
      seed(expiredSeedSql(schema), PURGE_ORG, { ...size, connections: size.expired }, from, to, at),
    async analyze() {
      await db.query(`ANALYZE "${schema}".connections`);
    },
    async deleteOrg(org) {
      await db.query(`DELETE FROM "${schema}".connections WHERE org = $1`, [org]);
    },
    async tableSize() {
      await db.query(`ANALYZE "${schema}".connections`);
      const { rows } = await db.query<{ rows: number; bytes: number }>(
        `SELECT (SELECT count(*) FROM "${schema}".connections)::int AS rows,
                pg_total_relation_size('"${schema}".connections')::float8 AS bytes`,
      );
      const row = rows[0];
      return row === undefined ? null : { rows: Number(row.rows), bytes: Number(row.bytes) };
    },
    async close() {
      try {
        if (name === "postgres") await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await db.close();
        await pool?.end().catch(() => {});
      }
    },
  };
}
