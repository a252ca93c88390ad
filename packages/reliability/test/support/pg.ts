/**
 * Helpers of the tenancy, faults and soak suites: server gating (as adapter-postgres does it), one schema per test
 * file, a facade over the Postgres adapters with in-memory host ports, a statement-capturing database, SQL
 * invariants, admin actions on the server (terminate backends) and the results files.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import {
  CryptoTokenService,
  InMemoryAccountDirectory,
  InMemoryContextAccess,
  InMemoryOrgDirectory,
  RandomIdGenerator,
  RecordingEventPublisher,
} from "@conn/adapter-memory";
import {
  connectPostgres,
  type Database,
  literalText,
  migrate,
  openPglite,
  PostgresUnitOfWork,
  type Queryable,
  statementsInside,
  TEXT_LITERAL,
} from "@conn/adapter-postgres";
import {
  type Clock,
  type ConnectionEvent,
  type Connections,
  createConnections,
  type Notice,
  type Notifier,
  type RandomSource,
} from "@conn/core";
import pg from "pg";
import { describe } from "vitest";

// ---------------------------------------------------------------------------------------------------------------
// Gating: the server suites run when CONN_PG_URL is set; with CI=true they always run and fail without a server.

/** The server URL, when the real server is to be tested. */
export const PG_URL = process.env.CONN_PG_URL ?? "";
/** In CI the server suites must run: a missing or unreachable server fails them instead of skipping them. */
export const IN_CI = process.env.CI === "true" || process.env.CI === "1";
/** True when the server suites run. */
export const SERVER_ENABLED = PG_URL !== "" || IN_CI;
/** `CONN_SOAK=1`: the long versions (minutes, more clients). */
export const LONG = process.env.CONN_SOAK === "1";

/** Declares a suite that needs the server: run when enabled, visibly skipped otherwise (never skipped in CI). */
export function describeServer(title: string, body: () => void): void {
  if (SERVER_ENABLED) describe(title, body);
  else describe.skip(`${title} [set CONN_PG_URL to run]`, body);
}

/** The server URL; throws (failing the suite) when CI demands the server but no URL is given. */
export function serverUrl(): string {
  if (PG_URL === "") {
    throw new Error(
      "CI is set but CONN_PG_URL is not: the PostgreSQL suites cannot run (they must not be skipped)",
    );
  }
  return PG_URL;
}

// ---------------------------------------------------------------------------------------------------------------
// One schema per test file.

/** A schema name no other test file or run uses. */
export function uniqueSchema(tag: string): string {
  const random = Math.floor(Math.random() * 0xffffffff).toString(16);
  return `conn_r_${tag}_${process.pid}_${random}`.slice(0, 63);
}

/** A migrated schema on an engine, with its unit of work. */
export interface TestDb {
  readonly db: Database;
  readonly schema: string;
  /** `"<schema>"`, for back-door SQL. */
  readonly s: string;
  /** The `application_name` of the server pool's sessions (how its backends are found to terminate them). */
  readonly appName: string;
  readonly uow: PostgresUnitOfWork;
  /** Empties the tables. */
  reset(): Promise<void>;
  /** Drops the schema (server) and closes the database. */
  drop(): Promise<void>;
}

/** Opens a pool of up to `max` clients on the server and migrates a schema of its own. */
export async function openServerDb(tag: string, max = 10): Promise<TestDb> {
  const schema = uniqueSchema(tag);
  const appName = `conn-rel-${tag}-${process.pid}`;
  const db = await connectPostgres({
    connectionString: serverUrl(),
    poolConfig: { max, application_name: appName, connectionTimeoutMillis: 10_000 },
    onIdleError: () => {},
  });
  await migrate(db, { schema });
  return testDb(db, schema, appName);
}

/** Opens an in-memory PGlite database with a migrated schema. */
export async function openPgliteDb(tag: string): Promise<TestDb> {
  const schema = uniqueSchema(tag);
  const db = await openPglite();
  await migrate(db, { schema });
  return testDb(db, schema, "pglite");
}

function testDb(db: Database, schema: string, appName: string): TestDb {
  const s = `"${schema}"`;
  return {
    db,
    schema,
    s,
    appName,
    uow: new PostgresUnitOfWork(db, { schema }),
    async reset() {
      await db.query(`TRUNCATE ${s}.connections, ${s}.connection_outbox`);
    },
    async drop() {
      if (db.engine === "postgres") {
        // Through a fresh session: the pool may have been broken on purpose.
        await adminQuery(`DROP SCHEMA IF EXISTS ${s} CASCADE`).catch(() => {});
      }
      await db.close().catch(() => {});
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The facade over the Postgres adapters, with in-memory host ports.

/** The facade and the host-side pieces a test sets up. */
export interface World {
  connections: Connections;
  orgs: InMemoryOrgDirectory;
  accounts: InMemoryAccountDirectory;
  contexts: InMemoryContextAccess;
  tokens: CryptoTokenService;
  events: RecordingEventPublisher;
  clock: Clock;
}

/**
 * Builds the facade over `db` (any `Database`, e.g. a capturing one) in `schema`; with `host`, over that world's
 * host directories and token service (a second facade on the same data through another database wrapper).
 */
export function buildWorld(
  db: Database,
  schema: string,
  clock: Clock,
  host?: Pick<World, "orgs" | "accounts" | "contexts" | "tokens">,
): World {
  const orgs = host?.orgs ?? new InMemoryOrgDirectory();
  const accounts = host?.accounts ?? new InMemoryAccountDirectory();
  const contexts = host?.contexts ?? new InMemoryContextAccess();
  const tokens = host?.tokens ?? new CryptoTokenService();
  const events = new RecordingEventPublisher();
  const connections = createConnections({
    store: new PostgresUnitOfWork(db, { schema }),
    accounts,
    contexts,
    orgs,
    tokens,
    ids: new RandomIdGenerator(clock),
    clock,
    events,
  });
  return { connections, orgs, accounts, contexts, tokens, events, clock };
}

// ---------------------------------------------------------------------------------------------------------------
// Clocks, randomness, notifiers.

/** A deterministic PRNG (mulberry32): the same seed gives the same run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A {@link RandomSource} over a seeded PRNG. */
export function seededRandom(seed: number): RandomSource {
  const next = seeded(seed);
  return { next };
}

/** Sleeps `ms` real milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A clock that runs `speed` times faster than real time from `start` (monotonic), so invitations expire during a
 * seconds-long soak. `freeze()` stops it (for the final checks); `sleep` waits the scaled real time.
 */
export class FastClock implements Clock {
  private readonly t0 = performance.now();
  private frozenAt: number | null = null;

  constructor(
    private readonly start: number,
    readonly speed: number,
  ) {}

  now(): Date {
    if (this.frozenAt !== null) return new Date(this.frozenAt);
    return new Date(this.start + Math.floor((performance.now() - this.t0) * this.speed));
  }

  /** Stops the clock at the current time. */
  freeze(): void {
    this.frozenAt = this.now().getTime();
  }

  /** Moves a stopped clock forward by `ms`. */
  skip(ms: number): void {
    if (this.frozenAt === null) throw new Error("FastClock.skip: freeze the clock first");
    this.frozenAt += ms;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, Math.max(1, ms / this.speed));
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}

/** A notifier that counts deliveries per idempotency key and can fail or be slow on demand. */
export class CountingNotifier implements Notifier {
  /** Successful deliveries per idempotency key. */
  readonly deliveries = new Map<string, number>();
  /** Delivered notices, in order. */
  readonly delivered: Notice[] = [];
  /** Calls of `send`, successful or not. */
  calls = 0;
  /** Decides each call: throw the returned error, or deliver (null); may wait first. */
  behaviour: ((notice: Notice, call: number) => Promise<Error | null> | Error | null) | null = null;

  async send(notice: Notice): Promise<void> {
    this.calls++;
    const error = this.behaviour === null ? null : await this.behaviour(notice, this.calls);
    if (error !== null) throw error;
    this.deliveries.set(notice.idempotencyKey, (this.deliveries.get(notice.idempotencyKey) ?? 0) + 1);
    this.delivered.push(notice);
  }

  /** Keys delivered more than once. */
  duplicates(): string[] {
    return [...this.deliveries].filter(([, n]) => n > 1).map(([key]) => key);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Statement capture.

/** Which facade operation (and org) the statements being sent belong to. */
export interface OpTag {
  op: string;
  org: string | null;
}

/** Carries the current facade operation across awaits, so captured statements can be attributed to it. */
export const currentOp = new AsyncLocalStorage<OpTag>();

/** One statement sent to the database. */
export interface CapturedStatement {
  text: string;
  params: readonly unknown[];
  tag: OpTag | undefined;
  /** True when sent inside `transaction`. */
  inTransaction: boolean;
}

/** A context's advisory lock: its key a parameter (group 1) or a literal of textLiteral's (groups 2 and 3). */
const LOCK_KEY = new RegExp(
  String.raw`pg_advisory_xact_lock\(hashtextextended\((?:\$(\d+)|${TEXT_LITERAL}), 0\)\)`,
);

/**
 * The key of a context's advisory lock in a normalized statement (the key is a parameter, `$n`, or a literal, the
 * form that goes in BEGIN's round trip), or undefined when the statement takes no such lock. The key is the JSON of
 * [org, object, id].
 */
export function contextLockKeyOf(sql: string, params: readonly unknown[]): unknown[] | undefined {
  const lock = LOCK_KEY.exec(sql);
  if (lock === null) return undefined;
  const text = lock[1] !== undefined ? String(params[Number(lock[1]) - 1]) : literalText(lock[2], lock[3]);
  return JSON.parse(text) as unknown[];
}

class CapturingQueryable implements Queryable {
  /** Forwards a statement queued for the commit's round trip, captured like any other (see Queryable.atCommit). */
  readonly atCommit?: (text: string) => void;

  constructor(
    private readonly inner: Queryable,
    private readonly sink: CapturedStatement[],
    private readonly inTransaction: boolean,
  ) {
    const atCommit = inner.atCommit?.bind(inner);
    if (atCommit !== undefined) {
      this.atCommit = (text) => {
        this.capture(text, []);
        atCommit(text);
      };
    }
  }

  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    this.capture(text, params ?? []);
    return this.inner.query<R>(text, params);
  }

  /** Records a statement; a routine's call as the statements it runs inside (each bound to what it binds). */
  private capture(text: string, params: readonly unknown[]): void {
    for (const inside of statementsInside(text, params)) {
      this.sink.push({
        text: inside.text,
        params: inside.params,
        tag: currentOp.getStore(),
        inTransaction: this.inTransaction,
      });
    }
  }
}

/** A {@link Database} that records every statement the adapters send through it, in and out of transactions. */
export class CapturingDatabase implements Database {
  readonly statements: CapturedStatement[] = [];
  private readonly outside: CapturingQueryable;

  constructor(private readonly inner: Database) {
    this.outside = new CapturingQueryable(inner, this.statements, false);
  }

  get engine() {
    return this.inner.engine;
  }

  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return this.outside.query<R>(text, params);
  }

  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.inner.transaction((tx) => work(new CapturingQueryable(tx, this.statements, true)));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * A {@link Database} on a slow network: every statement inside a transaction waits `ms` before it is sent, so two
 * concurrent transactions advance statement by statement, in step (how a race is made to happen on purpose).
 */
export class SlowDatabase implements Database {
  constructor(
    private readonly inner: Database,
    private readonly ms: number,
  ) {}

  get engine() {
    return this.inner.engine;
  }

  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return this.inner.query<R>(text, params);
  }

  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.inner.transaction((tx) =>
      work({
        query: async (text, params) => {
          await sleep(this.ms);
          return tx.query(text, params);
        },
        ...(tx.atCommit === undefined ? {} : { atCommit: tx.atCommit.bind(tx) }),
      }),
    );
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// SQL invariants.

/** Counts of rows breaking each invariant (all must be 0), and a few samples. */
export interface InvariantReport {
  pendingWithoutTokenOrExpiry: number;
  activeWithTokenOrExpiry: number;
  activeWithoutTargetAccount: number;
  duplicateActive: number;
  duplicatePending: number;
  outboxPending: number;
  outboxDeadWithoutReason: number;
  outboxSettledWithSeal: number;
  /** Outbox rows whose connection is neither in the table (same org) nor known to have existed. */
  outboxOrphans: number;
  /** Outbox rows whose connection exists but does not fit the notice (kind, org, recipient). */
  outboxInconsistent: number;
  /**
   * Connection rows with no outbox notice about them: every row is written with its notice in one transaction
   * (invitation, or "connection created" for an auto connection of an object that sends notifications), so a row
   * without one is a partial write. Counted only when `everyRowNotified` is set.
   */
  rowsWithoutNotice: number;
  samples: string[];
}

const n = async (q: Queryable, sql: string): Promise<number> => {
  const { rows } = await q.query<{ n: number }>(sql);
  return rows[0]?.n ?? 0;
};

/**
 * Checks the stored rows: no pending row without token hash or expiry, no active row with token material or
 * without a target account, at most one active per (org, context, account) and one pending per (org, context,
 * creator, target); with `afterDrain`, no outbox row left pending, dead rows with a reason, settled rows without a
 * seal; every outbox row's connection either exists in its org and fits the notice, or is one the run saw
 * (`knownIds`: ids from create results, views and events — then it was removed since).
 */
export async function checkInvariants(
  q: Queryable,
  s: string,
  knownIds: ReadonlySet<string>,
  options: { afterDrain?: boolean; everyRowNotified?: boolean } = {},
): Promise<InvariantReport> {
  const afterDrain = options.afterDrain ?? true;
  const t = `${s}.connections`;
  const o = `${s}.connection_outbox`;
  const report: InvariantReport = {
    pendingWithoutTokenOrExpiry: await n(
      q,
      `SELECT count(*)::int AS n FROM ${t} WHERE state = 0 AND (token_hash IS NULL OR token_seal IS NULL OR expires_at IS NULL)`,
    ),
    activeWithTokenOrExpiry: await n(
      q,
      `SELECT count(*)::int AS n FROM ${t} WHERE state = 1 AND (token_hash IS NOT NULL OR token_seal IS NOT NULL OR expires_at IS NOT NULL)`,
    ),
    activeWithoutTargetAccount: await n(
      q,
      `SELECT count(*)::int AS n FROM ${t} WHERE state = 1 AND target_account IS NULL`,
    ),
    duplicateActive: await n(
      q,
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${t} WHERE state = 1
         GROUP BY org, context_object, context_id, target_account HAVING count(*) > 1) d`,
    ),
    duplicatePending: await n(
      q,
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${t} WHERE state = 0
         GROUP BY org, context_object, context_id, creator, target_key HAVING count(*) > 1) d`,
    ),
    outboxPending: afterDrain
      ? await n(q, `SELECT count(*)::int AS n FROM ${o} WHERE status = 'pending'`)
      : 0,
    outboxDeadWithoutReason: await n(
      q,
      `SELECT count(*)::int AS n FROM ${o} WHERE status = 'dead' AND coalesce(last_error, '') = ''`,
    ),
    outboxSettledWithSeal: await n(
      q,
      `SELECT count(*)::int AS n FROM ${o} WHERE status <> 'pending' AND notice->>'tokenSeal' IS NOT NULL`,
    ),
    outboxOrphans: 0,
    outboxInconsistent: 0,
    rowsWithoutNotice:
      options.everyRowNotified === true
        ? await n(
            q,
            `SELECT count(*)::int AS n FROM ${t} c WHERE NOT EXISTS (
               SELECT 1 FROM ${o} x WHERE x.org = c.org AND x.notice->>'connectionId' = c.id)`,
          )
        : 0,
    samples: [],
  };
  const { rows } = await q.query<{
    id: string;
    kind: string;
    connection_id: string;
    recipient_account: string | null;
    found: boolean;
    state: number | null;
    target_account: string | null;
    elsewhere: boolean;
  }>(
    `SELECT o.id, o.notice->>'kind' AS kind, o.notice->>'connectionId' AS connection_id,
            o.notice->'recipient'->>'account' AS recipient_account,
            c.id IS NOT NULL AS found, c.state::int AS state, c.target_account,
            EXISTS (SELECT 1 FROM ${t} x WHERE x.id = o.notice->>'connectionId' AND x.org <> o.org) AS elsewhere
       FROM ${o} o LEFT JOIN ${t} c ON c.org = o.org AND c.id = o.notice->>'connectionId'`,
  );
  for (const row of rows) {
    if (row.elsewhere) {
      report.outboxInconsistent++;
      report.samples.push(`outbox ${row.id}: connection ${row.connection_id} is in another org`);
    } else if (!row.found) {
      if (!knownIds.has(row.connection_id)) {
        report.outboxOrphans++;
        report.samples.push(`outbox ${row.id}: connection ${row.connection_id} never seen`);
      }
    } else if (
      (row.kind === "connection-created" && row.state !== 1) ||
      (row.recipient_account !== null && row.target_account !== row.recipient_account)
    ) {
      report.outboxInconsistent++;
      report.samples.push(
        `outbox ${row.id} (${row.kind}): connection ${row.connection_id} state ${row.state}, target ${row.target_account}, recipient ${row.recipient_account}`,
      );
    }
  }
  report.samples = report.samples.slice(0, 10);
  return report;
}

/** True when every count of the report is 0. */
export function clean(report: InvariantReport): boolean {
  return Object.entries(report).every(([key, value]) => key === "samples" || value === 0);
}

/** Every connection id in a value (views, lists, create results, events), for the known-ids set. */
export function collectConnectionIds(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) collectConnectionIds(v, into);
    return;
  }
  if (typeof value !== "object" || value === null) return;
  const record = value as Record<string, unknown>;
  if (record.object === "connection" && typeof record._id === "string") into.add(record._id);
  if (record.object === "list") collectConnectionIds(record.data, into);
}

/** The connection ids named by recorded events. */
export function eventIds(events: readonly ConnectionEvent[], into: Set<string>): void {
  for (const e of events) into.add(e.connection._id);
}

// ---------------------------------------------------------------------------------------------------------------
// The server itself: admin sessions, terminating backends (never a restart: see survival.test.ts).

/** Runs one statement in a fresh session of its own (not a pooled one). */
export async function adminQuery<R extends Record<string, unknown>>(
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: serverUrl(), connectionTimeoutMillis: 5_000 });
  client.on("error", () => {});
  await client.connect();
  try {
    const { rows } = await client.query<R>(sql, params);
    return rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Terminates every backend of the sessions named `appName`; returns how many. */
export async function terminateBackends(appName: string): Promise<number> {
  const rows = await adminQuery<{ n: number }>(
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n
       FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`,
    [appName],
  );
  return rows[0]?.n ?? 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Results.

/** Writes `packages/reliability/results/<name>.json` (`<name>-long.json` for a `CONN_SOAK=1` run). */
export function writeResult(name: string, data: unknown): void {
  const dir = new URL("../../results/", import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL(`${name}${LONG ? "-long" : ""}.json`, dir), `${JSON.stringify(data, null, 2)}\n`);
}

/** The words at the end of an error's cause chain (`[57P01] terminating connection …`): what only a reporter sees. */
export function causeText(error: unknown): string {
  let inner: unknown = error;
  while (inner instanceof Error && inner.cause !== undefined) inner = inner.cause;
  const code = (inner as { code?: unknown } | null)?.code;
  const message = inner instanceof Error ? inner.message : String(inner);
  return `${typeof code === "string" ? `[${code}] ` : ""}${message}`;
}

/** Increments `map[key]`. */
export function bump(map: Record<string, number>, key: string, by = 1): void {
  map[key] = (map[key] ?? 0) + by;
}

/** The machine the figures came from. */
export function machine(): { node: string; cpus: number; loadAverage: number[]; at: string } {
  return {
    node: process.version,
    cpus: cpus().length,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    at: new Date().toISOString(),
  };
}
