import { type AccessLevel, grantedLevel } from "./access-level.js";
import { type ConnectionRecord, ConnectionState, isExpired } from "./connection.js";
import { ConnectionError } from "./errors.js";
import { unionRoles } from "./targets.js";

/** What a connection gives and on whose authority: its access, its roles and the account answerable for it. */
export interface Grant {
  access: AccessLevel;
  roles: string[];
  /** The account whose grant the connection is: its creator, or the last account that raised its access. */
  creator: string;
}

/**
 * Merges a grant into a stored one (docs/behaviour.md §4 accept, §5 upgrade): access the higher, roles the union (stored roles
 * first). The creator becomes the incoming grant's creator only when it raises the access: the connection then gives
 * what that account granted, so that account answers for it (docs/behaviour.md §7); otherwise the stored creator stays.
 * Idempotent, and the access and role set do not depend on the order grants are merged in.
 */
export function mergeGrant(stored: Grant, incoming: Grant): Grant {
  const raises = incoming.access > stored.access;
  return {
    access: (raises ? incoming.access : stored.access) as AccessLevel,
    roles: unionRoles(stored.roles, incoming.roles),
    creator: raises ? incoming.creator : stored.creator,
  };
}

/** The request for one merged target that {@link planTarget} decides on. */
export interface TargetRequest {
  /** The requested level (clamped, never refused). */
  access: number;
  roles: readonly string[];
  /** Active at once rather than invited. */
  auto: boolean;
}

/** Everything one target's outcome depends on: the caller, the request and the stored connections it bears on. */
export interface TargetPlanInput {
  /** The caller's account id. */
  caller: string;
  /** The caller's effective access on the context. */
  callerAccess: number;
  /** The object's share chain, highest first. */
  shareChain?: readonly number[] | undefined;
  request: TargetRequest;
  /** Why an `auto` request may not go ahead for this target (checked against the host beforehand), if it may not. */
  autoFault?: ConnectionError | undefined;
  /** The target's active connection on the context, if any. */
  active?: ConnectionRecord | undefined;
  /** The caller's own unexpired pending invitation to the target on the context, if any. */
  pending?: ConnectionRecord | undefined;
}

/** The outcome create decides for one target (docs/behaviour.md §5). Records are built from it with fresh ids and tokens. */
export type TargetPlan =
  /** A per-target fault: an `auto` refusal, or `conflict.connectionExists` when the request adds nothing. */
  | { kind: "fault"; error: ConnectionError }
  /** A new connection: pending (an invitation) or, for `auto`, active. */
  | { kind: "new"; state: ConnectionState; grant: Grant }
  /** The caller's own pending invitation, re-issued with the merged grant (fresh token and expiry). */
  | { kind: "reinvite"; existing: ConnectionRecord; grant: Grant }
  /** The target's active connection, upgraded in place to the merged grant. */
  | { kind: "upgrade"; existing: ConnectionRecord; grant: Grant; previous: AccessLevel };

/**
 * Decides one target's outcome of a create request (docs/behaviour.md §5), with no I/O: an `auto` fault first; then an existing
 * active connection is upgraded when the request adds access or roles (a conflict when it adds nothing); else an
 * `auto` request makes an active connection, a pending invitation of the caller's is re-issued, or a new one made.
 * The granted level never reaches the caller's own.
 */
export function planTarget(input: TargetPlanInput): TargetPlan {
  if (input.autoFault !== undefined) return { kind: "fault", error: input.autoFault };
  const { request, active, pending } = input;
  const grant: Grant = {
    access: grantedLevel(input.callerAccess, request.access, input.shareChain),
    roles: unionRoles([], request.roles),
    creator: input.caller,
  };
  if (active !== undefined) {
    const addsRoles = grant.roles.some((r) => !active.roles.includes(r));
    if (grant.access <= active.access && !addsRoles) {
      return { kind: "fault", error: new ConnectionError("cortex.conflict.connectionExists") };
    }
    return { kind: "upgrade", existing: active, grant: mergeGrant(active, grant), previous: active.access };
  }
  if (request.auto) return { kind: "new", state: ConnectionState.Active, grant };
  if (pending !== undefined)
    return { kind: "reinvite", existing: pending, grant: mergeGrant(pending, grant) };
  return { kind: "new", state: ConnectionState.Pending, grant };
}

/**
 * The active connection an accepted invitation becomes (docs/behaviour.md §4): bound to the accepting account, token and expiry
 * removed. The repository merges it into the target's active connection on the context if there is one, by
 * {@link mergeGrant}.
 */
export function activated(pending: ConnectionRecord, account: string, now: Date): ConnectionRecord {
  return {
    ...pending,
    target: { ...pending.target, account },
    state: ConnectionState.Active,
    tokenHash: null,
    tokenSeal: null,
    expiresAt: null,
    updated: now,
  };
}

/**
 * Whether an invitation is `who`'s to accept (docs/behaviour.md §6): by its target account, or, when it names no
 * account, by its target email.
 */
export function isInvitationOf(record: ConnectionRecord, who: { account: string; email: string }): boolean {
  if (record.target.account !== null) return record.target.account === who.account;
  return record.target.email !== null && record.target.email === who.email;
}

/** A stored record with a grant merged into it by {@link mergeGrant}, `updated` set when the grant changed it. */
export function withGrant(stored: ConnectionRecord, incoming: Grant, now: Date): ConnectionRecord {
  const merged = mergeGrant(stored, incoming);
  const changed = merged.access !== stored.access || merged.roles.length !== stored.roles.length;
  return { ...stored, ...merged, updated: changed ? now : stored.updated };
}

/**
 * The record a pending invitation is stored as (the repository's `savePending` merge, docs/behaviour.md §5 reinvite):
 * `incoming` as it is when no invitation has its (context, creator, target) key or that one has expired at `now`;
 * otherwise merged into `existing`, which keeps its id, creation, context source and target key: access the higher,
 * roles the union (stored first), the target's account kept (set when it was unset), its name replaced unless the new
 * one is null, and the token, seal, expiry, access end and `updated` of `incoming`.
 */
export function savedPending(
  existing: ConnectionRecord | undefined,
  incoming: ConnectionRecord,
  now: Date,
): ConnectionRecord {
  if (existing === undefined || isExpired(existing, now)) return incoming;
  const { accessExpiresAt: _end, ...kept } = existing;
  return {
    ...kept,
    access: Math.max(existing.access, incoming.access) as AccessLevel,
    roles: unionRoles(existing.roles, incoming.roles),
    target: {
      ...existing.target,
      account: existing.target.account ?? incoming.target.account,
      name: incoming.target.name ?? existing.target.name,
    },
    tokenHash: incoming.tokenHash,
    tokenSeal: incoming.tokenSeal,
    expiresAt: incoming.expiresAt,
    updated: incoming.updated,
    ...(incoming.accessExpiresAt ? { accessExpiresAt: incoming.accessExpiresAt } : {}),
  };
}

/**
 * What a pending record is expected to be stored as, in the three things a create reports and notifies from beyond the
 * record itself: the stored id (the invitation's it merges into, or its own), access and target account.
 */
export interface ExpectedPending {
  _id: string;
  access: AccessLevel;
  /** The stored target account; null: none. */
  account: string | null;
}

/** The {@link ExpectedPending} of a record as it is to be stored (see {@link savedPending}). */
export function expectedOf(stored: ConnectionRecord): ExpectedPending {
  return { _id: stored._id, access: stored.access, account: stored.target.account };
}

/** Whether `stored` is what `expected` says (false for no expectation). */
export function isStoredAs(stored: ConnectionRecord, expected: ExpectedPending | undefined): boolean {
  return (
    expected !== undefined &&
    stored._id === expected._id &&
    stored.access === expected.access &&
    stored.target.account === expected.account
  );
}
