import {
  AccessLevel,
  type ConnectionRecord,
  ConnectionState,
  type ContextRef,
  type Name,
  type SealedNotice,
  targetKeyOf,
} from "@conn/core";

let counter = 0;

/** A fresh 24-hex-digit id; ids made later sort higher. */
export function newId(): string {
  counter++;
  return `${Date.now().toString(16).padStart(12, "0")}${counter.toString(16).padStart(12, "0")}`;
}

/** A fixed instant the tests measure time from (the adapter never reads the real clock). */
export const T0 = new Date("2030-01-01T00:00:00.000Z");

/** `T0` plus `days` days (negative for earlier). */
export function days(n: number): Date {
  return new Date(T0.getTime() + n * 86_400_000);
}

/** `T0` plus `ms` milliseconds. */
export function ms(n: number): Date {
  return new Date(T0.getTime() + n);
}

/** A context reference. */
export function context(object = "c_prescription", id = newId()): ContextRef {
  return { object, _id: id };
}

/** What a fixture may override. */
export interface RecordOverrides {
  org?: string;
  _id?: string;
  access?: AccessLevel;
  roles?: string[];
  context?: ContextRef;
  contextSource?: string | null;
  created?: Date;
  updated?: Date;
  creator?: string;
  account?: string | null;
  email?: string | null;
  name?: Name | null;
  viaEmail?: boolean;
  targetKey?: string;
  tokenHash?: string;
  tokenSeal?: string;
  expiresAt?: Date;
}

/** A pending invitation (by account unless `email` is given with `account` null), expiring 7 days after T0. */
export function pending(o: RecordOverrides = {}): ConnectionRecord {
  const account = o.account === undefined ? (o.email ? null : newId()) : o.account;
  const email = o.email ?? null;
  const viaEmail = o.viaEmail ?? (email !== null && (o.account === undefined || o.account === null));
  const id = o._id ?? newId();
  return {
    org: o.org ?? "acme",
    _id: id,
    access: o.access ?? AccessLevel.Connected,
    roles: o.roles ?? [],
    context: o.context ?? context(),
    contextSource: o.contextSource ?? null,
    created: o.created ?? T0,
    updated: o.updated ?? o.created ?? T0,
    creator: o.creator ?? newId(),
    target: { account, email, name: o.name ?? null },
    viaEmail,
    targetKey: o.targetKey ?? targetKeyOf({ account, email }, viaEmail),
    state: ConnectionState.Pending,
    tokenHash: o.tokenHash ?? `hash-${id}-${Math.random().toString(36).slice(2)}`,
    tokenSeal: o.tokenSeal ?? `seal-${id}`,
    expiresAt: o.expiresAt ?? days(7),
  };
}

/** An active connection to an account. */
export function active(
  o: Omit<RecordOverrides, "tokenHash" | "tokenSeal" | "expiresAt"> = {},
): ConnectionRecord {
  const account = o.account ?? newId();
  return {
    org: o.org ?? "acme",
    _id: o._id ?? newId(),
    access: o.access ?? AccessLevel.Connected,
    roles: o.roles ?? [],
    context: o.context ?? context(),
    contextSource: o.contextSource ?? null,
    created: o.created ?? T0,
    updated: o.updated ?? o.created ?? T0,
    creator: o.creator ?? newId(),
    target: { account, email: o.email ?? null, name: o.name ?? null },
    viaEmail: o.viaEmail ?? false,
    targetKey: o.targetKey ?? targetKeyOf({ account, email: o.email ?? null }, false),
    state: ConnectionState.Active,
    tokenHash: null,
    tokenSeal: null,
    expiresAt: null,
  };
}

/** A sealed notice of an invitation. */
export function sealedNotice(
  o: { connectionId?: string; org?: string; tokenSeal?: string | null } = {},
): SealedNotice {
  const connectionId = o.connectionId ?? newId();
  return {
    kind: "invite-existing-user",
    idempotencyKey: `notice-${connectionId}`,
    org: { code: o.org ?? "acme", name: "Acme" },
    recipient: { account: newId(), email: "pat@example.com", name: { first: "Pat" } },
    context: { object: "c_prescription", _id: newId(), path: "/c_prescriptions/x", label: null },
    connectionId,
    access: AccessLevel.Read,
    creator: { _id: newId(), name: { first: "Sam", last: "Lee" } },
    expiresAt: days(7),
    tokenSeal: o.tokenSeal === undefined ? `seal-${connectionId}` : o.tokenSeal,
    acceptUrlBase: "https://app.example.com/invite",
  };
}
