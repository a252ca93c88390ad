import { type ConnectionView, snapshotOf } from "../domain/connection.js";
import { type ConnectionsDeps, loadCaller, publish, SettingsCache, viewOf } from "./deps.js";
import { findByToken, invalidToken, parseToken } from "./token-lookup.js";

/** Rejects a pending connection by token (docs/behaviour.md §6): allowed anonymously; a logged-in caller must be the target. */
export async function rejectConnection(
  deps: ConnectionsDeps,
  principal: unknown,
  tokenInput: unknown,
): Promise<true> {
  const { org, caller } = await loadCaller(deps, principal);
  const token = parseToken(tokenInput);
  const record = await findByToken(deps, org, token, caller);
  const now = deps.clock.now();
  const removed = await deps.store.transaction(async (tx) => {
    const claimed = await tx.connections.claimPending(org, record._id, now, record.context);
    if (claimed === null || claimed.tokenHash !== record.tokenHash) throw invalidToken();
    return claimed;
  });
  await publish(deps, [
    {
      type: "connection.rejected",
      org,
      at: now,
      actor: caller?.account._id ?? null,
      connection: snapshotOf(removed),
    },
  ]);
  return true;
}

/**
 * Reads a pending invitation by token (docs/behaviour.md §6): allowed anonymously (the invitation landing page); a logged-in
 * caller must be the target, and only the target's view carries the token.
 */
export async function getConnectionByToken(
  deps: ConnectionsDeps,
  principal: unknown,
  tokenInput: unknown,
): Promise<ConnectionView> {
  const { org, caller } = await loadCaller(deps, principal);
  const token = parseToken(tokenInput);
  const record = await findByToken(deps, org, token, caller);
  // The token stays in the target's view only (docs/behaviour.md §3): an anonymous reader already holds it and gets no echo.
  return viewOf(deps, new SettingsCache(deps, org), record, caller);
}
