import type { TransactionalStores, UnitOfWork } from "@conn/core";
import type { Database } from "./database.js";
import { PostgresConnectionRepository } from "./postgres-connection-repository.js";
import { PostgresOutbox } from "./postgres-outbox.js";
import type { PostgresAdapterOptions } from "./schema-name.js";

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

  constructor(
    private readonly db: Database,
    private readonly options: PostgresAdapterOptions = {},
  ) {
    this.connections = new PostgresConnectionRepository(db, options);
    this.outbox = new PostgresOutbox(db, options);
  }

  transaction<T>(work: (tx: TransactionalStores) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) =>
      work({
        connections: new PostgresConnectionRepository(tx, this.options),
        outbox: new PostgresOutbox(tx, this.options),
      }),
    );
  }
}
