import { type ConnectionView, snapshotOf } from "../domain/connection.js";
import { ConnectionError } from "../domain/errors.js";
import type { ConnectionEvent } from "../domain/events.js";
import { type ConnectionsDeps, publish, requireCaller, SettingsCache, viewOf } from "./deps.js";
import { findByToken, invalidToken, parseToken } from "./token-lookup.js";

/**
 * Accepts a pending connection by token (docs/behaviour.md §6). Atomic: under the context's lock the pending record is claimed by
 * compare-and-set (on its id and token hash), so of many simultaneous accepts one wins and the others get `connectionToken`. If the target already holds an
 * active connection to the context, that one is upgraded; lesser pending invitations to the same target go.
 */
export async function acceptConnection(
  deps: ConnectionsDeps,
  principal: unknown,
  tokenInput: unknown,
): Promise<ConnectionView> {
  const caller = await requireCaller(deps, principal);
  const token = parseToken(tokenInput);
  const now = deps.clock.now();
  const account = caller.account._id;
  const { active, events } = await deps.store.transaction(async (tx) => {
    // The invitation is read and its context locked in one step: a delete or create of this context waits for the
    // accept and then sees its outcome; the accept's writes (claim, activate, supersede) then go as one unit. A
    // refusal below rolls the transaction back, having written nothing.
    const record = await findByToken(deps, caller.org, token, caller, {
      connections: tx.connections,
      now,
      lock: true,
    });
    if (!caller.account.verified)
      throw new ConnectionError("cortex.accessDenied.connectionRequiresVerification");
    const accepted = await tx.connections.acceptPending(
      caller.org,
      { id: record._id, tokenHash: record.tokenHash as string, context: record.context },
      account,
      now,
    );
    if (accepted === null) throw invalidToken();
    const { claimed, active: stored, superseded: removed } = accepted;
    const events: ConnectionEvent[] = [
      {
        type: "connection.accepted",
        org: caller.org,
        at: now,
        actor: account,
        connection: snapshotOf(stored),
      },
    ];
    if (stored._id !== claimed._id) {
      events.push({
        type: "connection.upgraded",
        org: caller.org,
        at: now,
        actor: account,
        connection: snapshotOf(stored),
      });
    }
    for (const r of removed) {
      events.push({
        type: "connection.superseded",
        org: caller.org,
        at: now,
        actor: account,
        connection: snapshotOf(r),
      });
    }
    return { active: stored, events };
  });
  await publish(deps, events);
  return viewOf(deps, new SettingsCache(deps, caller.org), active, caller);
}
