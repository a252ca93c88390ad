/**
 * The access cache's part of `pnpm bench` (issue 17), on the PostgreSQL server: resolveAccess through three
 * facades side by side in one run (the in-memory adapter, PostgreSQL without the cache, PostgreSQL with it), each
 * holding the same grants and timed interleaved; and how soon a revocation committed here is seen by a cached
 * reader in another process.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  CryptoTokenService,
  InMemoryAccountDirectory,
  InMemoryContextAccess,
  InMemoryOrgDirectory,
  InMemoryUnitOfWork,
  RandomIdGenerator,
  SystemClock,
} from "@conn/adapter-memory";
import { connectPostgres, migrate, PostgresUnitOfWork } from "@conn/adapter-postgres";
import {
  type AccessLevel,
  type ConnectionRecord,
  ConnectionState,
  type Connections,
  type ContextRef,
  createConnections,
  type UnitOfWork,
} from "@conn/core";
import { childConditions } from "./artifact.js";
import { formatNs } from "./goals.js";
import { measureGroup, type Timing } from "./harness.js";
import type { BenchOptions } from "./options.js";
import type { BenchResults, GoalResult } from "./results.js";

/** What the access cache part measured. */
export interface AccessCacheResult {
  /** Grants held by each store; the checks cycle over `keys` of them (all fit in the cache). */
  grants: number;
  keys: number;
  /** resolveAccess hits, interleaved in one group. */
  memory: Timing;
  uncached: Timing;
  cached: Timing;
  /** Revocations committed here and polled for in another process with the cache on. */
  propagation: { trials: number; p50Ms: number; p99Ms: number; maxMs: number; syncWindowMs: number };
}

const ORG = "bench-cache";
const OBJECT = "c_file";
const READER = fileURLToPath(new URL("./access-cache-reader.ts", import.meta.url));

const contextOf = (i: number): ContextRef => ({ object: OBJECT, _id: `ctx-${i % 100}` });
const accountOf = (i: number): string => `acct-${i}`;
const levelOf = (i: number): AccessLevel => (2 + (i % 6)) as AccessLevel;

function grant(i: number, at: Date): ConnectionRecord {
  const account = accountOf(i);
  return {
    org: ORG,
    _id: i.toString(16).padStart(24, "0"),
    access: levelOf(i),
    roles: [],
    context: contextOf(i),
    contextSource: null,
    created: at,
    updated: at,
    creator: "bench-owner",
    target: { account, email: null, name: null },
    viaEmail: false,
    targetKey: account,
    state: ConnectionState.Active,
    tokenHash: null,
    tokenSeal: null,
    expiresAt: null,
  };
}

function facade(store: UnitOfWork): Connections {
  const orgs = new InMemoryOrgDirectory();
  orgs.put({ code: ORG, name: "Bench cache" });
  const contexts = new InMemoryContextAccess();
  contexts.defineObject(ORG, { name: OBJECT, allowConnections: true });
  const clock = new SystemClock();
  return createConnections({
    store,
    accounts: new InMemoryAccountDirectory(),
    contexts,
    orgs,
    tokens: new CryptoTokenService(),
    ids: new RandomIdGenerator(clock),
    clock,
  });
}

/** The p-th percentile (0..1) of sorted values. */
function pick(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

/** Starts the reader process; resolves once its cache listens. */
async function startReader(
  url: string,
  schema: string,
): Promise<{
  child: ChildProcess;
  ask: (message: Record<string, unknown>) => Promise<Record<string, unknown>>;
}> {
  // The reader imports the same build of the library as this process (artifact.ts).
  const child = spawn(process.execPath, ["--import", "tsx", ...childConditions(), READER], {
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    env: { ...process.env, CONN_PG_URL: url, SCHEMA: schema },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const waiting: { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    waiting.shift()?.resolve(JSON.parse(line) as Record<string, unknown>);
  });
  child.once("exit", (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`the reader exited with ${code}`));
  });
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      waiting.push({ resolve, reject });
    });
  await next(); // ready
  return {
    child,
    ask: (message) => {
      const answer = next();
      child.stdin?.write(`${JSON.stringify(message)}\n`);
      return answer;
    },
  };
}

/** Runs the access cache part on the server at `url` (skipped by the caller without one). */
export async function runAccessCacheBench(options: BenchOptions, url: string): Promise<AccessCacheResult> {
  const { log } = options;
  const grants = options.quick ? 2_000 : 20_000;
  const keys = 1_000;
  const schema = `conn_bench_cache_${process.pid}`;
  const db = await connectPostgres({ connectionString: url, poolConfig: { max: 4 } });
  const memoryStore = new InMemoryUnitOfWork();
  const plain = new PostgresUnitOfWork(db, { schema });
  const cachedStore = new PostgresUnitOfWork(db, { schema, accessCache: { entries: 10_000 } });
  let reader: Awaited<ReturnType<typeof startReader>> | null = null;
  try {
    await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await migrate(db, { schema });
    log(`[bench] access cache: seeding ${grants} grants on memory and PostgreSQL`);
    const at = new Date(Date.now() - 86_400_000);
    for (let start = 0; start < grants; start += 1_000) {
      const chunk = Array.from({ length: Math.min(1_000, grants - start) }, (_, k) => grant(start + k, at));
      await plain.connections.saveActive(chunk);
      await memoryStore.connections.saveActive(chunk);
    }
    await db.query(`ANALYZE "${schema}".connections`);
    await cachedStore.accessCacheReady();

    const stores = { memory: facade(memoryStore), uncached: facade(plain), cached: facade(cachedStore) };
    for (const [name, c] of Object.entries(stores)) {
      for (let i = 0; i < keys; i++) {
        const level = await c.resolveAccess(ORG, accountOf(i), contextOf(i));
        if (level !== levelOf(i)) throw new Error(`access cache bench: ${name} gave ${level} for grant ${i}`);
      }
    }
    log("[bench] access cache: resolveAccess on memory, uncached and cached PostgreSQL, interleaved");
    const task = (name: keyof typeof stores, batch: number) => {
      const c = stores[name];
      let i = 0;
      return {
        name: `access-cache ${name}`,
        fn: () => {
          const k = i++ % keys;
          return c.resolveAccess(ORG, accountOf(k), contextOf(k));
        },
        batch,
      };
    };
    const [memory, uncached, cached] = (await measureGroup(
      [task("memory", options.reads.batch), task("uncached", 1), task("cached", options.reads.batch)],
      options.reads,
      options.quick ? 2 : 5,
    )) as [Timing, Timing, Timing];
    log(
      `[bench] access cache: memory ${formatNs(memory.medianNs)}, uncached ${formatNs(uncached.medianNs)}, cached ${formatNs(cached.medianNs)} (medians)`,
    );

    log("[bench] access cache: revocations seen by a cached reader in another process");
    reader = await startReader(url, schema);
    const trials = options.quick ? 20 : 200;
    const delays: number[] = [];
    for (let t = 0; t < trials; t++) {
      const i = t % keys;
      const record = grant(i, at);
      await plain.connections.saveActive([record]);
      const warm = await reader.ask({ t: "watch", account: accountOf(i), context: contextOf(i) });
      if (warm.t !== "warm")
        throw new Error(`access cache bench: the reader answered ${JSON.stringify(warm)}`);
      // Revoke with a plain (uncached) autocommit DELETE: it returns at its commit, with no wait of its own.
      const gone = reader.ask({ t: "until-gone" });
      await db.query(`DELETE FROM "${schema}".connections WHERE org = $1 AND id = $2`, [ORG, record._id]);
      const committedAt = performance.timeOrigin + performance.now();
      const seen = await gone;
      delays.push((seen.at as number) - committedAt);
    }
    delays.sort((a, b) => a - b);
    const round = (x: number) => Math.round(x * 1000) / 1000;
    return {
      grants,
      keys,
      memory,
      uncached,
      cached,
      propagation: {
        trials,
        p50Ms: round(pick(delays, 0.5)),
        p99Ms: round(pick(delays, 0.99)),
        maxMs: round(delays[delays.length - 1] ?? Number.NaN),
        syncWindowMs: cachedStore.accessCacheSyncWindowMs() ?? 0,
      },
    };
  } finally {
    if (reader !== null) {
      reader.child.stdin?.end();
      reader.child.kill("SIGTERM");
    }
    await cachedStore.close();
    await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await db.close();
  }
}

/** The access cache goals, from the figures of the same run. */
export function accessCacheGoals(results: BenchResults): GoalResult[] {
  const r = results.accessCache;
  if (r === undefined || r === null) return [];
  const vsUncached = r.uncached.medianNs / r.cached.medianNs;
  const vsMemory = r.memory.medianNs / r.cached.medianNs;
  const p = r.propagation;
  return [
    {
      id: "cache-vs-uncached.postgres",
      goal: "cached resolveAccess ≥ 10× faster than uncached",
      engine: "postgres",
      value: vsUncached,
      measured: `${vsUncached.toFixed(1)}× (${formatNs(r.cached.medianNs)} vs ${formatNs(r.uncached.medianNs)}, medians)`,
      met: vsUncached >= 10,
      note: `${vsUncached >= 10 ? "Met" : "Missed"}: a hit is a Map look-up behind the facade; the uncached call is a round trip to the server. ${r.keys.toLocaleString("en-US")} keys cycled over ${r.grants.toLocaleString("en-US")} grants, all in the cache.`,
    },
    {
      id: "cache-vs-memory.postgres",
      goal: "cached resolveAccess ≥ 0.5× the in-memory adapter",
      engine: "postgres",
      value: vsMemory,
      measured: `${vsMemory.toFixed(2)}× (${formatNs(r.cached.medianNs)} vs ${formatNs(r.memory.medianNs)}, medians)`,
      met: vsMemory >= 0.5,
      note: `${vsMemory >= 0.5 ? "Met" : "Missed"}: both run the same facade; a cached hit finds its entry through nested maps (no key built), moves it in a linked recency list and reads the clock once for the freshness check.`,
    },
    {
      id: "cache-propagation.postgres",
      goal: "a revocation visible in another process within 50 ms at p99",
      engine: "postgres",
      value: p.p99Ms,
      measured: `p99 ${p.p99Ms} ms (p50 ${p.p50Ms} ms, max ${p.maxMs} ms, ${p.trials} revocations)`,
      met: p.p99Ms <= 50,
      note: `${p.p99Ms <= 50 ? "Met" : "Missed"}: from the commit of a plain DELETE here to the first check in the other process that no longer grants. A writer with the cache on returns ${p.syncWindowMs} ms after its commit, and by then no other process serves the old grant (docs/caching.md).`,
    },
  ];
}
