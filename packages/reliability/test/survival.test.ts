/**
 * Outages of the database, on a private PostgreSQL 15 cluster of this file's own (the shared server is never
 * stopped or restarted; see support/private-cluster.ts).
 *
 * (a) Answers during real outages carry codes, not internals: the facade and the HTTP app over a pool that meets
 *     real driver faults — backends terminated, a role over its connection limit (53300), a network that goes
 *     silent (connect and query timeouts), the server stopped (57P01, 57P03, ECONNREFUSED) — answer each failed
 *     call with a bare 503 `cortex.error.unavailable`; no answer holds the driver's message, a SQLSTATE, the host,
 *     a port, `ECONN` or a stack frame; the host's reporter got each one, with the request id its fault carries.
 * (b) The server survives its database: the demo HTTP server (`examples/http-server`, on PostgreSQL through the
 *     container) runs in its own process under 16 clients while its backends are terminated every 10 ms for 15 s,
 *     then the cluster is restarted under load. The process lives; it answers within a second of the database's
 *     return; every failed call got a 503 with `Retry-After` and a request id, reported once by the server; and SQL
 *     finds no partial write.
 *
 * Figures go to results/survival.json. With CI=true a missing PostgreSQL binary fails the file instead of skipping.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { SystemClock } from "@conn/adapter-memory";
import { connectPostgres, type Database, migrate } from "@conn/adapter-postgres";
import { type ConnectionError, isConnectionError } from "@conn/core";
import { createConnectionsApp, type UnexpectedErrorReport } from "@conn/http";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWorld, IN_CI, machine, sleep, type World, writeResult } from "./support/pg.js";
import {
  type PrivateCluster,
  privateClusterUnavailable,
  startPrivateCluster,
  whenAccepting,
} from "./support/private-cluster.js";
import {
  ALICE,
  call,
  contextOf,
  type Ledger,
  newLedger,
  ORG,
  runClient,
  type ServerProcess,
  startServerProcess,
  targetOf,
  writeSurvivalFixture,
} from "./support/survival.js";
import { startTcpProxy, type TcpProxy } from "./support/tcp-proxy.js";

const unavailable = privateClusterUnavailable();
if (unavailable !== null && IN_CI) {
  throw new Error(`CI is set but a private PostgreSQL cluster cannot run: ${unavailable}`);
}
/** Runs the suites when a private cluster can run; shows them skipped, with the reason, otherwise (never in CI). */
const suite = unavailable === null ? describe : describe.skip;
const why = unavailable === null ? "" : ` [skipped: ${unavailable}]`;

const figures: Record<string, unknown> = { machine: machine() };
let cluster: PrivateCluster | undefined;

beforeAll(async () => {
  if (unavailable === null) cluster = await startPrivateCluster();
}, 90_000);

afterAll(async () => {
  await cluster?.destroy();
  if (unavailable === null) writeResult("survival", figures);
}, 60_000);

/** The cluster (started in beforeAll). */
function db(): PrivateCluster {
  if (cluster === undefined) throw new Error("the private cluster did not start");
  return cluster;
}

/** The driver's errors in a cause chain: every link below the ConnectionErrors (a pool error may wrap another). */
function driverErrors(error: unknown): { message?: unknown; code?: unknown }[] {
  const found: { message?: unknown; code?: unknown }[] = [];
  for (let link = error; link !== undefined && link !== null; link = (link as { cause?: unknown }).cause) {
    if (!isConnectionError(link)) found.push(link as { message?: unknown; code?: unknown });
    if (!(link instanceof Error)) break;
  }
  return found;
}

/** A stack frame as V8 prints one, or a source path. */
const STACK_FRAME = /\bat [^\s]+ \(|\bat .+:\d+:\d+|\.(?:ts|js|mjs|cjs):\d+/;

/**
 * What no answer may contain: the driver's own messages and codes seen in this run (learned from what the reporter
 * got), the host, every port in play, `ECONN`, a connection string, a stack frame.
 */
class Internals {
  readonly messages = new Set<string>();
  readonly codes = new Set<string>();

  constructor(private readonly ports: number[]) {}

  /** Learns what the driver said from one reported error. */
  learn(error: unknown): void {
    for (const e of driverErrors(error)) {
      if (typeof e.message === "string" && e.message.length >= 8) this.messages.add(e.message);
      if (typeof e.code === "string") this.codes.add(e.code);
    }
  }

  /** What of them `text` contains. */
  foundIn(text: string): string[] {
    const found: string[] = [];
    for (const m of this.messages) if (text.includes(m)) found.push(`driver message "${m}"`);
    for (const c of this.codes) if (text.includes(c)) found.push(`driver code ${c}`);
    for (const p of this.ports) if (text.includes(String(p))) found.push(`port ${p}`);
    if (text.includes("127.0.0.1")) found.push("the host");
    if (/ECONN/.test(text)) found.push("ECONN");
    if (/postgres(ql)?:\/\//.test(text)) found.push("a connection string");
    if (STACK_FRAME.test(text)) found.push("a stack frame");
    return found;
  }
}

/** What a client sees of an answer, but the request id (random, ours) and Date: what is checked for internals. */
function visible(status: number, headers: Headers, text: string): string {
  const id = headers.get("x-request-id") ?? "";
  const shown = [...headers].filter(([k]) => k !== "x-request-id" && k !== "date");
  return `${status} ${JSON.stringify(shown)} ${id === "" ? text : text.replaceAll(id, "<id>")}`;
}

// ---------------------------------------------------------------------------------------------------------------
suite(`(a) answers during real outages carry codes, not internals${why}`, () => {
  const schema = "outage";
  const ROLE = "conn_limited";
  let proxy: TcpProxy;
  /** Straight to the cluster, and through the proxy that can go silent: the same tables, two pools. */
  const ways: {
    name: "direct" | "proxied";
    database: Database;
    world: World;
    app: ReturnType<typeof createConnectionsApp>;
  }[] = [];
  const reports: { error: unknown; report: UnexpectedErrorReport }[] = [];
  /** Every failed answer of this suite, as the caller saw it. */
  const answers: { scenario: string; kind: "http" | "facade"; text: string; requestId?: string }[] = [];
  const seen: Record<string, { failures: number; driver: Record<string, number> }> = {};
  let admin: pg.Client;

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: db().url("conn-outage-admin") });
    admin.on("error", () => {});
    await admin.connect();
    await admin.query(`CREATE ROLE ${ROLE} LOGIN`);
    await admin.query(`GRANT CREATE ON DATABASE postgres TO ${ROLE}`);
    await admin.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${ROLE}`);
    proxy = await startTcpProxy(db().port);
    const url = (port: number, app: string) =>
      `postgres://${ROLE}@127.0.0.1:${port}/postgres?application_name=${app}`;
    const direct = await connectPostgres({
      connectionString: url(db().port, "conn-outage"),
      poolConfig: { max: 4 },
    });
    await migrate(direct, { schema });
    const proxied = await connectPostgres({
      connectionString: url(proxy.port, "conn-outage"),
      poolConfig: { max: 4, connectionTimeoutMillis: 300, query_timeout: 1_500 },
    });
    const first = buildWorld(direct, schema, new SystemClock());
    first.orgs.put({ code: ORG, name: "Acme", connectionUrl: "https://acme.example/c/{token}" });
    first.contexts.defineObject(ORG, { name: "c_file", allowConnections: true });
    first.accounts.put(ORG, { _id: ALICE, email: "alice@acme.example", name: {}, verified: true });
    for (let i = 0; i < 8; i++) {
      first.accounts.put(ORG, { _id: targetOf(i), email: `t${i}@acme.example`, name: {}, verified: true });
      first.contexts.grant(ORG, ALICE, { object: "c_file", _id: contextOf(i) }, 7);
    }
    for (const [name, database, world] of [
      ["direct", direct, first],
      ["proxied", proxied, buildWorld(proxied, schema, new SystemClock(), first)],
    ] as const) {
      const app = createConnectionsApp({
        connections: world.connections,
        authenticate: (request) => {
          const header = request.headers.get("authorization");
          return header?.startsWith("Bearer ") ? { accountId: header.slice(7) } : null;
        },
        onUnexpectedError: (error, _request, report) => reports.push({ error, report }),
      });
      ways.push({ name, database, world, app });
    }
  }, 60_000);

  afterAll(async () => {
    for (const way of ways) await way.database.close().catch(() => {});
    await proxy?.close();
    await admin?.end().catch(() => {});
  });

  /** One HTTP call through the app, in process; a 5xx is checked and recorded. */
  async function http(
    way: (typeof ways)[number],
    scenario: string,
    method: string,
    path: string,
    as: string,
    body?: unknown,
  ) {
    const response = await way.app.fetch(
      new Request(`http://app.test/${ORG}/v2${path}`, {
        method,
        headers: {
          authorization: `Bearer ${as}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    );
    const text = await response.text();
    if (response.status >= 500) {
      const id = response.headers.get("x-request-id") ?? "";
      answers.push({
        scenario,
        kind: "http",
        text: visible(response.status, response.headers, text),
        requestId: id,
      });
      expect(response.status, text).toBe(503);
      expect(JSON.parse(text)).toMatchObject({ errCode: "cortex.error.unavailable", requestId: id });
      expect(response.headers.get("retry-after")).toBe("1");
    }
    return { status: response.status, body: text === "" ? undefined : JSON.parse(text) };
  }

  /** One facade call; a failure is checked and recorded. */
  async function facade(scenario: string, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (error) {
      expect(isConnectionError(error, "cortex.error.unavailable"), String(error)).toBe(true);
      const e = error as ConnectionError;
      expect(e.retryable).toBe(true);
      reports.push({
        error,
        report: { requestId: "", method: "", route: "", path: "", status: 503, code: e.code },
      });
      answers.push({
        scenario,
        kind: "facade",
        text: JSON.stringify({ message: e.message, reason: e.reason, path: e.path, fault: e.toFault() }),
      });
    }
  }

  /** A round of every kind of call (HTTP routes and facade methods) on pair `i`. */
  async function round(way: (typeof ways)[number], scenario: string, i: number): Promise<void> {
    const ctx = contextOf(i);
    const created = await http(way, scenario, "POST", `/c_files/${ctx}/connections`, ALICE, {
      targets: [{ _id: targetOf(i) }],
    });
    const id = created.status === 200 ? (created.body.data[0]?._id as string | undefined) : undefined;
    const listed = await http(way, scenario, "GET", "/connections?state=0", targetOf(i));
    const token = listed.status === 200 ? listed.body.data[0]?.token : undefined;
    await http(way, scenario, "GET", `/c_files/${ctx}/connections`, ALICE);
    if (id !== undefined) await http(way, scenario, "GET", `/connections/${id}`, targetOf(i));
    if (token !== undefined) {
      await http(way, scenario, i % 2 === 0 ? "POST" : "DELETE", `/connections/${token}`, targetOf(i));
    }
    if (id !== undefined) await http(way, scenario, "DELETE", `/connections/${id}`, ALICE);
    const c = way.world.connections;
    await facade(scenario, () => c.resolveAccess(ORG, targetOf(i), { object: "c_file", _id: ctx }));
    await facade(scenario, () => c.bindRegisteredAccount(ORG, targetOf(i)));
    await facade(scenario, () => c.purgeExpired(ORG));
  }

  /** Rounds on `clients` pairs at once while `chaos` runs; tallies what failed and what the driver said. */
  async function scenario(
    name: string,
    way: "direct" | "proxied",
    clients: number,
    chaos: () => Promise<void>,
  ): Promise<void> {
    const on = ways.find((w) => w.name === way) as (typeof ways)[number];
    const before = answers.length;
    const reportedBefore = reports.length;
    let done = false;
    await Promise.all([
      chaos().finally(() => {
        done = true;
      }),
      ...Array.from({ length: clients }, async (_, i) => {
        for (let k = 0; k < 3 || !done; k++) await round(on, name, i);
      }),
    ]);
    const driver: Record<string, number> = {};
    for (const { error } of reports.slice(reportedBefore)) {
      const key = driverErrors(error)
        .map((e) => `${typeof e.code === "string" ? `${e.code} ` : ""}${String(e.message)}`)
        .join(" ← ")
        .replace(/\d{4,}/g, "N")
        .slice(0, 120);
      driver[key] = (driver[key] ?? 0) + 1;
    }
    seen[name] = { failures: answers.length - before, driver };
  }

  it("meets backends terminated, a connection limit, a silent network and a stopped server, and answers each failure with only its code", async () => {
    await scenario("backends terminated every 10 ms", "direct", 4, async () => {
      for (let k = 0; k < 100; k++) {
        await admin.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'conn-outage'",
        );
        await sleep(10);
      }
    });
    await scenario("more sessions than the role's connection limit (53300)", "direct", 4, async () => {
      await admin.query(`ALTER ROLE ${ROLE} CONNECTION LIMIT 1`);
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'conn-outage'",
      );
      await sleep(1_500);
      await admin.query(`ALTER ROLE ${ROLE} CONNECTION LIMIT -1`);
    });
    await scenario("a network gone silent (connect and query timeouts)", "proxied", 2, async () => {
      await sleep(50);
      proxy.mode = "stall";
      await sleep(2_500);
      proxy.mode = "forward";
    });
    await admin.end();
    await scenario("the server stopped (fast shutdown, then nothing listens)", "direct", 4, async () => {
      await sleep(50);
      await db().stop();
      await sleep(1_500);
      await db().start();
    });

    // Every HTTP failure was reported once, with the id its fault carries; learn what the driver said.
    const internals = new Internals([db().port, proxy.port]);
    for (const { error } of reports) internals.learn(error);
    const httpIds = answers.filter((a) => a.kind === "http").map((a) => a.requestId);
    const reportedIds = reports.map((r) => r.report.requestId).filter((id) => id !== "");
    expect(reportedIds.sort()).toEqual([...httpIds].sort());
    expect(new Set(httpIds).size).toBe(httpIds.length);

    const leaks = answers.flatMap((a) =>
      internals.foundIn(a.text).map((what) => `${a.scenario} (${a.kind}): ${what}: ${a.text}`),
    );
    figures.outageAnswers = {
      scenarios: seen,
      failedAnswers: { http: httpIds.length, facade: answers.length - httpIds.length },
      driverCodesSeen: [...internals.codes].sort(),
      driverMessagesSeen: [...internals.messages].map((m) => m.replace(/\d{4,}/g, "N")).sort(),
      leaks: leaks.slice(0, 10),
    };
    expect(leaks).toEqual([]);
    // Each scenario really failed calls, and the run met the driver faults it was meant to.
    for (const [name, s] of Object.entries(seen)) expect(s.failures, name).toBeGreaterThan(0);
    for (const code of ["57P01", "53300", "ECONNREFUSED"]) expect([...internals.codes], code).toContain(code);
    expect([...internals.messages].join("\n")).toMatch(/timeout/i);
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------------------------
suite(`(b) the server survives its database${why}`, () => {
  const CLIENTS = 16;
  const CHAOS_MS = 15_000;
  const APP = "conn-survival-server";
  let dir: string;
  let server: ServerProcess;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "conn-survival-"));
    const fixture = await writeSurvivalFixture(dir, CLIENTS);
    server = await startServerProcess({
      PORT: "0",
      CONN_DATABASE_URL: db().url(APP),
      CONN_DATABASE_SCHEMA: "survival",
      CONN_TOKEN_KEY: "5a".repeat(32),
      CONN_FIXTURE: fixture,
      CONN_NOTICES: "log",
    });
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it(`lives through ${CHAOS_MS / 1000} s of terminated backends and a restart under ${CLIENTS} clients, answers 503s only, and keeps every write whole`, async () => {
    const ledger: Ledger = newLedger(CLIENTS);
    let stop = false;
    const started = performance.now();
    const clients = Array.from({ length: CLIENTS }, (_, i) => runClient(server.url, i, ledger, () => stop));

    // Warm up, then terminate the server's own backends every 10 ms.
    await sleep(1_000);
    const admin = new pg.Client({ connectionString: db().url("conn-survival-admin") });
    admin.on("error", () => {});
    await admin.connect();
    const chaos = { rounds: 0, backendsTerminated: 0 };
    const chaosStarted = performance.now();
    while (performance.now() - chaosStarted < CHAOS_MS) {
      const { rows } = await admin.query<{ n: number }>(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1",
        [APP],
      );
      chaos.backendsTerminated += rows[0]?.n ?? 0;
      chaos.rounds++;
      await sleep(10);
    }
    await admin.end();
    const failuresDuringTerminations = ledger.failures.length;

    // A full restart under load: when did the database accept connections again, and when did the server answer?
    const restartAt = performance.now();
    const restart = db().restart();
    let downAt: number | null = null;
    while (downAt === null && performance.now() - restartAt < 20_000) {
      if (!(await db().accepts())) downAt = performance.now();
    }
    const backAt = await whenAccepting(db(), 30_000, 5);
    await restart;
    let firstAnswerAt: number | null = null;
    while (firstAnswerAt === null && performance.now() - backAt < 10_000) {
      const probe = await call(server.url, "GET", "/connections", { as: ALICE, timeoutMs: 5_000 }).catch(
        () => null,
      );
      if (probe?.status === 200) firstAnswerAt = probe.at;
      else await sleep(10);
    }
    // A little more load after the return, then the clients stop wherever they are.
    await sleep(2_000);
    stop = true;
    await Promise.all(clients);
    const firstClientSuccessAt = ledger.successes.filter((t) => t > backAt).sort((a, b) => a - b)[0] ?? null;
    const seconds = (performance.now() - started) / 1000;
    const alive = server.alive();
    const afterwards = await call(server.url, "GET", "/connections", { as: ALICE }).catch(() => null);

    // Every 5xx the clients got was reported by the server exactly once, with the request id the client got.
    const stderr = server.stderr();
    const reportedOnce = ledger.failures.filter(
      (f) => stderr.split(`(request ${f.headers.get("x-request-id")})`).length === 2,
    ).length;
    const internals = new Internals([db().port]);
    for (const m of stderr.matchAll(/\bcode: '([0-9A-Z]{5}|E[A-Z]+)'/g)) internals.codes.add(m[1] as string);
    for (const m of stderr.matchAll(/^(?:error|Error): (.+)$/gm))
      internals.messages.add((m[1] as string).trim());
    const leaks = ledger.failures.flatMap((f) =>
      internals.foundIn(visible(f.status, f.headers, f.text)).map((what) => `${what}: ${f.text}`),
    );

    const sql = await invariants(db().url("conn-survival-check"), ledger);
    /** Answers per second of the run: `ok/503/other` (the terminations run from second 1 to 16). */
    const perSecond: string[] = [];
    for (const { at, status } of ledger.timeline) {
      const second = Math.floor((at - started) / 1000);
      const [ok, unavailable, other] = (perSecond[second] ?? "0/0/0").split("/").map(Number) as [
        number,
        number,
        number,
      ];
      perSecond[second] =
        status >= 200 && status < 500
          ? `${ok + 1}/${unavailable}/${other}`
          : status === 503
            ? `${ok}/${unavailable + 1}/${other}`
            : `${ok}/${unavailable}/${other + 1}`;
    }
    figures.survival = {
      clients: CLIENTS,
      seconds: Math.round(seconds * 10) / 10,
      cycles: ledger.cycles,
      answers: ledger.answers,
      terminations: { everyMs: 10, forMs: CHAOS_MS, ...chaos },
      failed503DuringTerminations: failuresDuringTerminations,
      failed503Total: ledger.failures.length,
      restart: {
        databaseDownAfterMs: downAt === null ? null : Math.round(downAt - restartAt),
        databaseBackAfterMs: Math.round(backAt - restartAt),
        serverAnsweredAfterDatabaseBackMs: firstAnswerAt === null ? null : Math.round(firstAnswerAt - backAt),
        firstClientSuccessAfterDatabaseBackMs:
          firstClientSuccessAt === null ? null : Math.round(firstClientSuccessAt - backAt),
        restartIssuedAtSecond: Math.round((restartAt - started) / 100) / 10,
        databaseBackAtSecond: Math.round((backAt - started) / 100) / 10,
      },
      answersPerSecondOk503Other: Array.from(perSecond, (x) => x ?? "0/0/0"),
      slowestAnswerMs: Math.round(ledger.slowestMs),
      reportedOnceByTheServer: `${reportedOnce} of ${ledger.failures.length}`,
      driverCodesInTheServersReports: [...internals.codes].sort(),
      processAlive: alive,
      sql,
      violations: ledger.violations.slice(0, 20),
      leaks: leaks.slice(0, 5),
    };
    console.log(`survival: ${JSON.stringify(figures.survival)}`);

    expect(alive, `the server process is still alive; it wrote:\n${stderr.slice(-1_500)}`).toBe(true);
    expect(afterwards?.status, "it answers after the outage").toBe(200);
    expect(ledger.violations).toEqual([]);
    expect(leaks).toEqual([]);
    expect(chaos.backendsTerminated, "backends were really terminated").toBeGreaterThan(0);
    expect(failuresDuringTerminations, "the terminations really failed calls").toBeGreaterThan(0);
    expect(ledger.createdIds.size, "the server acknowledged creates").toBeGreaterThan(0);
    expect(ledger.cycles, "clients completed whole cycles").toBeGreaterThan(0);
    expect(reportedOnce, "every 503 was reported once by the server, with its id").toBe(
      ledger.failures.length,
    );
    expect(downAt, "the restart really took the database down").not.toBeNull();
    expect(firstAnswerAt, "the server answered after the database came back").not.toBeNull();
    expect(
      (firstAnswerAt as number) - backAt,
      "answers within 1 s of the database's return",
    ).toBeLessThanOrEqual(1_000);
    expect(sql.problems).toEqual([]);
  }, 120_000);
});

/** The SQL checks after the run: no partial write, and what the server acknowledged is what the database holds. */
async function invariants(
  url: string,
  ledger: Ledger,
): Promise<{ rows: Record<string, number>; problems: string[] }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const problems: string[] = [];
  const q = async <R extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
    (await client.query<R>(text, params)).rows;
  try {
    const t = "survival.connections";
    const o = "survival.connection_outbox";
    const count = async (label: string, text: string) => {
      const [row] = await q<{ n: number }>(`SELECT count(*)::int AS n FROM (${text}) x`);
      if ((row?.n ?? 0) > 0) problems.push(`${label}: ${row?.n}`);
    };
    await count(
      "active rows without a target account or with token material",
      `SELECT 1 FROM ${t} WHERE state = 1 AND (target_account IS NULL OR token_hash IS NOT NULL OR token_seal IS NOT NULL OR expires_at IS NOT NULL)`,
    );
    await count(
      "pending rows without token hash, seal or expiry",
      `SELECT 1 FROM ${t} WHERE state = 0 AND (token_hash IS NULL OR token_seal IS NULL OR expires_at IS NULL)`,
    );
    await count(
      "two active rows for one (org, context, account)",
      `SELECT 1 FROM ${t} WHERE state = 1 GROUP BY org, context_object, context_id, target_account HAVING count(*) > 1`,
    );
    await count(
      "pending invitations without their notice in the outbox",
      `SELECT 1 FROM ${t} c WHERE c.state = 0 AND NOT EXISTS (SELECT 1 FROM ${o} x WHERE x.org = c.org AND x.notice->>'connectionId' = c.id AND x.notice->>'kind' LIKE 'invite-%')`,
    );
    const removed = [...ledger.removedIds];
    const [stillThere] = await q<{ n: number }>(`SELECT count(*)::int AS n FROM ${t} WHERE id = ANY($1)`, [
      removed,
    ]);
    if ((stillThere?.n ?? 0) > 0)
      problems.push(`acknowledged deletes or rejects still stored: ${stillThere?.n}`);
    const created = [...ledger.createdIds.keys()];
    const noticed = await q<{ id: string }>(
      `SELECT DISTINCT notice->>'connectionId' AS id FROM ${o} WHERE notice->>'connectionId' = ANY($1)`,
      [created],
    );
    if (noticed.length !== created.length) {
      problems.push(
        `acknowledged creates without their notice in the outbox: ${created.length - noticed.length}`,
      );
    }
    // Each pair holds exactly what the last acknowledged operation left.
    const rows = await q<{ id: string; state: number; context_id: string; target_account: string | null }>(
      `SELECT id, state::int AS state, context_id, target_account FROM ${t}`,
    );
    ledger.finalState.forEach((expected, i) => {
      const mine = rows.filter((r) => r.context_id === contextOf(i));
      const got = mine.map((r) => `${r.state === 0 ? "pending" : "active"} ${r.id} for ${r.target_account}`);
      if (expected === null) problems.push(`pair ${i}: left in an unknown state`);
      else if (expected.kind === "empty" && mine.length > 0)
        problems.push(`pair ${i}: expected nothing, found ${got}`);
      else if (
        expected.kind !== "empty" &&
        !(
          mine.length === 1 &&
          mine[0]?.id === expected.id &&
          mine[0]?.state === (expected.kind === "pending" ? 0 : 1)
        )
      ) {
        problems.push(
          `pair ${i}: expected ${expected.kind} ${expected.id}, found ${got.join(", ") || "nothing"}`,
        );
      }
    });
    const byState = await q<{ state: number; n: number }>(
      `SELECT state::int AS state, count(*)::int AS n FROM ${t} GROUP BY state`,
    );
    const [outbox] = await q<{ n: number }>(`SELECT count(*)::int AS n FROM ${o}`);
    return {
      rows: {
        ...Object.fromEntries(byState.map((r) => [r.state === 0 ? "pending" : "active", r.n])),
        outbox: outbox?.n ?? 0,
        acknowledgedCreates: created.length,
        acknowledgedRemovals: removed.length,
      },
      problems,
    };
  } finally {
    await client.end();
  }
}
