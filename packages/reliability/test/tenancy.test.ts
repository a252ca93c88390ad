/**
 * Tenancy on the real server: nothing any facade operation does reads or writes another org's rows.
 *
 * (a) A model-based run (fast-check commands) across four orgs that share every account id, email and context id,
 *     so a leak would show: before and after every command all rows of every org are read back with SQL, and the
 *     rows (connections and outbox) of every org but the command's own must be byte-for-byte unchanged; a failed or
 *     read-only command must change nothing at all; every connection a command returns must belong to its org; a
 *     token or id of one org presented in another must fail as unknown. Then the contract suite's own model
 *     (checkFacadeModel, two orgs) runs beside two seeded bystander orgs, with the same diff around every write.
 * (b) Every statement the repository and outbox send, captured during a full story and that model run, is scoped
 *     by org: a statement on `connections` has `org = $n` bound to the calling org, or is an INSERT whose rows all
 *     carry that org; the relay's claim / markDelivered / markFailed bind one org each; dueOrgs / counts read across
 *     orgs by design (read-only, no lock) and are exactly
 *     the exceptions. The distinct statements go to results/tenancy.json.
 */
import { ManualClock } from "@conn/adapter-memory";
import { type Database, PostgresOutbox, type Queryable } from "@conn/adapter-postgres";
import { checkFacadeModel, type World as ModelWorld, type WorldFactory } from "@conn/contract-tests";
import {
  type AccessLevel,
  ConnectionError,
  type Connections,
  type ConnectionTargetInput,
  type ContextRef,
  isConnectionError,
  OutboxRelay,
} from "@conn/core";
import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  buildWorld,
  bump,
  type CapturedStatement,
  CapturingDatabase,
  CountingNotifier,
  collectConnectionIds,
  contextLockKeyOf,
  currentOp,
  describeServer,
  machine,
  openServerDb,
  seededRandom,
  type TestDb,
  type World,
  writeResult,
} from "./support/pg.js";

const ORGS = ["tenant-a", "tenant-b", "tenant-c", "tenant-d"] as const;
const EXPIRY_DAYS = [1, 2, 1, 3] as const;
/** The same accounts (ids and emails) exist in every org; the fourth is not verified. */
const ACCOUNTS = [
  { _id: "5a0000000000000000000a00", email: "ann@tenancy.test", verified: true },
  { _id: "5a0000000000000000000a01", email: "ben@tenancy.test", verified: true },
  { _id: "5a0000000000000000000a02", email: "cy@tenancy.test", verified: true },
  { _id: "5a0000000000000000000a03", email: "dee@tenancy.test", verified: false },
  { _id: "5a0000000000000000000a04", email: "eve@tenancy.test", verified: true },
] as const;
/** Accounts that register during a run; invitations reach their emails first. */
const NEWCOMERS = [
  { _id: "5b0000000000000000000b00", email: "neo@tenancy.test" },
  { _id: "5b0000000000000000000b01", email: "nia@tenancy.test" },
] as const;
/** The same context ids in every org. */
const CONTEXTS: readonly ContextRef[] = [
  { object: "c_file", _id: "5f0000000000000000000f01" },
  { object: "c_file", _id: "5f0000000000000000000f02" },
  { object: "c_memo", _id: "5f0000000000000000000f03" },
];
const EMAILS = [...ACCOUNTS.map((a) => a.email), ...NEWCOMERS.map((a) => a.email)];
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The long run (`CONN_SOAK=1`) runs hundreds of sequences. */
const LONG_TIMEOUT = process.env.CONN_SOAK === "1" ? 1_200_000 : 120_000;

const RUNS = Number(process.env.CONN_TENANCY_RUNS ?? (process.env.CONN_SOAK === "1" ? 200 : 25));
const MODEL_RUNS = Number(process.env.CONN_TENANCY_MODEL_RUNS ?? (process.env.CONN_SOAK === "1" ? 100 : 8));

/** Every org's rows (connections | outbox), as JSON text, by org. */
type Snapshot = Map<string, string>;

/** Every row of both tables, per org, as JSON text (row order fixed by id). */
async function snapshot(t: TestDb): Promise<Snapshot> {
  const { rows } = await t.db.query<{ org: string; c: string | null; o: string | null }>(
    `SELECT org, max(c) AS c, max(o) AS o FROM (
       SELECT org, json_agg(row_to_json(x) ORDER BY x.id)::text AS c, NULL AS o FROM ${t.s}.connections x GROUP BY org
       UNION ALL
       SELECT org, NULL, json_agg(row_to_json(y) ORDER BY y.id)::text FROM ${t.s}.connection_outbox y GROUP BY org
     ) z GROUP BY org`,
  );
  return new Map(rows.map((r) => [r.org, `${r.c ?? "[]"}|${r.o ?? "[]"}`]));
}

/** The connection ids of one org in a snapshot. */
function idsOf(snap: Snapshot, org: string): Set<string> {
  const text = snap.get(org);
  if (text === undefined) return new Set();
  const conns = JSON.parse(text.slice(0, text.indexOf("]|") + 1)) as { id: string }[];
  return new Set(conns.map((c) => c.id));
}

/** Asserts the rows of every org except `org` are unchanged (all orgs when `org` is null). */
function othersUnchanged(before: Snapshot, after: Snapshot, org: string | null, what: string): void {
  for (const o of new Set([...before.keys(), ...after.keys()])) {
    if (o === org) continue;
    if (before.get(o) !== after.get(o)) {
      expect.fail(`${what}: rows of ${o} changed\nbefore: ${before.get(o)}\nafter:  ${after.get(o)}`);
    }
  }
}

function unchanged(before: Snapshot, after: Snapshot, what: string): void {
  othersUnchanged(before, after, null, what);
}

// -------------------------------------------------------------------------------------------------------------
// (a) the multi-org model-based run

interface TokenInfo {
  org: number;
  token: string;
  account: string | null;
  email: string;
}

interface TModel {
  tokens: TokenInfo[];
  /** Connection ids seen, with their org and (when known) creator. */
  ids: { org: number; id: string; creator: string | null }[];
  /** `${org}|${email}` of the newcomers registered so far. */
  registered: Set<string>;
}

interface Real {
  t: TestDb;
  world: World;
  clock: ManualClock;
  relay: OutboxRelay;
  notifier: CountingNotifier;
  stats: Record<string, number>;
}

type Kind =
  | "create"
  | "accept"
  | "reject"
  | "getByToken"
  | "delete"
  | "get"
  | "list"
  | "listForContext"
  | "resolve"
  | "purge"
  | "register"
  | "advance";

const READS = new Set<Kind>(["getByToken", "get", "list", "listForContext", "resolve", "advance"]);

interface TargetSpec {
  kind: "account" | "email";
  who: number;
  access: number | undefined;
  auto: boolean;
}

interface Spec {
  kind: Kind;
  org: number;
  caller: number;
  ctx: number;
  pick: number;
  /** Present the token or id in another org than its own. */
  cross: boolean;
  /** Token commands: anonymous caller (reject, getByToken). Id commands: called by the connection's creator. */
  anonymous: boolean;
  targets: TargetSpec[];
  show: "target" | "creator";
  ms: number;
}

const who = (i: number): string => (ACCOUNTS[i] ?? ACCOUNTS[0])._id;

function targetInput(t: TargetSpec): ConnectionTargetInput {
  const input: ConnectionTargetInput =
    t.kind === "account" ? { _id: who(t.who) } : { email: EMAILS[t.who % EMAILS.length] as string };
  if (t.access !== undefined) input.access = t.access;
  if (t.auto) input.auto = true;
  return input;
}

/** The account that presents a token: its target account, else the newcomer (or account) owning the email. */
function presenter(info: TokenInfo): string {
  if (info.account !== null) return info.account;
  return [...ACCOUNTS, ...NEWCOMERS].find((a) => a.email === info.email)?._id ?? (ACCOUNTS[1]._id as string);
}

const UNKNOWN_TOKEN = "Zz".repeat(22);

/** Builds the call a spec makes, the org it is made in, and the code a cross-org attempt must fail with. */
function plan(
  m: TModel,
  r: Real,
  spec: Spec,
): { org: string | null; label: string; call: () => Promise<unknown>; crossCodes?: string[] } {
  const c = r.world.connections;
  const shifted = (o: number) => (o + 1 + (spec.pick % (ORGS.length - 1))) % ORGS.length;
  switch (spec.kind) {
    case "create": {
      const org = ORGS[spec.org] as string;
      const targets = spec.targets.map(targetInput);
      return {
        org,
        label: `create(${org}, ${who(spec.caller)}, ctx ${spec.ctx}, ${JSON.stringify(targets)})`,
        call: () => c.create({ org, accountId: who(spec.caller) }, CONTEXTS[spec.ctx] as ContextRef, targets),
      };
    }
    case "accept":
    case "reject":
    case "getByToken": {
      // mostly one of the latest tokens (likelier to be live), sometimes any
      const recent = spec.pick % 3 !== 0 ? Math.min(m.tokens.length, 3) : m.tokens.length;
      const info = m.tokens[m.tokens.length - 1 - (spec.pick % Math.max(1, recent))];
      const token = info?.token ?? UNKNOWN_TOKEN;
      const home = info?.org ?? spec.org;
      const o = spec.cross ? shifted(home) : home;
      const org = ORGS[o] as string;
      const account = spec.anonymous && spec.kind !== "accept" ? null : info ? presenter(info) : who(1);
      const principal = { org, accountId: account };
      const label = `${spec.kind}(${org}${spec.cross ? ` with a token of ${ORGS[home]}` : ""}, ${account})`;
      const call =
        spec.kind === "accept"
          ? () => c.accept(principal, token)
          : spec.kind === "reject"
            ? () => c.reject(principal, token)
            : () => c.getByToken(principal, token);
      return spec.cross
        ? // an unknown token, or (accept) a presenter with no account in that org: both say nothing of the token
          {
            org,
            label,
            call,
            crossCodes: ["cortex.invalidArgument.connectionToken", "cortex.accessDenied.notLoggedIn"],
          }
        : { org, label, call };
    }
    case "delete":
    case "get": {
      const recent = spec.pick % 3 !== 0 ? Math.min(m.ids.length, 4) : m.ids.length;
      const target = m.ids[m.ids.length - 1 - (spec.pick % Math.max(1, recent))];
      const id = target?.id ?? "5d0000000000000000000d00";
      const home = target?.org ?? spec.org;
      const o = spec.cross ? shifted(home) : home;
      const org = ORGS[o] as string;
      const caller = spec.anonymous && target?.creator ? target.creator : who(spec.caller);
      const principal = { org, accountId: caller };
      const label = `${spec.kind}(${org}, ${caller}, ${id} of ${ORGS[home]})`;
      const call = spec.kind === "delete" ? () => c.delete(principal, id) : () => c.get(principal, id);
      return spec.cross
        ? { org, label, call, crossCodes: ["cortex.notFound.unspecified"] }
        : { org, label, call };
    }
    case "list": {
      const org = ORGS[spec.org] as string;
      return {
        org,
        label: `list(${org}, ${who(spec.caller)}, ${spec.show})`,
        call: () => c.list({ org, accountId: who(spec.caller) }, { show: spec.show, limit: 1000 }),
      };
    }
    case "listForContext": {
      const org = ORGS[spec.org] as string;
      return {
        org,
        label: `listForContext(${org}, ${who(spec.caller)}, ctx ${spec.ctx})`,
        call: () => c.listForContext({ org, accountId: who(spec.caller) }, CONTEXTS[spec.ctx] as ContextRef),
      };
    }
    case "resolve": {
      const org = ORGS[spec.org] as string;
      return {
        org,
        label: `resolveAccess(${org}, ${who(spec.caller)}, ctx ${spec.ctx})`,
        call: () => c.resolveAccess(org, who(spec.caller), CONTEXTS[spec.ctx] as ContextRef),
      };
    }
    case "purge": {
      // mostly an org that has sent invitations (so some may have expired), sometimes any
      const sent = m.tokens[spec.pick % Math.max(1, m.tokens.length)];
      const org = ORGS[spec.pick % 4 !== 0 && sent !== undefined ? sent.org : spec.org] as string;
      return { org, label: `purgeExpired(${org})`, call: () => c.purgeExpired(org, { batchSize: 2 }) };
    }
    case "register": {
      // mostly a newcomer some org has invited by email (so there is something to bind), sometimes any
      const invited = m.tokens.filter(
        (x) =>
          x.account === null &&
          NEWCOMERS.some((nc) => nc.email === x.email) &&
          !m.registered.has(`${x.org}|${x.email}`),
      );
      const pickd = spec.pick % 4 !== 0 ? invited[spec.pick % Math.max(1, invited.length)] : undefined;
      const org = ORGS[pickd?.org ?? spec.org] as string;
      const newcomer = (NEWCOMERS.find((nc) => nc.email === pickd?.email) ??
        NEWCOMERS[spec.pick % NEWCOMERS.length]) as (typeof NEWCOMERS)[number];
      return {
        org,
        label: `register+bind(${org}, ${newcomer.email})`,
        call: async () => {
          m.registered.add(`${ORGS.indexOf(org as (typeof ORGS)[number])}|${newcomer.email}`);
          r.world.accounts.put(org, { ...newcomer, name: { first: "New" }, verified: true });
          return c.bindRegisteredAccount(org, newcomer._id);
        },
      };
    }
    case "advance":
      return {
        org: null,
        label: `advance(${spec.ms / HOUR}h)`,
        call: async () => r.clock.advance(spec.ms),
      };
  }
}

class TenantCommand implements fc.AsyncCommand<TModel, Real> {
  private label = "";
  constructor(readonly spec: Spec) {}
  check = () => true;

  async run(m: TModel, r: Real): Promise<void> {
    const { spec } = this;
    const { org, label, call, crossCodes } = plan(m, r, spec);
    this.label = label;
    const before = await snapshot(r.t);
    let value: unknown;
    let code = "ok";
    try {
      value = await call();
    } catch (error) {
      if (!isConnectionError(error)) throw error;
      code = error.code;
    }
    const delivered = r.notifier.delivered.length;
    if (spec.kind === "create" && code === "ok") await r.relay.drain();
    const after = await snapshot(r.t);

    // 1. No other org's rows moved.
    othersUnchanged(before, after, org, label);
    // 2. A failed call and a read change nothing at all.
    if (code !== "ok" || READS.has(spec.kind)) unchanged(before, after, `${label} (${code})`);
    // 3. Whatever came back belongs to the org it was asked in.
    const returned = new Set<string>();
    collectConnectionIds(value, returned);
    if (org !== null) {
      const mine = new Set([...idsOf(before, org), ...idsOf(after, org)]);
      for (const id of returned) {
        if (!mine.has(id)) expect.fail(`${label}: returned connection ${id}, which is not a row of ${org}`);
      }
    }
    // 4. A token or id of another org is unknown here.
    if (crossCodes !== undefined) {
      expect(crossCodes, `${label}: presented in another org, got ${code}`).toContain(code);
      bump(r.stats, `cross-org ${spec.kind}: refused`);
    }

    // The model: connection ids seen, and tokens from the notices just delivered.
    const o = org === null ? -1 : ORGS.indexOf(org as (typeof ORGS)[number]);
    const creator = spec.kind === "create" ? who(spec.caller) : null;
    for (const id of returned) if (!m.ids.some((x) => x.id === id)) m.ids.push({ org: o, id, creator });
    for (const notice of r.notifier.delivered.slice(delivered)) {
      if (notice.token === null) continue;
      m.tokens.push({
        org: ORGS.indexOf(notice.org.code as (typeof ORGS)[number]),
        token: notice.token,
        account: notice.recipient.account,
        email: notice.recipient.email,
      });
    }
    const detail =
      spec.kind === "purge" || spec.kind === "register"
        ? `${code === "ok" ? ((value as number) > 0 ? "ok, some rows" : "ok, none") : code}`
        : code;
    bump(r.stats, `${spec.kind}${spec.cross ? " (cross-org)" : ""}: ${detail}`);
    if (code === "ok" && spec.kind === "create") {
      for (const entry of value as { object?: string; errCode?: string }[]) {
        bump(r.stats, `create entry: ${entry.object === "connection" ? "connection" : entry.errCode}`);
      }
    }
  }

  toString(): string {
    return this.label || `${this.spec.kind}(${JSON.stringify(this.spec)})`;
  }
}

const base: Spec = {
  kind: "list",
  org: 0,
  caller: 0,
  ctx: 0,
  pick: 0,
  cross: false,
  anonymous: false,
  targets: [],
  show: "target",
  ms: 0,
};
const orgArb = fc.nat({ max: ORGS.length - 1 });
const callerArb = fc.constantFrom(0, 0, 0, 2, 2, 1, 3, 4);
const ctxArb = fc.nat({ max: CONTEXTS.length - 1 });
const accessArb = fc.option(fc.constantFrom(2, 4, 5, 6), { nil: undefined });
const targetArb: fc.Arbitrary<TargetSpec> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("account" as const),
      who: fc.constantFrom(1, 1, 4, 3, 0, 2),
      access: accessArb,
      auto: fc.constantFrom(false, false, true),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("email" as const),
      // mostly the newcomers' emails (invitations that registration binds later), else an account's
      who: fc.constantFrom(5, 6, 5, 6, 1, 4, 0),
      access: accessArb,
      auto: fc.constant(false),
    }),
  },
);
const cmd = (arb: fc.Arbitrary<Partial<Spec>>) =>
  arb.map((partial) => new TenantCommand({ ...base, ...partial }) as fc.AsyncCommand<TModel, Real>);
const tokenOp = (kind: Kind) =>
  cmd(
    fc.record({
      kind: fc.constant(kind),
      org: orgArb,
      pick: fc.nat(),
      cross: fc.constantFrom(false, false, false, true),
      anonymous: fc.boolean(),
    }),
  );
const idOp = (kind: Kind) =>
  cmd(
    fc.record({
      kind: fc.constant(kind),
      org: orgArb,
      caller: callerArb,
      pick: fc.nat(),
      cross: fc.constantFrom(false, false, true),
      // here: made by the connection's creator when known
      anonymous: fc.constantFrom(true, true, false),
    }),
  );
const createOp = cmd(
  fc.record({
    kind: fc.constant("create" as Kind),
    org: orgArb,
    caller: fc.constantFrom(0, 0, 0, 2, 2, 1, 3),
    ctx: ctxArb,
    targets: fc.array(targetArb, { minLength: 1, maxLength: 3 }),
  }),
);
const commandArbs = [
  createOp,
  createOp,
  createOp,
  tokenOp("accept"),
  tokenOp("accept"),
  tokenOp("reject"),
  tokenOp("getByToken"),
  idOp("delete"),
  idOp("get"),
  cmd(
    fc.record({
      kind: fc.constant("list" as Kind),
      org: orgArb,
      caller: callerArb,
      show: fc.constantFrom("target" as const, "creator" as const),
    }),
  ),
  cmd(
    fc.record({ kind: fc.constant("listForContext" as Kind), org: orgArb, caller: callerArb, ctx: ctxArb }),
  ),
  cmd(fc.record({ kind: fc.constant("resolve" as Kind), org: orgArb, caller: callerArb, ctx: ctxArb })),
  cmd(fc.record({ kind: fc.constant("purge" as Kind), org: orgArb, pick: fc.nat() })),
  cmd(fc.record({ kind: fc.constant("purge" as Kind), org: orgArb, pick: fc.nat() })),
  cmd(fc.record({ kind: fc.constant("register" as Kind), org: orgArb, pick: fc.nat() })),
  cmd(fc.record({ kind: fc.constant("register" as Kind), org: orgArb, pick: fc.nat() })),
  ...[1, 2].map(() =>
    cmd(
      fc.record({
        kind: fc.constant("advance" as Kind),
        ms: fc.constantFrom(HOUR, 12 * HOUR, DAY + 1, 2 * DAY, 4 * DAY),
      }),
    ),
  ),
];

/** The host's grants per org: ann and cy own every context (5..7), the rest get random levels. */
const initArb: fc.Arbitrary<Init> = fc.array(
  fc.record({
    owners: fc.array(fc.constantFrom<number>(5, 6, 7), {
      minLength: 2 * CONTEXTS.length,
      maxLength: 2 * CONTEXTS.length,
    }),
    others: fc.array(fc.constantFrom<number>(0, 0, 2, 4, 5), {
      minLength: ACCOUNTS.length * CONTEXTS.length,
      maxLength: ACCOUNTS.length * CONTEXTS.length,
    }),
  }),
  { minLength: ORGS.length, maxLength: ORGS.length },
);

type Init = { owners: number[]; others: number[] }[];

/**
 * A hand-written sequence run before the random ones, so every run covers each kind of write at least once
 * whatever the seed: invitations in two orgs, accept, a cross-org accept, registration binding an email invitation,
 * an anonymous reject, delete and get by the creator (and across orgs), a token read, then expiry and a purge.
 * (Picks index the model's lists as {@link plan} reads them.)
 */
function exampleSequence(): [Init, fc.AsyncCommand<TModel, Real>[]] {
  const init: Init = ORGS.map(() => ({
    owners: Array.from({ length: 2 * CONTEXTS.length }, () => 7),
    others: Array.from({ length: ACCOUNTS.length * CONTEXTS.length }, () => 0),
  }));
  const ben: TargetSpec = { kind: "account", who: 1, access: 4, auto: false };
  const email = (i: number): TargetSpec => ({ kind: "email", who: i, access: undefined, auto: false });
  const step = (partial: Partial<Spec>) => new TenantCommand({ ...base, ...partial });
  return [
    init,
    [
      step({ kind: "create", org: 0, caller: 0, ctx: 0, targets: [ben, email(5)] }), // tokens: ben@a, neo@a
      step({ kind: "create", org: 1, caller: 0, ctx: 0, targets: [ben, email(6)] }), // + ben@b, nia@b
      step({ kind: "accept", pick: 1 }), // ben@b
      step({ kind: "accept", pick: 3, cross: true }), // ben@a presented in b
      step({ kind: "register", pick: 1 }), // nia in b: binds nia@b
      step({ kind: "reject", pick: 2, anonymous: true }), // neo@a
      step({ kind: "delete", pick: 1, anonymous: true }), // ben's connection in b, by its creator
      step({ kind: "delete", pick: 1, anonymous: true, cross: true }),
      step({ kind: "get", pick: 3, anonymous: true }), // ben's invitation in a
      step({ kind: "get", pick: 3, anonymous: true, cross: true }),
      step({ kind: "getByToken", pick: 3, anonymous: true }), // ben@a
      step({ kind: "getByToken", pick: 3, anonymous: true, cross: true }),
      step({ kind: "reject", pick: 3, anonymous: true, cross: true }),
      step({ kind: "list", org: 1, caller: 1, show: "target" }),
      step({ kind: "listForContext", org: 0, caller: 0, ctx: 0 }),
      step({ kind: "resolve", org: 1, caller: 1, ctx: 0 }),
      step({ kind: "advance", ms: 2 * DAY }),
      step({ kind: "purge", org: 0, pick: 4 }), // ben's expired invitation in a
    ],
  ];
}

function setUpHost(world: World, init: Init): void {
  ORGS.forEach((org, o) => {
    world.orgs.put({
      code: org,
      name: `Org ${org}`,
      pendingConnectionExpiry: EXPIRY_DAYS[o] as number,
      connectionUrl: "https://app.tenancy.test/connections/{token}",
    });
    world.contexts.defineObject(org, { name: "c_file", allowConnections: true, requireAccept: false });
    world.contexts.defineObject(org, { name: "c_memo", allowConnections: true, requireAccept: true });
    for (const a of ACCOUNTS) world.accounts.put(org, { ...a, name: { first: a.email.split("@")[0] } });
    const grants = init[o] as Init[number];
    ACCOUNTS.forEach((a, i) => {
      CONTEXTS.forEach((ctx, c) => {
        const level =
          i === 0
            ? grants.owners[c]
            : i === 2
              ? grants.owners[CONTEXTS.length + c]
              : grants.others[i * CONTEXTS.length + c];
        if ((level ?? 0) > 0) world.contexts.grant(org, a._id, ctx, level as AccessLevel);
      });
      // ann and cy hold Share on every account, so their auto connections go through.
      if (i === 0 || i === 2) {
        for (const t of ACCOUNTS) world.contexts.grant(org, a._id, { object: "account", _id: t._id }, 5);
      }
    });
  });
}

// -------------------------------------------------------------------------------------------------------------
// (b) statement analysis

/** The adapter operation a statement text belongs to. */
const STATEMENT_NAMES: [RegExp, string][] = [
  [/^SELECT access FROM \S+\.connections/, "repository.activeAccess"],
  [/WHERE org = \$1 AND id = \$2 AND \(state = 1 OR/, "repository.findById"],
  [
    /^SELECT id, context_object, context_id FROM \S+\.connections WHERE org = \$1 COLLATE "C" AND token_hash = \$2 COLLATE "C"/,
    "repository.acceptPending (look-up)",
  ],
  [/WHERE org = \$1 COLLATE "C" AND token_hash = \$2 COLLATE "C"/, "repository.findPendingByTokenHash"],
  [/AND target_account = ANY\(\$4::text\[\] COLLATE "C"\) AND state = 1/, "repository.findForCreate"],
  [/^INSERT INTO \S+\.connections .*WHERE state = 0 DO UPDATE/, "repository.savePending"],
  [/^INSERT INTO \S+\.connections .*WHERE state = 1 DO UPDATE/, "repository.saveActive"],
  [
    /^DELETE FROM \S+\.connections AS c WHERE c\.org = \$1 AND c\.state \+ 0 = 0 AND c\.id = ANY/,
    "repository.deleteSuperseded",
  ],
  [
    /^SELECT pg_advisory_xact_lock\(hashtextextended\((?:\$c\$|convert_from\(decode\(')/,
    "repository.lockContext",
  ],
  [
    /^WITH claimed AS \( DELETE FROM \S+\.connections WHERE org = \$1 COLLATE "C" AND id = \$6 AND state \+ 0 = 0/,
    "repository.acceptPending",
  ],
  [
    /^WITH locked AS MATERIALIZED \(SELECT pg_advisory_xact_lock\(hashtextextended\(\$4, 0\)\)\) DELETE FROM \S+\.connections WHERE org = \$1 AND id = \$2 AND state \+ 0 = 0/,
    "repository.claimPending",
  ],
  [/^DELETE FROM \S+\.connections WHERE org = \$1 AND id = \$2 RETURNING/, "repository.deleteById"],
  [
    /^SELECT .* FROM \S+\.connections WHERE org = \$1 AND access_expires_at > \$2 AND access_expires_at <= \$3/,
    "repository.findEndingGrants",
  ],
  [
    /^UPDATE \S+\.connections SET access_end_noticed = access_expires_at WHERE org = \$1/,
    "repository.markEndNoticed",
  ],
  [/^UPDATE \S+\.connections SET target_account/, "repository.bindEmail"],
  [
    /^SELECT id FROM \S+\.connections WHERE org = \$1 AND state = 0 AND expires_at <= \$2/,
    "repository.purgeExpired (pick)",
  ],
  [
    /^SELECT id FROM \S+\.connections WHERE org = \$1 AND access_expires_at <= \$2/,
    "repository.purgeExpiredGrants (pick)",
  ],
  [/^DELETE FROM \S+\.connections WHERE org = \$1 AND id = ANY/, "repository.purgeExpired (delete)"],
  [
    /^SELECT .* FROM \S+\.connections WHERE org = \$1 AND \(state = 1 OR expires_at > \$2\) AND/,
    "repository.list",
  ],
  [/^INSERT INTO \S+\.connection_outbox/, "outbox.enqueue"],
  [/^UPDATE \S+\.connection_outbox AS o SET lease_until/, "outbox.claim"],
  [/^SELECT org FROM \( SELECT org, available_at, seq FROM \S+\.connection_outbox/, "outbox.dueOrgs"],
  [/^UPDATE \S+\.connection_outbox SET status = 'delivered'/, "outbox.markDelivered"],
  [/^UPDATE \S+\.connection_outbox SET attempts = attempts \+ 1/, "outbox.markFailed"],
  [/^SELECT status, count\(\*\)::int AS n FROM \S+\.connection_outbox/, "outbox.counts"],
];

/**
 * The statements that read across orgs by design (documented in the adapter README and docs/scaling.md): read-only,
 * lock-free, returning org codes or counts. Every other outbox statement names one org.
 */
const GLOBAL_BY_DESIGN = ["outbox.counts", "outbox.dueOrgs"];

interface StatementRow {
  name: string;
  scope: string;
  count: number;
  ops: string[];
  sql: string;
}

/**
 * Checks each captured statement's org scoping and folds them into distinct normalized statements. Returns the
 * rows and the problems found (empty when every statement is scoped as it must be).
 */
function analyse(
  statements: readonly CapturedStatement[],
  schema: string,
): { rows: StatementRow[]; problems: string[] } {
  const problems: string[] = [];
  const distinct = new Map<string, StatementRow>();
  for (const st of statements) {
    const sql = st.text.split(`"${schema}"`).join("<schema>").replace(/\s+/g, " ").trim();
    const name = STATEMENT_NAMES.find(([re]) => re.test(sql))?.[1] ?? "unknown";
    const onConnections = /<schema>\.connections\b/.test(sql);
    const onOutbox = /<schema>\.connection_outbox\b/.test(sql);
    const org = st.tag?.org ?? null;
    const where = `${name} in ${st.tag?.op ?? "no operation"}`;
    let scope: string;
    if (name === "unknown") problems.push(`an unrecognised statement: ${sql.slice(0, 200)}`);
    // A context's advisory lock is keyed by a hash of [org, object, id]: the key must name the caller's org.
    const key = contextLockKeyOf(sql, st.params);
    if (key !== undefined) {
      if (key[0] !== org)
        problems.push(`${where}: a context lock of org ${String(key[0])} in a call of ${org}`);
    }
    if (/^INSERT INTO/.test(sql)) {
      // a batch insert: every row it carries must be of the calling org
      scope = "INSERT: every row carries the caller's org";
      const rows = JSON.parse(String(st.params[0])) as { org?: unknown }[];
      if (org === null) problems.push(`${where}: sent outside any org's operation`);
      for (const row of rows) {
        if (row.org !== org) problems.push(`${where}: a row of org ${String(row.org)} in a call of ${org}`);
      }
      if (onConnections && !/ON CONFLICT \(org, /.test(sql))
        problems.push(`${where}: conflict key without org`);
    } else if (onConnections || (onOutbox && !GLOBAL_BY_DESIGN.includes(name))) {
      scope = "org = $n, bound to the caller's org";
      const bound = [...sql.matchAll(/\b(?:[a-z]\.)?org = \$(\d+)/g)].map((mm) => Number(mm[1]));
      if (bound.length === 0) problems.push(`${where}: no org predicate: ${sql.slice(0, 200)}`);
      // The relay serves every org, one org per statement: its statements bind one org, whichever it is.
      const relay = st.tag?.op === "relay";
      if (org === null && !relay) problems.push(`${where}: sent outside any org's operation`);
      if (relay && new Set(bound.map((i) => st.params[i - 1])).size > 1)
        problems.push(`${where}: binds two orgs`);
      for (const index of relay ? [] : bound) {
        if (st.params[index - 1] !== org) {
          problems.push(
            `${where}: org = $${index} is ${String(st.params[index - 1])}, the caller's org is ${org}`,
          );
        }
      }
      if (onConnections && onOutbox) problems.push(`${where}: joins connections and the outbox`);
    } else if (name === "repository.lockContext") {
      scope = "advisory lock keyed by the caller's org";
    } else if (onOutbox) {
      scope = "global by design (one relay serves every org)";
      if (onConnections) problems.push(`${where}: a global outbox statement touches connections`);
    } else {
      scope = "no table";
      problems.push(`${where}: touches neither table: ${sql.slice(0, 120)}`);
    }
    if (st.tag !== undefined && READ_OPS.has(st.tag.op) && !/^SELECT/.test(sql)) {
      problems.push(`${where}: a read operation sent a write: ${sql.slice(0, 120)}`);
    }
    const row = distinct.get(sql) ?? { name, scope, count: 0, ops: [], sql };
    row.count++;
    const op = st.tag?.op ?? "none";
    if (!row.ops.includes(op)) row.ops.push(op);
    distinct.set(sql, row);
  }
  const rows = [...distinct.values()].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : b.count - a.count,
  );
  return { rows, problems: [...new Set(problems)] };
}

const READ_OPS = new Set(["list", "listForContext", "get", "getByToken", "resolveAccess"]);
const WRITE_OPS = new Set([
  "create",
  "accept",
  "reject",
  "delete",
  "bindRegisteredAccount",
  "purgeExpired",
  "queueAccessEndingNotices",
]);

/** The org a facade call is made in: the principal's, or the first argument when it is an org code. */
function orgOfCall(args: readonly unknown[]): string | null {
  const first = args[0];
  if (typeof first === "string") return first;
  if (typeof first === "object" && first !== null && typeof (first as { org?: unknown }).org === "string") {
    return (first as { org: string }).org;
  }
  return null;
}

/**
 * Wraps the facade: each call runs tagged with its org (for the statement capture) and, for writes, between two
 * snapshots of every org's rows — only the caller's org may change, and nothing at all when the call failed.
 */
function guardFacade(inner: Connections, t: TestDb, stats: Record<string, number>): Connections {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function" || typeof prop !== "string") return value;
      return async (...args: unknown[]) => {
        const org = orgOfCall(args);
        const call = () =>
          currentOp.run({ op: prop, org }, () =>
            (value as (...a: unknown[]) => Promise<unknown>).apply(target, args),
          );
        if (!WRITE_OPS.has(prop)) return call();
        const before = await snapshot(t);
        try {
          const result = await call();
          othersUnchanged(before, await snapshot(t), org, `${prop} in ${org}`);
          bump(stats, `model ${prop}: ok`);
          return result;
        } catch (error) {
          unchanged(before, await snapshot(t), `${prop} in ${org} failed`);
          bump(stats, `model ${prop}: ${isConnectionError(error) ? error.code : "other"}`);
          throw error;
        }
      };
    },
  });
}

// The contract model's account and context ids (facade-model.ts): the bystanders use the very same ones.
const MODEL_OWNER = "5a0000000000000000000a00";
const MODEL_TARGET = "5a0000000000000000000a01";
const MODEL_CONTEXTS: ContextRef[] = [
  { object: "c_file", _id: "5f0000000000000000000f01" },
  { object: "c_memo", _id: "5f0000000000000000000f03" },
];
const BYSTANDERS = ["bystander-c", "bystander-d"];

/** Seeds a bystander org with pending, email and active connections on the contract model's own ids. */
async function seedBystander(world: World, org: string): Promise<void> {
  world.orgs.put({ code: org, name: org, pendingConnectionExpiry: 1 });
  world.contexts.defineObject(org, { name: "c_file", allowConnections: true, requireAccept: false });
  world.contexts.defineObject(org, { name: "c_memo", allowConnections: true, requireAccept: true });
  world.accounts.put(org, { _id: MODEL_OWNER, email: "ann@model.test", name: {}, verified: true });
  world.accounts.put(org, { _id: MODEL_TARGET, email: "ben@model.test", name: {}, verified: true });
  world.contexts.grant(org, MODEL_OWNER, { object: "account", _id: MODEL_TARGET }, 5);
  for (const ctx of MODEL_CONTEXTS) world.contexts.grant(org, MODEL_OWNER, ctx, 7);
  const owner = { org, accountId: MODEL_OWNER };
  await world.connections.create(owner, MODEL_CONTEXTS[0] as ContextRef, [
    { _id: MODEL_TARGET, auto: true, access: 4 },
    { email: "neo@model.test" },
  ]);
  await world.connections.create(owner, MODEL_CONTEXTS[1] as ContextRef, [
    { _id: MODEL_TARGET },
    { email: "nia@model.test" },
  ]);
}

/** A fresh facade (over `db`, calls tagged with their org), host, clock, relay and notifier for one sequence. */
function newReal(t: TestDb, db: Database, init: Init, stats: Record<string, number>): Real {
  const clock = new ManualClock("2026-03-01T00:00:00.000Z");
  const world = buildWorld(db, t.schema, clock);
  world.connections = tagged(world.connections);
  setUpHost(world, init);
  const notifier = new CountingNotifier();
  const relay = new OutboxRelay({
    outbox: t.uow.outbox,
    notifier,
    tokens: world.tokens,
    clock,
    random: seededRandom(1),
  });
  return { t, world, clock, relay, notifier, stats };
}

/**
 * A deliberately broken adapter for the self-test: `findById` and `deleteById` lose their org predicate (`org = $1`
 * becomes `$1 IS NOT NULL`), as a careless edit of the SQL would.
 */
class LeakyDatabase implements Database {
  constructor(private readonly inner: Database) {}
  get engine() {
    return this.inner.engine;
  }
  private leak(text: string): string {
    return text.replace(/WHERE org = \$1 AND id = \$2/, "WHERE $1::text IS NOT NULL AND id = $2");
  }
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return this.inner.query<R>(this.leak(text), params);
  }
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.inner.transaction((tx) =>
      work({ query: (text, params) => tx.query(this.leak(text), params) }),
    );
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describeServer("tenancy on the server: no operation crosses orgs", () => {
  let t: TestDb;
  const stats: Record<string, number> = {};
  const figures: Record<string, unknown> = {};
  let captured: CapturingDatabase;

  beforeAll(async () => {
    t = await openServerDb("tenancy", 6);
    captured = new CapturingDatabase(t.db);
  });

  afterAll(async () => {
    await t?.drop();
  });

  it(
    `${RUNS} random sequences over ${ORGS.length} orgs: every command changes only its own org's rows`,
    async () => {
      const started = Date.now();
      let commands = 0;
      let sequences = 0;
      await fc.assert(
        fc.asyncProperty(
          initArb,
          fc.commands(commandArbs, { maxCommands: 40, size: "medium" }),
          async (init, cmds) => {
            await t.reset();
            // through the capturing database, each call tagged with its org: these statements are analysed too
            const real = newReal(t, captured, init, stats);
            const model: TModel = { tokens: [], ids: [], registered: new Set() };
            await fc.asyncModelRun(() => ({ model, real }), cmds);
            commands += [...cmds].length;
            sequences++;
          },
        ),
        { numRuns: RUNS, includeErrorInReport: true, examples: [exampleSequence()] },
      );
      figures.multiOrgRun = {
        orgs: [...ORGS],
        sequences,
        firstIsHandWritten: true,
        commands,
        seconds: (Date.now() - started) / 1000,
        outcomes: Object.fromEntries(Object.entries(stats).sort()),
      };
      if (process.env.CONN_FC_STATS === "1") console.log(figures.multiOrgRun);
      // The run must really have exercised what it claims to check.
      const seen = (prefix: string) =>
        Object.entries(stats).some(([key, count]) => key.startsWith(prefix) && count > 0);
      for (const prefix of [
        "create: ok",
        "accept: ok",
        "reject: ok",
        "delete: ok",
        "get: ok",
        "getByToken: ok",
        "purge: ok, some rows",
        "register: ok, some rows",
        "cross-org accept: refused",
        "cross-org reject: refused",
        "cross-org delete: refused",
        "cross-org get: refused",
      ]) {
        expect(seen(prefix), `the run never saw "${prefix}"`).toBe(true);
      }
    },
    LONG_TIMEOUT,
  );

  it("the checks have teeth: an adapter whose findById / deleteById lost `org = $1` is caught by the diff and by the statement check", async () => {
    await t.reset();
    const capture = new CapturingDatabase(t.db);
    const leaky = new LeakyDatabase(capture);
    const [init, steps] = exampleSequence();
    const real = newReal(t, leaky, init, {});
    const model: TModel = { tokens: [], ids: [], registered: new Set() };
    let caught = "";
    try {
      for (const step of steps) await step.run(model, real);
    } catch (error) {
      caught = String(error);
    }
    // the cross-org get returns another org's connection, or the cross-org delete removes one
    expect(caught).toMatch(
      /returned connection \w+, which is not a row of|rows of tenant-\w changed|presented in another org/,
    );
    const { problems } = analyse(capture.statements, t.schema);
    expect(problems.some((p) => /no org predicate/.test(p))).toBe(true);
    figures.selfTest = {
      brokenAdapterCaughtBy: caught.split("\n")[0],
      statementProblems: problems.slice(0, 3),
    };
  });

  it(
    "the contract model (checkFacadeModel) beside two bystander orgs, and a full story: every statement is scoped by org",
    async () => {
      const started = Date.now();
      const modelStats: Record<string, number> = {};
      let bystanderRows = "";
      const factory: WorldFactory = {
        async setup(): Promise<ModelWorld> {
          await t.reset();
          const clock = new ManualClock();
          const world = buildWorld(captured, t.schema, clock);
          for (const org of BYSTANDERS)
            await currentOp.run({ op: "create", org }, () => seedBystander(world, org));
          const snap = await snapshot(t);
          bystanderRows = BYSTANDERS.map((o) => snap.get(o)).join("\n");
          return {
            connections: guardFacade(world.connections, t, modelStats),
            clock,
            addOrg: (settings) => void world.orgs.put(settings),
            addAccount: (org, account) => void world.accounts.put(org, account),
            defineObject: (org, settings) => void world.contexts.defineObject(org, settings),
            grantHostAccess: (org, account, context, level) =>
              world.contexts.grant(org, account, context, level),
          };
        },
        async teardown() {
          const snap = await snapshot(t);
          expect(BYSTANDERS.map((o) => snap.get(o)).join("\n"), "the bystander orgs' rows").toBe(
            bystanderRows,
          );
        },
      };
      await checkFacadeModel(factory, { numRuns: MODEL_RUNS, maxCommands: 16 });
      const modelSeconds = (Date.now() - started) / 1000;

      // A full story through the capturing database, including the relay and a notifier that fails once.
      await t.reset();
      const storyStats = await story(captured, t);
      expect(storyStats.endingNoticed, "the story's grant noticed once by two sweeps").toBe(1);

      const { rows, problems } = analyse(captured.statements, t.schema);
      const names = new Set(rows.map((r) => r.name));
      const globals = [
        ...new Set(rows.filter((r) => r.scope.startsWith("global")).map((r) => r.name)),
      ].sort();
      writeResult("tenancy", {
        machine: machine(),
        ...figures,
        contractModel: {
          orgs: ["model-org-a", "model-org-b", ...BYSTANDERS],
          sequences: MODEL_RUNS,
          seconds: modelSeconds,
          writesChecked: Object.fromEntries(Object.entries(modelStats).sort()),
        },
        story: storyStats,
        statements: {
          captured: captured.statements.length,
          distinct: rows.length,
          globalByDesign: globals,
          problems,
          list: rows,
        },
      });
      expect(problems).toEqual([]);
      expect(globals).toEqual(GLOBAL_BY_DESIGN);
      // every repository and outbox operation was seen at least once
      for (const [, name] of STATEMENT_NAMES) expect(names.has(name), `${name} never sent`).toBe(true);
    },
    LONG_TIMEOUT,
  );
});

/**
 * Every facade operation once or more, in two orgs, through the capturing database: create (pending, email, auto),
 * relay delivery (one failure, then success), lists, reads, accept, reject, delete, registration, an access-ending
 * sweep, expiry and purge.
 */
async function story(db: CapturingDatabase, t: TestDb): Promise<Record<string, unknown>> {
  const clock = new ManualClock("2026-05-01T00:00:00.000Z");
  const world = buildWorld(db, t.schema, clock);
  const notifier = new CountingNotifier();
  notifier.behaviour = (_notice, call) =>
    call === 1
      ? new ConnectionError("cortex.error.unspecified", { retryable: true, message: "provider down" })
      : null;
  const outbox = new PostgresOutbox(db, { schema: t.schema });
  const relay = new OutboxRelay(
    { outbox, notifier, tokens: world.tokens, clock, random: seededRandom(2) },
    { baseDelayMs: 1, maxDelayMs: 1 },
  );
  const c = tagged(world.connections);
  const [ann, ben, cy] = [ACCOUNTS[0]._id, ACCOUNTS[1]._id, ACCOUNTS[2]._id];
  for (const org of ["story-a", "story-b"]) {
    world.orgs.put({
      code: org,
      name: org,
      pendingConnectionExpiry: 1,
      connectionUrl: "https://app.story.test/{token}",
    });
    world.contexts.defineObject(org, { name: "c_file", allowConnections: true, requireAccept: false });
    for (const a of ACCOUNTS) world.accounts.put(org, { ...a, name: {} });
    for (const ctx of CONTEXTS) world.contexts.grant(org, ann, ctx, 7);
    world.contexts.grant(org, ann, { object: "account", _id: cy }, 5);
  }
  const ctx = CONTEXTS[0] as ContextRef;
  const other = CONTEXTS[1] as ContextRef;
  for (const org of ["story-a", "story-b"]) {
    const owner = { org, accountId: ann };
    await c.create(owner, ctx, [
      { _id: ben, access: 4 },
      { email: NEWCOMERS[0].email },
      { _id: cy, auto: true },
    ]);
    await c.create(owner, other, [{ _id: ben }, { email: NEWCOMERS[1].email }]);
  }
  await currentOp.run({ op: "relay", org: null }, async () => {
    await relay.drain();
    clock.advance(1_000);
    await relay.drain();
    await relay.drain();
  });
  const org = "story-a";
  const asBen = { org, accountId: ben };
  const mine = await c.list(asBen, { show: "target" });
  await c.list({ org, accountId: ann }, { show: "creator", state: 0, objects: ["c_file"], limit: 2 });
  const page = await c.list({ org, accountId: ann }, { show: "creator", limit: 1 });
  await c.list({ org, accountId: ann }, { show: "creator", endingBefore: page.data[0]?._id as string });
  await c.listForContext({ org, accountId: ann }, ctx);
  const tokens = mine.data.map((v) => v.token).filter((x): x is string => typeof x === "string");
  await c.getByToken({ org, accountId: null }, tokens[0] as string);
  const accepted = await c.accept(asBen, tokens[0] as string);
  await c.get(asBen, accepted._id);
  await c.reject({ org, accountId: null }, tokens[1] as string);
  await c.resolveAccess(org, ben, ctx);
  await c.delete({ org, accountId: ann }, accepted._id);
  world.accounts.put(org, { ...NEWCOMERS[0], name: {}, verified: true });
  const bound = await c.bindRegisteredAccount(org, NEWCOMERS[0]._id);
  // A grant to cy that ends within the lead time: the sweep queues its two access-ending notices, once.
  await c.create({ org, accountId: ann }, other, [{ _id: cy, auto: true, accessDays: 1 }]);
  const endingNoticed = (await c.queueAccessEndingNotices(org)) + (await c.queueAccessEndingNotices(org));
  clock.advance(2 * DAY);
  const purged = await c.purgeExpired(org);
  const counts = await currentOp.run({ op: "relay", org: null }, () => outbox.counts());
  return {
    notices: notifier.delivered.length,
    failedOnce: notifier.calls - notifier.delivered.length,
    bound,
    endingNoticed,
    purged,
    outbox: counts,
  };
}

/** Tags every facade call with its org, for the statement capture. */
function tagged(inner: Connections): Connections {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function" || typeof prop !== "string") return value;
      return (...args: unknown[]) =>
        currentOp.run({ op: prop, org: orgOfCall(args) }, () =>
          (value as (...a: unknown[]) => Promise<unknown>).apply(target, args),
        );
    },
  });
}
