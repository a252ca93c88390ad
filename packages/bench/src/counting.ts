import type { Database, DatabaseEngine, Queryable } from "@conn/adapter-postgres";

/** The SQL statements one operation sent. */
export interface StatementCount {
  /** Every statement, BEGIN and COMMIT included. */
  statements: number;
  /** Transactions opened. */
  transactions: number;
  /** The most statements one transaction held, BEGIN and COMMIT included (0 with no transaction). */
  maxInTransaction: number;
}

/**
 * A {@link Database} that counts the statements sent through it: each `query` is one, and each transaction adds
 * its BEGIN and COMMIT (both drivers send them: pg from the adapter, PGlite from `db.transaction`). Counting costs
 * an increment, so the timed runs go through it too.
 */
export class CountingDatabase implements Database {
  readonly engine: DatabaseEngine;
  private statements = 0;
  private transactions = 0;
  private maxInTransaction = 0;

  constructor(private readonly inner: Database) {
    this.engine = inner.engine;
  }

  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    this.statements++;
    return this.inner.query<R>(text, params);
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    this.transactions++;
    let inTransaction = 2;
    this.statements += 2;
    try {
      return await this.inner.transaction((tx) =>
        work({
          query: <R>(text: string, params?: unknown[]) => {
            this.statements++;
            inTransaction++;
            return tx.query<R>(text, params);
          },
          // A statement queued for the commit's round trip still counts as one.
          ...(tx.atCommit === undefined
            ? {}
            : {
                atCommit: (text: string) => {
                  this.statements++;
                  inTransaction++;
                  tx.atCommit?.(text);
                },
              }),
        }),
      );
    } finally {
      this.maxInTransaction = Math.max(this.maxInTransaction, inTransaction);
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Zeroes the counters. */
  reset(): void {
    this.statements = 0;
    this.transactions = 0;
    this.maxInTransaction = 0;
  }

  /** The counts since the last reset. */
  read(): StatementCount {
    return {
      statements: this.statements,
      transactions: this.transactions,
      maxInTransaction: this.maxInTransaction,
    };
  }

  /** Counts the statements `work` sends (nothing else may run on this database meanwhile). */
  async count(work: () => Promise<unknown>): Promise<StatementCount> {
    this.reset();
    await work();
    return this.read();
  }
}
