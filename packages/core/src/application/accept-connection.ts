import { type ConnectionView, snapshotOf } from "../domain/connection.js";
import { ConnectionError } from "../domain/errors.js";
import type { ConnectionEvent } from "../domain/events.js";
import { type ConnectionsDeps, publish, requireCaller, SettingsCache, viewOf } from "./deps.js";
import { findByToken, invalidToken, parseToken } from "./token-lookup.js";

/**
 * Accepts a pending connection by token (docs/behaviour.md §6), in one atomic write under the context's lock
 * (ConnectionRepository.acceptPending): the invitation whose token hash is the presented token's and whose target is
 * the caller is claimed by compare-and-set, so of many simultaneous accepts one wins and the others get
 * `connectionToken`, as do unknown, expired, used and someone else's tokens (no oracle). If the target already holds
 * an active connection to the context, that one is upgraded; lesser pending invitations to the same target go.
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
  if (!caller.account.verified) {
    // A token that opens nothing for the caller is refused first, as for everyone; then the unverified caller is.
    await findByToken(deps, caller.org, token, caller, now);
    throw new ConnectionError("cortex.accessDenied.connectionRequiresVerification");
  }
  // One write, a unit of its own (no transaction around it: it takes the context's lock itself), so a delete or
  // create of this context runs wholly before or after it. A refusal has written nothing.
  const accepted = await deps.store.connections.acceptPending(
    caller.org,
    deps.tokens.hash(token),
    { account, email: caller.account.email },
    now,
  );
  if (accepted === null) throw invalidToken();
  const { claimed, active, superseded: removed } = accepted;
  const events: ConnectionEvent[] = [
    {
      type: "connection.accepted",
      org: caller.org,
      at: now,
      actor: account,
      connection: snapshotOf(active),
    },
  ];
  if (active._id !== claimed._id) {
    events.push({
      type: "connection.upgraded",
      org: caller.org,
      at: now,
      actor: account,
      connection: snapshotOf(active),
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
  await publish(deps, events);
  return viewOf(deps, new SettingsCache(deps, caller.org), active, caller);
}
