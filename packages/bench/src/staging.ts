import { AccessLevel, type ConnectionRecord, ConnectionState, type ContextRef } from "@conn/core";
import { ids, OBJECT, ORG, random } from "./dataset.js";
import type { BenchEngine } from "./engines.js";

/** A record stored for the next timed call to consume: its id, its target and (pending) its token. */
export interface Staged {
  id: string;
  account: string;
  token: string;
}

/** Makes what the write scenarios consume, on one engine: fresh contexts the creator owns, and staged records. */
export interface Stager {
  /** A context never used before, which the creator owns (Delete) in the host's access. */
  freshContext(): ContextRef;
  /** Stores a pending invitation (with its token) or an active connection on a fresh context, to a random account. */
  stage(state: ConnectionRecord["state"]): Promise<Staged>;
}

/** A {@link Stager} for one engine; `accounts` is how many accounts of the directory targets are drawn from. */
export function stager(engine: BenchEngine, accounts: number): Stager {
  let fresh = 0;
  let made = 0;
  const pick = random(7);
  const freshContext = (): ContextRef => {
    const context = { object: OBJECT, _id: ids.freshContext(fresh++) };
    engine.contexts.grant(ORG, ids.creator, context, AccessLevel.Delete);
    return context;
  };
  return {
    freshContext,
    async stage(state) {
      const now = engine.clock.now();
      const context = freshContext();
      const account = ids.account(Math.floor(pick() * accounts));
      const issued = engine.tokens.issue();
      const pending = state === ConnectionState.Pending;
      const record: ConnectionRecord = {
        org: ORG,
        _id: ids.made(made++),
        access: AccessLevel.Read,
        roles: [],
        context,
        contextSource: null,
        created: now,
        updated: now,
        creator: ids.creator,
        target: { account, email: null, name: null },
        viaEmail: false,
        targetKey: `account:${account}`,
        state,
        tokenHash: pending ? issued.hash : null,
        tokenSeal: pending ? issued.seal : null,
        expiresAt: pending ? new Date(now.getTime() + 7 * 86_400_000) : null,
      };
      if (pending) await engine.store.connections.savePending([record], now);
      else await engine.store.connections.saveActive([record]);
      return { id: record._id, account, token: issued.token };
    },
  };
}
