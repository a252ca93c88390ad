import { AccessLevel } from "../domain/access-level.js";
import { type ConnectionRecord, ConnectionState, type ConnectionView } from "../domain/connection.js";
import { ConnectionError } from "../domain/errors.js";
import {
  type Caller,
  type ConnectionsDeps,
  effectiveAccess,
  isTarget,
  parseId,
  requireCaller,
  SettingsCache,
  viewOf,
} from "./deps.js";

/** Loads a record by id, or fails with `notFound.unspecified` (expired invitations are not found). */
export async function loadById(
  deps: ConnectionsDeps,
  org: string,
  idInput: unknown,
): Promise<ConnectionRecord> {
  const id = parseId(idInput);
  const record = await deps.store.connections.findById(org, id, deps.clock.now());
  if (record === null) throw new ConnectionError("cortex.notFound.unspecified");
  return record;
}

/**
 * May the caller read this record (docs/behaviour.md §7)? The target, the creator, anyone with Share on the context, and when
 * active anyone with Connected on it. Returns the caller's effective access on the context when it was needed.
 */
export async function canRead(
  deps: ConnectionsDeps,
  record: ConnectionRecord,
  caller: Caller,
): Promise<{ allowed: boolean; callerAccess: AccessLevel | null }> {
  if (isTarget(record, caller) || record.creator === caller.account._id)
    return { allowed: true, callerAccess: null };
  const callerAccess = await effectiveAccess(deps, caller.org, caller.account._id, record.context);
  const needed = record.state === ConnectionState.Active ? AccessLevel.Connected : AccessLevel.Share;
  return { allowed: callerAccess >= needed, callerAccess };
}

/** Reads one connection by id with the spec's visibility rules (docs/behaviour.md §7). */
export async function getConnection(
  deps: ConnectionsDeps,
  principal: unknown,
  id: unknown,
): Promise<ConnectionView> {
  const caller = await requireCaller(deps, principal);
  const record = await loadById(deps, caller.org, id);
  const { allowed } = await canRead(deps, record, caller);
  if (!allowed) throw new ConnectionError("cortex.accessDenied.connection");
  return viewOf(deps, new SettingsCache(deps, caller.org), record, caller);
}
