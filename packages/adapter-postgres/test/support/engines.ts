import { afterAll, beforeAll, beforeEach, describe } from "vitest";
import {
  connectPostgres,
  type Database,
  migrate,
  openPglite,
  PostgresConnectionRepository,
  PostgresOutbox,
  PostgresUnitOfWork,
  type Queryable,
} from "../../src/index.js";

/** The engines the suites run on. */
export type EngineName = "pglite" | "postgres";

/** The server URL, when the real server is to be tested. */
const PG_URL = process.env.CONN_PG_URL;
/** In CI the server suites must run: a missing or unreachable server fails them instead of skipping them. */
const IN_CI = process.env.CI === "true" || process.env.CI === "1";

/** True when the real-server suites run (they fail in CI when the server is missing). */
export const POSTGRES_ENABLED = (PG_URL !== undefined && PG_URL !== "") || IN_CI;

/** Opens a database of the engine; for the server, a fresh pool of up to `max` clients. */
export async function openEngine(engine: EngineName, max = 10): Promise<Database> {
  if (engine === "pglite") return openPglite();
  if (PG_URL === undefined || PG_URL === "") {
    throw new Error(
      "CI is set but CONN_PG_URL is not: the PostgreSQL suites cannot run (they must not be skipped)",
    );
  }
  return connectPostgres({ connectionString: PG_URL, poolConfig: { max } });
}

/** A schema name no other test file or run uses. */
export function uniqueSchema(tag: string): string {
  const random = Math.floor(Math.random() * 0xffffffff).toString(16);
  return `conn_t_${tag}_${process.pid}_${random}`.slice(0, 63);
}

/** What a suite body gets: the database of its engine, migrated into its own schema, emptied before each test. */
export interface EngineContext {
  readonly engine: EngineName;
  readonly schema: string;
  /** The database (valid inside tests and hooks). */
  readonly db: Database;
  /** `"<schema>"`, to write back-door SQL. */
  readonly s: string;
  /** A unit of work on the database. */
  readonly uow: PostgresUnitOfWork;
  /** The repository in autocommit mode. */
  readonly repo: PostgresConnectionRepository;
  /** The outbox in autocommit mode. */
  readonly outbox: PostgresOutbox;
  /** A repository on another queryable (a counting wrapper, a transaction). */
  repoOn(q: Queryable): PostgresConnectionRepository;
}

/** Options of {@link describeEngines}. */
export interface DescribeEnginesOptions {
  /** The engines to run on (default both). */
  engines?: readonly EngineName[];
  /** The most pooled clients for the server (default 10). */
  maxClients?: number;
}

/**
 * Declares `body` once per engine: always on PGlite, on the server when `CONN_PG_URL` is set (and, with `CI` set,
 * always — failing when it cannot connect). Without `CONN_PG_URL` outside CI the server suite is visibly skipped.
 */
export function describeEngines(
  title: string,
  tag: string,
  body: (ctx: EngineContext) => void,
  options: DescribeEnginesOptions = {},
): void {
  for (const engine of options.engines ?? (["pglite", "postgres"] as const)) {
    const enabled = engine === "pglite" || POSTGRES_ENABLED;
    const suite = enabled ? describe : describe.skip;
    const label = enabled ? `${title} [${engine}]` : `${title} [${engine}: set CONN_PG_URL to run]`;
    suite(label, () => {
      const schema = uniqueSchema(`${tag}_${engine === "pglite" ? "l" : "p"}`);
      let db: Database | undefined;
      let uow: PostgresUnitOfWork | undefined;
      const need = <T>(value: T | undefined): T => {
        if (value === undefined) throw new Error("the database is not open (beforeAll failed)");
        return value;
      };
      const ctx: EngineContext = {
        engine,
        schema,
        s: `"${schema}"`,
        get db() {
          return need(db);
        },
        get uow() {
          return need(uow);
        },
        get repo() {
          return need(uow).connections;
        },
        get outbox() {
          return need(uow).outbox;
        },
        repoOn: (q) => new PostgresConnectionRepository(q, { schema }),
      };
      beforeAll(async () => {
        db = await openEngine(engine, options.maxClients);
        await migrate(db, { schema });
        uow = new PostgresUnitOfWork(db, { schema });
      }, 60_000);
      afterAll(async () => {
        if (db === undefined) return;
        if (engine === "postgres") await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await db.close();
      });
      beforeEach(async () => {
        await emptyTables(need(db), `"${schema}"`);
      });
      body(ctx);
    });
  }
}

/**
 * Empties a schema's tables (`s` is the quoted schema name) in one statement. DELETE, not TRUNCATE: on a loaded server
 * a TRUNCATE of the three tables took ~80 ms, a DELETE of the few rows a test leaves ~20 ms, and it runs before every
 * test. Both tell a listening access cache (TRUNCATE with `*`, DELETE row by row).
 */
export async function emptyTables(q: Queryable, s: string): Promise<void> {
  await q.query(
    `WITH c AS (DELETE FROM ${s}.connections), o AS (DELETE FROM ${s}.connection_outbox) DELETE FROM ${s}.share_links`,
  );
}

/** A queryable that counts the statements sent through it. */
export class CountingQueryable implements Queryable {
  /** Statements sent so far. */
  count = 0;

  constructor(private readonly inner: Queryable) {}

  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    this.count++;
    return this.inner.query<R>(text, params);
  }
}

/** Creates an outbox on a queryable for the context's schema. */
export function outboxOn(ctx: EngineContext, q: Queryable): PostgresOutbox {
  return new PostgresOutbox(q, { schema: ctx.schema });
}
