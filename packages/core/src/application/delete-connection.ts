import { AccessLevel } from "../domain/access-level.js";
import { snapshotOf } from "../domain/connection.js";
import { ConnectionError } from "../domain/errors.js";
import { type ConnectionsDeps, effectiveAccess, isTarget, publish, requireCaller } from "./deps.js";
import { canRead, loadById } from "./read-connection.js";

/**
 * Deletes a connection by id (docs/behaviour.md §7): the target may always remove itself and the creator its own; removing
 * someone else's needs Share on the context and strictly more effective access than the target holds. Access
 * granted by the connection ends at once.
 */
export async function deleteConnection(
  deps: ConnectionsDeps,
  principal: unknown,
  id: unknown,
): Promise<true> {
  const caller = await requireCaller(deps, principal);
  const record = await loadById(deps, caller.org, id);
  const own = isTarget(record, caller) || record.creator === caller.account._id;
  if (!own) {
    const { allowed, callerAccess } = await canRead(deps, record, caller);
    if (!allowed) throw new ConnectionError("cortex.accessDenied.connection");
    if ((callerAccess ?? 0) < AccessLevel.Share) throw new ConnectionError("cortex.accessDenied.shareAccess");
    const targetAccess =
      record.target.account === null
        ? 0
        : await effectiveAccess(deps, caller.org, record.target.account, record.context);
    if ((callerAccess ?? 0) <= targetAccess) {
      throw new ConnectionError("cortex.accessDenied.connection", {
        reason: "removing another's connection needs more access than its target holds",
      });
    }
  }
  const removed = await deps.store.transaction((tx) => tx.connections.deleteById(caller.org, record._id));
  if (removed === null) throw new ConnectionError("cortex.notFound.unspecified");
  await publish(deps, [
    {
      type: "connection.deleted",
      org: caller.org,
      at: deps.clock.now(),
      actor: caller.account._id,
      connection: snapshotOf(removed),
    },
  ]);
  return true;
}
