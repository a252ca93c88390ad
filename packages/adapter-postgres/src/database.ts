import { createHash } from "node:crypto";
import { ConnectionError } from "@conn/core";
import type { Client, Pool, PoolClient, PoolConfig, QueryConfig } from "pg";
import type { HeldCall } from "./connection-sql.js";
import { guard, toConnectionError } from "./errors.js";
import { isPreparedOnce } from "./schema-name.js";

/**
 * The part of a PGlite instance the adapter uses; a `PGlite` from `@electric-sql/pglite` satisfies it as it is. Its
 * own type keeps these declarations free of `@electric-sql/pglite`, an optional peer dependency.
 */
export interface PgliteInstance extends Queryable {
  /** Runs the callback in one transaction. */
  transaction<T>(callback: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Closes the instance. */
  close(): Promise<void>;
  /** Whether it is closed. */
  readonly closed: boolean;
  /** Listens on a channel; resolves to the function that stops listening. */
  listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>;
}

/**
 * Loads an optional peer dependency; when it is not installed, fails with an error that names the package to
 * install and what needs it.
 */
export async function importOptional<T>(name: string, purpose: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const message = String((error as { message?: unknown } | null)?.message ?? "");
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && message.includes(`'${name}'`)) {
      throw new Error(`${purpose} needs the package ${name}, which is not installed: npm install ${name}`, {
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * The one query method the adapters need. `pg.Pool`, `pg.PoolClient`, `PGlite` and a PGlite transaction all
 * satisfy it as they are, without casts.
 */
export interface Queryable {
  /** Runs one statement with positional parameters (`$1`, `$2`, …) and returns its rows. */
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
  /**
   * Optional, on a transaction's `Queryable` only: queues a statement without parameters to run at the end of the
   * transaction, just before its COMMIT and in the same round trip, for a write whose result nobody reads. When it fails,
   * the transaction is rolled back and the commit fails with its error. Absent: run the statement at once.
   */
  atCommit?(text: string): void;
  /**
   * Optional, on a transaction's `Queryable` only (the unit of work's): queues one call of a routine `conn_run` knows
   * (see {@link HeldCall}) for the COMMIT's round trip, like `atCommit`; the calls held in a row go as one statement.
   * Absent: use `atCommit`, or run the call at once.
   */
  atCommitCall?(call: HeldCall): void;
}

/** Which engine a {@link Database} runs on. */
export type DatabaseEngine = "postgres" | "pglite";

/** What a listening session tells its owner. */
export interface ListenHandlers {
  /** A notification arrived on the channel (in commit order). */
  onNotification(payload: string): void;
  /** The session ended (terminated, the server restarted, the network dropped): nothing more will be heard on it. */
  onEnd(error: Error | undefined): void;
}

/** A dedicated session listening on one channel. */
export interface ListenSession {
  /** Sends a notification on the channel from this same session (delivered after everything committed before it). */
  notify(payload: string): Promise<void>;
  /** Stops listening and closes the session. */
  close(): Promise<void>;
}

/** A database the adapters run on: autocommit queries plus one way to run work in a transaction, on either engine. */
export interface Database extends Queryable {
  /** The engine underneath: a PostgreSQL server through node-postgres, or embedded PGlite. */
  readonly engine: DatabaseEngine;
  /**
   * Runs `work` in one transaction on one connection: commits when it resolves, rolls back when it throws (and
   * rethrows what it threw). Failures to begin or commit surface as a `ConnectionError` with the driver's cause.
   * On PGlite, transactions run one at a time: `work` must query through the `Queryable` it is given, never
   * through the database itself, or it waits forever.
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Releases what the factory opened (the pool or the PGlite instance); a pool or instance passed in is left open. */
  close(): Promise<void>;
  /**
   * Opens a session of its own that listens on `channel` (`LISTEN`): on the server a dedicated connection outside the
   * pool, on PGlite the instance itself. Optional: the access cache needs it, nothing else does.
   */
  listen?(channel: string, handlers: ListenHandlers): Promise<ListenSession>;
}

/** Options of {@link connectPostgres}: a connection string (the adapter owns the pool) or a pool of the caller's. */
export type PostgresConnectOptions = (
  | {
      /** e.g. `postgres://user@host:5432/db`. */
      connectionString: string;
      /** More node-postgres pool settings (size, timeouts, ssl). */
      poolConfig?: Omit<PoolConfig, "connectionString">;
    }
  | {
      /** A pool the caller owns: `close()` leaves it open (and takes off the listeners this adapter added). */
      pool: Pool;
    }
) & {
  /**
   * Called when an idle pooled client fails (the server terminated it, restarted, the network dropped): the pool
   * drops that client and the next call opens a new one. Ignored by default; never a reason for the process to exit.
   */
  onIdleError?: (error: Error) => void;
};

/**
 * Keeps a pool's connection failures from ending the process. node-postgres emits `error` on a client whose
 * connection dies; with no listener, Node throws it and the process exits. The pool listens only while a client is
 * idle, and a transaction's own listener comes only after `pool.connect()` resolves, too late when the error
 * arrives in the same read as the answer that freed the client. So every client gets a listener of its own the
 * moment the pool hands it out (`acquire`, emitted synchronously before the pool takes its idle listener off, for
 * new and for already-open clients alike), and the pool gets one for idle clients. A failure seen there also fails
 * the statement running on that client, which reports it. Returns what takes the pool's listeners off again.
 */
function hearPoolErrors(pool: Pool, onIdleError: (error: Error) => void): () => void {
  const heard = new WeakSet<PoolClient>();
  const ignore = (): void => {};
  const hear = (client: PoolClient): void => {
    if (heard.has(client)) return;
    heard.add(client);
    client.on("error", ignore);
  };
  const onError = (error: Error): void => {
    try {
      onIdleError(error);
    } catch {
      // The host's reporter failed; the pool has dropped the client either way.
    }
  };
  pool.on("acquire", hear);
  pool.on("error", onError);
  return () => {
    pool.off("acquire", hear);
    pool.off("error", onError);
  };
}

const statementNames = new Map<string, string>();

/**
 * Marks a statement as planned on every call (the default for every statement not named in its
 * `statementsBySchema(…, prepareOnce)` list); returns it unchanged. It says so where the statement is written.
 */
export function planEachCall(text: string): string {
  return text;
}

/** Whether `text` is sent unnamed and planned on every call (not in a `prepareOnce` list). */
export function isPlannedEachCall(text: string): boolean {
  return !isPreparedOnce(text);
}

/**
 * A statement named in a `prepareOnce` list goes as a named prepared statement (named by a hash of its text), so each
 * pooled connection parses and plans it once and then only binds and executes it: on `resolveAccess` that is most of
 * the cost above the raw look-up. Every other statement goes unnamed, planned on the parameters and the tables as
 * they are at each call. Statements without parameters (migrations, BEGIN/COMMIT) stay simple queries.
 */
function prepared(text: string, params: unknown[] | undefined): QueryConfig {
  if (params === undefined || params.length === 0) return { text };
  if (!isPreparedOnce(text)) return { text, values: params };
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `conn_${createHash("sha256").update(text).digest("hex").slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return { name, text, values: params };
}

/** A {@link Database} over a node-postgres pool. */
class PgDatabase implements Database {
  readonly engine = "postgres" as const;

  private readonly unhear: () => void;

  constructor(
    private readonly pool: Pool,
    private readonly owned: boolean,
    onIdleError: (error: Error) => void,
  ) {
    this.unhear = hearPoolErrors(pool, onIdleError);
  }

  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return this.pool.query<R & Record<string, unknown>>(prepared(text, params));
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    const client: PoolClient = await guard("transaction: connect", () => this.pool.connect());
    // A client whose BEGIN, COMMIT or ROLLBACK failed may be broken: it is destroyed, not returned to the pool.
    let broken: Error | undefined;
    // A checked-out client whose connection dies between statements emits "error" (heard from the start, see
    // hearPoolErrors). Record it: the next statement fails anyway, and the client is destroyed on release.
    const onError = (error: Error): void => {
      broken = error;
    };
    client.on("error", onError);
    // BEGIN goes with the first statement: in the same round trip when that statement has no parameters (a simple
    // query may hold several statements, each run on a snapshot of its own), just before it otherwise.
    let begun = false;
    const begin = async (): Promise<void> => {
      try {
        await client.query("BEGIN");
      } catch (error) {
        broken = error instanceof Error ? error : new Error(String(error));
        throw toConnectionError(error, "transaction: begin");
      }
    };
    const query = async <R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> => {
      if (begun) return client.query<R & Record<string, unknown>>(prepared(text, params));
      begun = true;
      if (params !== undefined && params.length > 0) {
        await begin();
        return client.query<R & Record<string, unknown>>(prepared(text, params));
      }
      const results = (await client.query(`BEGIN;\n${text}`)) as unknown as { rows: R[] }[];
      return results[results.length - 1] as { rows: R[] };
    };
    // Statements queued by atCommit: sent with the COMMIT, in one simple query (they have no parameters).
    const queued: string[] = [];
    const atCommit = (text: string): void => {
      queued.push(text);
    };
    try {
      let result: T;
      try {
        result = await work({ query, atCommit });
      } catch (error) {
        if (!begun) throw error;
        try {
          await client.query("ROLLBACK");
        } catch (rollbackError) {
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        }
        throw error;
      }
      // Work that sent nothing still runs in a transaction, as it always did.
      if (!begun && queued.length === 0) await begin();
      let commit: { command: string };
      if (queued.length === 0) {
        try {
          commit = await client.query("COMMIT");
        } catch (error) {
          broken = error instanceof Error ? error : new Error(String(error));
          throw toConnectionError(error, "transaction: commit");
        }
      } else {
        const head = begun ? [] : ["BEGIN"];
        begun = true;
        try {
          const results = (await client.query([...head, ...queued, "COMMIT"].join(";\n"))) as unknown as {
            command: string;
          }[];
          commit = results[results.length - 1] as { command: string };
        } catch (error) {
          // A queued statement failed (the rest of the round trip, COMMIT included, did not run) or the COMMIT did:
          // ROLLBACK ends the transaction either way (with no transaction left, it only warns).
          try {
            await client.query("ROLLBACK");
          } catch (rollbackError) {
            broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
          }
          throw toConnectionError(error, "transaction: commit");
        }
      }
      // COMMIT of a transaction that an error aborted (one `work` caught itself) reports ROLLBACK, not an error.
      if (commit.command === "ROLLBACK") {
        throw new ConnectionError("cortex.error.unspecified", {
          reason: "transaction: commit rolled back: a statement in the transaction failed",
        });
      }
      return result;
    } finally {
      client.off("error", onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.owned) await this.pool.end();
    else this.unhear();
  }

  async listen(channel: string, handlers: ListenHandlers): Promise<ListenSession> {
    // A connection of its own, with the pool's settings: a LISTEN must outlive every pooled checkout.
    const options = this.pool.options;
    const { Client } = await loadPg();
    const client = new Client({
      ...options,
      application_name: `${options.application_name ?? "conn"}:access-listener`,
    });
    let ended = false;
    const end = (error: Error | undefined): void => {
      if (ended) return;
      ended = true;
      handlers.onEnd(error);
    };
    // Listened to before connecting, so a terminated backend never reaches Node as an unhandled "error".
    client.on("error", (error) => end(error));
    client.on("end", () => end(undefined));
    client.on("notification", (message) => {
      if (message.channel === channel) handlers.onNotification(message.payload ?? "");
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
    } catch (error) {
      ended = true;
      await client.end().catch(() => {});
      throw toConnectionError(error, "listen");
    }
    return {
      notify: async (payload) => {
        await client.query("SELECT pg_notify($1, $2)", [channel, payload]);
      },
      close: async () => {
        ended = true;
        await client.end();
      },
    };
  }
}

/** A {@link Database} over a PGlite instance. */
class PgliteDatabase implements Database {
  readonly engine = "pglite" as const;

  constructor(
    private readonly db: PgliteInstance,
    private readonly owned: boolean,
  ) {}

  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return this.db.query<R>(text, params);
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    // PGlite runs BEGIN, the callback, then COMMIT or ROLLBACK; only its own failures are wrapped here.
    let workFailed = false;
    try {
      return await this.db.transaction(async (tx) => {
        try {
          return await work(tx);
        } catch (error) {
          workFailed = true;
          throw error;
        }
      });
    } catch (error) {
      if (workFailed) throw error;
      throw toConnectionError(error, "transaction");
    }
  }

  async close(): Promise<void> {
    if (this.owned && !this.db.closed) await this.db.close();
  }

  async listen(channel: string, handlers: ListenHandlers): Promise<ListenSession> {
    // One instance, one process: the session never ends on its own.
    const unlisten = await this.db.listen(channel, (payload) => handlers.onNotification(payload));
    return {
      notify: async (payload) => {
        await this.db.query("SELECT pg_notify($1, $2)", [channel, payload]);
      },
      close: () => unlisten(),
    };
  }
}

/** node-postgres, an optional peer dependency, loaded when a pool is made from a connection string. */
async function loadPg(): Promise<{ Pool: typeof Pool; Client: typeof Client }> {
  const pg = await importOptional("pg", "PostgreSQL persistence (a connection string)", () => import("pg"));
  // pg is CommonJS: its exports are the module's default.
  return pg.default;
}

/**
 * Connects to a PostgreSQL server through a node-postgres pool and checks that it answers; an unreachable server
 * fails with a retryable `cortex.error.unavailable`. Every pooled client is listened to from the moment the pool
 * hands it out, so a terminated backend or a restarted server fails the calls on it and never ends the process.
 */
export async function connectPostgres(options: PostgresConnectOptions): Promise<Database> {
  const onIdleError = options.onIdleError ?? (() => {});
  const database =
    "pool" in options
      ? new PgDatabase(options.pool, false, onIdleError)
      : new PgDatabase(
          new (await loadPg()).Pool({ ...options.poolConfig, connectionString: options.connectionString }),
          true,
          onIdleError,
        );
  try {
    await guard("connect", () => database.query("SELECT 1"));
  } catch (error) {
    await database.close().catch(() => {});
    throw error;
  }
  return database;
}

/** Options of {@link openPglite}. */
export interface PgliteOpenOptions {
  /** A directory that keeps the data between runs; in memory when absent. */
  dataDir?: string | undefined;
}

/** Opens an embedded PGlite database (in memory unless `dataDir` is given); `close()` closes it. */
export async function openPglite(options: PgliteOpenOptions = {}): Promise<Database> {
  const { PGlite } = await importOptional(
    "@electric-sql/pglite",
    "Embedded PGlite persistence",
    () => import("@electric-sql/pglite"),
  );
  const db = await guard("open pglite", () =>
    options.dataDir === undefined ? PGlite.create() : PGlite.create({ dataDir: options.dataDir }),
  );
  return new PgliteDatabase(db, true);
}

/** Wraps a PGlite instance the caller owns (`close()` leaves it open). */
export function pgliteDatabase(db: PgliteInstance): Database {
  return new PgliteDatabase(db, false);
}
