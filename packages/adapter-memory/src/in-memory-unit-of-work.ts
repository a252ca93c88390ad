import type { TransactionalStores, UnitOfWork } from "@conn/core";
import {
  autocommit,
  InMemoryConnectionRepository,
  inTransaction,
} from "./in-memory-connection-repository.js";
import { InMemoryOutbox } from "./in-memory-outbox.js";
import { InMemoryShareLinkRepository } from "./in-memory-share-link-repository.js";
import { MemoryState } from "./memory-state.js";

/** Options of an {@link InMemoryUnitOfWork}. */
export interface InMemoryUnitOfWorkOptions {
  /** Called after each unit of work that enqueued notices commits (e.g. to drain the outbox at once). */
  afterCommit?: (() => Promise<unknown>) | undefined;
}

/**
 * The in-memory {@link UnitOfWork}: units of work run one at a time and a failed one leaves nothing behind
 * (its changes are undone). `connections` and `outbox` outside a transaction commit each call on its own.
 */
export class InMemoryUnitOfWork implements UnitOfWork {
  /** The stored state, shared by every repository of this unit of work. */
  readonly state = new MemoryState();
  /** The repository for calls outside a transaction. */
  readonly connections: InMemoryConnectionRepository;
  /** The outbox for calls outside a transaction. */
  readonly outbox: InMemoryOutbox;
  /** The share links for calls outside a transaction. */
  readonly shareLinks: InMemoryShareLinkRepository;
  private readonly tx: TransactionalStores;

  constructor(private readonly options: InMemoryUnitOfWorkOptions = {}) {
    this.connections = new InMemoryConnectionRepository(this.state, autocommit(this.state));
    this.outbox = new InMemoryOutbox(this.state, autocommit(this.state));
    this.shareLinks = new InMemoryShareLinkRepository(this.state, autocommit(this.state));
    this.tx = {
      connections: new InMemoryConnectionRepository(this.state, inTransaction),
      outbox: new InMemoryOutbox(this.state, inTransaction),
      shareLinks: new InMemoryShareLinkRepository(this.state, inTransaction),
    };
  }

  async transaction<T>(work: (tx: TransactionalStores) => Promise<T>): Promise<T> {
    const enqueuedBefore = this.state.outboxSeq;
    const result = await this.state.exclusive(() => work(this.tx));
    if (this.options.afterCommit !== undefined && this.state.outboxSeq > enqueuedBefore)
      await this.options.afterCommit();
    return result;
  }
}
