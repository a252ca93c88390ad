import { AccessLevel } from "../domain/access-level.js";
import { type ConnectionRecord, ConnectionState, snapshotOf } from "../domain/connection.js";
import { ConnectionError } from "../domain/errors.js";
import type { ConnectionRepository } from "../ports/connection-repository.js";
import {
  type Caller,
  type ConnectionsDeps,
  effectiveAccess,
  isTarget,
  publish,
  requireCaller,
} from "./deps.js";
import { loadById } from "./read-connection.js";

/**
 * Deletes a connection by id (docs/behaviour.md §7): the target may always remove itself and the creator its own; removing
 * someone else's needs Share on the context and strictly more effective access than the target holds. The decision
 * is taken inside the transaction, under the context's lock, on the record and accesses as they are then: a delete
 * racing an accept, an upgrade or another delete answers as some serial order of them would, and access granted by
 * the connection ends at once.
 */
export async function deleteConnection(
  deps: ConnectionsDeps,
  principal: unknown,
  id: unknown,
): Promise<true> {
  const caller = await requireCaller(deps, principal);
  const { _id, context } = await loadById(deps, caller.org, id);
  const removed = await deps.store.transaction(async (tx) => {
    await tx.connections.lockContext(caller.org, context);
    const record = await tx.connections.findById(caller.org, _id, deps.clock.now());
    if (record === null) return null;
    await mayDelete(deps, tx.connections, record, caller);
    return tx.connections.deleteById(caller.org, record._id);
  });
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

/**
 * Fails unless the caller may delete the record (docs/behaviour.md §7), reading accesses through the transaction's repository:
 * one who may not read it is denied the connection; one who may read it needs Share, then strictly more access than
 * the target holds.
 */
async function mayDelete(
  deps: ConnectionsDeps,
  connections: ConnectionRepository,
  record: ConnectionRecord,
  caller: Caller,
): Promise<void> {
  if (isTarget(record, caller) || record.creator === caller.account._id) return;
  const callerAccess = await effectiveAccess(
    deps,
    caller.org,
    caller.account._id,
    record.context,
    connections,
  );
  const needed = record.state === ConnectionState.Active ? AccessLevel.Connected : AccessLevel.Share;
  if (callerAccess < needed) throw new ConnectionError("cortex.accessDenied.connection");
  if (callerAccess < AccessLevel.Share) throw new ConnectionError("cortex.accessDenied.shareAccess");
  const targetAccess =
    record.target.account === null
      ? AccessLevel.None
      : await effectiveAccess(deps, caller.org, record.target.account, record.context, connections);
  if (callerAccess <= targetAccess) {
    throw new ConnectionError("cortex.accessDenied.connection", {
      reason: "removing another's connection needs more access than its target holds",
    });
  }
}
