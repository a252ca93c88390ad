import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BenchOutput,
  type BenchResults,
  defaultOptions,
  PEER_SCENARIOS,
  runBench,
  SCENARIOS,
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
  }, 120_000);

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
      const ids = engine.engine === "postgres" ? [...SCENARIOS, "floor.unpreparedHit" as const] : SCENARIOS;
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

  it("measures the peer on the same grants", () => {
    expect(results.peer?.grants).toBe(results.size.connections);
    for (const id of PEER_SCENARIOS) expect(results.peer?.scenarios[id]?.timing.medianNs).toBeGreaterThan(0);
  });

  it("reports heap bytes per connection (memory) and bytes per row (Postgres)", () => {
    for (const engine of results.engines) {
      if (engine.engine === "memory") expect(engine.heapBytesPerConnection).toBeGreaterThan(0);
      else expect(engine.table?.bytesPerRow).toBeGreaterThan(0);
    }
  });

  it("meets the structural goals: create's statements do not grow with targets; accept ≤ 5 in one transaction", () => {
    const sql = results.engines.filter((e) => e.engine !== "memory");
    expect(sql.length).toBeGreaterThan(0);
    for (const engine of sql) {
      const create = [1, 10, 100].map((n) => engine.scenarios[`create.${n}` as "create.1"]?.statements);
      expect(create[0]?.statements, engine.engine).toBeGreaterThan(0);
      expect(create[1]?.statements, engine.engine).toBe(create[0]?.statements);
      expect(create[2]?.statements, engine.engine).toBe(create[0]?.statements);
      const accept = engine.scenarios.accept?.statements;
      expect(accept?.transactions, engine.engine).toBe(1);
      expect(accept?.maxInTransaction, engine.engine).toBeLessThanOrEqual(5);
      expect(engine.scenarios["resolveAccess.hit"]?.statements?.statements, engine.engine).toBe(1);
      for (const id of ["create-statements", "accept-statements"]) {
        expect(
          results.goals.find((g) => g.id === `${id}.${engine.engine}`)?.met,
          `${id} ${engine.engine}`,
        ).toBe(true);
      }
    }
  });

  it("reports every goal, met or not, with a note", () => {
    const ids = results.goals.map((g) => g.id);
    expect(ids).toEqual(expect.arrayContaining(["memory-rate", "memory-vs-casbin", "list-depth.memory"]));
    for (const g of results.goals) expect(g.note.length).toBeGreaterThan(0);
  });
});
