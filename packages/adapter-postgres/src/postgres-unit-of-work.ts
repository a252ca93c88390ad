import { ConnectionError, SnapshotNotEmpty, type TransactionalStores, type UnitOfWork } from "@conn/core";
import { AccessCache, type AccessCacheOptions, type AccessCacheStats } from "./access-cache.js";
import { AccessListener } from "./access-listener.js";
import { cachedRepository, trackWrites, WriteTracker } from "./cached-access.js";
import type { Database } from "./database.js";
import {
  isAbortedByServer,
  isSnapshotNotEmpty,
  MAX_TRANSACTION_ATTEMPTS,
  pauseBeforeRetry,
} from "./errors.js";
import { HoldingQueryable } from "./held-calls.js";
import { PostgresConnectionRepository } from "./postgres-connection-repository.js";
import { PostgresOutbox } from "./postgres-outbox.js";
import { PostgresShareLinkRepository } from "./postgres-share-link-repository.js";
import { type PostgresAdapterOptions, quoteSchema } from "./schema-name.js";

export { MAX_TRANSACTION_ATTEMPTS } from "./errors.js";

/** Options of {@link PostgresUnitOfWork}. */
export interface PostgresUnitOfWorkOptions extends PostgresAdapterOptions {
  /**
   * Caches `activeAccess` answers in this process (off when absent): see docs/caching.md. The unit of work then
   * keeps one extra connection listening for changes; `close()` ends it.
   */
  accessCache?: AccessCacheOptions | undefined;
  /** Told when the cache's listening connection fails or cannot be opened (the cache is emptied meanwhile). */
  onAccessCacheError?: ((error: Error) => void) | undefined;
}

/** The cache of a unit of work, with what drives it. */
interface CacheParts {
  cache: AccessCache;
  listener: AccessListener;
}

/** Waits until `ms` have passed since `since` on the `performance.now()` clock (a timer may fire a little early). */
async function waitUntilPassed(since: number, ms: number): Promise<void> {
  for (let left = ms - (performance.now() - since); left > 0; left = ms - (performance.now() - since)) {
    await new Promise((resolve) => setTimeout(resolve, Math.ceil(left)));
  }
}

/**
 * The {@link UnitOfWork} on a {@link Database}: its own `connections` and `outbox` run each statement in autocommit;
 * `transaction` hands `work` a repository and an outbox bound to one transaction, committed when `work` resolves and
 * rolled back when it throws. With `accessCache`, `connections.activeAccess` is answered from an in-process cache
 * that every write of every process invalidates (docs/caching.md).
 */
export class PostgresUnitOfWork implements UnitOfWork {
  /** The repository in autocommit mode. */
  readonly connections: PostgresConnectionRepository;
  /** The outbox in autocommit mode (what a relay uses to claim and settle). */
  readonly outbox: PostgresOutbox;
  /** Share links in autocommit mode. */
  readonly shareLinks: PostgresShareLinkRepository;
  private readonly cached: CacheParts | undefined;
  /** The quoted schema (where `conn_run` lives). */
  private readonly schema: string;

  constructor(
    private readonly db: Database,
    private readonly options: PostgresUnitOfWorkOptions = {},
  ) {
    this.schema = quoteSchema(options.schema);
    const plain = new PostgresConnectionRepository(db, options);
    this.outbox = new PostgresOutbox(db, options);
    this.shareLinks = new PostgresShareLinkRepository(db, options);
    if (options.accessCache === undefined) {
      this.connections = plain;
      return;
    }
    if (db.listen === undefined) {
      throw new ConnectionError("cortex.error.unspecified", {
        reason: "accessCache needs a Database that can listen (connectPostgres or openPglite)",
      });
    }
    const cache = new AccessCache(options.accessCache, db.engine === "postgres");
    const listener = new AccessListener(db, cache, {
      schema: options.schema,
      onError: options.onAccessCacheError,
    });
    this.cached = { cache, listener };
    this.connections = cachedRepository(plain, cache, listener, (write) =>
      this.transaction((tx) => write(tx.connections)),
    );
  }

  /** The cache's counters, or undefined when the cache is off. */
  accessCacheStats(): AccessCacheStats | undefined {
    return this.cached?.cache.snapshot();
  }

  /** How long after committing a change to an active connection a call waits, ms (undefined when the cache is off). */
  accessCacheSyncWindowMs(): number | undefined {
    const window = this.cached?.cache.syncWindowMs;
    return window === undefined ? undefined : Number.isFinite(window) ? window : 0;
  }

  /** Resolves once the cache hears changes (at once when the cache is off or already listening). */
  async accessCacheReady(): Promise<void> {
    await this.cached?.listener.whenListening();
  }

  /** Empties the cache (after writes that bypassed every trigger, such as a restore); a no-op when it is off. */
  clearAccessCache(): void {
    this.cached?.cache.clear();
  }

  /** Stops the cache's listening connection; the database itself is the caller's to close. Safe to call twice. */
  async close(): Promise<void> {
    await this.cached?.listener.close();
  }

  /**
   * Runs `work` in one transaction. When the server aborts it for a deadlock or a serialization failure (40P01,
   * 40001), nothing of it was committed, so it is run again, up to {@link MAX_TRANSACTION_ATTEMPTS} times in all
   * with a short random pause: two accepts racing on one target, say, then both succeed instead of one failing.
   * With the access cache on, each attempt's writes are tracked and settled when it ends (see the private `settle`).
   */
  async transaction<T>(work: (tx: TransactionalStores) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const tracker = this.cached === undefined ? undefined : new WriteTracker(this.cached.cache);
      try {
        return await this.db.transaction(async (raw) => {
          // What the repositories hold for the commit goes to the transaction when `work` is done: a create's
          // look-up, invitations and notices as one statement.
          const tx = new HoldingQueryable(raw, this.schema);
          const result = await work({
            connections:
              tracker === undefined
                ? new PostgresConnectionRepository(tx, this.options)
                : trackWrites(new PostgresConnectionRepository(tx, this.options), tracker),
            outbox: new PostgresOutbox(tx, this.options),
            shareLinks: new PostgresShareLinkRepository(tx, this.options),
          });
          tx.flush();
          return result;
        });
      } catch (error) {
        // Create's look-up found rows it was sent expecting none of (expectNoneForCreate, held for the commit).
        if (isSnapshotNotEmpty(error)) throw new SnapshotNotEmpty();
        if (attempt >= MAX_TRANSACTION_ATTEMPTS || !isAbortedByServer(error)) throw error;
      } finally {
        if (tracker !== undefined) await this.settle(tracker);
      }
      await pauseBeforeRetry(attempt);
    }
  }

  /**
   * Ends a transaction's part in the cache: the keys its writes fenced are dropped and unfenced. When a write
   * changed an active connection, the call returns only `syncWindowMs` after the transaction ended (committed or
   * not): by then every other process's cache has either heard the change or stopped answering from its entries
   * (docs/caching.md, "Why a revoked grant is never served after the revoking call returned").
   */
  private async settle(tracker: WriteTracker): Promise<void> {
    const ended = performance.now();
    tracker.end();
    const window = this.cached?.cache.syncWindowMs ?? 0;
    if (tracker.activeChanged && Number.isFinite(window)) await waitUntilPassed(ended, window);
  }
}
