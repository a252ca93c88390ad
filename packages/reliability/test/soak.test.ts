/**
 * A bounded soak: many concurrent clients doing random facade operations over several orgs against the real server
 * (and, shorter, embedded PGlite), with the outbox relay running beside them; then the invariants, checked in SQL and
 * through the facade:
 *
 * - at most one active connection per (org, context, account), one pending per (org, context, creator, target);
 * - no pending row past its expiry is visible through the facade (get, list, getByToken), and a purge removes them;
 * - after a final relay drain every outbox row is delivered (exactly once per idempotency key) or dead-lettered with
 *   its reason;
 * - no orphan or partial row (pending without token hash or expiry, active with token material or without account,
 *   a row without its notice, a notice about a connection that never existed).
 *
 * Two races the soak ran into are also forced on purpose (two accepts of one target; a re-invitation racing an
 * accept), and their end states compared with what a serial order gives.
 *
 * Bounded in count and time, loopback only. Default ~20 s in all (≤ 8 clients); `CONN_SOAK=1` runs ~5 min with more
 * clients. Figures go to results/soak.json (soak-long.json) and a summary line is printed.
 */

import { randomBytes } from "node:crypto";
import type { ConnectionTargetInput, ContextRef, Notice } from "@conn/core";
import { isConnectionError, OutboxRelay } from "@conn/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildWorld,
  bump,
  CountingNotifier,
  causeText,
  checkInvariants,
  clean,
  collectConnectionIds,
  describeServer,
  eventIds,
  FastClock,
  LONG,
  machine,
  openPgliteDb,
  openServerDb,
  SlowDatabase,
  seeded,
  seededRandom,
  sleep,
  type TestDb,
  type World,
  writeResult,
} from "./support/pg.js";

const ORGS = ["soak-a", "soak-b", "soak-c"];
const randomHex = (): string => randomBytes(12).toString("hex");
const ACCOUNTS = Array.from({ length: 10 }, (_, i) => ({
  _id: `5a00000000000000000000${i.toString(16).padStart(2, "0")}`,
  email: `user${i}@soak.test`,
  name: { first: `User${i}` },
  verified: i !== 9,
}));
const NEWCOMERS = Array.from({ length: 4 }, (_, i) => ({
  _id: `5b00000000000000000000${i.toString(16).padStart(2, "0")}`,
  email: `newcomer${i}@soak.test`,
}));
const CONTEXTS: ContextRef[] = [
  ...Array.from({ length: 5 }, (_, i) => ({ object: "c_file", _id: `5f00000000000000000000${i}0` })),
  ...Array.from({ length: 3 }, (_, i) => ({ object: "c_memo", _id: `5f00000000000000000000${i}1` })),
];

/** What one soak run does. */
interface SoakPlan {
  engine: "postgres" | "pglite";
  clients: number;
  durationMs: number;
  maxOps: number;
  seed: number;
}

const SERVER_PLAN: SoakPlan = {
  engine: "postgres",
  clients: LONG ? 24 : 8,
  durationMs: LONG ? 300_000 : 8_000,
  maxOps: LONG ? 5_000_000 : 60_000,
  seed: 20261129,
};
const PGLITE_PLAN: SoakPlan = {
  engine: "pglite",
  clients: LONG ? 8 : 4,
  durationMs: LONG ? 60_000 : 3_000,
  maxOps: LONG ? 1_000_000 : 20_000,
  seed: 20261130,
};

/** A token some target received in a notice. */
interface Held {
  org: string;
  token: string;
  account: string | null;
  email: string;
  connectionId: string;
}

/** Live figures of one run. */
interface Tally {
  ops: Record<string, number>;
  outcomes: Record<string, number>;
  errorsByCode: Record<string, number>;
  unexpected: string[];
  latencies: Record<string, number[]>;
  races: { runs: number; winners: Record<string, number> };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

function setUpHost(world: World, seed: number): void {
  const rng = seeded(seed);
  for (const org of ORGS) {
    world.orgs.put({
      code: org,
      name: `Soak ${org}`,
      pendingConnectionExpiry: 1,
      connectionUrl: "https://app.soak.test/invite/{token}",
    });
    world.contexts.defineObject(org, { name: "c_file", allowConnections: true, requireAccept: false });
    world.contexts.defineObject(org, { name: "c_memo", allowConnections: true, requireAccept: true });
    for (const a of ACCOUNTS) world.accounts.put(org, a);
    ACCOUNTS.forEach((a, i) => {
      for (const ctx of CONTEXTS) {
        const level = i < 2 ? 7 : i < 4 ? 5 : ([0, 0, 2, 4] as const)[Math.floor(rng() * 4)];
        if (level !== undefined && level > 0) world.contexts.grant(org, a._id, ctx, level);
      }
      if (i < 4)
        for (const b of ACCOUNTS) world.contexts.grant(org, a._id, { object: "account", _id: b._id }, 5);
    });
  }
}

/** Runs one soak on `t` and checks everything; returns the figures. */
async function soak(t: TestDb, plan: SoakPlan): Promise<Record<string, unknown>> {
  // One day of the facade's time passes in ~40 % of the run, so invitations expire while it runs.
  const speed = Math.round(86_400_000 / (plan.durationMs * 0.4));
  const clock = new FastClock(Date.parse("2026-06-01T00:00:00.000Z"), speed);
  const world = buildWorld(t.db, t.schema, clock);
  setUpHost(world, plan.seed);
  const realMs = (ms: number) => Math.round(ms * speed);

  const notifier = new CountingNotifier();
  const failures = seeded(plan.seed + 1);
  const held: Held[] = [];
  notifier.behaviour = (notice: Notice) => {
    if (failures() < 0.05) return new Error("provider hiccup (transient)");
    if (notice.token !== null) {
      held.push({
        org: notice.org.code,
        token: notice.token,
        account: notice.recipient.account,
        email: notice.recipient.email,
        connectionId: notice.connectionId,
      });
      if (held.length > 4_000) held.splice(0, 1_000);
    }
    return null;
  };
  const relayOptions = {
    leaseMs: realMs(10_000),
    sendTimeoutMs: realMs(2_000),
    leaseMarginMs: realMs(1_000),
    idleMs: realMs(20),
    baseDelayMs: realMs(20),
    maxDelayMs: realMs(200),
    batchSize: 50,
  };
  const relays = [1, 2].map(
    (seed) =>
      new OutboxRelay(
        { outbox: t.uow.outbox, notifier, tokens: world.tokens, clock, random: seededRandom(seed) },
        relayOptions,
      ),
  );
  const relayErrors: string[] = [];
  for (const r of relays) r.start((e) => relayErrors.push(String(e)));

  const known = new Set<string>();
  const ids: { org: string; id: string; creator: string; target: string | null }[] = [];
  const registered = new Set<string>();
  const tally: Tally = {
    ops: {},
    outcomes: {},
    errorsByCode: {},
    unexpected: [],
    latencies: {},
    races: { runs: 0, winners: {} },
  };
  const c = world.connections;

  async function timed(kind: string, call: () => Promise<unknown>): Promise<unknown> {
    const started = performance.now();
    let code = "ok";
    let value: unknown;
    try {
      value = await call();
      collectConnectionIds(value, known);
    } catch (error) {
      if (!isConnectionError(error)) {
        tally.unexpected.push(`${kind}: ${String(error)}`);
        code = "not a ConnectionError";
      } else {
        code = error.code;
        // No fault is injected here: an infrastructure error, or a create refused as a whole with the per-target
        // code connectionExists (docs/behaviour.md §5 lists it per target only), is a finding.
        if (
          code.startsWith("cortex.error.") ||
          (kind === "create" && code === "cortex.conflict.connectionExists")
        ) {
          tally.unexpected.push(`${kind}: ${code}: ${causeText(error)} (retryable ${error.retryable})`);
        }
      }
      bump(tally.errorsByCode, code);
    }
    const latencies = tally.latencies[kind] ?? [];
    latencies.push(performance.now() - started);
    tally.latencies[kind] = latencies;
    bump(tally.ops, kind);
    bump(tally.outcomes, `${kind}: ${code}`);
    return code === "ok" ? value : undefined;
  }

  const presenter = (h: Held): string | null => {
    if (h.account !== null) return h.account;
    const nc = NEWCOMERS.find((x) => x.email === h.email);
    return nc !== undefined && registered.has(`${h.org}|${nc._id}`) ? nc._id : null;
  };

  async function step(rng: () => number): Promise<void> {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;
    const recent = <T>(xs: readonly T[]): T | undefined =>
      xs.length === 0
        ? undefined
        : rng() < 0.7
          ? xs[xs.length - 1 - Math.floor(rng() * Math.min(xs.length, 20))]
          : pick(xs);
    const org = pick(ORGS);
    const roll = rng() * 100;
    if (roll < 24) {
      const caller = pick([0, 0, 1, 1, 2, 3, 4, 9]);
      const ctx = pick(CONTEXTS);
      const targets: ConnectionTargetInput[] = [];
      for (let i = 0, n = 1 + Math.floor(rng() * 4); i < n; i++) {
        const access = pick([undefined, 2, 4, 5, 6]);
        if (rng() < 0.35) {
          const email = rng() < 0.6 ? pick(NEWCOMERS).email : pick(ACCOUNTS).email;
          targets.push(access === undefined ? { email } : { email, access });
        } else {
          const target = ACCOUNTS[2 + Math.floor(rng() * 8)] as (typeof ACCOUNTS)[number];
          const t: ConnectionTargetInput = { _id: target._id };
          if (access !== undefined) t.access = access;
          if (ctx.object === "c_file" && rng() < 0.25) t.auto = true;
          targets.push(t);
        }
      }
      const creator = (ACCOUNTS[caller] as (typeof ACCOUNTS)[number])._id;
      const result = (await timed("create", () => c.create({ org, accountId: creator }, ctx, targets))) as
        | { object?: string; _id?: string; target?: { account?: { _id: string } } }[]
        | undefined;
      for (const e of result ?? []) {
        if (e.object === "connection" && e._id !== undefined) {
          ids.push({ org, id: e._id, creator, target: e.target?.account?._id ?? null });
          if (ids.length > 4_000) ids.splice(0, 1_000);
        }
      }
    } else if (roll < 38) {
      const h = recent(held);
      const who = h === undefined ? null : presenter(h);
      if (h === undefined || who === null) return;
      const caller = rng() < 0.1 ? pick(ACCOUNTS)._id : who;
      await timed("accept", () => c.accept({ org: h.org, accountId: caller }, h.token));
    } else if (roll < 41) {
      // several accepts of one token at once: at most one performs the transition
      const h = recent(held);
      const who = h === undefined ? null : presenter(h);
      if (h === undefined || who === null) return;
      const results = await Promise.all(
        [1, 2, 3].map(() =>
          timed("accept (race of 3)", () => c.accept({ org: h.org, accountId: who }, h.token)),
        ),
      );
      const winners = results.filter((r) => r !== undefined).length;
      tally.races.runs++;
      bump(tally.races.winners, String(winners));
      if (winners > 1) tally.unexpected.push(`race: ${winners} accepts of one token succeeded`);
    } else if (roll < 47) {
      const h = recent(held);
      if (h === undefined) return;
      const who = rng() < 0.5 ? null : presenter(h);
      await timed("reject", () => c.reject({ org: h.org, accountId: who }, h.token));
    } else if (roll < 54) {
      const x = recent(ids);
      if (x === undefined) return;
      const caller =
        rng() < 0.6 ? x.creator : rng() < 0.5 && x.target !== null ? x.target : pick(ACCOUNTS)._id;
      await timed("delete", () => c.delete({ org: x.org, accountId: caller }, x.id));
    } else if (roll < 59) {
      const x = recent(ids);
      if (x === undefined) return;
      await timed("get", () =>
        c.get({ org: x.org, accountId: rng() < 0.5 ? x.creator : pick(ACCOUNTS)._id }, x.id),
      );
    } else if (roll < 64) {
      const h = recent(held);
      if (h === undefined) return;
      await timed("getByToken", () => c.getByToken({ org: h.org, accountId: null }, h.token));
    } else if (roll < 75) {
      const account = pick(ACCOUNTS)._id;
      const show = rng() < 0.5 ? "target" : "creator";
      await timed("list", () => c.list({ org, accountId: account }, { show, limit: 50 }));
    } else if (roll < 79) {
      await timed("listForContext", () =>
        c.listForContext({ org, accountId: pick(ACCOUNTS)._id }, pick(CONTEXTS), { limit: 50 }),
      );
    } else if (roll < 95) {
      await timed("resolveAccess", () => c.resolveAccess(org, pick(ACCOUNTS)._id, pick(CONTEXTS)));
    } else if (roll < 98) {
      await timed("purgeExpired", () => c.purgeExpired(org, { batchSize: 100, maxBatches: 2 }));
    } else {
      const nc = pick(NEWCOMERS);
      if (registered.has(`${org}|${nc._id}`)) return;
      registered.add(`${org}|${nc._id}`);
      world.accounts.put(org, { ...nc, name: { first: "New" }, verified: true });
      await timed("register+bind", () => c.bindRegisteredAccount(org, nc._id));
    }
  }

  // The run: every client loops until the time or the operation budget is spent.
  const started = performance.now();
  let total = 0;
  await Promise.all(
    Array.from({ length: plan.clients }, async (_, client) => {
      const rng = seeded(plan.seed * 31 + client);
      while (performance.now() - started < plan.durationMs && total < plan.maxOps) {
        total++;
        await step(rng);
        // PGlite answers in-process without ever reaching the timers phase: let the relay's timers run
        await new Promise((resolve) => setImmediate(resolve));
      }
    }),
  );
  const runMs = performance.now() - started;

  // Drain: stop the loops, then deliver what is left.
  await Promise.all(relays.map((r) => r.stop()));
  const drainStarted = performance.now();
  const finalRelay = new OutboxRelay(
    { outbox: t.uow.outbox, notifier, tokens: world.tokens, clock, random: seededRandom(3) },
    relayOptions,
  );
  while ((await t.uow.outbox.counts()).pending > 0 && performance.now() - drainStarted < 20_000) {
    await finalRelay.drain();
    await sleep(20);
  }
  const drainMs = performance.now() - drainStarted;

  // Expiry: the clock stops, then jumps to the median expiry of the pending rows (so about half of them have
  // expired and no purge has run since); no pending row past its expiry is visible through the facade, every
  // unexpired one still is.
  clock.freeze();
  const { rows: median } = await t.db.query<{ at: Date | string | null; n: number }>(
    `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY expires_at) AS at, count(*)::int AS n
       FROM ${t.s}.connections WHERE state = 0`,
  );
  const pendingAtEnd = median[0]?.n ?? 0;
  const middle = median[0]?.at;
  if (middle !== null && middle !== undefined) {
    clock.skip(Math.max(0, new Date(middle).getTime() - clock.now().getTime()));
  }
  const now = clock.now();
  const { rows: live } = await t.db.query<{ org: string; id: string; creator: string }>(
    `SELECT org, id, creator FROM ${t.s}.connections WHERE state = 0 AND expires_at > $1 ORDER BY id LIMIT 100`,
    [now],
  );
  let liveHidden = 0;
  for (const row of live) {
    const seen = await c.get({ org: row.org, accountId: row.creator }, row.id).then(
      () => true,
      () => false,
    );
    if (!seen) liveHidden++;
  }
  const { rows: expired } = await t.db.query<{
    org: string;
    id: string;
    creator: string;
    target_account: string | null;
  }>(
    `SELECT org, id, creator, target_account FROM ${t.s}.connections
      WHERE state = 0 AND expires_at <= $1 ORDER BY id LIMIT 200`,
    [now],
  );
  const visible: string[] = [];
  const listed = new Map<string, Set<string>>();
  const listAll = async (org: string, account: string, show: "creator" | "target"): Promise<Set<string>> => {
    const key = `${org}|${account}|${show}`;
    const cached = listed.get(key);
    if (cached !== undefined) return cached;
    const seen = new Set<string>();
    let after: string | undefined;
    for (let page = 0; page < 100; page++) {
      const query = after === undefined ? { show, limit: 1000 } : { show, limit: 1000, startingAfter: after };
      const result = await c.list({ org, accountId: account }, query);
      for (const v of result.data) seen.add(v._id);
      if (!result.hasMore) break;
      after = result.data.at(-1)?._id;
    }
    listed.set(key, seen);
    return seen;
  };
  for (const row of expired) {
    const got = await c.get({ org: row.org, accountId: row.creator }, row.id).then(
      () => "visible",
      (e: unknown) => (isConnectionError(e) ? e.code : String(e)),
    );
    if (got !== "cortex.notFound.unspecified") visible.push(`get ${row.id}: ${got}`);
    if ((await listAll(row.org, row.creator, "creator")).has(row.id))
      visible.push(`creator's list: ${row.id}`);
    if (row.target_account !== null && (await listAll(row.org, row.target_account, "target")).has(row.id)) {
      visible.push(`target's list: ${row.id}`);
    }
  }
  const expiredIds = new Set(expired.map((r) => r.id));
  let tokensTried = 0;
  for (const h of held) {
    if (!expiredIds.has(h.connectionId)) continue;
    tokensTried++;
    const got = await c.getByToken({ org: h.org, accountId: null }, h.token).then(
      () => "visible",
      (e: unknown) => (isConnectionError(e) ? e.code : String(e)),
    );
    if (got !== "cortex.invalidArgument.connectionToken")
      visible.push(`getByToken of ${h.connectionId}: ${got}`);
  }
  let purged = 0;
  for (const org of ORGS) purged += await c.purgeExpired(org);
  const { rows: left } = await t.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${t.s}.connections WHERE state = 0 AND expires_at <= $1`,
    [now],
  );

  // The rows, in SQL.
  eventIds(world.events.events, known);
  const invariants = await checkInvariants(t.db, t.s, known, { everyRowNotified: true });
  const { rows: states } = await t.db.query<{ state: number; n: number }>(
    `SELECT state::int AS state, count(*)::int AS n FROM ${t.s}.connections GROUP BY state ORDER BY state`,
  );
  const outbox = await t.uow.outbox.counts();
  const { rows: dupKeys } = await t.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT notice->>'idempotencyKey' FROM ${t.s}.connection_outbox
       GROUP BY 1 HAVING count(*) > 1) d`,
  );

  const latency = Object.fromEntries(
    Object.entries(tally.latencies)
      .sort()
      .map(([kind, xs]) => {
        const sorted = [...xs].sort((a, b) => a - b);
        const r = (x: number) => Math.round(x * 100) / 100;
        return [
          kind,
          { p50: r(percentile(sorted, 0.5)), p95: r(percentile(sorted, 0.95)), max: r(sorted.at(-1) ?? 0) },
        ];
      }),
  );
  const operations = Object.values(tally.ops).reduce((a, b) => a + b, 0);
  const figures = {
    engine: plan.engine,
    clients: plan.clients,
    orgs: ORGS.length,
    durationSeconds: Math.round(runMs) / 1000,
    operations,
    opsPerSecond: Math.round((operations / runMs) * 1000),
    clockSpeed: `${speed}x (one day of invitation expiry every ${Math.round(86_400_000 / speed / 100) / 10} s)`,
    operationsByKind: Object.fromEntries(Object.entries(tally.ops).sort()),
    outcomes: Object.fromEntries(Object.entries(tally.outcomes).sort()),
    errorsByCode: Object.fromEntries(Object.entries(tally.errorsByCode).sort()),
    unexpectedErrors: tally.unexpected.length,
    unexpectedSamples: [...new Set(tally.unexpected)].slice(0, 10),
    acceptRaces: tally.races,
    latencyMs: latency,
    relay: {
      loops: relays.length,
      loopErrors: relayErrors.length,
      sendCalls: notifier.calls,
      delivered: notifier.delivered.length,
      keysDeliveredTwice: notifier.duplicates().length,
      finalDrainSeconds: Math.round(drainMs) / 1000,
      outbox,
      duplicateIdempotencyKeysInOutbox: dupKeys[0]?.n ?? 0,
    },
    expiry: {
      pendingRowsAtEnd: pendingAtEnd,
      unexpiredPendingRowsChecked: live.length,
      unexpiredHidden: liveHidden,
      expiredPendingRowsChecked: expired.length,
      tokensOfExpiredTried: tokensTried,
      visibleThroughFacade: visible.length,
      visibleSamples: visible.slice(0, 5),
      purgedAtEnd: purged,
      expiredLeftAfterPurge: left[0]?.n ?? 0,
    },
    rowsAtEnd: Object.fromEntries(states.map((r) => [r.state === 0 ? "pending" : "active", r.n])),
    invariants,
  };
  console.log(
    `soak [${plan.engine}]: ${operations} operations by ${plan.clients} clients over ${ORGS.length} orgs in ` +
      `${figures.durationSeconds} s (${figures.opsPerSecond} ops/s); errors ${JSON.stringify(tally.errorsByCode)}; ` +
      `unexpected ${tally.unexpected.length}; notices ${outbox.delivered} delivered, ${outbox.dead} dead, ` +
      `${outbox.pending} pending; expired visible ${visible.length}; invariants ${clean(invariants) ? "clean" : "BROKEN"}`,
  );
  return figures;
}

/** Asserts what a soak's figures must show (softly: every broken expectation is reported, not only the first). */
function expectSound(f: Awaited<ReturnType<typeof soak>>): void {
  const figures = f as {
    unexpectedSamples: string[];
    unexpectedErrors: number;
    operations: number;
    operationsByKind: Record<string, number>;
    outcomes: Record<string, number>;
    relay: {
      loopErrors: number;
      keysDeliveredTwice: number;
      outbox: Record<string, number>;
      delivered: number;
    };
    expiry: {
      pendingRowsAtEnd: number;
      visibleSamples: string[];
      visibleThroughFacade: number;
      expiredLeftAfterPurge: number;
      expiredPendingRowsChecked: number;
      unexpiredHidden: number;
    };
    invariants: Parameters<typeof clean>[0];
  };
  expect.soft(figures.unexpectedErrors, figures.unexpectedSamples.join("\n")).toBe(0);
  expect.soft(figures.relay.loopErrors).toBe(0);
  expect.soft(figures.relay.outbox.pending, "outbox rows left pending after the final drain").toBe(0);
  expect.soft(figures.relay.keysDeliveredTwice, "notices delivered twice").toBe(0);
  expect.soft(figures.relay.delivered).toBe(figures.relay.outbox.delivered);
  expect.soft(figures.expiry.visibleThroughFacade, figures.expiry.visibleSamples.join("\n")).toBe(0);
  expect.soft(figures.expiry.expiredLeftAfterPurge).toBe(0);
  if (figures.expiry.pendingRowsAtEnd > 0) {
    expect
      .soft(figures.expiry.expiredPendingRowsChecked, "the expiry check had rows to check")
      .toBeGreaterThan(0);
  }
  expect.soft(figures.expiry.unexpiredHidden, "unexpired invitations hidden from their creator").toBe(0);
  expect.soft(figures.invariants, JSON.stringify(figures.invariants.samples)).toSatisfy(clean);
  // the load really did each thing
  for (const outcome of [
    "create: ok",
    "accept: ok",
    "reject: ok",
    "delete: ok",
    "list: ok",
    "resolveAccess: ok",
  ]) {
    expect.soft(figures.outcomes[outcome] ?? 0, `no "${outcome}" in the run`).toBeGreaterThan(0);
  }
}

const results: Record<string, unknown> = { machine: machine(), long: LONG };

afterAll(() => {
  if (Object.keys(results).length > 2) writeResult("soak", results);
});

/**
 * Two races the soak ran into, made to happen on purpose (server only: PGlite runs one transaction at a time).
 * Each trial uses a fresh context; outcomes are tallied into results/soak.json.
 */
describeServer("races on the server", () => {
  let t: TestDb;
  let world: World;
  const TRIALS = LONG ? 200 : 15;
  const creatorA = (ACCOUNTS[0] as (typeof ACCOUNTS)[number])._id;
  const creatorB = (ACCOUNTS[1] as (typeof ACCOUNTS)[number])._id;
  const target = (ACCOUNTS[5] as (typeof ACCOUNTS)[number])._id;
  const org = "race-org";
  beforeAll(async () => {
    t = await openServerDb("races", 8);
    world = buildWorld(t.db, t.schema, new FastClock(Date.parse("2026-06-01T00:00:00.000Z"), 1));
    world.orgs.put({ code: org, name: "Race" });
    world.contexts.defineObject(org, { name: "c_file", allowConnections: true, requireAccept: false });
    for (const a of ACCOUNTS) world.accounts.put(org, a);
  });
  afterAll(async () => {
    await t?.drop();
  });

  const outcome = (p: Promise<unknown>): Promise<string> =>
    p.then(
      () => "ok",
      (e: unknown) =>
        isConnectionError(e)
          ? `${e.code}${e.reason === undefined ? "" : ` (${e.reason.replace(/\d+$/, "")})`}`
          : String(e),
    );

  /** A fresh context the two creators own, and the target's token of each creator's invitation. */
  async function invitedTwice(): Promise<{ ctx: ContextRef; tokens: string[]; ids: string[] }> {
    const ctx: ContextRef = { object: "c_file", _id: randomHex() };
    world.contexts.grant(org, creatorA, ctx, 7);
    world.contexts.grant(org, creatorB, ctx, 7);
    const ids: string[] = [];
    const tokens: string[] = [];
    // the same level from both: whichever is accepted first supersedes the other (docs/behaviour.md §4)
    for (const [creator, access] of [
      [creatorA, 4],
      [creatorB, 4],
    ] as const) {
      const [entry] = await world.connections.create({ org, accountId: creator }, ctx, [
        { _id: target, access },
      ]);
      const id = (entry as { _id: string })._id;
      const view = await world.connections.get({ org, accountId: target }, id);
      ids.push(id);
      tokens.push(view.token as string);
    }
    return { ctx, tokens, ids };
  }

  it("the target accepts two invitations to one context at once (20 ms network latency in transactions): no deadlock reaches the caller", async () => {
    // Over a slow link the two transactions advance in step: claim P1 | claim P2, upsert the active row | wait for
    // it, delete superseded P2 (locked by the other) — which PostgreSQL resolves by killing one with 40P01.
    const slow = buildWorld(new SlowDatabase(t.db, 20), t.schema, world.clock, world);
    const tally: Record<string, number> = {};
    const trials = LONG ? 20 : 2;
    for (let i = 0; i < trials; i++) {
      const { tokens } = await invitedTwice();
      const outs = await Promise.all(
        tokens.map((tk) => outcome(slow.connections.accept({ org, accountId: target }, tk))),
      );
      for (const o of outs) bump(tally, o);
    }
    results.raceTwoAccepts = { trials, latencyMs: 20, outcomes: tally };
    const failures = Object.entries(tally).filter(([o]) => o.startsWith("cortex.error.unspecified"));
    expect(failures, "accepts that failed with an infrastructure error").toEqual([]);
  });

  it("a creator re-invites while the target accepts the same invitation: the create never fails as a whole, and the end state is one a serial order gives", async () => {
    // Two serial orders, two end states (A and B both invited the target at Read on the context):
    //   accept, then re-invite: accept ok; the re-invite adds nothing to the active connection, so its entry is the
    //     per-target fault connectionExists; left: the active connection only (B's invitation was superseded);
    //   re-invite, then accept: the re-invite rotates the token, so the accept fails with connectionToken; left:
    //     A's and B's pending invitations, no active connection.
    const tally: Record<string, number> = {};
    const anomalies: string[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const { ctx, tokens } = await invitedTwice();
      let entry = "";
      const [accepted, reinvited] = await Promise.all([
        outcome(world.connections.accept({ org, accountId: target }, tokens[0] as string)),
        outcome(
          world.connections
            .create({ org, accountId: creatorA }, ctx, [{ _id: target, access: 4 }])
            .then(([e]) => {
              const view = e as { object?: string; state?: number; errCode?: string };
              entry =
                view.object === "connection" ? `connection, state ${view.state}` : `fault ${view.errCode}`;
            }),
        ),
      ]);
      bump(tally, `accept ${accepted}`);
      bump(tally, `re-invite ${reinvited}${entry === "" ? "" : `: ${entry}`}`);
      const { rows } = await t.db.query<{ state: number; creator: string }>(
        `SELECT state::int AS state, creator FROM ${t.s}.connections
          WHERE org = $1 AND context_id = $2 AND target_account = $3 ORDER BY state, creator`,
        [org, ctx._id, target],
      );
      const left = rows.map((r) =>
        r.state === 1 ? "active" : r.creator === creatorA ? "pending A" : "pending B",
      );
      // Outcomes are compared by code: a refusal's reason (in parentheses) is prose, not part of the state.
      const code = (o: string): string => o.replace(/ \(.*\)$/, "");
      const state = `accept ${code(accepted)} | re-invite ${entry || code(reinvited)} | left: ${left.join(", ") || "nothing"}`;
      const serial = [
        "accept ok | re-invite fault cortex.conflict.connectionExists | left: active",
        "accept cortex.invalidArgument.connectionToken | re-invite connection, state 0 | left: pending A, pending B",
      ];
      if (!serial.includes(state)) anomalies.push(state);
    }
    results.raceReinviteAccept = { trials: TRIALS, outcomes: tally, notSerializable: anomalies.slice(0, 5) };
    const wholeFailures = Object.entries(tally).filter(([o]) => o.startsWith("re-invite cortex."));
    expect.soft(wholeFailures, "re-invitations refused as a whole").toEqual([]);
    expect.soft(anomalies, "end states no serial order gives").toEqual([]);
  });
});

describeServer("soak on the server", () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openServerDb("soak", SERVER_PLAN.clients + 3);
  });
  afterAll(async () => {
    await t?.drop();
  });

  it(
    `${SERVER_PLAN.clients} clients for ${SERVER_PLAN.durationMs / 1000} s: invariants hold, nothing lost`,
    async () => {
      const figures = await soak(t, SERVER_PLAN);
      results.server = figures;
      expectSound(figures);
    },
    SERVER_PLAN.durationMs + 90_000,
  );
});

describe("soak on PGlite (shorter)", () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openPgliteDb("soak");
  });
  afterAll(async () => {
    await t?.drop();
  });

  it(
    `${PGLITE_PLAN.clients} clients for ${PGLITE_PLAN.durationMs / 1000} s: invariants hold, nothing lost`,
    async () => {
      const figures = await soak(t, PGLITE_PLAN);
      results.pglite = figures;
      expectSound(figures);
    },
    PGLITE_PLAN.durationMs + 90_000,
  );
});
