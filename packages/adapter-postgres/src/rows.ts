import {
  type AccessEnding,
  type AccessLevel,
  ConnectionError,
  type ConnectionRecord,
  ConnectionState,
  type Name,
  type SealedNotice,
} from "@conn/core";

/** The columns of `connections`, in table order; every statement selects or returns exactly these. */
export const CONNECTION_COLUMNS = [
  "org",
  "id",
  "access",
  "roles",
  "context_object",
  "context_id",
  "context_source",
  "created",
  "updated",
  "creator",
  "target_account",
  "target_email",
  "target_name",
  "via_email",
  "target_key",
  "state",
  "token_hash",
  "token_seal",
  "expires_at",
  "access_expires_at",
] as const;

/** The SQL types of {@link CONNECTION_COLUMNS}, for `jsonb_to_recordset(...) AS x(<definitions>)`. */
export const CONNECTION_COLUMN_TYPES: Record<(typeof CONNECTION_COLUMNS)[number], string> = {
  org: "text",
  id: "text",
  access: "smallint",
  roles: "text[]",
  context_object: "text",
  context_id: "text",
  context_source: "text",
  created: "timestamptz",
  updated: "timestamptz",
  creator: "text",
  target_account: "text",
  target_email: "text",
  target_name: "jsonb",
  via_email: "boolean",
  target_key: "text",
  state: "smallint",
  token_hash: "text",
  token_seal: "text",
  expires_at: "timestamptz",
  access_expires_at: "timestamptz",
};

/** A row of `connections` as both drivers return it (timestamptz as Date, text[] as string[], jsonb parsed). */
export interface ConnectionRow {
  org: string;
  id: string;
  access: number;
  roles: string[];
  context_object: string;
  context_id: string;
  context_source: string | null;
  created: Date;
  updated: Date;
  creator: string;
  target_account: string | null;
  target_email: string | null;
  target_name: unknown;
  via_email: boolean;
  target_key: string;
  state: number;
  token_hash: string | null;
  token_seal: string | null;
  expires_at: Date | null;
  access_expires_at: Date | null;
}

/** A row of `connections` as JSON, for one element of a `jsonb_to_recordset` parameter. */
export type ConnectionJson = Record<(typeof CONNECTION_COLUMNS)[number], unknown>;

/** An error for a stored value the adapter cannot map (a row written by something else). */
function corrupt(reason: string): ConnectionError {
  return new ConnectionError("cortex.error.unspecified", { reason: `connections row: ${reason}` });
}

/** An access level read from the database. */
export function toAccessLevel(value: number): AccessLevel {
  switch (value) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
    case 8:
      return value;
    default:
      throw corrupt(`access out of range: ${value}`);
  }
}

/** A connection state read from the database. */
function toState(value: number): ConnectionState {
  if (value === ConnectionState.Pending) return ConnectionState.Pending;
  if (value === ConnectionState.Active) return ConnectionState.Active;
  throw corrupt(`state out of range: ${value}`);
}

/** A name read from a jsonb column: only string `first` and `last` are kept. */
function toName(value: unknown): Name | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "object") throw corrupt("target_name is not an object");
  const name: Name = {};
  if ("first" in value && typeof value.first === "string") name.first = value.first;
  if ("last" in value && typeof value.last === "string") name.last = value.last;
  return name;
}

/** A timestamptz read from the database as a fresh Date. */
function toDate(value: Date | string): Date {
  return new Date(value);
}

/** Maps a `connections` row to a fresh {@link ConnectionRecord}. */
export function toRecord(row: ConnectionRow): ConnectionRecord {
  return {
    org: row.org,
    _id: row.id,
    access: toAccessLevel(row.access),
    roles: [...row.roles],
    context: { object: row.context_object, _id: row.context_id },
    contextSource: row.context_source,
    created: toDate(row.created),
    updated: toDate(row.updated),
    creator: row.creator,
    target: {
      account: row.target_account,
      email: row.target_email,
      name: toName(row.target_name),
    },
    viaEmail: row.via_email,
    targetKey: row.target_key,
    state: toState(row.state),
    tokenHash: row.token_hash,
    tokenSeal: row.token_seal,
    expiresAt: row.expires_at === null ? null : toDate(row.expires_at),
    // Absent when the grant has no end, as records without one are built.
    ...(row.access_expires_at === null || row.access_expires_at === undefined
      ? {}
      : { accessExpiresAt: toDate(row.access_expires_at) }),
  };
}

/** Maps a record to its JSON row (dates as ISO strings) for a `jsonb_to_recordset` parameter. */
export function toJsonRow(record: ConnectionRecord): ConnectionJson {
  return {
    org: record.org,
    id: record._id,
    access: record.access,
    roles: record.roles,
    context_object: record.context.object,
    context_id: record.context._id,
    context_source: record.contextSource,
    created: record.created.toISOString(),
    updated: record.updated.toISOString(),
    creator: record.creator,
    target_account: record.target.account,
    target_email: record.target.email,
    target_name: record.target.name,
    via_email: record.viaEmail,
    target_key: record.targetKey,
    state: record.state,
    token_hash: record.tokenHash,
    token_seal: record.tokenSeal,
    expires_at: record.expiresAt === null ? null : record.expiresAt.toISOString(),
    access_expires_at:
      record.accessExpiresAt === undefined || record.accessExpiresAt === null
        ? null
        : record.accessExpiresAt.toISOString(),
  };
}

/** A row of `connection_outbox` as the claim statement returns it. */
export interface OutboxRow {
  id: string;
  org: string;
  notice: StoredNotice;
  attempts: number;
  available_at: Date;
  last_error: string | null;
  /** Enqueue order. */
  seq: number;
  /** The fencing token of the latest claim. */
  claims: number;
  lease_until: Date | null;
}

/** An outbox row as the operator statements read it: the notice without its token seal. */
export interface OutboxEntryRow {
  id: string;
  org: string;
  status: "pending" | "delivered" | "dead";
  notice: Omit<StoredNotice, "tokenSeal">;
  attempts: number;
  available_at: Date;
  last_error: string | null;
  last_attempt_at: Date | null;
  delivered_at: Date | null;
}

/** A sealed notice as jsonb holds it: its dates are ISO strings. */
export type StoredNotice = Omit<SealedNotice, "expiresAt" | "accessEnding"> & {
  expiresAt: string | null;
  accessEnding?: (Omit<AccessEnding, "endsAt"> & { endsAt: string }) | null;
};

/** The dates of a stored notice revived: what it holds as ISO strings, as Dates. */
type Revived<N> = Omit<N, "expiresAt" | "accessEnding"> & Pick<SealedNotice, "expiresAt" | "accessEnding">;

/** Maps a stored notice (with or without its token seal) back to the notice, reviving its dates. */
export function reviveNotice<N extends Omit<StoredNotice, "tokenSeal">>(stored: N): Revived<N> {
  const { accessEnding, expiresAt, ...rest } = stored;
  const revived = { ...rest, expiresAt: expiresAt === null ? null : new Date(expiresAt) } as Revived<N>;
  if (accessEnding !== undefined) {
    revived.accessEnding =
      accessEnding === null ? null : { ...accessEnding, endsAt: new Date(accessEnding.endsAt) };
  }
  return revived;
}

/** Maps a stored notice back to a {@link SealedNotice} (reviving its dates). */
export function toSealedNotice(stored: StoredNotice): SealedNotice {
  return reviveNotice(stored);
}
