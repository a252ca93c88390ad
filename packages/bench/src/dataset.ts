import { type AccessLevel, type ConnectionRecord, ConnectionState } from "@conn/core";
import type { DataSetSize } from "./options.js";

/** The org of the warm data set and of every scenario but the purge. */
export const ORG = "bench";
/** The org of the expired invitations `purgeExpired` removes (kept apart so the purge touches nothing else). */
export const PURGE_ORG = "benchpurge";
/** The org of the write floor's rows (BEGIN + one-row INSERT + COMMIT), deleted after the writes. */
export const FLOOR_ORG = "benchfloor";
/** The object every context is an instance of. */
export const OBJECT = "c_file";
/** Its plural, as URLs carry it. */
export const PLURAL = "c_files";

/** A 24-hex-digit id: one hex digit of kind, then `n` in hex. */
function hexId(kind: string, n: number): string {
  return kind + n.toString(16).padStart(24 - kind.length, "0");
}

/** The SQL expression of {@link hexId} on an integer expression. */
function hexIdSql(kind: string, n: string): string {
  return `'${kind}' || lpad(to_hex(${n}), ${24 - kind.length}, '0')`;
}

/** Ids of the data set. Every kind has its own first digit, so no two kinds ever collide. */
export const ids = {
  /** An account of the directory (a target of seeded connections). */
  account: (n: number) => hexId("a", n),
  /** An account never connected to anything (for look-up misses). */
  stranger: (n: number) => hexId("b", n),
  /** A context of the warm data set. */
  context: (n: number) => hexId("c", n),
  /** A context made during a scenario (create, accept…), never in the warm data set. */
  freshContext: (n: number) => hexId("c8", n),
  /** The account that creates connections in the write scenarios. */
  creator: hexId("d", 0),
  /** The account that created every connection of the warm data set (the list scenario lists as it). */
  owner: hexId("e", 0),
  /** A connection of the warm data set: row `i`. Lower than every id the id generator makes. */
  seeded: (i: number) => hexId("0", i),
  /** An expired invitation: row `i`. */
  expired: (i: number) => hexId("1", i),
  /** A record a scenario sets up before each timed call (the invitation an accept consumes…). */
  made: (n: number) => hexId("2", n),
  /** A row the write floor inserts. */
  floor: (n: number) => hexId("3", n),
};

/** The access levels seeded connections carry, in turn. */
const LEVELS: readonly AccessLevel[] = [2, 4, 5, 6, 7];

/**
 * Row `i` of a data set: context `i mod contexts`, and an account chosen so that no context holds an account twice
 * (each context gets `connections / contexts` accounts spread evenly over the directory).
 */
export function rowOf(
  i: number,
  size: DataSetSize,
): { context: number; account: number; access: AccessLevel } {
  const perContext = Math.ceil(size.connections / size.contexts);
  const stride = Math.max(1, Math.floor(size.accounts / perContext));
  const context = i % size.contexts;
  const k = Math.floor(i / size.contexts);
  return {
    context,
    account: (context * 7 + k * stride) % size.accounts,
    access: LEVELS[i % LEVELS.length] as AccessLevel,
  };
}

/** Checks that {@link rowOf} gives no (context, account) pair twice for this size. */
export function checkSize(size: DataSetSize): void {
  const perContext = Math.ceil(size.connections / size.contexts);
  if (perContext > size.accounts) {
    throw new Error(`data set: ${perContext} connections per context need at least as many accounts`);
  }
  if (size.listDepth + 100 > size.connections)
    throw new Error("data set: the deep list page is past the end");
}

/** The SQL of {@link rowOf}, over `i` (integer), with $-parameters for the size. */
function rowSql(contexts: string, accounts: string, stride: string) {
  return {
    context: `(i % ${contexts})`,
    account: `(((i % ${contexts}) * 7 + (i / ${contexts}) * ${stride}) % ${accounts})`,
    access: "(ARRAY[2, 4, 5, 6, 7]::smallint[])[1 + i % 5]",
  };
}

/** The stride {@link rowOf} uses. */
export function strideOf(size: DataSetSize): number {
  return Math.max(1, Math.floor(size.accounts / Math.ceil(size.connections / size.contexts)));
}

/** Active connection `i` of the warm data set, created by the owner. */
export function activeRecord(i: number, size: DataSetSize, at: Date): ConnectionRecord {
  const row = rowOf(i, size);
  const account = ids.account(row.account);
  return {
    org: ORG,
    _id: ids.seeded(i),
    access: row.access,
    roles: [],
    context: { object: OBJECT, _id: ids.context(row.context) },
    contextSource: null,
    created: at,
    updated: at,
    creator: ids.owner,
    target: { account, email: null, name: null },
    viaEmail: false,
    targetKey: `account:${account}`,
    state: ConnectionState.Active,
    tokenHash: null,
    tokenSeal: null,
    expiresAt: null,
  };
}

/**
 * Expired invitation `i` (of the purge org): expired a day and `i` ms before `at`, so expiry times differ as they
 * do for invitations sent over time.
 */
export function expiredRecord(i: number, size: DataSetSize, at: Date): ConnectionRecord {
  const row = rowOf(i, { ...size, connections: size.expired });
  const account = ids.account(row.account);
  const created = new Date(at.getTime() - 8 * 86_400_000);
  return {
    org: PURGE_ORG,
    _id: ids.expired(i),
    access: 2,
    roles: [],
    context: { object: OBJECT, _id: ids.context(row.context) },
    contextSource: null,
    created,
    updated: created,
    creator: ids.owner,
    target: { account, email: null, name: null },
    viaEmail: false,
    targetKey: `account:${account}`,
    state: ConnectionState.Pending,
    tokenHash: `expired-token-hash-${i}`,
    tokenSeal: null,
    expiresAt: new Date(at.getTime() - 86_400_000 - i),
  };
}

/** The columns of `connections`, in the order the seeding statements write them. */
export const COLUMNS =
  "org, id, access, roles, context_object, context_id, context_source, created, updated, creator, " +
  "target_account, target_email, target_name, via_email, target_key, state, token_hash, token_seal, expires_at";

/**
 * One `INSERT … SELECT … FROM generate_series` that writes rows `[$2, $3)` of the warm data set: the same rows as
 * {@link activeRecord}. Parameters: org, from, to, contexts, accounts, stride, owner, at.
 */
export function activeSeedSql(schema: string): string {
  const r = rowSql("$4::int", "$5::int", "$6::int");
  const account = hexIdSql("a", r.account);
  return `INSERT INTO "${schema}".connections (${COLUMNS})
    SELECT $1, ${hexIdSql("0", "i")}, ${r.access}, '{}', '${OBJECT}', ${hexIdSql("c", r.context)}, NULL,
           $8::timestamptz, $8::timestamptz, $7, ${account}, NULL, NULL, false, 'account:' || ${account}, 1,
           NULL, NULL, NULL
    FROM generate_series($2::int, $3::int - 1) AS i`;
}

/**
 * The same for the expired invitations of {@link expiredRecord}. Parameters: org, from, to, contexts, accounts,
 * stride, owner, at.
 */
export function expiredSeedSql(schema: string): string {
  const r = rowSql("$4::int", "$5::int", "$6::int");
  const account = hexIdSql("a", r.account);
  return `INSERT INTO "${schema}".connections (${COLUMNS})
    SELECT $1, ${hexIdSql("1", "i")}, 2, '{}', '${OBJECT}', ${hexIdSql("c", r.context)}, NULL,
           $8::timestamptz - interval '8 days', $8::timestamptz - interval '8 days', $7, ${account}, NULL, NULL,
           false, 'account:' || ${account}, 0, 'expired-token-hash-' || i, NULL,
           $8::timestamptz - interval '1 day' - i * interval '1 millisecond'
    FROM generate_series($2::int, $3::int - 1) AS i`;
}

/** A look-up: an account on a context. */
export interface AccessQuery {
  account: string;
  context: { object: string; _id: string };
  /** The level the warm data set gives (null for a miss). */
  expected: AccessLevel | null;
}

/** A small deterministic generator (mulberry32), so every engine gets the same look-ups. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` look-ups of pairs in the warm data set, spread uniformly over it. */
export function hitQueries(size: DataSetSize, n: number, seed = 1): AccessQuery[] {
  const next = random(seed);
  return Array.from({ length: n }, () => {
    const i = Math.floor(next() * size.connections);
    const row = rowOf(i, size);
    return {
      account: ids.account(row.account),
      context: { object: OBJECT, _id: ids.context(row.context) },
      expected: row.access,
    };
  });
}

/** `n` look-ups of accounts with no connection, on contexts of the warm data set. */
export function missQueries(size: DataSetSize, n: number, seed = 2): AccessQuery[] {
  const next = random(seed);
  return Array.from({ length: n }, () => ({
    account: ids.stranger(Math.floor(next() * size.accounts)),
    context: { object: OBJECT, _id: ids.context(Math.floor(next() * size.contexts)) },
    expected: null,
  }));
}
