import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { AccessLevel, accessLevelName, ConnectionState } from "@conn/core";
import { accessCacheGoals, runAccessCacheBench } from "./access-cache.js";
import { measuresBuilt } from "./artifact.js";
import type { StatementCount } from "./counting.js";
import {
  checkSize,
  FLOOR_ORG,
  hitQueries,
  ids,
  missQueries,
  OBJECT,
  ORG,
  PURGE_ORG,
  random,
  rowOf,
} from "./dataset.js";
import { type BenchEngine, openEngine, seedAccounts } from "./engines.js";
import { runFlowGrowth } from "./flows.js";
import { evaluateGoals } from "./goals.js";
import { measure, measureGroup, measureOnce, type TaskSpec, type Timing } from "./harness.js";
import { runHttp } from "./http.js";
import { runHttpGet } from "./http-get.js";
import type { BenchOptions } from "./options.js";
import { loadCasbin } from "./peer-casbin.js";
import { caslCheck, loadCasl } from "./peer-casl.js";
import { refresher } from "./replay.js";
import { renderMarkdown } from "./report.js";
import type { BenchResults, EngineResult, PeerResult, ScenarioResult } from "./results.js";
import { runScale, type ScaleResult } from "./scale.js";
import { type Staged, stager } from "./staging.js";
import { renderSvg } from "./svg.js";

/** Rounds the look-up and list groups are interleaved in. */
const ROUNDS = 5;

/** How long the client stays busy before the paused replay of create's SQL (`createSql.paused`), in µs. */
const PAUSE_US = 100;

/** Keeps this thread on the CPU for `us` microseconds (a pause that is not a sleep: the client is busy, as a library's work keeps it). */
function busyWait(us: number): void {
  const end = process.hrtime.bigint() + BigInt(Math.round(us * 1000));
  while (process.hrtime.bigint() < end) {
    // spin
  }
}

/** What a run wrote. */
export interface BenchOutput {
  results: BenchResults;
  jsonPath: string;
  markdownPath: string;
  svgPath: string;
}

/** `global.gc`, exposed by `--expose-gc` or, failing that, switched on at run time. */
function getGc(): { gc: () => void; exposed: boolean } {
  const g = globalThis as { gc?: () => void };
  if (typeof g.gc === "function") return { gc: g.gc, exposed: true };
  setFlagsFromString("--expose-gc");
  return { gc: runInNewContext("gc") as () => void, exposed: false };
}

/** Heap in use, settled: the least of a few samples, each after full collections. */
async function settledHeap(gc: () => void): Promise<number> {
  // The least of a few samples, each after a full collection and a turn of the event loop: garbage that something
  // in flight still held (a test runner's messages, a finished phase's promises) is let go between them, and the
  // seeded data, held throughout, is in every one.
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    gc();
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    least = Math.min(least, process.memoryUsage().heapUsed);
  }
  return least;
}

/** The server's version string, or null. */
async function serverVersion(engine: BenchEngine): Promise<string | null> {
  if (engine.name !== "postgres" || engine.counter === null) return null;
  const { rows } = await engine.counter.query<{ v: string }>("SELECT current_setting('server_version') AS v");
  return rows[0]?.v ?? null;
}

/**
 * Runs the whole bench: for each engine, seeds the warm data set, times every scenario against its floor, counts
 * statements, runs the purge and the HTTP flow; times the peer on the same grants; then writes the JSON result
 * and (outside quick mode) the doc and the chart.
 */
export async function runBench(options: BenchOptions): Promise<BenchOutput> {
  const started = performance.now();
  const { log, size } = options;
  checkSize(size);
  const { gc, exposed } = getGc();
  const engines: EngineResult[] = [];
  let postgresServer: string | null = null;

  let peer: PeerResult | null = null;
  if (options.peer) peer = await runPeer(options);

  for (const name of options.engines) {
    log(`[bench] ${name}: opening`);
    const engine = await openEngine(name, options.pgUrl);
    try {
      if (name === "postgres") postgresServer = await serverVersion(engine);
      engines.push(await runEngine(engine, options, gc));
    } finally {
      await engine.close();
    }
  }

  const flows: BenchResults["flows"] = [];
  if (options.flows !== null) {
    for (const name of ["memory", "postgres"] as const) {
      if (!options.engines.includes(name)) continue;
      log(`[bench] flows ${name}: ${options.flows.chunk} fresh, then after ${options.flows.total}`);
      flows.push(await runFlowGrowth(name, options.pgUrl, { ...options.flows, log }));
    }
  }

  const scale: ScaleResult[] = [];
  if (options.scale !== null) {
    for (const name of ["memory", "postgres"] as const) {
      const sizes = options.scale[name];
      if (!options.engines.includes(name) || sizes.length === 0) continue;
      scale.push(
        await runScale(
          name,
          options.pgUrl,
          sizes,
          {
            reads: {
              ...options.reads,
              time: options.reads.time / 2,
              iterations: options.reads.iterations / 2,
            },
            writes: {
              ...options.writes,
              time: options.writes.time / 2,
              iterations: options.writes.iterations / 2,
            },
            accounts: options.quick ? 100 : 10_000,
            rounds: options.quick ? 1 : 3,
          },
          log,
        ),
      );
    }
  }
  const accessCache =
    options.engines.includes("postgres") && options.pgUrl !== undefined
      ? await runAccessCacheBench(options, options.pgUrl)
      : null;

  const results: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      mode: options.quick ? "quick" : "full",
      node: process.version,
      v8: process.versions.v8,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? "unknown",
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      postgresServer,
      harness: `tinybench ${versionOf("tinybench")}`,
      library: measuresBuilt() ? "built" : "sources",
      gcExposed: exposed,
      durationMs: 0,
    },
    size,
    budgets: {
      reads: options.reads,
      writes: options.writes,
      http: options.http,
      httpGet: options.httpGet,
      flows: options.flows,
    },
    engines,
    peer,
    flows,
    scale,
    accessCache,
    goals: [],
  };
  results.meta.durationMs = Math.round(performance.now() - started);
  return writeOutputs(results, options);
}

/**
 * Writes the result file, the doc and the chart. The goals are (re)computed from the figures, so a result file
 * can be rendered again (`pnpm bench --render`) after the report's wording changes, without measuring again.
 */
export async function writeOutputs(
  results: BenchResults,
  options: Pick<BenchOptions, "quick" | "resultsDir" | "docsDir" | "log">,
): Promise<BenchOutput> {
  results.goals = [...evaluateGoals(results), ...accessCacheGoals(results)];
  await mkdir(options.resultsDir, { recursive: true });
  const jsonPath = join(options.resultsDir, options.quick ? "quick.json" : "latest.json");
  await writeFile(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  const docsDir = options.docsDir ?? options.resultsDir;
  const prefix = options.docsDir === null ? (options.quick ? "quick-" : "") : "";
  const markdownPath = join(docsDir, `${prefix}benchmarks.md`);
  const svgPath = join(docsDir, `${prefix}benchmarks.svg`);
  await mkdir(docsDir, { recursive: true });
  await writeFile(svgPath, renderSvg(results));
  await writeFile(markdownPath, renderMarkdown(results, `${prefix}benchmarks.svg`));
  options.log(
    `[bench] wrote ${jsonPath}, ${markdownPath}, ${svgPath} (run took ${(results.meta.durationMs / 1000).toFixed(1)} s)`,
  );
  return { results, jsonPath, markdownPath, svgPath };
}

/** A dependency's version, from its package.json next to its resolved entry point. */
function versionOf(name: string): string {
  try {
    const require = createRequire(import.meta.url);
    let dir = dirname(require.resolve(name));
    for (let i = 0; i < 4; i++) {
      const file = join(dir, "package.json");
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
        if (pkg.name === name && pkg.version !== undefined) return pkg.version;
      }
      dir = dirname(dir);
    }
  } catch {
    // fall through
  }
  return "?";
}

/**
 * The peers on the same grants as the warm data set, hit and miss: casbin through its synchronous `enforceSync` (its
 * async `enforce` adds promise plumbing the check does not need) in both models, and `@casl/ability`'s `can()`.
 */
async function runPeer(options: BenchOptions): Promise<PeerResult> {
  const { log, size } = options;
  log("[bench] peers: loading the grants into casbin and CASL");
  let start = performance.now();
  const casbin = await loadCasbin(size);
  const casbinMs = performance.now() - start;
  start = performance.now();
  const casl = loadCasl(size);
  const caslMs = performance.now() - start;
  const hits = hitQueries(size, 10_000);
  const misses = missQueries(size, 10_000);
  const name = (level: AccessLevel | null) => accessLevelName[level ?? AccessLevel.Read];
  const scenarios: PeerResult["scenarios"] = {};
  for (const [kind, queries] of [
    ["hit", hits],
    ["miss", misses],
  ] as const) {
    const expected = kind === "hit";
    const checks: [
      `casbin.${"acl" | "rbac"}.${typeof kind}` | `casl.${typeof kind}`,
      string,
      () => boolean,
    ][] = [];
    for (const [model, enforcer] of [
      ["acl", casbin.acl],
      ["rbac", casbin.rbac],
    ] as const) {
      let n = 0;
      checks.push([
        `casbin.${model}.${kind}`,
        `casbin enforceSync (${model === "acl" ? "basic ACL model, a policy line per grant" : "RBAC model, a role link per grant"}), ${kind}`,
        () => {
          const q = queries[n++ % queries.length] as (typeof queries)[number];
          return enforcer.enforceSync(q.account, q.context._id, name(q.expected));
        },
      ]);
    }
    checks.push([
      `casl.${kind}`,
      `@casl/ability can() (an ability per account, a rule per grant), ${kind}`,
      caslCheck(casl, queries),
    ]);
    for (const [id, label, check] of checks) {
      log(`[bench] peers: ${id}`);
      for (let k = 0; k < 3; k++) {
        if (check() !== expected) throw new Error(`${id}: expected ${expected}`);
      }
      const slow = id.startsWith("casbin.acl");
      scenarios[id] = {
        label,
        timing: await measure(
          // casbin's ACL model scans its policy lines (a quarter of a second per check at 100,000 grants): few
          // samples, unbatched, or this one task would take minutes.
          { name: id, fn: check, sync: true, batch: slow ? 1 : options.reads.batch },
          slow && !options.quick
            ? { ...options.reads, time: 1_000, iterations: 4, warmupTime: 0, warmupIterations: 1 }
            : options.reads,
        ),
      };
    }
  }
  return {
    casbin: { version: versionOf("casbin"), loadMs: casbinMs },
    casl: { version: versionOf("@casl/ability"), loadMs: caslMs },
    grants: casbin.grants,
    scenarios,
  };
}

/** Counts the statements of one call on a Postgres engine (undefined for memory). */
async function countOnce(
  engine: BenchEngine,
  setup: () => Promise<void>,
  work: () => Promise<unknown>,
): Promise<StatementCount | undefined> {
  if (engine.counter === null) return undefined;
  await setup();
  return engine.counter.count(work);
}

/** Every scenario on one engine. */
async function runEngine(engine: BenchEngine, options: BenchOptions, gc: () => void): Promise<EngineResult> {
  const { log, size, reads, writes } = options;
  const name = engine.name;
  const facade = engine.connections;

  seedAccounts(engine.accounts, size);
  const heapBefore = name === "memory" ? await settledHeap(gc) : 0;
  const seedAt = new Date(Date.now() - 86_400_000);
  log(`[bench] ${name}: seeding ${size.connections} connections`);
  const seedStart = performance.now();
  await engine.seedActive(size, 0, size.connections, seedAt);
  const seedMs = performance.now() - seedStart;
  const result: EngineResult = {
    engine: name,
    seed: { rows: size.connections, ms: seedMs },
    scenarios: {},
    purge: { rows: 0, removed: 0, ms: 0, rowsPerSec: 0 },
  };
  if (name === "memory") {
    result.heapBytesPerConnection = Math.round(((await settledHeap(gc)) - heapBefore) / size.connections);
  }
  const table = await engine.tableSize();
  if (table !== null) {
    result.table = { ...table, bytesPerRow: Math.round(table.bytes / Math.max(1, table.rows)) };
  }

  const add = (id: keyof EngineResult["scenarios"], scenario: ScenarioResult) => {
    result.scenarios[id] = scenario;
    const t = scenario.timing;
    log(
      `[bench] ${name}: ${id.padEnd(20)} median ${(t.medianNs / 1000).toFixed(2).padStart(9)} µs  p99 ${(t.p99Ns / 1000).toFixed(2).padStart(9)} µs  ${Math.round(t.opsPerSec).toLocaleString("en-US").padStart(11)} ops/s${scenario.statements === undefined ? "" : `  ${scenario.statements.statements} statements`}`,
    );
  };

  // --- resolveAccess, the adapter's look-up alone, and the floor ---------------------------------------------
  const hits = hitQueries(size, 10_000);
  const misses = missQueries(size, 10_000);
  const check = async (q: (typeof hits)[number]) => {
    const level = await facade.resolveAccess(ORG, q.account, q.context);
    if (level !== (q.expected ?? 0))
      throw new Error(`${name}: resolveAccess gave ${level}, expected ${q.expected}`);
  };
  for (const q of [...hits.slice(0, 20), ...misses.slice(0, 20)]) await check(q);
  const lookupBatch = name === "memory" ? reads.batch : 1;
  type Query = (typeof hits)[number];
  const cycle = (queries: readonly Query[]) => {
    let i = 0;
    return () => queries[i++ % queries.length] as Query;
  };
  const [hitStatements, missStatements] = [
    await countOnce(
      engine,
      async () => {},
      () => facade.resolveAccess(ORG, (hits[0] as Query).account, (hits[0] as Query).context),
    ),
    await countOnce(
      engine,
      async () => {},
      () => facade.resolveAccess(ORG, (misses[0] as Query).account, (misses[0] as Query).context),
    ),
  ];
  /** A scenario of the look-up groups: its id, label, task and statements. */
  interface Lookup {
    id: keyof EngineResult["scenarios"];
    label: string;
    spec: TaskSpec;
    statements?: StatementCount | undefined;
  }
  const resolveTask = (kind: "hit" | "miss", queries: readonly Query[]): Lookup => {
    const next = cycle(queries);
    return {
      id: `resolveAccess.${kind}`,
      label: `resolveAccess, ${kind === "hit" ? "an active connection" : "no connection"} (the facade: input checks, the host's access and the adapter's look-up)`,
      spec: {
        name: `${name} resolveAccess.${kind}`,
        fn: () => {
          const q = next();
          return facade.resolveAccess(ORG, q.account, q.context);
        },
        batch: lookupBatch,
      },
      statements: kind === "hit" ? hitStatements : missStatements,
    };
  };
  const adapterTask = (): Lookup => {
    const next = cycle(hits);
    return {
      id: "activeAccess.hit",
      label: "the adapter's activeAccess alone (no facade), hit",
      spec: {
        name: `${name} activeAccess.hit`,
        fn: () => {
          const q = next();
          return engine.store.connections.activeAccess(ORG, q.context, q.account);
        },
        batch: lookupBatch,
      },
    };
  };
  let floorTask: (kind: "hit" | "miss", queries: readonly Query[]) => Lookup;
  const extra: Lookup[] = [];
  if (engine.raw === null) {
    // The floor in memory: a bare Map from "context\0account" to the level, holding the same grants.
    const map = new Map<string, number>();
    for (let i = 0; i < size.connections; i++) {
      const row = rowOf(i, size);
      map.set(`${ids.context(row.context)}\u0000${ids.account(row.account)}`, row.access);
    }
    floorTask = (kind, queries) => {
      const next = cycle(queries);
      return {
        id: `floor.${kind}`,
        label: `the floor: a bare Map look-up (composite string key), ${kind}`,
        spec: {
          name: `${name} floor.${kind}`,
          fn: () => {
            const q = next();
            return map.get(`${q.context._id}\u0000${q.account}`) ?? null;
          },
          batch: reads.batch,
          sync: true,
        },
      };
    };
    // The issue's floor for the whole in-memory resolveAccess: an async function awaiting two Map.get with keys
    // computed beforehand, the host's own access and then the connection's, as resolveAccess does. The host's Map
    // holds what the bench's host holds at this point (no grant of these pairs); the connections' Map the data set.
    const hostMap = new Map<string, number>();
    const activeMap = new Map<string, number>();
    const activeKey = (object: string, context: string, account: string) =>
      `${ORG}\u0000${object}\u0000${context}\u0000${account}`;
    for (let i = 0; i < size.connections; i++) {
      const row = rowOf(i, size);
      activeMap.set(activeKey(OBJECT, ids.context(row.context), ids.account(row.account)), row.access);
    }
    const hostKeys = hits.map(
      (q) => `${ORG}\u0000${q.account}\u0000${q.context.object}\u0000${q.context._id}`,
    );
    const activeKeys = hits.map((q) => activeKey(q.context.object, q.context._id, q.account));
    let k = 0;
    const twoLookups = async (): Promise<number> => {
      const i = k++ % hits.length;
      const own = (await hostMap.get(hostKeys[i] as string)) ?? 0;
      const connected = (await activeMap.get(activeKeys[i] as string)) ?? null;
      return connected !== null && connected > own ? connected : own;
    };
    if ((await twoLookups()) !== hits[0]?.expected)
      throw new Error("memory: the two-look-up floor found nothing");
    extra.push({
      id: "twoLookups.hit",
      label: "the floor of the whole call: an async function awaiting two Map.get with precomputed keys, hit",
      spec: { name: `${name} twoLookups.hit`, fn: twoLookups, batch: reads.batch },
    });
  } else {
    const raw = engine.raw;
    const params = (q: Query) => [ORG, q.context.object, q.context._id, q.account];
    const probe = await raw.prepared(params(hits[0] as Query));
    if (probe.rows[0]?.access !== hits[0]?.expected)
      throw new Error(`${name}: the floor statement found nothing`);
    const floorLabel =
      name === "postgres"
        ? "the floor: the same SELECT as one named prepared statement through the same pg pool, same index"
        : "the floor: the same SELECT straight through PGlite's query (PGlite has no named prepared statements)";
    floorTask = (kind, queries) => {
      const next = cycle(queries);
      return {
        id: `floor.${kind}`,
        label: `${floorLabel}, ${kind}`,
        spec: { name: `${name} floor.${kind}`, fn: () => raw.prepared(params(next())) },
      };
    };
    // PGlite has one way to send a statement, so only the server gets the unprepared comparison.
    if (name === "postgres") {
      const next = cycle(hits);
      extra.push({
        id: "floor.unpreparedHit",
        label: "the same SELECT unnamed (parsed and planned on every call), hit",
        spec: { name: `${name} floor.unpreparedHit`, fn: () => raw.unprepared(params(next())) },
      });
    }
  }
  // Each group runs interleaved, so the ratios within it hold even when the machine's load comes and goes.
  for (const group of [
    [resolveTask("hit", hits), adapterTask(), ...extra, floorTask("hit", hits)],
    [resolveTask("miss", misses), floorTask("miss", misses)],
  ]) {
    const timings = await measureGroup(
      group.map((l) => l.spec),
      reads,
      ROUNDS,
    );
    group.forEach((l, i) => {
      add(l.id, {
        label: l.label,
        timing: timings[i] as Timing,
        ...(l.statements === undefined ? {} : { statements: l.statements }),
      });
    });
  }

  // --- list: first page vs a page `listDepth` rows deep ----------------------------------------------------
  const owner = { org: ORG, accountId: ids.owner };
  const deepCursor = ids.seeded(size.connections - size.listDepth);
  const first = await facade.list(owner, { show: "creator" });
  const deep = await facade.list(owner, { show: "creator", startingAfter: deepCursor });
  if (first.data[0]?._id !== ids.seeded(size.connections - 1) || deep.data.length !== 100) {
    throw new Error(`${name}: the list pages are not what the data set holds`);
  }
  if (deep.data[0]?._id !== ids.seeded(size.connections - size.listDepth - 1)) {
    throw new Error(`${name}: the deep page does not start ${size.listDepth} rows deep`);
  }
  const firstQuery = { show: "creator" as const };
  const deepQuery = { show: "creator" as const, startingAfter: deepCursor };
  const listStatements = [
    await countOnce(
      engine,
      async () => {},
      () => facade.list(owner, firstQuery),
    ),
    await countOnce(
      engine,
      async () => {},
      () => facade.list(owner, deepQuery),
    ),
  ];
  const listTimings = await measureGroup(
    [
      { name: `${name} list.first`, fn: () => facade.list(owner, firstQuery) },
      { name: `${name} list.deep`, fn: () => facade.list(owner, deepQuery) },
    ],
    writes,
    ROUNDS,
  );
  (["first", "deep"] as const).forEach((kind, i) => {
    const statements = listStatements[i];
    add(`list.${kind}`, {
      label:
        kind === "first"
          ? `list as creator of ${size.connections.toLocaleString("en-US")} connections, first page of 100`
          : `the same list, the page ${size.listDepth.toLocaleString("en-US")} rows deep (startingAfter cursor)`,
      timing: listTimings[i] as Timing,
      ...(statements === undefined ? {} : { statements }),
    });
  });

  // --- writes: create with 1, 10, 100 targets; accept; reject; delete ------------------------------------------
  const creator = { org: ORG, accountId: ids.creator };
  const staging = stager(engine, size.accounts);
  const pick = random(7);
  const writeFloor = engine.writeFloor;
  const floorSpec = (id: string): TaskSpec | null =>
    writeFloor === null ? null : { name: `${name} ${id}`, fn: writeFloor };
  const floorLabel =
    "the write floor: BEGIN, a one-row INSERT into connections (a named prepared statement), COMMIT, on the same pool";
  /** Times `spec` alone, or interleaved with the write floor (which is then added as `floorId`). */
  const withFloor = async (
    spec: TaskSpec,
    floorId: "writeFloor" | "writeFloor.analyzed" | "writeFloor.create",
  ) => {
    const floor = floorSpec(floorId);
    if (floor === null) return measure(spec, writes);
    const [timing, floorTiming] = await measureGroup([spec, floor], writes, ROUNDS);
    add(floorId, { label: floorLabel, timing: floorTiming as Timing });
    return timing as Timing;
  };
  /**
   * create (1 target) timed interleaved with the write floor and, on the server, with its own SQL alone: the round
   * trips one create sent, captured and replayed on a raw client of the same pool with fresh identifiers.
   */
  const createWithFloors = async (
    spec: TaskSpec,
    setup: () => Promise<void>,
    create: () => Promise<void>,
  ): Promise<Timing> => {
    const floor = floorSpec("writeFloor.create");
    const { replay, schema, counter } = engine;
    if (floor === null || replay === null || schema === null || counter === null) {
      return withFloor(spec, "writeFloor.create");
    }
    await setup();
    const fresh = refresher(await replay.capture(create));
    let trips = fresh.next();
    const replaySpec: TaskSpec = {
      name: `${name} createSql.1`,
      fn: () => replay.run(trips),
      beforeEach: () => {
        trips = fresh.next();
      },
    };
    // The replay must do what create does: one more connection and one more notice, under identifiers of its own.
    const rowsNow = async () => {
      const { rows } = await counter.query<{ c: number; o: number }>(
        `SELECT (SELECT count(*) FROM "${schema}".connections)::int AS c,
                (SELECT count(*) FROM "${schema}".connection_outbox)::int AS o`,
      );
      return rows[0] ?? { c: 0, o: 0 };
    };
    const before = await rowsNow();
    await replay.run(trips);
    const after = await rowsNow();
    if (after.c !== before.c + 1 || after.o !== before.o + 1) {
      throw new Error(`${name}: create's replayed SQL did not store one connection and one notice`);
    }
    // The same replay, sent only after the client has been busy for PAUSE_US since the last answer (as create is, with
    // its own work between one call's answer and the next call's statement): what the pause alone costs the round trip.
    let pausedTrips = fresh.next();
    const pausedSpec: TaskSpec = {
      name: `${name} createSql.paused`,
      fn: () => replay.run(pausedTrips),
      beforeEach: () => {
        pausedTrips = fresh.next();
        busyWait(PAUSE_US);
      },
    };
    const [timing, floorTiming, replayTiming, pausedTiming] = await measureGroup(
      [spec, floor, replaySpec, pausedSpec],
      writes,
      ROUNDS,
    );
    add("writeFloor.create", { label: floorLabel, timing: floorTiming as Timing });
    add("createSql.1", {
      label:
        "create's own SQL alone: the round trips of one create (1 target), replayed on a raw client of the same pool with fresh identifiers",
      timing: replayTiming as Timing,
    });
    add("createSql.paused", {
      label: `create's own SQL alone, sent ${PAUSE_US} µs after the previous answer (the client busy meanwhile, outside the timing)`,
      timing: pausedTiming as Timing,
    });
    return timing as Timing;
  };
  for (const count of [1, 10, 100] as const) {
    let context = staging.freshContext();
    let targets: { _id: string; access: number }[] = [];
    const setup = async () => {
      context = staging.freshContext();
      const offset = Math.floor(pick() * size.accounts);
      targets = Array.from({ length: count }, (_, j) => ({
        _id: ids.account((offset + j) % size.accounts),
        access: AccessLevel.Read,
      }));
    };
    const create = async () => {
      const out = await facade.create(creator, context, targets);
      if (out.length !== count || !out.every((r) => "object" in r && r.object === "connection")) {
        throw new Error(`${name}: create ${count} did not create ${count} connections`);
      }
    };
    const statements = await countOnce(engine, setup, create);
    const spec = { name: `${name} create.${count}`, fn: create, beforeEach: setup };
    add(`create.${count}`, {
      label: `create on a fresh context to ${count} account target${count === 1 ? "" : "s"} (pending, one notice each)`,
      timing: count === 1 ? await createWithFloors(spec, setup, create) : await measure(spec, writes),
      ...(statements === undefined ? {} : { statements }),
    });
  }

  let staged: Staged = { id: "", account: "", token: "" };
  const stagePending = async () => {
    staged = await staging.stage(ConnectionState.Pending);
  };
  const stageActive = async () => {
    staged = await staging.stage(ConnectionState.Active);
  };
  const accept = async () => {
    const view = await facade.accept({ org: ORG, accountId: staged.account }, staged.token);
    if (view.state !== ConnectionState.Active) throw new Error(`${name}: accept did not activate`);
  };
  const reject = () => facade.reject({ org: ORG, accountId: staged.account }, staged.token);
  const remove = () => facade.delete(creator, staged.id);
  for (const [id, label, setup, work] of [
    ["accept", "accept a pending invitation by token (as its target)", stagePending, accept],
    ["reject", "reject a pending invitation by token (as its target)", stagePending, reject],
    ["delete", "delete an active connection by id (as its creator)", stageActive, remove],
  ] as const) {
    const statements = await countOnce(engine, setup, work);
    const spec = { name: `${name} ${id}`, fn: work, beforeEach: setup };
    add(id, {
      label,
      timing: id === "accept" ? await withFloor(spec, "writeFloor") : await measure(spec, writes),
      ...(statements === undefined ? {} : { statements }),
    });
  }
  if (engine.counter !== null) {
    // The creates above left thousands of pending invitations that the planner's statistics (taken after seeding,
    // when the org had none) do not know of: accept above ran on stale statistics (a server with autovacuum off
    // stays there). The same calls again on fresh statistics.
    await engine.analyze();
    for (const [id, label, work] of [
      ["accept.analyzed", "accept, after ANALYZE", accept],
      ["reject.analyzed", "reject, after ANALYZE", reject],
    ] as const) {
      const spec = { name: `${name} ${id}`, fn: work, beforeEach: stagePending };
      add(id, {
        label,
        timing:
          id === "accept.analyzed"
            ? await withFloor(spec, "writeFloor.analyzed")
            : await measure(spec, writes),
      });
    }
    await engine.deleteOrg(FLOOR_ORG);
  }

  // --- purgeExpired over the expired invitations ---------------------------------------------------------------
  // Seeded in bulk, then ANALYZEd as autovacuum would do on a server (PGlite never does it by itself).
  log(`[bench] ${name}: seeding ${size.expired} expired invitations`);
  await engine.seedExpired(size, 0, size.expired, new Date());
  await engine.analyze();
  engine.counter?.reset();
  let removed = 0;
  const purge = await measureOnce(async () => {
    removed = await facade.purgeExpired(PURGE_ORG);
  });
  const purgeStatements = engine.counter?.read();
  if (removed !== size.expired)
    throw new Error(`${name}: purgeExpired removed ${removed} of ${size.expired}`);
  result.purge = {
    rows: size.expired,
    removed,
    ms: purge.ns / 1e6,
    rowsPerSec: size.expired / (purge.ns / 1e9),
    ...(purgeStatements === undefined ? {} : { statements: purgeStatements }),
  };
  log(
    `[bench] ${name}: purgeExpired ${removed} rows in ${(purge.ns / 1e6).toFixed(0)} ms${purgeStatements === undefined ? "" : ` (${purgeStatements.statements} statements)`}`,
  );
  if (engine.counter !== null) {
    // The same purge right after a bulk write, before statistics catch up: the statistics (just refreshed, with
    // the org empty) say the org has no rows. One batch only: the plan this gets is the point.
    await engine.analyze();
    await engine.seedExpired(size, 0, size.expired, new Date());
    let staleRemoved = 0;
    const stale = await measureOnce(async () => {
      staleRemoved = await facade.purgeExpired(PURGE_ORG, { maxBatches: 1 });
    });
    result.purge.staleBatch = { rows: staleRemoved, ms: stale.ns / 1e6 };
    log(
      `[bench] ${name}: purgeExpired, stale statistics: one batch of ${staleRemoved} in ${(stale.ns / 1e6).toFixed(0)} ms`,
    );
    await engine.deleteOrg(PURGE_ORG);
  }

  // --- HTTP ------------------------------------------------------------------------------------------------------
  if (options.http !== null) {
    log(`[bench] ${name}: HTTP, ${options.http.flows} flows, ${options.http.concurrency} at a time`);
    result.http = await runHttp(engine, {
      flows: options.http.flows,
      concurrency: options.http.concurrency,
      contextBase: 1_000_000_000,
      accounts: size.accounts,
    });
    const h = result.http;
    log(
      `[bench] ${name}: HTTP ${h.flowsPerSec.toFixed(0)} flows/s, ${h.requestsPerSec.toFixed(0)} requests/s, ${h.errors} errors${h.firstError === null ? "" : ` (${h.firstError})`}`,
    );
    if (h.errors > 0) throw new Error(`${name}: HTTP flows failed: ${h.firstError}`);
  }
  if (options.httpGet !== null && name === "memory") {
    log(`[bench] ${name}: HTTP GET by id against the bare Hono and node:http floors`);
    result.httpGet = await runHttpGet(engine, options.httpGet);
    const g = result.httpGet;
    log(
      `[bench] ${name}: GET by id ${g.conn.requestsPerSec.toFixed(0)} req/s (p50 ${g.conn.p50Ms.toFixed(2)} ms); bare Hono ${g.hono.requestsPerSec.toFixed(0)} (${g.hono.p50Ms.toFixed(2)} ms); node:http ${g.node.requestsPerSec.toFixed(0)} (${g.node.p50Ms.toFixed(2)} ms)`,
    );
  }
  return result;
}
