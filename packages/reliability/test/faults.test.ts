/**
 * Faults on the real server.
 *
 * (a) The notifier failing always, intermittently (seeded 50 %, some permanent refusals) and slowly, under the core
 *     OutboxRelay over the Postgres outbox: once it recovers every notice is delivered exactly once per idempotency
 *     key, and the ones that ran out of attempts (or were refused for good) are dead-lettered with their reason.
 * (b) The database failing mid-run: facade operations loop on several clients while every backend of their pool is
 *     terminated again and again (`pg_terminate_backend`). Operations fail only with a bare, retryable
 *     `cortex.error.unavailable` and succeed on retry; afterwards the rows hold no partial write (checked in SQL).
 *     (A full server restart is in survival.test.ts, on a private cluster: the shared server is never restarted.)
 * (c) A relay killed mid-batch (claims abandoned; a crash before and one after a send): its claims are retried after
 *     the lease, nothing is lost.
 *
 * Figures go to results/faults.json.
 */
import { randomBytes } from "node:crypto";
import { ManualClock, SystemClock } from "@conn/adapter-memory";
import { PostgresOutbox } from "@conn/adapter-postgres";
import {
  type Clock,
  ConnectionError,
  type ContextRef,
  isConnectionError,
  type Notice,
  type Notifier,
  type Outbox,
  OutboxRelay,
  type OutboxRelayOptions,
} from "@conn/core";
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
  LONG,
  machine,
  openServerDb,
  seeded,
  seededRandom,
  sleep,
  type TestDb,
  terminateBackends,
  type World,
  writeResult,
} from "./support/pg.js";

const OWNER = "5a0000000000000000000a00";
const BEN = "5a0000000000000000000a01";
const CY = "5a0000000000000000000a02";
const EVE = "5a0000000000000000000a04";
const PEOPLE = [
  { _id: OWNER, email: "ann@faults.test", name: { first: "Ann" }, verified: true },
  { _id: BEN, email: "ben@faults.test", name: { first: "Ben" }, verified: true },
  { _id: CY, email: "cy@faults.test", name: { first: "Cy" }, verified: true },
  { _id: EVE, email: "eve@faults.test", name: { first: "Eve" }, verified: true },
];

const hex24 = (): string => randomBytes(12).toString("hex");

/** Registers orgs with one object (auto allowed, notifications on) and the four people, the owner holding Share on each. */
function setUpOrgs(world: World, orgs: readonly string[]): void {
  for (const org of orgs) {
    world.orgs.put({
      code: org,
      name: `Org ${org}`,
      connectionUrl: "https://app.faults.test/invite/{token}",
    });
    world.contexts.defineObject(org, { name: "c_file", allowConnections: true, requireAccept: false });
    for (const p of PEOPLE) world.accounts.put(org, p);
    for (const p of PEOPLE) world.contexts.grant(org, OWNER, { object: "account", _id: p._id }, 5);
  }
}

/** One create on a fresh context: invitations to two accounts and an email, and an auto connection: 4 notices. */
async function createFour(world: World, org: string, tag: string): Promise<unknown> {
  const ctx: ContextRef = { object: "c_file", _id: hex24() };
  world.contexts.grant(org, OWNER, ctx, 7);
  return world.connections.create({ org, accountId: OWNER }, ctx, [
    { _id: BEN, access: 4 },
    { _id: EVE },
    { email: `${tag}@faults.test` },
    { _id: CY, auto: true },
  ]);
}

/** The outbox rows, by idempotency key. */
async function outboxRows(
  t: TestDb,
): Promise<Map<string, { status: string; attempts: number; last_error: string | null }>> {
  const { rows } = await t.db.query<{
    key: string;
    status: string;
    attempts: number;
    last_error: string | null;
  }>(`SELECT notice->>'idempotencyKey' AS key, status, attempts, last_error FROM ${t.s}.connection_outbox`);
  return new Map(rows.map((r) => [r.key, r]));
}

function relayOf(
  t: TestDb,
  notifier: Notifier,
  world: World,
  clock: Clock,
  options: OutboxRelayOptions,
  outbox: Outbox = t.uow.outbox,
  seed = 7,
): OutboxRelay {
  return new OutboxRelay(
    { outbox, notifier, tokens: world.tokens, clock, random: seededRandom(seed) },
    options,
  );
}

/** The message every `cortex.error.unavailable` answers with. */
const UNAVAILABLE_MESSAGE = new ConnectionError("cortex.error.unavailable").message;

const retryable = (message: string) =>
  new ConnectionError("cortex.error.unspecified", { retryable: true, message });
const permanent = (message: string) =>
  new ConnectionError("cortex.error.unspecified", { retryable: false, message });

const figures: Record<string, unknown> = { machine: machine() };
/** The seed of the intermittent notifier (`CONN_FAULTS_SEED` to try another). */
const SEED = Number(process.env.CONN_FAULTS_SEED ?? 20261129);

describeServer("faults on the server", () => {
  let t: TestDb;

  beforeAll(async () => {
    t = await openServerDb("faults", 8);
  });

  afterAll(async () => {
    if (t === undefined) return; // never connected (no server given): nothing was disturbed
    await t?.drop();
    writeResult("faults", figures);
  }, 90_000);

  describe("(a) a failing notifier", () => {
    it("always failing, then recovered: the first wave is dead-lettered with its reason, the second delivered exactly once", async () => {
      await t.reset();
      const clock = new ManualClock("2026-02-01T00:00:00.000Z");
      const world = buildWorld(t.db, t.schema, clock);
      setUpOrgs(world, ["fa-1", "fa-2"]);
      const notifier = new CountingNotifier();
      const relay = relayOf(t, notifier, world, clock, {
        maxAttempts: 4,
        baseDelayMs: 1_000,
        maxDelayMs: 10_000,
        batchSize: 16,
      });
      for (let i = 0; i < 8; i++) await createFour(world, i % 2 === 0 ? "fa-1" : "fa-2", `w1-${i}`);
      const wave1 = new Set((await outboxRows(t)).keys());
      notifier.behaviour = (_n, call) => retryable(`provider down #${call}`);
      for (let round = 0; round < 4; round++) {
        await relay.drain();
        clock.advance(60_000);
      }
      for (let i = 0; i < 8; i++) await createFour(world, i % 2 === 0 ? "fa-1" : "fa-2", `w2-${i}`);
      const wave2 = new Set([...(await outboxRows(t)).keys()].filter((k) => !wave1.has(k)));
      for (let round = 0; round < 2; round++) {
        await relay.drain();
        clock.advance(60_000);
      }
      const callsDuringOutage = notifier.calls;
      notifier.behaviour = null; // recovered
      for (let round = 0; round < 5 && (await t.uow.outbox.counts()).pending > 0; round++) {
        await relay.drain();
        clock.advance(60_000);
      }
      const rows = await outboxRows(t);
      expect(await t.uow.outbox.counts()).toEqual({ pending: 0, delivered: wave2.size, dead: wave1.size });
      for (const key of wave1) {
        const row = rows.get(key);
        expect(row?.status, key).toBe("dead");
        expect(row?.attempts, key).toBe(4);
        expect(row?.last_error ?? "", key).toMatch(/provider down #\d+/);
        expect(notifier.deliveries.get(key) ?? 0, `${key} never delivered`).toBe(0);
      }
      for (const key of wave2) {
        expect(rows.get(key)?.status, key).toBe("delivered");
        expect(notifier.deliveries.get(key), `${key} delivered exactly once`).toBe(1);
      }
      expect(notifier.duplicates()).toEqual([]);
      figures.notifierAlwaysFailing = {
        notices: wave1.size + wave2.size,
        maxAttempts: 4,
        deadLettered: wave1.size,
        deliveredAfterRecovery: wave2.size,
        sendCallsDuringOutage: callsDuringOutage,
        sendCallsTotal: notifier.calls,
        duplicates: 0,
        sampleReason: rows.get([...wave1][0] as string)?.last_error,
      };
    });

    it("intermittently failing (seeded: 50 % transient, 5 % permanent; 4 attempts), two relays at once: each notice delivered exactly once or dead-lettered with its reason", async () => {
      await t.reset();
      const clock = new ManualClock("2026-02-01T00:00:00.000Z");
      const world = buildWorld(t.db, t.schema, clock);
      const orgs = ["fb-1", "fb-2", "fb-3", "fb-4"];
      setUpOrgs(world, orgs);
      for (let i = 0; i < 16; i++) await createFour(world, orgs[i % 4] as string, `b-${i}`);
      const notifier = new CountingNotifier();
      // Each (notice, attempt) rolls its own seeded die, so the outcome does not depend on which relay got there
      // first: the n-th notice created fails or not the same way on every run.
      const order = [...(await outboxRows(t)).keys()];
      const tries = new Map<string, number>();
      const outcomes: Record<string, number> = {};
      notifier.behaviour = (notice) => {
        const attempt = (tries.get(notice.idempotencyKey) ?? 0) + 1;
        tries.set(notice.idempotencyKey, attempt);
        const roll = seeded(SEED * 1_000 + order.indexOf(notice.idempotencyKey) * 16 + attempt)();
        if (roll < 0.05) {
          bump(outcomes, "permanent refusal");
          return permanent("mailbox rejected the address (permanent)");
        }
        if (roll < 0.55) {
          bump(outcomes, "transient failure");
          return retryable("provider timeout (transient)");
        }
        bump(outcomes, "delivered");
        return null;
      };
      const options = { maxAttempts: 4, baseDelayMs: 1_000, maxDelayMs: 60_000, batchSize: 8 };
      const relays = [
        relayOf(t, notifier, world, clock, options, t.uow.outbox, 1),
        relayOf(t, notifier, world, clock, options, t.uow.outbox, 2),
      ];
      let rounds = 0;
      while ((await t.uow.outbox.counts()).pending > 0 && rounds < 40) {
        await Promise.all(relays.map((r) => r.drain()));
        clock.advance(61_000);
        rounds++;
      }
      const rows = await outboxRows(t);
      const counts = await t.uow.outbox.counts();
      expect(counts.pending).toBe(0);
      const attempts: Record<string, number> = {};
      let exhausted = 0;
      let refused = 0;
      for (const [key, row] of rows) {
        bump(
          attempts,
          `${row.status} after ${row.attempts + (row.status === "delivered" ? 1 : 0)} attempt(s)`,
        );
        if (row.status === "delivered") {
          expect(notifier.deliveries.get(key), `${key} delivered exactly once`).toBe(1);
        } else {
          expect(row.status).toBe("dead");
          expect(notifier.deliveries.get(key) ?? 0, `${key} dead, never delivered`).toBe(0);
          expect(row.last_error ?? "", `${key} has its reason`).not.toBe("");
          if (/permanent/.test(row.last_error ?? "")) refused++;
          else {
            expect(row.attempts, `${key} ran out of attempts`).toBe(4);
            expect(row.last_error).toMatch(/transient/);
            exhausted++;
          }
        }
      }
      expect(notifier.duplicates()).toEqual([]);
      expect(counts.delivered + counts.dead).toBe(rows.size);
      expect(counts.delivered).toBe(notifier.delivered.length);
      expect(refused, "the seeded run refuses some notices for good").toBeGreaterThan(0);
      expect(exhausted, "the seeded run exhausts the attempts of some notices").toBeGreaterThan(0);
      figures.notifierIntermittent = {
        notices: rows.size,
        relays: 2,
        maxAttempts: 4,
        seed: SEED,
        rounds,
        sendCalls: notifier.calls,
        sendOutcomes: outcomes,
        delivered: counts.delivered,
        deadPermanent: refused,
        deadAfterMaxAttempts: exhausted,
        duplicates: 0,
        byAttempts: attempts,
      };
    });

    it("slow (5–40 ms a send, 20 % transient failures), three relay loops on the real clock: every notice delivered exactly once", async () => {
      await t.reset();
      const world = buildWorld(t.db, t.schema, new ManualClock(new Date(Date.now() - 3_600_000)));
      const orgs = ["fc-1", "fc-2", "fc-3"];
      setUpOrgs(world, orgs);
      for (let i = 0; i < 12; i++) await createFour(world, orgs[i % 3] as string, `c-${i}`);
      const total = (await outboxRows(t)).size;
      const notifier = new CountingNotifier();
      const rng = seeded(7);
      let inFlight = 0;
      let maxInFlight = 0;
      notifier.behaviour = async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await sleep(5 + Math.floor(rng() * 35));
        inFlight--;
        return rng() < 0.2 ? retryable("provider slow, then timed out") : null;
      };
      const clock = new SystemClock();
      const options = {
        leaseMs: 10_000,
        sendTimeoutMs: 2_000,
        batchSize: 4,
        idleMs: 10,
        baseDelayMs: 20,
        maxDelayMs: 200,
        maxAttempts: 12,
      };
      const relays = [1, 2, 3].map((seed) => relayOf(t, notifier, world, clock, options, t.uow.outbox, seed));
      const started = Date.now();
      const loopErrors: unknown[] = [];
      for (const r of relays) r.start((error) => loopErrors.push(error));
      while ((await t.uow.outbox.counts()).pending > 0 && Date.now() - started < 30_000) await sleep(50);
      await Promise.all(relays.map((r) => r.stop()));
      const seconds = (Date.now() - started) / 1000;
      expect(loopErrors).toEqual([]);
      expect(await t.uow.outbox.counts()).toEqual({ pending: 0, delivered: total, dead: 0 });
      expect(notifier.deliveries.size).toBe(total);
      expect(notifier.duplicates()).toEqual([]);
      figures.notifierSlow = {
        notices: total,
        relays: 3,
        sendDelayMs: "5..40",
        transientFailureRate: 0.2,
        leaseMs: options.leaseMs,
        sendCalls: notifier.calls,
        maxSendsInFlight: maxInFlight,
        seconds,
        delivered: total,
        duplicates: 0,
      };
    });

    it("slower than the deadline (half the first sends stall; 40 ms deadline, 100 ms lease, three relays): each stalled send is aborted and retried, every notice delivered exactly once", async () => {
      await t.reset();
      const world = buildWorld(t.db, t.schema, new ManualClock(new Date(Date.now() - 3_600_000)));
      setUpOrgs(world, ["fd-1"]);
      for (let i = 0; i < 3; i++) await createFour(world, "fd-1", `d-${i}`);
      const total = (await outboxRows(t)).size;
      const counting = new CountingNotifier();
      const rng = seeded(11);
      let aborted = 0;
      // A provider that stalls on half the first attempts, and a notifier that stops when the relay gives up (as
      // SesNotifier does): a stalled attempt never reaches the provider.
      const tried = new Set<string>();
      const notifier: Notifier = {
        async send(notice, options) {
          const first = !tried.has(notice.idempotencyKey);
          tried.add(notice.idempotencyKey);
          const stall = first && rng() < 0.5;
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(resolve, stall ? 120 : 5);
            options?.signal?.addEventListener("abort", () => {
              clearTimeout(timer);
              aborted++;
              reject(options.signal?.reason);
            });
          });
          await counting.send(notice);
        },
      };
      const clock = new SystemClock();
      const options = {
        leaseMs: 100,
        sendTimeoutMs: 40,
        leaseMarginMs: 20,
        batchSize: 2,
        idleMs: 10,
        baseDelayMs: 5,
        maxDelayMs: 20,
        maxAttempts: 10,
      };
      const relays = [1, 2, 3].map((seed) => relayOf(t, notifier, world, clock, options, t.uow.outbox, seed));
      const started = Date.now();
      for (const r of relays) r.start();
      while ((await t.uow.outbox.counts()).pending > 0 && Date.now() - started < 30_000) await sleep(50);
      await Promise.all(relays.map((r) => r.stop()));
      expect(await t.uow.outbox.counts()).toEqual({ pending: 0, delivered: total, dead: 0 });
      expect(counting.deliveries.size, "every notice delivered").toBe(total);
      expect(aborted, "some sends stalled past their deadline").toBeGreaterThan(0);
      expect(counting.duplicates(), "no notice delivered twice").toEqual([]);
      figures.notifierSlowerThanDeadline = {
        notices: total,
        relays: 3,
        stalledSendMs: 120,
        sendTimeoutMs: options.sendTimeoutMs,
        leaseMs: options.leaseMs,
        sendsAborted: aborted,
        deliveries: counting.delivered.length,
        duplicates: 0,
        lost: 0,
      };
    });
  });

  describe("(b) the database failing mid-run", () => {
    it(`facade operations on ${LONG ? 8 : 4} clients while the pool's backends are terminated: only a bare, retryable cortex.error.unavailable, success on retry, no partial write`, async () => {
      await t.reset();
      const world = buildWorld(t.db, t.schema, new SystemClock());
      const orgs = ["fx-1", "fx-2"];
      setUpOrgs(world, orgs);
      const clients = LONG ? 8 : 4;
      const durationMs = LONG ? 60_000 : 5_000;
      const known = new Set<string>();
      const stats = {
        operations: {} as Record<string, number>,
        retryableFailures: 0,
        failuresByReason: {} as Record<string, number>,
        retriesToSucceed: {} as Record<string, number>,
        ambiguousCommits: {} as Record<string, number>,
        violations: [] as string[],
        cycles: 0,
      };

      /** Runs one operation until it does not fail with a retryable error; returns its value or its domain error. */
      async function op<T>(
        label: string,
        fn: () => Promise<T>,
      ): Promise<{ value?: T; code?: string; retried: number }> {
        let retried = 0;
        const until = Date.now() + 45_000;
        for (;;) {
          try {
            const value = await fn();
            collectConnectionIds(value, known);
            bump(stats.operations, label);
            if (retried > 0) bump(stats.retriesToSucceed, String(Math.min(retried, 5)));
            return { value, retried };
          } catch (error) {
            if (!isConnectionError(error)) {
              stats.violations.push(`${label}: not a ConnectionError: ${String(error)}`);
              return { code: "not a ConnectionError", retried };
            }
            if (error.code === "cortex.error.unspecified") {
              stats.violations.push(`${label}: ${error.code}: ${causeText(error)}`);
              return { code: error.code, retried };
            }
            if (error.code !== "cortex.error.unavailable") {
              bump(stats.operations, label);
              return { code: error.code, retried };
            }
            if (!error.retryable || error.reason !== undefined || error.message !== UNAVAILABLE_MESSAGE) {
              stats.violations.push(
                `${label}: not a bare, retryable unavailable: ${JSON.stringify(error.toFault())}`,
              );
              return { code: error.code, retried };
            }
            stats.retryableFailures++;
            bump(stats.failuresByReason, causeText(error).replace(/\d+/g, "N").slice(0, 80));
            retried++;
            if (Date.now() > until) {
              stats.violations.push(`${label}: still failing after 45 s: ${causeText(error)}`);
              return { code: error.code, retried };
            }
            await sleep(Math.min(500, 20 * 2 ** Math.min(retried, 5)));
          }
        }
      }

      /** A domain error is acceptable only when an earlier attempt failed and may have committed. */
      function ambiguous(label: string, out: { code?: string; retried: number }, allowed: string): boolean {
        if (out.code === undefined) return false;
        if (out.code === allowed && out.retried > 0) {
          bump(stats.ambiguousCommits, label);
          return true;
        }
        stats.violations.push(`${label}: ${out.code} (after ${out.retried} retries)`);
        return true;
      }

      async function cycle(client: number, k: number): Promise<void> {
        const org = orgs[client % orgs.length] as string;
        const owner = { org, accountId: OWNER };
        const tag = `x${client}-${k}`;
        const created = await op("create", () => createFour(world, org, tag));
        if (created.code !== undefined) return void stats.violations.push(`create: ${created.code}`);
        const entries = created.value as { object?: string; _id?: string; errCode?: string }[];
        for (const e of entries) {
          if (
            e.object !== "connection" &&
            !(created.retried > 0 && e.errCode === "cortex.conflict.connectionExists")
          ) {
            stats.violations.push(`create entry: ${e.errCode}`);
          }
        }
        const [benId, eveId, , cyId] = entries.map((e) => e._id);
        const benView = benId
          ? await op("get", () => world.connections.get({ org, accountId: BEN }, benId))
          : null;
        const eveView = eveId
          ? await op("get", () => world.connections.get({ org, accountId: EVE }, eveId))
          : null;
        const benToken = (benView?.value as { token?: string } | undefined)?.token;
        const eveToken = (eveView?.value as { token?: string } | undefined)?.token;
        if (benToken) {
          const out = await op("accept", () => world.connections.accept({ org, accountId: BEN }, benToken));
          ambiguous("accept", out, "cortex.invalidArgument.connectionToken");
        }
        if (eveToken) {
          const out = await op("reject", () => world.connections.reject({ org, accountId: EVE }, eveToken));
          ambiguous("reject", out, "cortex.invalidArgument.connectionToken");
        }
        const ctx = { object: "c_file", _id: "" };
        const benCtx = (benView?.value as { context?: { _id: string } } | undefined)?.context?._id;
        if (benCtx) {
          ctx._id = benCtx;
          const level = await op("resolveAccess", () => world.connections.resolveAccess(org, BEN, ctx));
          if (level.code !== undefined || (level.value as number) < 2) {
            stats.violations.push(`resolveAccess after accept: ${level.code ?? level.value}`);
          }
        }
        if (cyId) {
          const out = await op("delete", () => world.connections.delete(owner, cyId));
          ambiguous("delete", out, "cortex.notFound.unspecified");
          if (benCtx) {
            const level = await op("resolveAccess", () => world.connections.resolveAccess(org, CY, ctx));
            if (level.value !== 0)
              stats.violations.push(`resolveAccess after delete: ${level.code ?? level.value}`);
          }
        }
        await op("list", () => world.connections.list(owner, { show: "creator", limit: 5 }));
        await op("purgeExpired", () =>
          world.connections.purgeExpired(org, { batchSize: 100, maxBatches: 1 }),
        );
        if (k % 3 === 0) {
          const id = hex24();
          world.accounts.put(org, { _id: id, email: `${tag}@faults.test`, name: {}, verified: true });
          const bound = await op("bindRegisteredAccount", () =>
            world.connections.bindRegisteredAccount(org, id),
          );
          if (bound.code !== undefined || (bound.value === 0 && bound.retried === 0)) {
            stats.violations.push(`bindRegisteredAccount: ${bound.code ?? bound.value}`);
          }
        }
        stats.cycles++;
      }

      const started = Date.now();
      let stop = false;
      const chaos = { terminations: 0, backendsTerminated: 0 };
      const chaosLoop = (async () => {
        const rng = seeded(99);
        while (!stop) {
          await sleep(250 + Math.floor(rng() * 250));
          if (stop) break;
          try {
            chaos.backendsTerminated += await terminateBackends(t.appName);
            chaos.terminations++;
          } catch {
            // the admin session may fail under load; the next round tries again
          }
        }
      })();
      await Promise.all(
        Array.from({ length: clients }, async (_, client) => {
          for (let k = 0; Date.now() - started < durationMs && k < 10_000; k++) await cycle(client, k);
        }),
      );
      stop = true;
      await chaosLoop;
      const runSeconds = (Date.now() - started) / 1000;

      // Recovery: the outbox drains, and the rows are whole.
      const notifier = new CountingNotifier();
      const relay = relayOf(t, notifier, world, new SystemClock(), { batchSize: 100 });
      for (let i = 0; i < 20 && (await t.uow.outbox.counts()).pending > 0; i++) {
        await relay.drain().catch(() => sleep(200));
      }
      eventIds(world.events.events, known);
      const report = await checkInvariants(t.db, t.s, known, { everyRowNotified: true });
      const { rows } = await t.db.query<{ state: number; n: number }>(
        `SELECT state::int AS state, count(*)::int AS n FROM ${t.s}.connections GROUP BY state ORDER BY state`,
      );
      figures.databaseFaults = {
        clients,
        seconds: runSeconds,
        cycles: stats.cycles,
        operationsCompleted: stats.operations,
        chaos,
        retryableFailures: stats.retryableFailures,
        failuresByReason: stats.failuresByReason,
        retriesBeforeSuccess: stats.retriesToSucceed,
        ambiguousCommitsResolvedOnRetry: stats.ambiguousCommits,
        violations: stats.violations.slice(0, 20),
        rowsAfter: Object.fromEntries(rows.map((r) => [r.state === 0 ? "pending" : "active", r.n])),
        noticesDeliveredAfter: notifier.delivered.length,
        duplicatesAfter: notifier.duplicates().length,
        invariants: report,
      };
      expect(stats.violations).toEqual([]);
      expect(chaos.backendsTerminated, "the chaos really terminated backends").toBeGreaterThan(0);
      expect(stats.retryableFailures, "the faults really hit operations").toBeGreaterThan(0);
      expect(report, JSON.stringify(report.samples)).toSatisfy(clean);
    }, 300_000);
  });

  describe("(c) a relay killed mid-batch", () => {
    async function twentyNotices() {
      await t.reset();
      const clock = new ManualClock("2026-02-01T00:00:00.000Z");
      const world = buildWorld(t.db, t.schema, clock);
      setUpOrgs(world, ["fk-1", "fk-2"]);
      for (let i = 0; i < 5; i++) await createFour(world, i % 2 === 0 ? "fk-1" : "fk-2", `k-${i}`);
      return { clock, world, total: (await outboxRows(t)).size };
    }

    /** An outbox whose process "dies" on `kill()`: every later call fails, as the process would be gone. */
    function mortal(inner: Outbox): { outbox: Outbox; kill(): void } {
      let dead = false;
      /** Runs `call` unless the process is dead. */
      const alive = <T>(call: () => Promise<T>): Promise<T> =>
        dead ? Promise.reject(new Error("the relay process is dead")) : call();
      return {
        kill: () => {
          dead = true;
        },
        outbox: new Proxy(inner, {
          get(target, prop, receiver) {
            const value = Reflect.get(target, prop, receiver) as unknown;
            if (typeof value !== "function") return value;
            return (...args: unknown[]) =>
              alive(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
          },
        }),
      };
    }

    it("claims abandoned by a dead relay are delivered by another once the lease lapses, exactly once", async () => {
      const { clock, world, total } = await twentyNotices();
      const notifier = new CountingNotifier();
      const abandoned = await t.uow.outbox.claim("fk-1", clock.now(), 8, 30_000);
      const relay = relayOf(t, notifier, world, clock, { leaseMs: 30_000, batchSize: 8 });
      const before = await relay.drain();
      expect(before.delivered).toBe(total - abandoned.length);
      clock.advance(30_001);
      const after = await relay.drain();
      expect(after.delivered).toBe(abandoned.length);
      expect(notifier.deliveries.size).toBe(total);
      expect(notifier.duplicates()).toEqual([]);
      figures.relayAbandonedClaims = {
        notices: total,
        abandoned: abandoned.length,
        deliveredBeforeLeaseLapsed: before.delivered,
        deliveredAfterLease: after.delivered,
        duplicates: 0,
      };
    });

    it("a relay that dies mid-send (before the provider accepted): its batch is retried after the lease, each notice delivered exactly once", async () => {
      const { clock, world, total } = await twentyNotices();
      const shared = new CountingNotifier();
      const process1 = mortal(new PostgresOutbox(t.db, { schema: t.schema }));
      let calls = 0;
      const dying: Notifier = {
        async send(notice: Notice) {
          calls++;
          if (calls === 3) {
            process1.kill();
            throw new Error("killed mid-send");
          }
          return shared.send(notice);
        },
      };
      // One send at a time, so the dead relay's batch is two sent, one cut, five never started.
      const relay1 = relayOf(
        t,
        dying,
        world,
        clock,
        { leaseMs: 30_000, batchSize: 8, concurrency: 1 },
        process1.outbox,
      );
      await expect(relay1.drain()).rejects.toThrow(/dead/);
      const relay2 = relayOf(t, shared, world, clock, { leaseMs: 30_000, batchSize: 8 });
      const beforeLease = await relay2.drain();
      clock.advance(30_001);
      const afterLease = await relay2.drain();
      expect(beforeLease.delivered).toBe(total - 8);
      expect(afterLease.delivered).toBe(8 - 2);
      expect(shared.deliveries.size).toBe(total);
      expect(shared.duplicates()).toEqual([]);
      expect(await t.uow.outbox.counts()).toEqual({ pending: 0, delivered: total, dead: 0 });
      figures.relayKilledBeforeSend = {
        notices: total,
        batch: 8,
        deliveredByTheDeadRelay: 2,
        leftLeased: 6,
        deliveredBeforeLeaseLapsed: beforeLease.delivered,
        deliveredAfterLease: afterLease.delivered,
        duplicates: 0,
      };
    });

    it("a relay that dies after the provider accepted, before marking: the notice is sent again with the same idempotency key, nothing lost", async () => {
      const { clock, world, total } = await twentyNotices();
      const shared = new CountingNotifier();
      const process1 = mortal(new PostgresOutbox(t.db, { schema: t.schema }));
      let calls = 0;
      const dying: Notifier = {
        async send(notice: Notice) {
          calls++;
          await shared.send(notice);
          if (calls === 3) {
            process1.kill();
            throw new Error("killed after the send, before marking it delivered");
          }
        },
      };
      // One send at a time, so the dead relay's batch is two sent, one cut, five never started.
      const relay1 = relayOf(
        t,
        dying,
        world,
        clock,
        { leaseMs: 30_000, batchSize: 8, concurrency: 1 },
        process1.outbox,
      );
      await expect(relay1.drain()).rejects.toThrow(/dead/);
      const relay2 = relayOf(t, shared, world, clock, { leaseMs: 30_000, batchSize: 8 });
      await relay2.drain();
      clock.advance(30_001);
      await relay2.drain();
      expect(await t.uow.outbox.counts()).toEqual({ pending: 0, delivered: total, dead: 0 });
      expect(shared.deliveries.size).toBe(total);
      // exactly the one in flight went twice, and both copies carry one idempotency key (a notifier can drop it)
      expect(shared.duplicates()).toHaveLength(1);
      figures.relayKilledAfterSend = {
        notices: total,
        deliveries: shared.delivered.length,
        keysDeliveredTwice: shared.duplicates().length,
        lost: 0,
      };
    });
  });
});
