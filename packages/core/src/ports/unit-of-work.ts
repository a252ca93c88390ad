import type { ConnectionRepository } from "./connection-repository.js";
import type { Outbox } from "./outbox.js";
import type { ShareLinkRepository } from "./share-link-repository.js";

/** The stores a unit of work writes to, all in one transaction. */
export interface TransactionalStores {
  /** Connection records. */
  connections: ConnectionRepository;
  /** Intents to notify. */
  outbox: Outbox;
  /** Share links. */
  shareLinks: ShareLinkRepository;
}

/** Runs work in one transaction: all of its writes commit together, or none do. */
export interface UnitOfWork extends TransactionalStores {
  /**
   * Runs `work` in a transaction; commits when it resolves, rolls back when it throws. An adapter may run `work` again
   * when the database aborted the transaction (deadlock, serialization failure), so `work` touches nothing but `tx`.
   */
  transaction<T>(work: (tx: TransactionalStores) => Promise<T>): Promise<T>;
}
