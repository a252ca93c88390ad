/**
 * Helpers of the hostile-input, hostile-HTTP and token suites: a seeded world on either store (in memory, PGlite or
 * a PostgreSQL server) with a snapshot of everything stored, a catalogue of adversarial values, symbolic values
 * resolved against the world at call time, the checks every outcome must pass, a raw HTTP client (node:http, so
 * paths, headers and bodies go out byte for byte) and the figures written to `results/`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { inspect, isDeepStrictEqual } from "node:util";
import {
  CryptoRandom,
  CryptoTokenService,
  InMemoryAccountDirectory,
  InMemoryContextAccess,
  InMemoryOrgDirectory,
  InMemoryUnitOfWork,
  ManualClock,
  RandomIdGenerator,
  RecordingEventPublisher,
  RecordingNotifier,
} from "@conn/adapter-memory";
import { connectPostgres, type Database, PostgresUnitOfWork } from "@conn/adapter-postgres";
import {
  AccessLevel,
  ConnectionError,
  type Connections,
  type ContextRef,
  createConnections,
  ERROR_CODES,
  ERROR_STATUS,
  type ErrorCode,
  OutboxRelay,
  type Principal,
  type TransactionalStores,
  type UnitOfWork,
} from "@conn/core";
import fc from "fast-check";

// ---------------------------------------------------------------------------------------------------------------
// Run sizes and gating

/** Runs per property: `CONN_FC_RUNS`, else 1000 with `CONN_SLOW=1`, else `fallback`. */
export function fcRuns(fallback: number): number {
  const env = process.env.CONN_FC_RUNS;
  if (env !== undefined && env !== "") {
    const n = Number.parseInt(env, 10);
    if (Number.isFinite(n) && n > 0) return n;
  }
  if (process.env.CONN_SLOW === "1") return Math.max(1000, fallback);
  return fallback;
}

/** The server URL, when the real server is to be tested. */
export const PG_URL = process.env.CONN_PG_URL ?? "";
/** In CI the server suites must run: a missing server fails them instead of skipping them. */
export const IN_CI = process.env.CI === "true" || process.env.CI === "1";
/** True when the server suites run (as in adapter-postgres: `CONN_PG_URL` set, or CI). */
export const SERVER_ENABLED = PG_URL !== "" || IN_CI;

/** Connects to the server of `CONN_PG_URL`; in CI without it, fails (the server suites must not be skipped). */
export async function openServer(): Promise<Database> {
  if (PG_URL === "") {
    throw new Error(
      "CI is set but CONN_PG_URL is not: the PostgreSQL token suites cannot run (they must not be skipped)",
    );
  }
  return connectPostgres({ connectionString: PG_URL, poolConfig: { max: 4 } });
}

/** A schema name no other file or run uses. */
export function uniqueSchema(tag: string): string {
  const random = Math.floor(Math.random() * 0xffffffff).toString(16);
  return `conn_r_${tag}_${process.pid}_${random}`.slice(0, 63);
}

// ---------------------------------------------------------------------------------------------------------------
// The world: orgs, people, objects and who owns what

export const ORG = "acme";
/** A second tenant with the same account and context ids as the first. */
export const OTHER_ORG = "globex";
/** Alice owns the file, the chart and the memo, and may auto-connect Carol. */
export const ALICE = "5f0000000000000000000a01";
/** Bob: no access of his own. */
export const BOB = "5f0000000000000000000b02";
/** Carol: no access of her own; auto-connected to the chart. */
export const CAROL = "5f0000000000000000000c03";
/** Sam holds Share (5) on the file through the host. */
export const SAM = "5f0000000000000000000d04";
/** Uma owns the file too but is not verified. */
export const UMA = "5f0000000000000000000e05";
/** No such account. */
export const NOBODY = "5f0000000000000000000f99";
export const PEOPLE = [ALICE, BOB, CAROL, SAM, UMA] as const;

export const FILE: ContextRef = { object: "c_patient_file", _id: "5f00000000000000000f11e1" };
export const CHART: ContextRef = { object: "c_chart", _id: "5f00000000000000000c4a71" };
export const MEMO: ContextRef = { object: "c_memo", _id: "5f000000000000000000e3e0" };

export const T0 = "2026-01-01T00:00:00.000Z";
export const DAY = 86_400_000;
/** The token key of every world: fixed, so a token can be re-derived by the suites. */
export const TOKEN_KEY = "reliability-suite-token-key-0123456789abcdef";

export const as = (accountId: string | null, org = ORG): Principal => ({ org, accountId });

/** The host side of the world: the two orgs, the people, the objects and the host's own access. */
export function hostDirectories(): {
  accounts: InMemoryAccountDirectory;
  contexts: InMemoryContextAccess;
  orgs: InMemoryOrgDirectory;
} {
  const accounts = new InMemoryAccountDirectory();
  const contexts = new InMemoryContextAccess();
  const orgs = new InMemoryOrgDirectory();
  orgs.put({ code: ORG, name: "Acme Health", connectionUrl: "https://acme.example/connections/" });
  orgs.put({ code: OTHER_ORG, name: "Globex", connectionUrl: "https://globex.example/invite/{token}" });
  for (const org of [ORG, OTHER_ORG]) {
    contexts.defineObject(org, { name: "c_patient_file", allowConnections: true, label: "patient file" });
    contexts.defineObject(org, { name: "c_chart", allowConnections: true, requireAccept: false });
    contexts.defineObject(org, { name: "c_memo", allowConnections: false });
  }
  const person = (org: string, _id: string, first: string, verified = true) =>
    accounts.put(org, { _id, email: `${first.toLowerCase()}@${org}.example`, name: { first }, verified });
  person(ORG, ALICE, "Alice");
  person(ORG, BOB, "Bob");
  person(ORG, CAROL, "Carol");
  person(ORG, SAM, "Sam");
  person(ORG, UMA, "Uma", false);
  person(OTHER_ORG, ALICE, "Alice");
  person(OTHER_ORG, BOB, "Bob");
  for (const ctx of [FILE, CHART, MEMO]) contexts.grant(ORG, ALICE, ctx, AccessLevel.Delete);
  contexts.grant(ORG, UMA, FILE, AccessLevel.Delete);
  contexts.grant(ORG, SAM, FILE, AccessLevel.Share);
  contexts.grant(ORG, ALICE, { object: "account", _id: CAROL }, AccessLevel.Share);
  contexts.grant(OTHER_ORG, ALICE, FILE, AccessLevel.Delete);
  return { accounts, contexts, orgs };
}

/** Thrown by {@link GuardedUnitOfWork} when one facade call runs away (a loop that never ends). */
export class RunawayError extends Error {
  constructor(limit: number) {
    super(`runaway: more than ${limit} transactions in one facade call`);
    this.name = "RunawayError";
  }
}

/**
 * A unit of work that refuses to run more than `limit` transactions between two {@link GuardedUnitOfWork.reset}
 * calls, so a facade call that loops forever fails (with the cause {@link RunawayError}) instead of hanging the run.
 */
export class GuardedUnitOfWork implements UnitOfWork {
  transactions = 0;

  constructor(
    private readonly inner: UnitOfWork,
    readonly limit = 200,
  ) {}

  get connections(): TransactionalStores["connections"] {
    return this.inner.connections;
  }

  get outbox(): TransactionalStores["outbox"] {
    return this.inner.outbox;
  }

  get shareLinks(): TransactionalStores["shareLinks"] {
    return this.inner.shareLinks;
  }

  transaction<T>(work: (tx: TransactionalStores) => Promise<T>): Promise<T> {
    this.transactions++;
    if (this.transactions > this.limit) return Promise.reject(new RunawayError(this.limit));
    return this.inner.transaction(work);
  }

  reset(): void {
    this.transactions = 0;
  }
}

/** What the hostile suites draw on: secrets and ids of the seeded world. */
export interface Pools {
  /** Live tokens: Bob's, Dave's (email), Carol's (email of an account) in acme; Bob's in globex. */
  tokens: string[];
  /** Tokens of invitations that have expired. */
  expiredTokens: string[];
  /** The token hashes and seals stored (a database thief has these). */
  hashes: string[];
  seals: string[];
  /** Ids of the seeded connection records. */
  recordIds: string[];
}

/** A seeded world on one store. */
export interface HostileWorld {
  readonly engine: "memory" | "pglite" | "postgres";
  readonly connections: Connections;
  readonly pools: Pools;
  readonly guard: GuardedUnitOfWork;
  readonly clock: ManualClock;
  readonly notifier: RecordingNotifier;
  readonly events: RecordingEventPublisher;
  readonly relay: OutboxRelay;
  /** A deep copy of everything stored (records, indexes and outbox; or both tables' rows). */
  snapshot(): Promise<unknown>;
}

/** The store-specific half of a world. */
interface StoreSide {
  engine: HostileWorld["engine"];
  store: UnitOfWork;
  snapshot(): Promise<unknown>;
  secrets(): Promise<{ hashes: string[]; seals: string[] }>;
  /** Called with the world's relay once it exists (the in-memory store drains it after each commit). */
  bindRelay?: (relay: OutboxRelay) => void;
}

/**
 * Builds a world on a store and seeds it through the facade: an invitation to Erin that has expired, invitations to
 * Bob (account), Dave (an email with no account) and Carol (by her email), Carol auto-connected to the chart, and
 * an invitation in the other org. Notices are delivered to a recording notifier, where the tokens come from.
 */
async function seedWorld(side: StoreSide): Promise<HostileWorld> {
  const clock = new ManualClock(T0);
  const tokens = new CryptoTokenService({ key: TOKEN_KEY });
  const notifier = new RecordingNotifier();
  const events = new RecordingEventPublisher();
  const guard = new GuardedUnitOfWork(side.store);
  const { accounts, contexts, orgs } = hostDirectories();
  const connections = createConnections({
    store: guard,
    accounts,
    contexts,
    orgs,
    tokens,
    ids: new RandomIdGenerator(clock),
    clock,
    events,
  });
  const relay = new OutboxRelay({
    outbox: side.store.outbox,
    notifier,
    tokens,
    clock,
    random: new CryptoRandom(),
  });
  side.bindRelay?.(relay);
  const alice = as(ALICE);
  const created = [
    ...(await connections.create(alice, FILE, [{ email: "erin@outside.example" }])),
    ...(await (async () => {
      clock.advance(8 * DAY);
      return connections.create(alice, FILE, [
        { _id: BOB, access: AccessLevel.Read, name: { first: "Bob" } },
        { email: "dave@outside.example", name: { first: "Dave" } },
        { email: "carol@acme.example" },
      ]);
    })()),
    ...(await connections.create(alice, CHART, [{ _id: CAROL, access: AccessLevel.Read, auto: true }])),
    ...(await connections.create(as(ALICE, OTHER_ORG), FILE, [{ _id: BOB }])),
  ];
  for (const entry of created) {
    if (entry.object !== "connection") throw new Error(`seeding failed: ${inspect(entry)}`);
  }
  await relay.drain();
  const live: string[] = [];
  const expired: string[] = [];
  for (const notice of notifier.sent) {
    if (notice.token === null) continue;
    (notice.recipient.email === "erin@outside.example" ? expired : live).push(notice.token);
  }
  if (live.length !== 4 || expired.length !== 1)
    throw new Error(`seeding: unexpected notices ${inspect(notifier.sent)}`);
  const { hashes, seals } = await side.secrets();
  return {
    engine: side.engine,
    connections,
    guard,
    clock,
    notifier,
    events,
    relay,
    snapshot: side.snapshot,
    pools: {
      tokens: live,
      expiredTokens: expired,
      hashes,
      seals,
      recordIds: created.flatMap((c) => ("_id" in c ? [c._id] : [])),
    },
  };
}

/**
 * A seeded world in memory, wired as `createInMemoryConnections` wires it (notices delivered right after each
 * commit); its snapshot deep-copies the state's maps.
 */
export function memoryWorld(): Promise<HostileWorld & { store: InMemoryUnitOfWork }> {
  let relay: OutboxRelay | undefined;
  const store = new InMemoryUnitOfWork({ afterCommit: async () => relay?.drain() });
  const s = store.state;
  return seedWorld({
    engine: "memory",
    store,
    bindRelay: (r) => {
      relay = r;
    },
    snapshot: async () =>
      structuredClone({
        records: s.records,
        outbox: s.outbox,
        active: s.active,
        tokens: s.tokens,
        pending: s.pending,
        // The sorted indexes as their keys in order (how they are chunked is not part of the state).
        byContext: indexContents(s.byContext),
        byCreator: indexContents(s.byCreator),
        byTargetAccount: indexContents(s.byTargetAccount),
        byTargetEmail: indexContents(s.byTargetEmail),
      }),
    secrets: async () => {
      const records = [...s.records.values()];
      return {
        hashes: records.flatMap((r) => (r.tokenHash === null ? [] : [r.tokenHash])),
        seals: records.flatMap((r) => (r.tokenSeal === null ? [] : [r.tokenSeal])),
      };
    },
  }).then((world) => Object.assign(world, { store }));
}

/** A secondary index of the in-memory state as `[key, [record keys in order]]` pairs. */
function indexContents(index: ReadonlyMap<string, Iterable<string>>): [string, string[]][] {
  return [...index].map(([key, keys]) => [key, [...keys]]);
}

/** Every row of both tables as JSON text, ordered: the snapshot of a Postgres world. */
export async function tableContents(
  db: Database,
  schema: string,
): Promise<{ connections: string; outbox: string }> {
  const s = `"${schema}"`;
  const { rows } = await db.query<{ connections: string | null; outbox: string | null }>(
    `SELECT (SELECT json_agg(c ORDER BY c.org, c.id)::text FROM ${s}.connections c) AS connections,
            (SELECT json_agg(o ORDER BY o.id)::text FROM ${s}.connection_outbox o) AS outbox`,
  );
  return { connections: rows[0]?.connections ?? "[]", outbox: rows[0]?.outbox ?? "[]" };
}

/** A seeded world on a migrated Postgres schema (PGlite or the server); empty the tables first. */
export async function postgresWorld(
  db: Database,
  schema: string,
  engine: "pglite" | "postgres",
): Promise<HostileWorld & { store: PostgresUnitOfWork }> {
  await db.query(`TRUNCATE "${schema}".connections, "${schema}".connection_outbox`);
  const store = new PostgresUnitOfWork(db, { schema });
  const world = await seedWorld({
    engine,
    store,
    snapshot: () => tableContents(db, schema),
    secrets: async () => {
      const { rows } = await db.query<{ token_hash: string | null; token_seal: string | null }>(
        `SELECT token_hash, token_seal FROM "${schema}".connections`,
      );
      return {
        hashes: rows.flatMap((r) => (r.token_hash === null ? [] : [r.token_hash])),
        seals: rows.flatMap((r) => (r.token_seal === null ? [] : [r.token_seal])),
      };
    },
  });
  return Object.assign(world, { store });
}

// ---------------------------------------------------------------------------------------------------------------
// Symbolic values: drawn by fast-check, resolved against the current world at call time, printed by label

const SYM = Symbol("hostile.sym");

/** A value resolved at call time from the world's pools, printed as its label in counterexamples. */
export interface Sym {
  (pools: Pools): unknown;
  readonly [SYM]: true;
}

/** Makes a symbolic value. Big or deep constants are wrapped too, so counterexamples print a label, not the value. */
export function sym(label: string, make: (pools: Pools) => unknown): Sym {
  const f = ((pools: Pools) => make(pools)) as Sym;
  Object.defineProperty(f, SYM, { value: true });
  Object.defineProperty(f, fc.toStringMethod, { value: () => label });
  return f;
}

/** A constant, by label. */
export const konst = (label: string, value: unknown): Sym => sym(label, () => value);

function isSym(value: unknown): value is Sym {
  return typeof value === "function" && SYM in value;
}

/**
 * Replaces symbolic values with what they stand for, inside plain arrays and objects made by the arbitraries.
 * Anything else (exotic objects, the values a symbol yields) is passed through untouched, holes and own
 * `__proto__` keys included.
 */
export function resolveDeep(value: unknown, pools: Pools, depth = 0): unknown {
  if (isSym(value)) return value(pools);
  if (depth > 6 || typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    let changed = false;
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) continue;
      const r = resolveDeep(value[i], pools, depth + 1);
      if (r !== value[i]) changed = true;
      out[i] = r;
    }
    return changed ? out : value;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== Object.prototype && proto !== null) return value;
  let changed = false;
  const out = Object.create(proto) as Record<string, unknown>;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    const r = resolveDeep(v, pools, depth + 1);
    if (r !== v) changed = true;
    Object.defineProperty(out, key, { value: r, enumerable: true, writable: true, configurable: true });
  }
  return changed ? out : value;
}

// ---------------------------------------------------------------------------------------------------------------
// The catalogue of adversarial values

/** `{ a: { a: … } }`, `depth` levels. */
export function deepObject(depth: number): unknown {
  let v: unknown = {};
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

/** `[[[…]]]`, `depth` levels. */
export function deepArray(depth: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

const HUGE = 100_000;

/** Strings of 100 000 characters. */
export const HUGE_STRINGS: Sym[] = [
  konst("'a' x 100k", "a".repeat(HUGE)),
  konst("hex x 100k", "5f".repeat(HUGE / 2)),
  konst("cyrillic 'а' x 100k", "\u0430".repeat(HUGE)),
  konst("url-safe x 100k", "Ab_-".repeat(HUGE / 4)),
];

/** Emails that look like the people's but are not (and some that are, after normalisation). */
export const LOOKALIKE_EMAILS: readonly string[] = [
  "\u0430lice@acme.example", // Cyrillic а
  "b\u043eb@acme.example", // Cyrillic о
  "alice\uff20acme.example", // fullwidth @
  "ali\u200dce@acme.example", // zero-width joiner
  "bob@acme.example\u200b", // zero-width space
  "\u202eelpmaxe.emca@bob", // right-to-left override
  "bob@acme.example\u202e",
  "bob@\u0430cme.example",
  "b\u00f6b@acme.example",
  "bob@acme.example\u0000",
  "bob@acme.example\r\nBcc: eve@evil.example",
  "ALICE@ACME.EXAMPLE", // the caller itself, upper-cased
  "  bob@acme.example  ", // Bob, padded
  "bob@@acme.example",
  "@acme.example",
  "bob@",
  '"bob"@acme.example',
  "bob@[127.0.0.1]",
  "bob@localhost",
  `${"b".repeat(64)}@${"x".repeat(250)}.example`,
];

/** SQL fragments, in every string position. */
export const SQL_FRAGMENTS: readonly string[] = [
  "'; DROP TABLE connections; --",
  "' OR '1'='1",
  "1; SELECT pg_sleep(5); --",
  "acme' --",
  "\\'; DELETE FROM connection_outbox; --",
  "$1",
  "%",
  "_",
  "\\",
  "5f0000000000000000000a01' OR 'x'='x",
  "'; COPY connections TO '/tmp/x'; --",
  "acme\u0000",
];

/** Malformed ids. */
export const MALFORMED_IDS: readonly string[] = [
  "",
  "5f0000000000000000000a0",
  "5f0000000000000000000a011",
  "5F0000000000000000000A01",
  "zzzzzzzzzzzzzzzzzzzzzzzz",
  " 5f0000000000000000000a01",
  "5f0000000000000000000a01\n",
  "../../../../etc/passwd",
  "\uff15f0000000000000000000a01",
  "5f0000000000000000000a0\u0000",
  "0x5f000000000000000000a01",
  "5f000000-0000-0000-0a01",
  "__proto__",
  "constructor",
];

/** Malformed tokens (and well-formed ones that open nothing). */
export const MALFORMED_TOKENS: readonly string[] = [
  "",
  "a".repeat(31),
  "a".repeat(257),
  `${"a".repeat(43)}=`,
  `a+b/${"c".repeat(40)}`,
  `${"a".repeat(42)}\n`,
  "%41".repeat(15),
  `${"a".repeat(20)} ${"a".repeat(20)}`,
  "\u0430".repeat(43),
  "x".repeat(43),
  "A".repeat(256),
];

/** Prototype-pollution payloads, as `JSON.parse` makes them (own `__proto__` keys). */
export const PROTO_JSON: readonly string[] = [
  '{"__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"prototype":{"polluted":"yes"}}',
  '{"__proto__":{"__proto__":{"polluted":"yes"}}}',
];

/** Values of the wrong type, for every position. */
export const WRONG_TYPES: Sym[] = [
  konst("undefined", undefined),
  konst("null", null),
  konst("true", true),
  konst("0", 0),
  konst("-1", -1),
  konst("NaN", Number.NaN),
  konst("Infinity", Number.POSITIVE_INFINITY),
  konst("-0", -0),
  konst("1e308", 1e308),
  konst("2**53", 2 ** 53),
  konst("1n", 1n),
  konst('""', ""),
  konst("[]", []),
  konst("{}", {}),
  konst("[[]]", [[]]),
  konst("Symbol", Symbol("hostile")),
  konst("function", () => "hostile"),
  konst("Invalid Date", new Date(Number.NaN)),
  konst("Map", new Map([["org", ORG]])),
  konst("Set", new Set([1])),
  konst("Uint8Array", new Uint8Array([1, 2, 3])),
  konst("null-prototype object", Object.create(null)),
  konst("boxed String", new String(ORG)),
  konst("RegExp", /acme/),
  // biome-ignore lint/suspicious/noThenProperty: a thenable that never settles is the point (nothing may await input).
  konst("never-settling thenable", { then: () => undefined }),
  konst("Error", new Error("hostile")),
];

/** Deeply nested values. */
export const DEEP: Sym[] = [
  konst("object nested 10k deep", deepObject(10_000)),
  konst("array nested 10k deep", deepArray(10_000)),
];

/** Values every position gets: wrong types, huge strings, SQL, prototype payloads, deep nesting. */
export const GENERIC: Sym[] = [
  ...WRONG_TYPES,
  ...HUGE_STRINGS,
  ...SQL_FRAGMENTS.map((s) => konst(`sql ${JSON.stringify(s)}`, s)),
  ...PROTO_JSON.map((j) => sym(`JSON.parse(${j})`, () => JSON.parse(j))),
  ...DEEP,
];

const withProto = (label: string, json: string): Sym => sym(label, () => JSON.parse(json));

/** Hostile principals. */
export const HOSTILE_PRINCIPALS: Sym[] = [
  konst("principal {}", {}),
  konst("principal without accountId", { org: ORG }),
  konst("principal accountId undefined", { org: ORG, accountId: undefined }),
  konst("principal extra key", { org: ORG, accountId: ALICE, admin: true }),
  withProto(
    "principal __proto__ accountId",
    `{"org":"acme","accountId":null,"__proto__":{"accountId":"${ALICE}"}}`,
  ),
  withProto(
    "principal constructor.prototype",
    `{"org":"acme","accountId":"${ALICE}","constructor":{"prototype":{"polluted":1}}}`,
  ),
  konst("principal inherited fields", Object.create({ org: ORG, accountId: ALICE })),
  konst("principal org ACME", { org: "ACME", accountId: ALICE }),
  konst("principal upper-case id", { org: ORG, accountId: ALICE.toUpperCase() }),
  konst("principal org NUL", { org: "acme\u0000", accountId: ALICE }),
  konst("principal org 100k", { org: "a".repeat(HUGE), accountId: ALICE }),
  konst("principal org SQL", { org: "acme' OR '1'='1", accountId: ALICE }),
  konst("principal id SQL", { org: ORG, accountId: "5f0000000000000000000a01' OR 'x'='x" }),
  konst("principal id padded", { org: ORG, accountId: ` ${ALICE}` }),
  konst("principal org list", { org: [ORG], accountId: ALICE }),
  konst("principal id number", { org: ORG, accountId: 5 }),
  konst("principal id 100k", { org: ORG, accountId: "5f".repeat(HUGE / 2) }),
  konst("principal org ../globex", { org: "acme/../globex", accountId: ALICE }),
];

/** Hostile contexts. */
export const HOSTILE_CONTEXTS: Sym[] = [
  konst("context constructor", { object: "constructor", _id: FILE._id }),
  konst("context prototype", { object: "prototype", _id: FILE._id }),
  konst("context __proto__", { object: "__proto__", _id: FILE._id }),
  konst("context toString", { object: "tostring", _id: FILE._id }),
  withProto(
    "context __proto__ object",
    `{"object":"c_patient_file","_id":"${FILE._id}","__proto__":{"object":"c_chart"}}`,
  ),
  konst("context object SQL", { object: "c_patient_file'; DROP TABLE connections; --", _id: FILE._id }),
  konst("context id SQL", { object: "c_patient_file", _id: "5f00000000000000000f11e1' OR '1'='1" }),
  konst("context upper-case object", { object: "C_PATIENT_FILE", _id: FILE._id }),
  konst("context padded object", { object: "c_patient_file ", _id: FILE._id }),
  konst("context object 100k", { object: "c".repeat(HUGE), _id: FILE._id }),
  konst("context extra key", { ...FILE, owner: ALICE }),
  konst("context as list", [FILE.object, FILE._id]),
  konst("context as path", `/c_patient_files/${FILE._id}`),
  konst("context object NUL", { object: "c_patient_file\u0000", _id: FILE._id }),
  konst("context unknown object", { object: "c_unknown", _id: FILE._id }),
  konst("context unknown instance", { object: FILE.object, _id: NOBODY }),
  konst("context object Cyrillic", { object: "c_p\u0430tient_file", _id: FILE._id }),
];

const manyTargets = (n: number, make: (i: number) => unknown) => Array.from({ length: n }, (_, i) => make(i));

/** Hostile target lists. */
export const HOSTILE_TARGET_LISTS: Sym[] = [
  konst("no targets", []),
  konst(
    "10,000 targets",
    manyTargets(10_000, (i) => ({ email: `p${i}@outside.example` })),
  ),
  konst(
    "101 targets",
    manyTargets(101, (i) => ({ email: `p${i}@outside.example` })),
  ),
  konst(
    "10,000 empty targets",
    manyTargets(10_000, () => ({})),
  ),
  konst("sparse list of 3 holes", new Array(3)),
  konst(
    "list with a hole and Bob",
    (() => {
      const list: unknown[] = new Array(2);
      list[1] = { _id: BOB };
      return list;
    })(),
  ),
  konst("array-like object", { length: 1, 0: { _id: BOB } }),
  konst("Set of targets", new Set([{ _id: BOB }])),
  konst("targets as a string", "bob@acme.example"),
  konst("[null]", [null]),
  konst("[undefined]", [undefined]),
  konst("[deep object]", [deepObject(10_000)]),
  konst("[deep array]", [deepArray(10_000)]),
  withProto("target __proto__ auto", `[{"_id":"${BOB}","__proto__":{"auto":true,"access":7}}]`),
  withProto("target constructor", `[{"_id":"${BOB}","constructor":{"prototype":{"polluted":1}}}]`),
  konst("target with _id and email", [{ _id: BOB, email: "bob@acme.example" }]),
  konst("target with neither", [{ name: { first: "X" } }]),
  konst("target object user", [{ _id: BOB, object: "user" }]),
  konst("target access 1e308", [{ _id: BOB, access: 1e308 }]),
  konst("target access NaN", [{ _id: BOB, access: Number.NaN }]),
  konst("target access -1", [{ _id: BOB, access: -1 }]),
  konst("target access '7'", [{ _id: BOB, access: "7" }]),
  konst("target roles 101", [{ _id: BOB, roles: manyTargets(101, () => BOB) }]),
  konst("target roles SQL", [{ _id: BOB, roles: ["'; DROP TABLE connections; --"] }]),
  konst("target name 101 chars", [{ _id: BOB, name: { first: "x".repeat(101) } }]),
  konst("target name extra key", [{ _id: BOB, name: { first: "B", middle: "x" } }]),
  konst("target name NUL", [{ email: "nul@outside.example", name: { first: "a\u0000b" } }]),
  konst("target name lone surrogate", [{ email: "surrogate@outside.example", name: { first: "a\ud800b" } }]),
  konst("target name HTML and CRLF", [
    { email: "html@outside.example", name: { first: "<script>alert(1)</script>\r\nBcc: eve@evil.example" } },
  ]),
  konst("target auto string", [{ _id: CAROL, auto: "true" }]),
  konst("target self by id", [{ _id: ALICE }]),
  konst("target unknown id", [{ _id: NOBODY }]),
  ...LOOKALIKE_EMAILS.map((e) => konst(`target email ${JSON.stringify(e).slice(0, 60)}`, [{ email: e }])),
  ...SQL_FRAGMENTS.map((s) => konst(`target email SQL ${JSON.stringify(s)}`, [{ email: s }])),
  ...MALFORMED_IDS.map((id) => konst(`target id ${JSON.stringify(id)}`, [{ _id: id }])),
];

/** Hostile list queries. */
export const HOSTILE_QUERIES: Sym[] = [
  withProto("query __proto__ show", '{"__proto__":{"show":"creator"}}'),
  withProto("query constructor", '{"constructor":{"prototype":{"polluted":1}}}'),
  konst("query limit 1e9", { limit: 1e9 }),
  konst("query limit 0", { limit: 0 }),
  konst("query limit NaN", { limit: Number.NaN }),
  konst("query limit '10'", { limit: "10" }),
  konst("query 10,000 objects", { objects: manyTargets(10_000, () => "c_chart") }),
  konst("query both cursors", { startingAfter: ALICE, endingBefore: BOB }),
  konst("query cursor SQL", { startingAfter: "5f0000000000000000000a01' OR 'x'='x" }),
  konst("query show admin", { show: "all" }),
  konst("query state 2", { state: 2 }),
  konst("query state '0'", { state: "0" }),
  konst("query objects SQL", { objects: ["c_chart'; --"] }),
  konst("query as string", "show=creator"),
  konst("query as list", []),
];

/** Hostile org codes (for the methods that take one). */
export const HOSTILE_ORGS: Sym[] = [
  konst('org ""', ""),
  konst("org ACME", "ACME"),
  konst("org padded", " acme"),
  konst("org NUL", "acme\u0000"),
  konst("org ../globex", "acme/../globex"),
  konst("org Cyrillic", "\u0430cme"),
  konst("org 65 chars", "a".repeat(65)),
];

/** Hostile purge options. */
export const HOSTILE_PURGE_OPTIONS: Sym[] = [
  konst("batchSize NaN", { batchSize: Number.NaN }),
  konst("batchSize '10'", { batchSize: "10" }),
  konst("batchSize {}", { batchSize: {} }),
  konst("batchSize -1", { batchSize: -1 }),
  konst("batchSize Infinity", { batchSize: Number.POSITIVE_INFINITY }),
  konst("batchSize 1e308", { batchSize: 1e308 }),
  konst("batchSize 1n", { batchSize: 1n }),
  konst("maxBatches NaN", { maxBatches: Number.NaN }),
  konst("maxBatches -1", { maxBatches: -1 }),
  konst("maxBatches 'x'", { maxBatches: "x" }),
  withProto("purge options __proto__", '{"__proto__":{"batchSize":1}}'),
];

/** Hostile create options. */
export const HOSTILE_CREATE_OPTIONS: Sym[] = [
  konst("contextSource 100k", { contextSource: "s".repeat(HUGE) }),
  konst("contextSource 257", { contextSource: "s".repeat(257) }),
  konst("contextSource number", { contextSource: 5 }),
  konst("contextSource NUL", { contextSource: "c_source\u0000" }),
  konst("contextSource lone surrogate", { contextSource: "c_\udc00source" }),
  konst("contextSource SQL", { contextSource: "'; DROP TABLE connections; --" }),
  withProto("options __proto__", '{"__proto__":{"contextSource":"x"}}'),
];

/** Token look-alikes built from the world's real secrets. */
export const TOKEN_MUTANTS: Sym[] = [
  sym("the stored hash of a live token", (p) => p.hashes[0]),
  sym("the stored seal of a live token", (p) => p.seals[0]),
  sym("a live token, last character changed", (p) => flipLast(p.tokens[0] ?? "")),
  sym("a live token, one character short", (p) => (p.tokens[0] ?? "").slice(0, -1)),
  sym("a live token, one character more", (p) => `${p.tokens[0] ?? ""}A`),
  sym("a live token, upper-cased", (p) => (p.tokens[0] ?? "").toUpperCase()),
  sym("a live token twice", (p) => `${p.tokens[0] ?? ""}${p.tokens[0] ?? ""}`),
  sym("a live token with a zero-width space", (p) => `${p.tokens[0] ?? ""}\u200b`),
  sym("a live token, padded", (p) => ` ${p.tokens[0] ?? ""} `),
  sym("a live token, percent-encoded", (p) =>
    [...(p.tokens[0] ?? "")].map((c) => `%${c.charCodeAt(0).toString(16)}`).join(""),
  ),
  sym("an expired token", (p) => p.expiredTokens[0]),
];

function flipLast(token: string): string {
  if (token === "") return "A";
  const last = token.at(-1) === "A" ? "B" : "A";
  return `${token.slice(0, -1)}${last}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Arbitraries

/** `fc.anything` with every kind of value switched on. */
export const anythingArb: fc.Arbitrary<unknown> = fc.anything({
  maxDepth: 3,
  maxKeys: 5,
  withBoxedValues: true,
  withMap: true,
  withSet: true,
  withObjectString: true,
  withNullPrototype: true,
  withBigInt: true,
  withDate: true,
  withTypedArray: true,
  withSparseArray: true,
  stringUnit: "binary",
});

/** Strings an attacker would try: catalogue entries, any code points, near-ids, near-tokens. */
export const hostileStringArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...SQL_FRAGMENTS, ...LOOKALIKE_EMAILS, ...MALFORMED_IDS, ...MALFORMED_TOKENS),
  fc.constantFrom(...HUGE_STRINGS),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.stringMatching(/^[0-9a-fA-F]{22,26}$/),
  fc.stringMatching(/^[A-Za-z0-9_-]{30,45}$/),
);

/** A value for a position: often well-formed, often hostile, sometimes anything at all. */
export function position(valid: fc.Arbitrary<unknown>, hostile: readonly Sym[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    { arbitrary: valid, weight: 4 },
    { arbitrary: fc.constantFrom(...hostile, ...GENERIC), weight: 3 },
    { arbitrary: hostileStringArb, weight: 1 },
    { arbitrary: anythingArb, weight: 1 },
  );
}

const pick = <T>(label: string, list: (p: Pools) => readonly T[], i: number): Sym =>
  sym(`${label}[${i}]`, (p) => {
    const l = list(p);
    return l[i % Math.max(1, l.length)];
  });

export const principalArb = position(
  fc.constantFrom(
    as(ALICE),
    as(BOB),
    as(CAROL),
    as(SAM),
    as(UMA),
    as(null),
    as(NOBODY),
    as(ALICE, OTHER_ORG),
    as(BOB, OTHER_ORG),
    as(null, OTHER_ORG),
    as(null, "nosuchorg"),
    as(ALICE, "nosuchorg"),
  ),
  [
    ...HOSTILE_PRINCIPALS,
    ...HOSTILE_ORGS.map((o) => sym(`principal ${fc.stringify(o)}`, (p) => ({ org: o(p), accountId: ALICE }))),
  ],
);

export const contextArb = position(
  fc.constantFrom<unknown>(FILE, CHART, MEMO, { object: "account", _id: CAROL }),
  HOSTILE_CONTEXTS,
);

const nameArb = fc.record(
  {
    first: fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom("a\u0000b", "x\ud800", "<b>x</b>", "A\r\nBcc: e@x.example"),
    ),
    last: fc.string({ maxLength: 12 }),
  },
  { requiredKeys: [] },
);

const targetArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.record(
    {
      _id: fc.constantFrom(...PEOPLE, NOBODY),
      access: fc.oneof(fc.integer({ min: -3, max: 12 }), fc.constantFrom(Number.NaN, 1e308, 2.5)),
      roles: fc.array(fc.oneof(fc.constantFrom(...PEOPLE), fc.constantFrom(...MALFORMED_IDS)), {
        maxLength: 3,
      }),
      auto: fc.boolean(),
      name: nameArb,
    },
    { requiredKeys: ["_id"] },
  ),
  fc.record(
    {
      email: fc.oneof(
        fc.constantFrom(
          "bob@acme.example",
          "carol@acme.example",
          "dave@outside.example",
          "new@outside.example",
        ),
        fc.constantFrom(...LOOKALIKE_EMAILS),
        fc.emailAddress(),
      ),
      name: nameArb,
      access: fc.integer({ min: 0, max: 9 }),
    },
    { requiredKeys: ["email"] },
  ),
  anythingArb,
);

export const targetsArb = position(fc.array(targetArb, { minLength: 1, maxLength: 6 }), HOSTILE_TARGET_LISTS);

export const createOptionsArb = position(
  fc.oneof(
    fc.constant(undefined),
    fc.record(
      { contextSource: fc.oneof(fc.constant(null), fc.string({ maxLength: 20 })) },
      { requiredKeys: [] },
    ),
  ),
  HOSTILE_CREATE_OPTIONS,
);

export const recordIdArb = position(
  fc.oneof(
    fc.nat({ max: 9 }).map((i) => pick("recordId", (p) => p.recordIds, i)),
    fc.constantFrom(...PEOPLE, NOBODY),
  ),
  MALFORMED_IDS.map((id) => konst(`id ${JSON.stringify(id)}`, id)),
);

export const tokenArb = position(
  fc.oneof(
    fc.nat({ max: 9 }).map((i) => pick("liveToken", (p) => p.tokens, i)),
    fc.constantFrom(...TOKEN_MUTANTS),
  ),
  MALFORMED_TOKENS.map((t) => konst(`token ${JSON.stringify(t).slice(0, 50)}`, t)),
);

export const listQueryArb = position(
  fc.oneof(
    fc.constant(undefined),
    fc.record(
      {
        show: fc.oneof(fc.constantFrom("creator", "target"), hostileStringArb),
        state: fc.oneof(fc.constantFrom(0, 1), fc.constantFrom(2, -1, Number.NaN, "0")),
        objects: fc.array(fc.constantFrom("c_patient_file", "c_chart", "C_CHART", "c_chart'--"), {
          maxLength: 3,
        }),
        limit: fc.oneof(fc.integer({ min: -2, max: 1100 }), fc.constantFrom(Number.NaN, 1e308, "5")),
        startingAfter: fc.oneof(fc.constantFrom(...PEOPLE), fc.constantFrom(...MALFORMED_IDS)),
        endingBefore: fc.oneof(fc.constantFrom(...PEOPLE), fc.constantFrom(...MALFORMED_IDS)),
      },
      { requiredKeys: [] },
    ),
  ),
  HOSTILE_QUERIES,
);

export const pageQueryArb = listQueryArb;

export const orgArb = position(fc.constantFrom(ORG, OTHER_ORG, "nosuchorg"), HOSTILE_ORGS);

export const accountIdArb = position(
  fc.constantFrom(...PEOPLE, NOBODY),
  MALFORMED_IDS.map((id) => konst(`accountId ${JSON.stringify(id)}`, id)),
);

export const purgeOptionsArb = position(
  fc.oneof(
    fc.constant(undefined),
    fc.record(
      { batchSize: fc.integer({ min: -5, max: 20_000 }), maxBatches: fc.integer({ min: -1, max: 5 }) },
      { requiredKeys: [] },
    ),
  ),
  HOSTILE_PURGE_OPTIONS,
);

// ---------------------------------------------------------------------------------------------------------------
// The facade methods, their arbitraries and catalogues

let freshCount = 0;
/** A target never invited before, so a create with it always inserts (and so reaches the store with every option). */
const freshTarget = sym("[a fresh email target]", () => [{ email: `fresh${++freshCount}@outside.example` }]);

/** The facade methods under test. */
export const METHODS = [
  "create",
  "list",
  "listForContext",
  "get",
  "getByToken",
  "accept",
  "reject",
  "delete",
  "bindRegisteredAccount",
  "resolveAccess",
  "purgeExpired",
] as const;

export type MethodName = (typeof METHODS)[number];

/** How each method's arguments are drawn, the well-formed arguments the catalogue varies, and each position's catalogue. */
export const METHOD_SPECS: Record<
  MethodName,
  { args: fc.Arbitrary<unknown[]>; baseline: unknown[]; catalogue: readonly (readonly Sym[])[] }
> = {
  create: {
    args: fc.tuple(principalArb, contextArb, targetsArb, createOptionsArb),
    baseline: [as(ALICE), FILE, freshTarget, undefined],
    catalogue: [HOSTILE_PRINCIPALS, HOSTILE_CONTEXTS, HOSTILE_TARGET_LISTS, HOSTILE_CREATE_OPTIONS],
  },
  list: {
    args: fc.tuple(principalArb, listQueryArb),
    baseline: [as(BOB), { show: "target" }],
    catalogue: [HOSTILE_PRINCIPALS, HOSTILE_QUERIES],
  },
  listForContext: {
    args: fc.tuple(principalArb, contextArb, pageQueryArb),
    baseline: [as(SAM), FILE, {}],
    catalogue: [HOSTILE_PRINCIPALS, HOSTILE_CONTEXTS, HOSTILE_QUERIES],
  },
  get: {
    args: fc.tuple(principalArb, recordIdArb),
    baseline: [as(ALICE), pick("recordId", (p) => p.recordIds, 1)],
    catalogue: [HOSTILE_PRINCIPALS, MALFORMED_IDS.map((id) => konst(`id ${JSON.stringify(id)}`, id))],
  },
  getByToken: {
    args: fc.tuple(principalArb, tokenArb),
    baseline: [as(null), pick("liveToken", (p) => p.tokens, 1)],
    catalogue: [
      HOSTILE_PRINCIPALS,
      [...TOKEN_MUTANTS, ...MALFORMED_TOKENS.map((t) => konst(`token ${t.slice(0, 40)}`, t))],
    ],
  },
  accept: {
    args: fc.tuple(principalArb, tokenArb),
    baseline: [as(BOB), pick("liveToken", (p) => p.tokens, 0)],
    catalogue: [
      HOSTILE_PRINCIPALS,
      [...TOKEN_MUTANTS, ...MALFORMED_TOKENS.map((t) => konst(`token ${t.slice(0, 40)}`, t))],
    ],
  },
  reject: {
    args: fc.tuple(principalArb, tokenArb),
    baseline: [as(null), pick("liveToken", (p) => p.tokens, 1)],
    catalogue: [
      HOSTILE_PRINCIPALS,
      [...TOKEN_MUTANTS, ...MALFORMED_TOKENS.map((t) => konst(`token ${t.slice(0, 40)}`, t))],
    ],
  },
  delete: {
    args: fc.tuple(principalArb, recordIdArb),
    baseline: [as(ALICE), pick("recordId", (p) => p.recordIds, 4)],
    catalogue: [HOSTILE_PRINCIPALS, MALFORMED_IDS.map((id) => konst(`id ${JSON.stringify(id)}`, id))],
  },
  bindRegisteredAccount: {
    args: fc.tuple(orgArb, accountIdArb),
    baseline: [ORG, CAROL],
    catalogue: [HOSTILE_ORGS, MALFORMED_IDS.map((id) => konst(`accountId ${JSON.stringify(id)}`, id))],
  },
  resolveAccess: {
    args: fc.tuple(orgArb, accountIdArb, contextArb),
    baseline: [ORG, CAROL, CHART],
    catalogue: [
      HOSTILE_ORGS,
      MALFORMED_IDS.map((id) => konst(`accountId ${JSON.stringify(id)}`, id)),
      HOSTILE_CONTEXTS,
    ],
  },
  purgeExpired: {
    args: fc.tuple(orgArb, purgeOptionsArb),
    baseline: [ORG, { batchSize: 10, maxBatches: 3 }],
    catalogue: [HOSTILE_ORGS, HOSTILE_PURGE_OPTIONS],
  },
};

/**
 * Every catalogue call of a method: the baseline arguments with one position replaced by each of that position's
 * catalogue entries and by each generic entry (wrong types, huge strings, SQL, prototype payloads, deep nesting).
 */
export function catalogueCalls(method: MethodName): { label: string; args: unknown[] }[] {
  const spec = METHOD_SPECS[method];
  const calls: { label: string; args: unknown[] }[] = [];
  spec.catalogue.forEach((entries, i) => {
    for (const entry of [...entries, ...GENERIC]) {
      const args = [...spec.baseline];
      args[i] = entry;
      calls.push({ label: `${method} arg ${i}: ${fc.stringify(entry)}`, args });
    }
  });
  return calls;
}

// ---------------------------------------------------------------------------------------------------------------
// Calling and checking

/** What a call gave: a value or a thrown error. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Thrown when a call neither resolves nor rejects in time. */
export class HangError extends Error {
  constructor(ms: number) {
    super(`the call did not settle within ${ms} ms`);
    this.name = "HangError";
  }
}

/** Runs a call (sync throws included) and settles with its outcome, or a {@link HangError} after `timeoutMs`. */
export async function attempt(call: () => unknown, timeoutMs = 20_000): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: new HangError(timeoutMs) }), timeoutMs);
  });
  try {
    return await Promise.race([
      Promise.resolve()
        .then(call)
        .then(
          (value): Outcome => ({ ok: true, value }),
          (error: unknown): Outcome => ({ ok: false, error }),
        ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Calls a facade method with any arguments. */
export function callMethod(
  connections: Connections,
  method: MethodName,
  args: readonly unknown[],
): Promise<unknown> {
  const fn = connections[method] as unknown as (...a: unknown[]) => Promise<unknown>;
  return fn.apply(connections, [...args]);
}

/** A short, bounded description of a value for failure messages. */
export function describe(value: unknown): string {
  const text = inspect(value, { depth: 3, maxArrayLength: 5, maxStringLength: 120, breakLength: 160 });
  return text.length > 1500 ? `${text.slice(0, 1500)}…` : text;
}

/** The problem with a failure, or null when it is a well-formed spec error that is not a 500. */
export function specErrorProblem(error: unknown): string | null {
  if (!(error instanceof ConnectionError)) return `a non-spec exception escaped: ${describe(error)}`;
  if (!(ERROR_CODES as readonly string[]).includes(error.code)) return `unknown code ${error.code}`;
  if (error.status !== ERROR_STATUS[error.code]) return `status ${error.status} for ${error.code}`;
  if (error.code === "cortex.error.unspecified") {
    const cause =
      error.cause instanceof Error ? `${error.cause.name}: ${error.cause.message}` : describe(error.cause);
    return `cortex.error.unspecified (no port was failing): reason ${describe(error.reason)}, cause ${cause.slice(0, 400)}`;
  }
  if (typeof error.message !== "string" || error.message === "") return "an empty message";
  const fault = error.toFault();
  if (fault.object !== "fault" || fault.errCode !== error.code || fault.status !== error.status) {
    return `a malformed fault ${describe(fault)}`;
  }
  return null;
}

/** The problem with a successful result of `method`, or null when it has the documented shape. */
export function resultProblem(method: MethodName, value: unknown): string | null {
  const isView = (v: unknown) =>
    typeof v === "object" && v !== null && (v as { object?: unknown }).object === "connection";
  const isTargetFault = (v: unknown) => {
    const f = v as { object?: unknown; errCode?: unknown; status?: unknown; target?: unknown };
    return (
      typeof v === "object" &&
      v !== null &&
      f.object === "fault" &&
      (ERROR_CODES as readonly unknown[]).includes(f.errCode) &&
      f.errCode !== "cortex.error.unspecified" &&
      f.status === ERROR_STATUS[f.errCode as ErrorCode] &&
      typeof f.target === "object"
    );
  };
  switch (method) {
    case "create":
      if (!Array.isArray(value) || value.length === 0)
        return `create answered ${describe(value)} (no entry per target)`;
      if (!value.every((e) => isView(e) || isTargetFault(e)))
        return `a malformed create entry in ${describe(value)}`;
      return null;
    case "list":
    case "listForContext": {
      const l = value as { object?: unknown; data?: unknown; hasMore?: unknown };
      if (
        l?.object !== "list" ||
        !Array.isArray(l.data) ||
        typeof l.hasMore !== "boolean" ||
        !l.data.every(isView)
      ) {
        return `a malformed list ${describe(value)}`;
      }
      return null;
    }
    case "get":
    case "getByToken":
    case "accept":
      return isView(value) ? null : `a malformed view ${describe(value)}`;
    case "reject":
    case "delete":
      return value === true ? null : `expected true, got ${describe(value)}`;
    case "bindRegisteredAccount":
    case "purgeExpired":
      return Number.isSafeInteger(value) && (value as number) >= 0
        ? null
        : `expected a count, got ${describe(value)}`;
    case "resolveAccess":
      return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 8
        ? null
        : `expected an access level, got ${describe(value)}`;
  }
}

/** The problem when `text` carries a stored secret (a token hash or seal) or token-material keys, or null. */
export function secretProblem(text: string, pools: Pools): string | null {
  if (/"token(Hash|Seal)"/.test(text)) return "token material keys (tokenHash/tokenSeal) in an answer";
  for (const s of [...pools.hashes, ...pools.seals])
    if (text.includes(s)) return "a stored hash or seal in an answer";
  return null;
}

/** The problem when a thrown error carries a live token, hash or seal anywhere in its text, or null. */
export function errorLeakProblem(error: unknown, secrets: readonly string[]): string | null {
  if (!(error instanceof Error)) return null;
  const parts = [error.message, String(error), error.stack ?? ""];
  if (error instanceof ConnectionError)
    parts.push(JSON.stringify(error.toFault()), error.reason ?? "", error.path ?? "");
  const text = parts.join("\n");
  return secrets.some((s) => s.length > 0 && text.includes(s)) ? "a secret in an error" : null;
}

/** Deep equality of two snapshots, with a bounded diff in the message. */
export function sameSnapshot(before: unknown, after: unknown): string | null {
  if (isDeepStrictEqual(before, after)) return null;
  return `the store changed:\nbefore ${describe(before).slice(0, 600)}\nafter ${describe(after).slice(0, 600)}`;
}

/** The own property names of the built-in prototypes, to spot pollution. */
export function prototypeFingerprint(): string {
  const names = (o: object) => Object.getOwnPropertyNames(o).sort().join(",");
  return [Object.prototype, Array.prototype, Function.prototype, String.prototype].map(names).join("|");
}

/** The problem when a built-in prototype was polluted, or null. */
export function pollutionProblem(baseline: string): string | null {
  const probe = {} as Record<string, unknown>;
  if (probe.polluted !== undefined || (Object.prototype as Record<string, unknown>).polluted !== undefined) {
    return "Object.prototype.polluted is set";
  }
  return prototypeFingerprint() === baseline ? null : "a built-in prototype gained or lost properties";
}

// ---------------------------------------------------------------------------------------------------------------
// Figures

/** Counts per method (or route): inputs tried, successes, and the codes seen. */
export interface Figures {
  tried: number;
  ok: number;
  catalogue: number;
  random: number;
  codes: Record<string, number>;
}

/** Figures by key (a method or a route). */
export class Tally {
  readonly byKey = new Map<string, Figures>();

  private entry(key: string): Figures {
    let f = this.byKey.get(key);
    if (f === undefined) {
      f = { tried: 0, ok: 0, catalogue: 0, random: 0, codes: {} };
      this.byKey.set(key, f);
    }
    return f;
  }

  /** Records one input: its source and its outcome (`null` code for a success). */
  record(key: string, source: "catalogue" | "random", code: string | null): void {
    const f = this.entry(key);
    f.tried++;
    f[source]++;
    if (code === null) f.ok++;
    else f.codes[code] = (f.codes[code] ?? 0) + 1;
  }

  /** One compact line per key. */
  lines(prefix: string): string[] {
    return [...this.byKey.entries()].map(([key, f]) => {
      const codes = Object.entries(f.codes)
        .sort((a, b) => b[1] - a[1])
        .map(([c, n]) => `${c.replace(/^cortex\./, "")}=${n}`)
        .join(" ");
      return `${prefix} ${key}: tried=${f.tried} (catalogue ${f.catalogue}, random ${f.random}) ok=${f.ok} ${codes}`;
    });
  }

  toJSON(): Record<string, Figures> {
    return Object.fromEntries(this.byKey);
  }
}

/** The results directory of the package (`packages/reliability/results`). */
export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "results");

/** Writes a results file and returns its path. */
export function writeResults(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, name);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

// ---------------------------------------------------------------------------------------------------------------
// A raw HTTP client

/** One request as it goes on the wire. */
export interface RawRequest {
  method: string;
  /** The request target, sent as is. */
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Send the body chunked (no Content-Length). */
  chunked?: boolean;
}

/** One response. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** Sends one request on a fresh connection and reads the whole answer. */
export function rawRequest(
  origin: { host: string; port: number },
  req: RawRequest,
  timeoutMs = 20_000,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body =
      req.body === undefined
        ? undefined
        : typeof req.body === "string"
          ? Buffer.from(req.body)
          : Buffer.from(req.body);
    const headers: Record<string, string> = { ...req.headers };
    if (body !== undefined) {
      // Every method frames its body: a declared length, or chunks (named explicitly, since node:http does not
      // chunk GET, DELETE or OPTIONS bodies by default).
      if (req.chunked === true) headers["transfer-encoding"] = "chunked";
      else headers["content-length"] = String(body.byteLength);
    }
    let settled = false;
    const done = (f: () => void) => {
      if (!settled) {
        settled = true;
        f();
      }
    };
    const r = httpRequest(
      { host: origin.host, port: origin.port, method: req.method, path: req.path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          done(() =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString("utf8"),
            }),
          ),
        );
        res.on("error", (e) => done(() => reject(e)));
      },
    );
    r.setTimeout(timeoutMs, () => r.destroy(new HangError(timeoutMs)));
    r.on("error", (e) => done(() => reject(e)));
    if (body === undefined) {
      r.end();
    } else if (req.chunked === true) {
      for (let i = 0; i < body.byteLength; i += 16_384) r.write(body.subarray(i, i + 16_384));
      r.end();
    } else {
      r.end(body);
    }
  });
}
