/**
 * Hostile input at every route of @conn/http, over real HTTP (127.0.0.1, port 0) against a seeded in-memory world:
 * arbitrary bodies (random bytes, invalid UTF-8, oversize JSON declared and chunked, JSON nested 50,000 deep, JSON
 * with `__proto__`), arbitrary path segments (percent-encoded garbage, very long, `..`, raw non-ASCII bytes,
 * backslashes), arbitrary query strings, methods and Authorization headers (a bearer names the account, as the
 * packages/http tests do).
 *
 * Every answer the app gives is JSON: a well-formed fault whose status is its code's (docs/behaviour.md §12) and never a 500, or
 * a documented 200 success; API answers carry `Cache-Control: no-store`; a failed request leaves the store as it
 * was; no stored hash or seal is ever in an answer; the host's error reporter is never called. A request the
 * Node HTTP layer itself refuses (a request target that is not origin-form, raw bytes, a backslash, a head over
 * 16 KiB) gets the bare 400/431 of node:http / @hono/node-server without reaching the app; those are counted apart.
 *
 * Figures go to the console and to `results/hostile-http.json`.
 */
import { isDeepStrictEqual } from "node:util";
import { ERROR_STATUS, type ErrorCode } from "@conn/core";
import {
  type ConnectionsApi,
  connectionListSchema,
  connectionSchema,
  createConnectionsApp,
  createResponseSchema,
  faultSchema,
  type RunningServer,
  resultSchema,
  startServer,
} from "@conn/http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ALICE,
  BOB,
  CAROL,
  CHART,
  FILE,
  fcRuns,
  type HostileWorld,
  konst,
  LOOKALIKE_EMAILS,
  MALFORMED_IDS,
  MALFORMED_TOKENS,
  MEMO,
  memoryWorld,
  NOBODY,
  PEOPLE,
  type Pools,
  pollutionProblem,
  prototypeFingerprint,
  type RawRequest,
  type RawResponse,
  rawRequest,
  SAM,
  SQL_FRAGMENTS,
  type Sym,
  describe as show,
  sym,
  Tally,
  TOKEN_MUTANTS,
  UMA,
  writeResults,
} from "./support/hostile.js";

const RUNS = fcRuns(300);
const BASELINE = prototypeFingerprint();
const tally = new Tally();
const started = Date.now();

// ---------------------------------------------------------------------------------------------------------------
// The server and the world behind it

let world: HostileWorld | undefined;
let server: RunningServer | undefined;
const unexpected: unknown[] = [];

const current = (): HostileWorld => {
  if (world === undefined) throw new Error("no world");
  return world;
};

/** The facade the routes call: whatever world is current at call time. */
const forward: ConnectionsApi = {
  create: (...a) => current().connections.create(...a),
  list: (...a) => current().connections.list(...a),
  listForContext: (...a) => current().connections.listForContext(...a),
  get: (...a) => current().connections.get(...a),
  getByToken: (...a) => current().connections.getByToken(...a),
  accept: (...a) => current().connections.accept(...a),
  reject: (...a) => current().connections.reject(...a),
  delete: (...a) => current().connections.delete(...a),
  createShareLink: (...a) => current().connections.createShareLink(...a),
  listShareLinks: (...a) => current().connections.listShareLinks(...a),
  getShareLink: (...a) => current().connections.getShareLink(...a),
  revokeShareLink: (...a) => current().connections.revokeShareLink(...a),
  redeemShareLink: (...a) => current().connections.redeemShareLink(...a),
};

/** The test's authentication, as in packages/http: `Authorization: Bearer <account id>`, else anonymous. */
function bearer(request: Request): { accountId: string } | null {
  const header = request.headers.get("authorization");
  return header?.startsWith("Bearer ") ? { accountId: header.slice("Bearer ".length) } : null;
}

beforeAll(async () => {
  world = await memoryWorld();
  const app = createConnectionsApp({
    connections: forward,
    authenticate: bearer,
    onUnexpectedError: (error) => unexpected.push(error),
  });
  server = await startServer({ app, port: 0, hostname: "127.0.0.1" });
});

afterAll(async () => {
  await server?.close();
});

const origin = () => {
  if (server === undefined) throw new Error("no server");
  return { host: "127.0.0.1", port: server.port };
};

// ---------------------------------------------------------------------------------------------------------------
// Requests

/** A request as drawn: parts may be symbols resolved against the world when it is sent. */
interface Draw {
  /** The route family, for the figures. */
  route: string;
  method: string;
  /** Path segments (each already encoded as it goes on the wire), joined with "/". */
  segments: readonly (string | Sym)[];
  /** A whole request target instead of segments (absolute-form, `*`, no leading slash). */
  target?: string;
  query: string;
  auth: string | Sym | null;
  contentType: string | null;
  body: Sym | null;
  chunked: boolean;
}

const enc = (s: string) => encodeURIComponent(s);

/** Path segments an attacker would try; `raw:` ones go out as bytes the HTTP layer may refuse. */
const HOSTILE_SEGMENTS: readonly string[] = [
  "..",
  ".",
  "%2e%2e",
  "%2F",
  "%2f..%2f..%2fetc%2fpasswd",
  "%00",
  "%",
  "%zz",
  "%E0%A4%A",
  "%C0%AF",
  "%FF%FE",
  "%ED%A0%80",
  "a".repeat(8000),
  "%41".repeat(2500),
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "openapi.json",
  "connections",
  "%20acme",
  "ACME",
  enc("\u0430cme"),
  enc("\u202eenilno"),
  ...SQL_FRAGMENTS.map(enc),
  ...MALFORMED_IDS.map(enc),
  ...MALFORMED_TOKENS.filter((t) => t.length < 300).map(enc),
];

/** Segments the Node HTTP layer refuses before the app (raw non-ASCII bytes, a backslash). */
const RAW_SEGMENTS: readonly string[] = ["\u00e9\u00ff", "a\\b", "\u0080"];

const hostileSegmentArb: fc.Arbitrary<string | Sym> = fc.oneof(
  fc.constantFrom(...HOSTILE_SEGMENTS),
  fc.constantFrom(...TOKEN_MUTANTS).map((m) => sym(`enc(${fc.stringify(m)})`, (p) => enc(String(m(p))))),
  fc
    .uint8Array({ minLength: 1, maxLength: 12 })
    .map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")),
  fc.string({ unit: "binary", maxLength: 20 }).map(enc),
);

const pickFrom = (label: string, list: (p: Pools) => readonly string[]) =>
  fc.nat({ max: 9 }).map((i) =>
    sym(`${label}[${i}]`, (p) => {
      const l = list(p);
      return l[i % Math.max(1, l.length)] ?? "";
    }),
  );

const orgSegArb = fc.oneof(
  { arbitrary: fc.constantFrom("acme", "globex", "nosuchorg"), weight: 6 },
  { arbitrary: hostileSegmentArb, weight: 2 },
);
const idOrTokenSegArb = fc.oneof(
  { arbitrary: pickFrom("liveToken", (p) => p.tokens), weight: 3 },
  { arbitrary: pickFrom("recordId", (p) => p.recordIds), weight: 3 },
  { arbitrary: fc.constantFrom(...PEOPLE, NOBODY), weight: 1 },
  { arbitrary: hostileSegmentArb, weight: 3 },
);
const objectsSegArb = fc.oneof(
  {
    arbitrary: fc.constantFrom("c_patient_files", "c_charts", "c_memos", "c_unknowns", "accounts"),
    weight: 4,
  },
  { arbitrary: hostileSegmentArb, weight: 2 },
);
const contextIdSegArb = fc.oneof(
  { arbitrary: fc.constantFrom(FILE._id, CHART._id, MEMO._id, NOBODY, CAROL), weight: 4 },
  { arbitrary: hostileSegmentArb, weight: 2 },
);

const QUERY_KEYS = [
  "show",
  "state",
  "objects",
  "limit",
  "startingAfter",
  "endingBefore",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
];
const HOSTILE_QUERIES: readonly string[] = [
  "?__proto__=a&__proto__=b",
  "?__proto__[show]=creator",
  "?constructor[prototype][polluted]=1",
  "?limit=1&limit=2",
  "?limit=1e9",
  "?limit=-1",
  "?limit=0x10",
  "?state=2",
  "?show=all",
  `?startingAfter=${ALICE}&endingBefore=${BOB}`,
  `?objects=${"c_chart,".repeat(1200)}c_chart`,
  "?%zz=%zz&&=&a==b",
  `?startingAfter=${enc("5f0000000000000000000a01' OR 'x'='x")}`,
  "?objects=C_CHART",
  "?show=creator&show=target",
  `?${"x".repeat(8000)}`,
];
const queryArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constant(""), weight: 3 },
  { arbitrary: fc.constantFrom(...HOSTILE_QUERIES), weight: 2 },
  {
    arbitrary: fc
      .array(
        fc.tuple(
          fc.oneof(fc.constantFrom(...QUERY_KEYS), fc.string({ maxLength: 8 }).map(enc)),
          fc.oneof(
            fc.constantFrom("creator", "target", "0", "1", "10", "c_chart", ALICE, "", "NaN"),
            fc.constantFrom(...SQL_FRAGMENTS, ...LOOKALIKE_EMAILS).map(enc),
            fc.string({ unit: "binary", maxLength: 12 }).map(enc),
          ),
        ),
        { maxLength: 4 },
      )
      .map((pairs) => (pairs.length === 0 ? "" : `?${pairs.map(([k, v]) => `${k}=${v}`).join("&")}`)),
    weight: 3,
  },
);

/** Authorization headers: the people, nobody, malformed bearers, other schemes, arbitrary header text. */
const HOSTILE_AUTH: readonly string[] = [
  `Bearer ${NOBODY}`,
  `bearer ${ALICE}`,
  `Bearer  ${ALICE}`,
  `Bearer ${ALICE.toUpperCase()}`,
  `Bearer ${ALICE} `,
  `Basic ${Buffer.from(`${ALICE}:x`).toString("base64")}`,
  "Bearer ",
  "Bearer",
  "Bearer null",
  "Bearer undefined",
  "Bearer __proto__",
  `Bearer ${"5f".repeat(4000)}`,
  "Bearer '; DROP TABLE connections; --",
  "Bearer \u00e9\u00ff",
];
const headerTextArb = fc
  .array(fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff })), {
    maxLength: 40,
  })
  .map((codes) => String.fromCharCode(...codes));
const authArb: fc.Arbitrary<string | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 2 },
  {
    arbitrary: fc.constantFrom(...[ALICE, BOB, CAROL, SAM, UMA].map((id) => `Bearer ${id}`)),
    weight: 5,
  },
  { arbitrary: fc.constantFrom(...HOSTILE_AUTH), weight: 2 },
  { arbitrary: headerTextArb, weight: 1 },
  { arbitrary: headerTextArb.map((t) => `Bearer ${t}`), weight: 1 },
);

const CONTENT_TYPES: readonly string[] = [
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "application/merge-patch+json",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/json\u00ff",
  "application/jsonp",
  "",
];
const contentTypeArb: fc.Arbitrary<string | null> = fc.oneof(
  { arbitrary: fc.constant("application/json"), weight: 6 },
  { arbitrary: fc.constant(null), weight: 1 },
  { arbitrary: fc.constantFrom(...CONTENT_TYPES), weight: 2 },
  { arbitrary: headerTextArb, weight: 1 },
);

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p))));
const bodyOf = (label: string, make: (p: Pools) => string | Uint8Array): Sym => sym(label, make);
const json = (label: string, value: unknown): Sym => konst(label, JSON.stringify(value));

/** Bodies an attacker would send. */
const HOSTILE_BODIES: readonly Sym[] = [
  json("targets: Bob", { targets: [{ _id: BOB }] }),
  konst(
    "JSON with __proto__ beside targets",
    `{"targets":[{"_id":"${BOB}"}],"__proto__":{"contextSource":"x"}}`,
  ),
  konst("JSON whose __proto__ holds targets", `{"__proto__":{"targets":[{"_id":"${BOB}"}]}}`),
  konst(
    "target with __proto__ auto",
    `{"targets":[{"_id":"${CAROL}","__proto__":{"auto":true,"access":7}}]}`,
  ),
  konst("constructor.prototype payload", '{"constructor":{"prototype":{"polluted":1}},"targets":[]}'),
  konst("invalid UTF-8 in a string", bytes('{"targets":[{"email":"', [0xff, 0xfe], '@x.example"}]}')),
  konst("overlong UTF-8", bytes('{"targets":[{"email":"', [0xc0, 0xaf], '"}]}')),
  konst("UTF-16 body", Buffer.from(JSON.stringify({ targets: [{ _id: BOB }] }), "utf16le")),
  konst("BOM then JSON", `\ufeff${JSON.stringify({ targets: [{ _id: BOB }] })}`),
  konst(
    "150 kB of JSON (declared length)",
    JSON.stringify({ targets: [{ email: `${"x".repeat(150_000)}@x.example` }] }),
  ),
  konst("array nested 50,000 deep", `${"[".repeat(50_000)}${"]".repeat(50_000)}`),
  konst("targets nested 40,000 deep", `{"targets":${"[".repeat(40_000)}${"]".repeat(40_000)}}`),
  konst(
    "target nested 10,000 objects deep",
    `{"targets":[${'{"a":'.repeat(10_000)}{}${"}".repeat(10_000)}]}`,
  ),
  konst("10,000 empty targets", `{"targets":[${Array.from({ length: 10_000 }, () => "{}").join(",")}]}`),
  json("101 targets", {
    targets: Array.from({ length: 101 }, (_, i) => ({ email: `p${i}@outside.example` })),
  }),
  json("100 email targets", {
    targets: Array.from({ length: 100 }, (_, i) => ({ email: `q${i}@outside.example` })),
  }),
  konst(
    "a NUL escape in a name",
    `{"targets":[{"email":"nul@outside.example","name":{"first":"a\\u0000b"}}]}`,
  ),
  konst("a lone surrogate escape", `{"targets":[{"email":"ls@outside.example","name":{"first":"\\ud800"}}]}`),
  json("look-alike emails", { targets: LOOKALIKE_EMAILS.map((email) => ({ email })) }),
  json("SQL emails", { targets: SQL_FRAGMENTS.map((email) => ({ email })) }),
  json("contextSource 100k", { targets: [{ _id: BOB }], contextSource: "s".repeat(90_000) }),
  json("targets not a list", { targets: { _id: BOB } }),
  json("extra top-level key", { targets: [{ _id: BOB }], admin: true }),
  konst("JSON null", "null"),
  konst("JSON number", "1"),
  konst("JSON string", '"targets"'),
  konst("empty body", ""),
  konst("whitespace", "   \n"),
  konst("truncated JSON", '{"targets":[{"_id":'),
  konst("JSON then garbage", '{"targets":[]} trailing'),
  konst("duplicate keys", `{"targets":[],"targets":[{"_id":"${BOB}"}]}`),
];

const bodyArb: fc.Arbitrary<Sym | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 2 },
  {
    arbitrary: fc
      .array(
        fc.oneof(
          fc.record({ _id: fc.constantFrom(...PEOPLE, NOBODY), access: fc.integer({ min: -1, max: 9 }) }),
          fc.record({ email: fc.oneof(fc.emailAddress(), fc.constantFrom(...LOOKALIKE_EMAILS)) }),
          fc.record({ _id: fc.constantFrom(BOB, CAROL), auto: fc.boolean() }),
        ),
        { minLength: 1, maxLength: 4 },
      )
      .map((targets) => json(`targets ${JSON.stringify(targets).slice(0, 80)}`, { targets })),
    weight: 4,
  },
  { arbitrary: fc.constantFrom(...HOSTILE_BODIES), weight: 3 },
  {
    arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => bodyOf(`${b.length} random bytes`, () => b)),
    weight: 1,
  },
  {
    arbitrary: fc.json({ maxDepth: 4 }).map((text) => bodyOf(`json ${text.slice(0, 60)}`, () => text)),
    weight: 1,
  },
);

/** The route families and how each one's path is made. */
const ROUTES: readonly {
  route: string;
  methods: readonly string[];
  segments: fc.Arbitrary<(string | Sym)[]>;
}[] = [
  {
    route: "/connections",
    methods: ["GET"],
    segments: fc.tuple(orgSegArb).map(([o]) => [o, "v2", "connections"]),
  },
  {
    route: "/connections/{idOrToken}",
    methods: ["GET", "POST", "DELETE"],
    segments: fc.tuple(orgSegArb, idOrTokenSegArb).map(([o, t]) => [o, "v2", "connections", t]),
  },
  {
    route: "/{objects}/{id}/connections",
    methods: ["GET", "POST"],
    segments: fc
      .tuple(orgSegArb, objectsSegArb, contextIdSegArb)
      .map(([o, obj, id]) => [o, "v2", obj, id, "connections"]),
  },
  {
    route: "/openapi.json",
    methods: ["GET"],
    segments: fc.tuple(orgSegArb).map(([o]) => [o, "v2", "openapi.json"]),
  },
  {
    route: "other paths",
    methods: ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"],
    segments: fc.array(fc.oneof(orgSegArb, hostileSegmentArb, fc.constantFrom("v2", "connections")), {
      maxLength: 6,
    }),
  },
];

const drawArb: fc.Arbitrary<Draw> = fc
  .tuple(
    fc.constantFrom(...ROUTES),
    fc.nat(),
    fc.constantFrom("GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"),
    fc.boolean(),
    queryArb,
    authArb,
    contentTypeArb,
    bodyArb,
    fc.boolean(),
  )
  .chain(([r, m, odd, useOdd, query, auth, contentType, body, chunked]) =>
    r.segments.map(
      (segments): Draw => ({
        route: r.route,
        // Mostly the route's own methods; sometimes any method at all.
        method: useOdd && m % 5 === 0 ? odd : (r.methods[m % r.methods.length] as string),
        segments,
        query,
        auth,
        contentType,
        body,
        chunked,
      }),
    ),
  );

/** The request on the wire, resolved against the world. */
function toRaw(draw: Draw, pools: Pools): { req: RawRequest; nodeMayRefuse: boolean } {
  const seg = (s: string | Sym) => (typeof s === "string" ? s : String(s(pools)));
  const path = draw.target ?? `/${draw.segments.map(seg).join("/")}${draw.query}`;
  const headers: Record<string, string> = {};
  const auth =
    draw.auth === null ? null : typeof draw.auth === "string" ? draw.auth : String(draw.auth(pools));
  if (auth !== null) headers.authorization = auth;
  if (draw.contentType !== null) headers["content-type"] = draw.contentType;
  const body = draw.body === null ? undefined : (draw.body(pools) as string | Uint8Array);
  const req: RawRequest = { method: draw.method, path, headers };
  if (body !== undefined && draw.method !== "GET" && draw.method !== "HEAD") {
    req.body = body;
    req.chunked = draw.chunked;
  }
  // Requests the Node HTTP layer may answer itself: raw bytes or a backslash in the target, not origin-form, or a
  // request head over node:http's 16 KiB limit.
  const head = path.length + Object.values(headers).reduce((n, v) => n + v.length + 32, 0);
  const nodeMayRefuse = /[\u0080-\u00ff\\]/.test(path) || !path.startsWith("/") || head > 15_000;
  return { req, nodeMayRefuse };
}

// ---------------------------------------------------------------------------------------------------------------
// Checking an answer

const SUCCESS_SCHEMAS = [connectionSchema, connectionListSchema, createResponseSchema, resultSchema] as const;

/** Every rule an answer breaks. */
function answerProblems(
  draw: Draw,
  req: RawRequest,
  res: RawResponse,
  nodeMayRefuse: boolean,
  pools: Pools,
): { problems: string[]; code: string } {
  const problems: string[] = [];
  if (nodeMayRefuse && (res.status === 400 || res.status === 431) && res.text === "") {
    return { problems, code: `node:${res.status}` };
  }
  if (res.status >= 500) problems.push(`a ${res.status} answer`);
  const contentType = String(res.headers["content-type"] ?? "");
  if (!/^application\/json/.test(contentType)) problems.push(`content-type ${JSON.stringify(contentType)}`);
  const pathname = (() => {
    try {
      return new URL(req.path, "http://127.0.0.1").pathname;
    } catch {
      return "";
    }
  })();
  if (/^\/[^/]+\/v2\/./.test(pathname) && res.headers["cache-control"] !== "no-store") {
    problems.push(`no Cache-Control: no-store on ${pathname.slice(0, 80)}`);
  }
  if (
    /"token(Hash|Seal)"/.test(res.text) ||
    [...pools.hashes, ...pools.seals].some((s) => res.text.includes(s))
  ) {
    problems.push("a stored hash or seal in an answer");
  }
  if (draw.method === "HEAD") return { problems, code: res.status === 200 ? "ok" : `head:${res.status}` };
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    problems.push(`a body that is not JSON: ${show(res.text.slice(0, 200))}`);
    return { problems, code: `status:${res.status}` };
  }
  if (res.status === 200) {
    const isOpenApi = typeof (body as { openapi?: unknown })?.openapi === "string";
    if (!isOpenApi && !SUCCESS_SCHEMAS.some((s) => s.safeParse(body).success)) {
      problems.push(`a 200 answer of no documented shape: ${show(body)}`);
    }
    return { problems, code: "ok" };
  }
  const fault = faultSchema.safeParse(body);
  if (!fault.success) {
    problems.push(`a ${res.status} answer that is not a fault: ${show(body)}`);
    return { problems, code: `status:${res.status}` };
  }
  const code = fault.data.errCode as ErrorCode;
  if (ERROR_STATUS[code] !== res.status || fault.data.status !== res.status) {
    problems.push(`status ${res.status} for ${code} (fault says ${fault.data.status})`);
  }
  if (code.startsWith("cortex.error.")) problems.push(`${code} with no failing port`);
  return { problems, code };
}

/** The world's store, deep-copied. */
const snapshot = () => current().snapshot();

/** Sends one drawn request and returns every rule it broke; `fresh` says whether the next request needs a new world. */
async function check(
  draw: Draw,
  source: "catalogue" | "random",
): Promise<{ problems: string[]; dirty: boolean }> {
  const w = current();
  const before = await snapshot();
  const { req, nodeMayRefuse } = toRaw(draw, w.pools);
  const unexpectedBefore = unexpected.length;
  let res: RawResponse;
  try {
    res = await rawRequest(origin(), req);
  } catch (error) {
    tally.record(draw.route, source, "client-error");
    return { problems: [`no answer: ${show(error)}`], dirty: true };
  }
  const { problems, code } = answerProblems(draw, req, res, nodeMayRefuse, w.pools);
  tally.record(draw.route, source, code === "ok" ? null : code);
  const after = await snapshot();
  const failed = res.status !== 200;
  if (failed && !isDeepStrictEqual(before, after)) problems.push("a failed request changed the store");
  if (unexpected.length > unexpectedBefore) {
    problems.push(`the host's error reporter was called: ${show(unexpected.slice(unexpectedBefore))}`);
  }
  const polluted = pollutionProblem(BASELINE);
  if (polluted !== null) problems.push(polluted);
  const label = `${req.method} ${req.path.slice(0, 160)} (${draw.route}; body ${draw.body === null ? "none" : fc.stringify(draw.body)}; auth ${JSON.stringify(req.headers?.authorization ?? null)?.slice(0, 60)}) → ${res.status}`;
  return {
    problems: problems.map((p) => `${label}: ${p}`),
    dirty: !failed || !isDeepStrictEqual(before, after),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The catalogue: every route, with each adversarial class in each place

const base = (route: string, method: string, segments: (string | Sym)[]): Draw => ({
  route,
  method,
  segments,
  query: "",
  auth: `Bearer ${ALICE}`,
  contentType: "application/json",
  body: null,
  chunked: false,
});

function catalogue(): Draw[] {
  const token = sym("liveToken[0]", (p) => p.tokens[0]);
  const routes: Draw[] = [
    base("/connections", "GET", ["acme", "v2", "connections"]),
    base("/connections/{idOrToken}", "GET", ["acme", "v2", "connections", token]),
    base("/connections/{idOrToken}", "POST", ["acme", "v2", "connections", token]),
    base("/connections/{idOrToken}", "DELETE", ["acme", "v2", "connections", token]),
    base("/{objects}/{id}/connections", "GET", ["acme", "v2", "c_patient_files", FILE._id, "connections"]),
    {
      ...base("/{objects}/{id}/connections", "POST", [
        "acme",
        "v2",
        "c_patient_files",
        FILE._id,
        "connections",
      ]),
      body: json("targets: a new email", { targets: [{ email: "new@outside.example" }] }),
    },
    base("/openapi.json", "GET", ["acme", "v2", "openapi.json"]),
  ];
  const draws: Draw[] = [];
  for (const r of routes) {
    // Each hostile segment in each variable slot (org, idOrToken, objects, id).
    const slots = r.segments.flatMap((s, i) =>
      s === "v2" || s === "connections" || s === "openapi.json" ? [] : [i],
    );
    for (const slot of slots) {
      for (const s of [...HOSTILE_SEGMENTS, ...RAW_SEGMENTS, ...TOKEN_MUTANTS]) {
        const segments = [...r.segments];
        segments[slot] = typeof s === "string" ? s : sym(`enc(${fc.stringify(s)})`, (p) => enc(String(s(p))));
        draws.push({ ...r, segments });
      }
    }
    for (const query of HOSTILE_QUERIES) draws.push({ ...r, query });
    for (const auth of [...HOSTILE_AUTH, null]) draws.push({ ...r, auth });
    for (const contentType of [...CONTENT_TYPES, null]) {
      draws.push({ ...r, contentType, body: r.body ?? json("targets: Bob", { targets: [{ _id: BOB }] }) });
    }
    if (r.method !== "GET") {
      for (const body of HOSTILE_BODIES) {
        draws.push({ ...r, body });
        draws.push({ ...r, body, chunked: true });
      }
    }
    for (const method of ["PUT", "PATCH", "OPTIONS", "HEAD", "TRACE"]) draws.push({ ...r, method });
  }
  for (const target of [
    "*",
    "acme/v2/connections",
    "http://127.0.0.1/acme/v2/connections",
    "http://evil.example/acme/v2/connections",
    "//acme/v2/connections",
    "/acme/v2//connections",
    "/acme/v2/connections/",
    "/acme/v2/../v2/connections",
    `/acme/v2/connections/${"a".repeat(20_000)}`,
  ]) {
    draws.push({ ...base("other paths", "GET", []), target });
  }
  return draws;
}

// ---------------------------------------------------------------------------------------------------------------

describe("hostile HTTP at every route of @conn/http", () => {
  it("the catalogue: every route with each hostile segment, query, header, content type, body and method", async () => {
    const problems: string[] = [];
    world = await memoryWorld();
    for (const draw of catalogue()) {
      const { problems: p, dirty } = await check(draw, "catalogue");
      problems.push(...p);
      if (dirty) world = await memoryWorld();
    }
    expect(problems, problems.join("\n")).toEqual([]);
  });

  it(`${RUNS} random hostile requests`, async () => {
    world = await memoryWorld();
    await fc.assert(
      fc.asyncProperty(drawArb, async (draw) => {
        const { problems, dirty } = await check(draw, "random");
        if (dirty) world = await memoryWorld();
        if (problems.length > 0) throw new Error(problems.join("\n"));
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
  });

  it("still answers after all of it, with no unexpected error reported and no prototype polluted", async () => {
    const res = await rawRequest(origin(), { method: "GET", path: "/acme/v2/openapi.json" });
    expect(res.status).toBe(200);
    expect(unexpected).toEqual([]);
    expect(pollutionProblem(BASELINE)).toBeNull();
  });

  afterAll(() => {
    const lines = tally.lines("hostile-http");
    for (const line of lines) console.log(line);
    const totals = [...tally.byKey.values()].reduce((n, f) => n + f.tried, 0);
    const file = writeResults("hostile-http.json", {
      suite: "hostile-http",
      date: new Date().toISOString(),
      node: process.version,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      runsPerProperty: RUNS,
      total: totals,
      routes: tally.toJSON(),
    });
    console.log(`hostile-http: ${totals} requests; figures written to ${file}`);
  });
});
