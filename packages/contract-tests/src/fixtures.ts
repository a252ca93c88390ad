import {
  AccessLevel,
  type ConnectionRecord,
  type ContextRef,
  type SealedNotice,
  type StoredTarget,
  targetKeyOf,
} from "@conn/core";

/** The instant the example-based suites treat as "now". */
export const T0 = new Date("2026-01-01T00:00:00.000Z");

/** One hour, one day, in milliseconds. */
export const HOUR = 60 * 60 * 1000;
export const DAY = 24 * HOUR;

/** `T0` moved by `ms`. */
export function at(ms: number): Date {
  return new Date(T0.getTime() + ms);
}

let sequence = 0;
const run = Math.floor(Math.random() * 0xffff)
  .toString(16)
  .padStart(4, "0");

/** A fresh 24-hex-digit id; ids made later sort higher (list order is `_id` descending). */
export function nextId(): string {
  sequence += 1;
  return `6a${run}${sequence.toString(16).padStart(18, "0")}`;
}

/** Two orgs: nothing of one may ever show in the other. */
export const ORG_A = "contract-org-a";
export const ORG_B = "contract-org-b";

/**
 * How a host's ids look. The library treats host ids (accounts, records, roles) as opaque strings, so the suites run
 * with each style: MongoDB-like ObjectIds, UUIDs and integers written as strings.
 */
export type HostIdStyle = "objectId" | "uuid" | "integer";

/** Every {@link HostIdStyle}, in the order adapters run them. */
export const HOST_ID_STYLES: readonly HostIdStyle[] = ["objectId", "uuid", "integer"];

/** The `n`th host id of a kind (`kind` is two hex digits, e.g. `6c` for accounts) in a style. */
export function hostId(style: HostIdStyle, kind: string, n: number): string {
  const k = Number.parseInt(kind, 16);
  if (style === "objectId") return `${kind}${n.toString(16).padStart(22, "0")}`;
  if (style === "uuid") return `00000000-0000-4000-8${kind}0-${n.toString(16).padStart(12, "0")}`;
  return String(k * 100_000 + n);
}

/*
 * The fixed host ids of the example-based suites, in the current style (see useHostIdStyle). They are live bindings:
 * tests read them when they run, after the suite's beforeAll chose the style.
 */
/** The creator of the records the suites build. */
export let CREATOR = "";
/** Another creator. */
export let OTHER_CREATOR = "";
/** A third creator. */
export let THIRD_CREATOR = "";
/** The target account of the records the suites build. */
export let TARGET = "";
/** Another target account. */
export let OTHER_TARGET = "";
/** Fixed contexts. */
export let CTX: ContextRef = { object: "c_file", _id: "" };
/** Another context on the same object. */
export let CTX_2: ContextRef = { object: "c_file", _id: "" };
/** Same `_id` as {@link CTX}, another object: a different context. */
export let CTX_OTHER_OBJECT: ContextRef = { object: "c_note", _id: "" };
/** Role ids. */
export let ROLE_1 = "";
/** Another role id. */
export let ROLE_2 = "";

/** Sets the style of the fixed host ids above (ObjectIds until a suite asks for another). */
export function useHostIdStyle(style: HostIdStyle): void {
  CREATOR = hostId(style, "6c", 0xc01);
  OTHER_CREATOR = hostId(style, "6c", 0xc02);
  THIRD_CREATOR = hostId(style, "6c", 0xc03);
  TARGET = hostId(style, "6c", 0xa01);
  OTHER_TARGET = hostId(style, "6c", 0xa02);
  CTX = { object: "c_file", _id: hostId(style, "6f", 0xf01) };
  CTX_2 = { object: "c_file", _id: hostId(style, "6f", 0xf02) };
  CTX_OTHER_OBJECT = { object: "c_note", _id: CTX._id };
  ROLE_1 = hostId(style, "6e", 0xe01);
  ROLE_2 = hostId(style, "6e", 0xe02);
}
useHostIdStyle("objectId");

/** What a test may set on a record built by {@link pendingRecord} or {@link activeRecord}. */
export type RecordOverrides = Partial<Omit<ConnectionRecord, "target" | "targetKey">> & {
  target?: Partial<StoredTarget>;
  targetKey?: string;
};

function build(state: 0 | 1, over: RecordOverrides): ConnectionRecord {
  const _id = over._id ?? nextId();
  const target: StoredTarget = {
    account: TARGET,
    email: null,
    name: null,
    ...over.target,
  };
  const viaEmail = over.viaEmail ?? false;
  const record: ConnectionRecord = {
    org: ORG_A,
    access: AccessLevel.Read,
    roles: [],
    context: { ...CTX },
    contextSource: null,
    created: T0,
    updated: T0,
    creator: CREATOR,
    state,
    tokenHash: state === 0 ? `hash-${_id}` : null,
    tokenSeal: state === 0 ? `seal-${_id}` : null,
    expiresAt: state === 0 ? at(7 * DAY) : null,
    ...over,
    _id,
    target,
    viaEmail,
    targetKey: over.targetKey ?? targetKeyOf(target, viaEmail),
  };
  // fresh Date objects, so a test that mutates a record never moves T0 or another record's dates
  record.created = new Date(record.created);
  record.updated = new Date(record.updated);
  if (record.expiresAt !== null) record.expiresAt = new Date(record.expiresAt);
  record.roles = [...record.roles];
  record.context = { ...record.context };
  if (target.name !== null) target.name = { ...target.name };
  return record;
}

/** A pending invitation (org A, CREATOR → TARGET on CTX, Read, expires T0 + 7 days) with `over` applied. */
export function pendingRecord(over: RecordOverrides = {}): ConnectionRecord {
  return build(0, over);
}

/** A pending invitation to an email address with no account. */
export function emailInvite(email: string, over: RecordOverrides = {}): ConnectionRecord {
  return build(0, { viaEmail: true, ...over, target: { account: null, email, ...over.target } });
}

/** An active connection (org A, CREATOR → TARGET on CTX, Read) with `over` applied. */
export function activeRecord(over: RecordOverrides = {}): ConnectionRecord {
  return build(1, over);
}

/** A sealed notice as the outbox stores it. */
export function sealedNotice(over: Partial<SealedNotice> = {}): SealedNotice {
  const connectionId = over.connectionId ?? nextId();
  return {
    kind: "invite-existing-user",
    idempotencyKey: `${ORG_A}:${connectionId}`,
    org: { code: ORG_A, name: "Contract Org A" },
    recipient: { account: TARGET, email: "target@example.test", name: { first: "Tara", last: "Get" } },
    context: { object: CTX.object, _id: CTX._id, path: `/c_files/${CTX._id}`, label: "file" },
    connectionId,
    access: AccessLevel.Read,
    creator: { _id: CREATOR, name: { first: "Cre", last: "Ator" } },
    tokenSeal: `seal-${connectionId}`,
    acceptUrlBase: "https://app.example.test/connections",
    expiresAt: at(7 * DAY),
    ...over,
  };
}

/** An outbox message to enqueue, due at `availableAt` (T0 by default). */
export function outboxMessage(availableAt: Date = T0, notice: SealedNotice = sealedNotice()) {
  return { id: nextId(), org: ORG_A, notice, availableAt };
}

/** Records sorted by `_id`, for comparisons that do not care about order. */
export function byId<T extends { _id: string }>(records: readonly T[]): T[] {
  return [...records].sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
}
