import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BenchOutput,
  type BenchResults,
  defaultOptions,
  MEMORY_ONLY_SCENARIOS,
  PEER_SCENARIOS,
  runBench,
  SCENARIOS,
  SQL_ONLY_SCENARIOS,
} from "../src/index.js";

// The quick bench, in process: every scenario with tiny counts, so the benchmark code never rots. Nothing here is
// timed against a threshold; only the structural counts (statements per operation) are asserted.
describe("pnpm bench --quick", () => {
  let dir: string;
  let output: BenchOutput;
  let results: BenchResults;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "conn-bench-test-"));
    const options = defaultOptions(true);
    output = await runBench({ ...options, resultsDir: dir, docsDir: null, log: () => {} });
    results = JSON.parse(await readFile(output.jsonPath, "utf8")) as BenchResults;
  }, 300_000);

  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("writes the result file, a doc and a chart to the folder it is given", async () => {
    expect(output.jsonPath).toBe(join(dir, "quick.json"));
    expect(results.meta.mode).toBe("quick");
    expect(results.meta.cpus).toBeGreaterThan(0);
    expect(await readFile(output.markdownPath, "utf8")).toContain("## Goals");
    expect(await readFile(output.svgPath, "utf8")).toMatch(
      /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/,
    );
  });

  it("runs memory and PGlite, and the server when CONN_PG_URL is set", () => {
    const expected = process.env.CONN_PG_URL ? ["memory", "pglite", "postgres"] : ["memory", "pglite"];
    expect(results.engines.map((e) => e.engine)).toEqual(expected);
  });

  it("has every scenario on every engine, with positive numbers", () => {
    for (const engine of results.engines) {
      const ids =
        engine.engine === "postgres"
          ? [...SCENARIOS, ...SQL_ONLY_SCENARIOS]
          : engine.engine === "memory"
            ? [...SCENARIOS, ...MEMORY_ONLY_SCENARIOS]
            : SCENARIOS;
      for (const id of ids) {
        const timing = engine.scenarios[id]?.timing;
        expect(timing, `${engine.engine} ${id}`).toBeDefined();
        expect(timing?.medianNs, `${engine.engine} ${id}`).toBeGreaterThan(0);
        expect(timing?.p99Ns, `${engine.engine} ${id}`).toBeGreaterThan(0);
        expect(timing?.opsPerSec, `${engine.engine} ${id}`).toBeGreaterThan(0);
        expect(timing?.samples, `${engine.engine} ${id}`).toBeGreaterThan(0);
      }
      expect(engine.seed.rows).toBe(results.size.connections);
      expect(engine.purge.removed).toBe(results.size.expired);
      expect(engine.purge.ms).toBeGreaterThan(0);
      expect(engine.http?.flows).toBeGreaterThan(0);
      expect(engine.http?.errors).toBe(0);
      expect(engine.http?.flowsPerSec).toBeGreaterThan(0);
      for (const step of ["create", "readToken", "accept", "resolve"] as const) {
        expect(engine.http?.steps[step].medianMs).toBeGreaterThan(0);
      }
    }
  });

  it("measures GET by id against the bare Hono and node:http floors (memory)", () => {
    const get = results.engines.find((e) => e.engine === "memory")?.httpGet;
    for (const server of [get?.conn, get?.hono, get?.node]) {
      expect(server?.requestsPerSec).toBeGreaterThan(0);
      expect(server?.p50Ms).toBeGreaterThan(0);
    }
    expect(get?.bodyBytes).toBeGreaterThan(100);
  });

  it("measures flow throughput fresh and after more flows, in memory and on the server when it runs", () => {
    const expected = process.env.CONN_PG_URL ? ["memory", "postgres"] : ["memory"];
    expect(results.flows.map((f) => f.engine)).toEqual(expected);
    for (const f of results.flows) {
      expect(f.first.flowsPerSec, f.engine).toBeGreaterThan(0);
      expect(f.last.flowsPerSec, f.engine).toBeGreaterThan(0);
      expect(f.flowsBefore, f.engine).toBeGreaterThanOrEqual(results.budgets.flows?.total ?? 1);
      expect((f.outbox.pending ?? 0) + (f.outbox.delivered ?? 0), f.engine).toBeGreaterThan(0);
    }
  });

  it("has a scale table per engine it ran (memory, and the server when it runs), every size measured", () => {
    const expected = process.env.CONN_PG_URL ? ["memory", "postgres"] : ["memory"];
    expect(results.scale.map((s) => s.engine)).toEqual(expected);
    for (const s of results.scale) {
      expect(s.points.map((p) => p.connections)).toEqual([200, 1_000]);
      for (const p of s.points) {
        for (const t of [p.resolve, p.listFirst, p.listDeep, p.accept]) expect(t.medianNs).toBeGreaterThan(0);
        if (s.engine === "postgres") expect(p.floor?.medianNs).toBeGreaterThan(0);
      }
    }
  });

  it("with the server, measures the access cache side by side and a revocation seen from another process", () => {
    if (!process.env.CONN_PG_URL) {
      expect(results.accessCache).toBeNull();
      return;
    }
    const r = results.accessCache;
    for (const t of [r?.memory, r?.uncached, r?.cached]) expect(t?.medianNs).toBeGreaterThan(0);
    expect(r?.propagation.trials).toBeGreaterThan(0);
    expect(Number.isFinite(r?.propagation.p99Ms)).toBe(true);
    expect(results.goals.filter((g) => g.id.startsWith("cache-")).map((g) => g.id)).toHaveLength(3);
  });

  it("measures the peers on the same grants", () => {
    expect(results.peer?.grants).toBe(results.size.connections);
    expect(results.peer?.casl.version).toMatch(/^\d+\./);
    for (const id of PEER_SCENARIOS) expect(results.peer?.scenarios[id]?.timing.medianNs).toBeGreaterThan(0);
  });

  it("reports heap bytes per connection (memory) and bytes per row (Postgres)", () => {
    for (const engine of results.engines) {
      if (engine.engine === "memory") expect(engine.heapBytesPerConnection).toBeGreaterThan(0);
      else expect(engine.table?.bytesPerRow).toBeGreaterThan(0);
    }
  });

  it("meets the structural goal: create's statements do not grow with targets; accept is one statement", () => {
    const sql = results.engines.filter((e) => e.engine !== "memory");
    expect(sql.length).toBeGreaterThan(0);
    for (const engine of sql) {
      const create = [1, 10, 100].map((n) => engine.scenarios[`create.${n}` as "create.1"]?.statements);
      expect(create[0]?.statements, engine.engine).toBeGreaterThan(0);
      expect(create[1]?.statements, engine.engine).toBe(create[0]?.statements);
      expect(create[2]?.statements, engine.engine).toBe(create[0]?.statements);
      // Accept is one call, a transaction of its own: no BEGIN or COMMIT is sent for it.
      const accept = engine.scenarios.accept?.statements;
      expect(accept, engine.engine).toEqual({ statements: 1, transactions: 0, maxInTransaction: 0 });
      expect(engine.scenarios["resolveAccess.hit"]?.statements?.statements, engine.engine).toBe(1);
      for (const id of ["create-statements"]) {
        expect(
          results.goals.find((g) => g.id === `${id}.${engine.engine}`)?.met,
          `${id} ${engine.engine}`,
        ).toBe(true);
      }
    }
  });

  it("reports every goal, met or not, with a note", () => {
    const ids = results.goals.map((g) => g.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        "http-get-rate",
        "http-get-p50",
        "flows.memory",
        "memory-resolve-vs-floor",
        "memory-resolve-rate",
        "memory-list-page",
        "memory-list-deep",
        "memory-list-flat",
        "peer.casbin",
        "peer.casl",
      ]),
    );
    if (process.env.CONN_PG_URL) {
      expect(ids).toEqual(
        expect.arrayContaining([
          "flows.postgres",
          "pg-accept-fresh",
          "pg-accept-stale",
          "pg-create-floor",
          "pg-resolve-floor",
          "pg-scale",
        ]),
      );
    }
    for (const g of results.goals) {
      expect(g.note.length, g.id).toBeGreaterThan(0);
      if (g.value !== null) expect(Number.isFinite(g.value), g.id).toBe(true);
    }
  });
});
