import { ConnectionError, type TransactionalStores, type UnitOfWork } from "@conn/core";
import type { Database } from "./database.js";
import { driverCode } from "./errors.js";
import { PostgresConnectionRepository } from "./postgres-connection-repository.js";
import { PostgresOutbox } from "./postgres-outbox.js";
import { PostgresShareLinkRepository } from "./postgres-share-link-repository.js";
import type { PostgresAdapterOptions } from "./schema-name.js";

/** How many times a transaction the server aborted for a deadlock or serialization failure is tried in all. */
export const MAX_TRANSACTION_ATTEMPTS = 4;

/** True for a deadlock or serialization failure: the server rolled the transaction back, so it can run again. */
function isAbortedByServer(error: unknown): boolean {
  const cause = error instanceof ConnectionError ? error.cause : error;
  const code = driverCode(cause);
  return code === "40P01" || code === "40001";
}

/**
 * The {@link UnitOfWork} on a {@link Database}: its own `connections` and `outbox` run each statement in autocommit;
 * `transaction` hands `work` a repository and an outbox bound to one transaction, committed when `work` resolves and
 * rolled back when it throws.
 */
export class PostgresUnitOfWork implements UnitOfWork {
  /** The repository in autocommit mode. */
  readonly connections: PostgresConnectionRepository;
  /** The outbox in autocommit mode (what a relay uses to claim and settle). */
  readonly outbox: PostgresOutbox;
  /** Share links in autocommit mode. */
  readonly shareLinks: PostgresShareLinkRepository;

  constructor(
    private readonly db: Database,
    private readonly options: PostgresAdapterOptions = {},
  ) {
    this.connections = new PostgresConnectionRepository(db, options);
    this.outbox = new PostgresOutbox(db, options);
    this.shareLinks = new PostgresShareLinkRepository(db, options);
  }

  /**
   * Runs `work` in one transaction. When the server aborts it for a deadlock or a serialization failure (40P01,
   * 40001), nothing of it was committed, so it is run again, up to {@link MAX_TRANSACTION_ATTEMPTS} times in all
   * with a short random pause: two accepts racing on one target, say, then both succeed instead of one failing.
   */
  async transaction<T>(work: (tx: TransactionalStores) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction((tx) =>
          work({
            connections: new PostgresConnectionRepository(tx, this.options),
            outbox: new PostgresOutbox(tx, this.options),
            shareLinks: new PostgresShareLinkRepository(tx, this.options),
          }),
        );
      } catch (error) {
        if (attempt >= MAX_TRANSACTION_ATTEMPTS || !isAbortedByServer(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
      }
    }
  }
}
