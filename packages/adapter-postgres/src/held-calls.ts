import { type HeldCall, runCall } from "./connection-sql.js";
import type { Queryable } from "./database.js";

/**
 * Holds `call` for the COMMIT's round trip when `db` can: as a call (`atCommitCall`), else as its statement `text()`
 * (`atCommit`). False when `db` holds nothing (autocommit, PGlite): the caller then runs the statement at once.
 */
export function holdForCommit(db: Queryable, call: HeldCall, text: () => string): boolean {
  if (db.atCommitCall !== undefined) {
    db.atCommitCall(call);
    return true;
  }
  if (db.atCommit !== undefined) {
    db.atCommit(text());
    return true;
  }
  return false;
}

/**
 * A transaction's {@link Queryable} for the unit of work's repositories: what they hold for the COMMIT (`atCommit`,
 * `atCommitCall`) stays here, in order, until {@link flush} hands it to the transaction, each run of held calls as one
 * call of `conn_run` (migration 45). Where the transaction cannot hold statements (PGlite), neither can this: the
 * repositories then run their statements at once.
 */
export class HoldingQueryable implements Queryable {
  readonly atCommit?: (text: string) => void;
  readonly atCommitCall?: (call: HeldCall) => void;
  private readonly held: (string | HeldCall)[] = [];

  /** `schema` is the quoted schema `conn_run` lives in. */
  constructor(
    private readonly tx: Queryable,
    private readonly schema: string,
  ) {
    if (tx.atCommit !== undefined) {
      this.atCommit = (text) => {
        this.held.push(text);
      };
      this.atCommitCall = (call) => {
        this.held.push(call);
      };
    }
  }

  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return this.tx.query<R>(text, params);
  }

  /** Hands what is held to the transaction's `atCommit`, in order: each run of held calls as one statement. */
  flush(): void {
    const atCommit = this.tx.atCommit?.bind(this.tx);
    if (atCommit === undefined) return;
    let calls: HeldCall[] = [];
    const sendCalls = (): void => {
      if (calls.length === 0) return;
      atCommit(runCall(this.schema, calls));
      calls = [];
    };
    for (const item of this.held) {
      if (typeof item === "string") {
        sendCalls();
        atCommit(item);
      } else calls.push(item);
    }
    sendCalls();
    this.held.length = 0;
  }
}
