import type { AccessLevel } from "./access-level.js";
import type { ContextRef, Name } from "./values.js";

/** Connection states (docs/behaviour.md §4): 0 pending, 1 active. Rejection and expiry remove the record. */
export const ConnectionState = { Pending: 0, Active: 1 } as const;

/** A connection state value. */
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/** Who a stored connection is for. `account` is set for account targets and once an email target is bound. */
export interface StoredTarget {
  account: string | null;
  email: string | null;
  name: Name | null;
}

/**
 * A connection as the repository stores it. Never handed to callers as is: {@link toConnectionView} makes the
 * caller's view, which hides what the caller may not see.
 */
export interface ConnectionRecord {
  org: string;
  _id: string;
  access: AccessLevel;
  roles: string[];
  context: ContextRef;
  contextSource: string | null;
  created: Date;
  updated: Date;
  creator: string;
  target: StoredTarget;
  /** The invitation started from an email address: `target.account` stays hidden from all but the target. */
  viaEmail: boolean;
  /** The key that makes a creator's pending invitations unique per target: `account:<id>` or `email:<address>`. */
  targetKey: string;
  state: ConnectionState;
  /** Hash of the token, pending only. */
  tokenHash: string | null;
  /** The sealed form from which the token service re-derives the token for the target's view, pending only. */
  tokenSeal: string | null;
  /** When the invitation expires, pending only. */
  expiresAt: Date | null;
  /**
   * When the access this connection gives ends (a time-limited grant), pending or active; absent (or null) when it
   * never ends. From that instant the connection counts nowhere, before any purge removes it.
   */
  accessExpiresAt?: Date | null;
}

/** A connection record without any token material, as events carry it. */
export type ConnectionSnapshot = Omit<ConnectionRecord, "tokenHash" | "tokenSeal">;

/** The key of a target for pending-invitation uniqueness. */
export function targetKeyOf(
  target: { account: string | null; email: string | null },
  viaEmail: boolean,
): string {
  if (!viaEmail && target.account !== null) return `account:${target.account}`;
  return `email:${target.email ?? ""}`;
}

/** True when a pending record has expired at `now` (an expired invitation never resolves, docs/behaviour.md §4). */
export function isExpired(record: Pick<ConnectionRecord, "state" | "expiresAt">, now: Date): boolean {
  return record.state === ConnectionState.Pending && record.expiresAt !== null && record.expiresAt <= now;
}

/**
 * The time a look-up is judged at: the instant itself, or a clock (a {@link Clock}) the adapter reads only when the
 * answer depends on the time, i.e. when the grant it found has an end: a look-up of a grant without one (the common
 * case) then reads no clock at all.
 */
export type Instant = Date | { now(): Date };

/** The time an {@link Instant} stands for: the date itself, or what the clock reads now. */
export function instantOf(at: Instant): Date {
  return typeof (at as { now?: unknown }).now === "function" ? (at as { now(): Date }).now() : (at as Date);
}

/** True when a time-limited grant has ended at `now` (at exactly `accessExpiresAt` it has). */
export function isAccessExpired(record: Pick<ConnectionRecord, "accessExpiresAt">, now: Date): boolean {
  return (
    record.accessExpiresAt !== undefined && record.accessExpiresAt !== null && record.accessExpiresAt <= now
  );
}

/** True when a record counts nowhere at `now`: an expired invitation, or a grant whose access has ended. */
export function isGone(
  record: Pick<ConnectionRecord, "state" | "expiresAt" | "accessExpiresAt">,
  now: Date,
): boolean {
  return isExpired(record, now) || isAccessExpired(record, now);
}

/** A copy of a record with no token material. */
export function snapshotOf(record: ConnectionRecord): ConnectionSnapshot {
  // Copied field by field (structuredClone took most of the time of building create's events): every array, object
  // and date is a copy, so nothing the snapshot holds changes with the record.
  const { target } = record;
  const snapshot: ConnectionSnapshot = {
    org: record.org,
    _id: record._id,
    access: record.access,
    roles: [...record.roles],
    context: { ...record.context },
    contextSource: record.contextSource,
    created: new Date(record.created.getTime()),
    updated: new Date(record.updated.getTime()),
    creator: record.creator,
    target: {
      account: target.account,
      email: target.email,
      name: target.name === null ? null : { ...target.name },
    },
    viaEmail: record.viaEmail,
    targetKey: record.targetKey,
    state: record.state,
    expiresAt: record.expiresAt === null ? null : new Date(record.expiresAt.getTime()),
  };
  if (record.accessExpiresAt !== undefined) {
    snapshot.accessExpiresAt =
      record.accessExpiresAt === null ? null : new Date(record.accessExpiresAt.getTime());
  }
  return snapshot;
}

/** A reference to an account, as connection views show it. */
export interface AccountRef {
  _id: string;
  object: "account";
  path: string;
}

/** The caller's view of a connection, shaped as docs/behaviour.md §3 shows it. */
export interface ConnectionView {
  _id: string;
  object: "connection";
  access: AccessLevel;
  roles: string[];
  context: { _id: string; object: string; path: string };
  contextSource: string | null;
  created: Date;
  creator: AccountRef;
  target: { account?: AccountRef; email?: string; name?: Name };
  state: ConnectionState;
  /** Shown to the target of a pending connection only. */
  token?: string;
  /** Pending only. */
  expiresAt?: Date;
  /** When the access ends, for a time-limited grant (pending or active). */
  accessExpiresAt?: Date;
}

/** The reference of an account. */
export function accountRef(id: string): AccountRef {
  return { _id: id, object: "account", path: `/accounts/${id}` };
}

/** What the viewer is allowed to see of a record. */
export interface ViewOptions {
  /** The plural name of the context's object, for its path. */
  plural: string;
  /** The viewer is the target (by account or email). */
  viewerIsTarget: boolean;
  /** The token, when the viewer is the target of a pending connection. */
  token?: string | undefined;
}

/** Builds the caller's view of a record (docs/behaviour.md §3): the token only for the target, a hidden `target.account`. */
export function toConnectionView(record: ConnectionRecord, options: ViewOptions): ConnectionView {
  const target: ConnectionView["target"] = {};
  const hideAccount = record.viaEmail && record.state === ConnectionState.Pending && !options.viewerIsTarget;
  if (record.target.account !== null && !hideAccount) target.account = accountRef(record.target.account);
  if (record.target.email !== null) target.email = record.target.email;
  if (record.target.name !== null) target.name = { ...record.target.name };
  const view: ConnectionView = {
    _id: record._id,
    object: "connection",
    access: record.access,
    roles: [...record.roles],
    context: {
      _id: record.context._id,
      object: record.context.object,
      path: `/${options.plural}/${record.context._id}`,
    },
    contextSource: record.contextSource,
    created: new Date(record.created),
    creator: accountRef(record.creator),
    target,
    state: record.state,
  };
  if (record.accessExpiresAt !== undefined && record.accessExpiresAt !== null)
    view.accessExpiresAt = new Date(record.accessExpiresAt);
  if (record.state === ConnectionState.Pending) {
    if (options.viewerIsTarget && options.token !== undefined) view.token = options.token;
    if (record.expiresAt !== null) view.expiresAt = new Date(record.expiresAt);
  }
  return view;
}
