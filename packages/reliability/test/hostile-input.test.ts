/**
 * Hostile input at every facade method, on the in-memory store and on PGlite: wrong types, 100k-character strings,
 * 10,000 targets, look-alike emails, SQL fragments, prototype-pollution keys, malformed ids and tokens, deep nesting
 * and anonymous or malformed principals. Whatever comes in, only a spec `ConnectionError` (never a 500: no port is
 * failing here) or a well-formed result comes out, a failed call leaves the store exactly as it was, no stored
 * secret appears in any answer or error, and no built-in prototype is polluted.
 *
 * Two kinds of run per store: a catalogue (every method, every argument position, every adversarial entry, with
 * the other arguments well-formed) and a fast-check property per method (`CONN_FC_RUNS`, `CONN_SLOW=1` for more).
 * The figures go to the console and to `results/hostile-input.json`.
 */
import { type Database, migrate, openPglite } from "@conn/adapter-postgres";
import { ConnectionError } from "@conn/core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ALICE,
  as,
  attempt,
  CAROL,
  CHART,
  callMethod,
  catalogueCalls,
  errorLeakProblem,
  FILE,
  fcRuns,
  type HostileWorld,
  METHOD_SPECS,
  METHODS,
  type MethodName,
  memoryWorld,
  ORG,
  pollutionProblem,
  postgresWorld,
  prototypeFingerprint,
  resolveDeep,
  resultProblem,
  sameSnapshot,
  secretProblem,
  describe as show,
  specErrorProblem,
  Tally,
  writeResults,
} from "./support/hostile.js";

const RUNS = { memory: fcRuns(150), pglite: fcRuns(100) };
const tallies = { memory: new Tally(), pglite: new Tally() };
const BASELINE = prototypeFingerprint();
const started = Date.now();

/**
 * One world and what is known of its store. A failed call is checked against a snapshot taken before it; as a
 * failed call leaves the store as it was, that snapshot stays valid for the next call, so only a success (which may
 * write) makes the probe take a new one.
 */
class Probe {
  private known: unknown;
  /** False once a call succeeded: the world may have changed. */
  untouched = true;

  constructor(readonly world: HostileWorld) {}

  /**
   * Makes one call with `args` (symbols resolved against the world) and returns every rule it broke: a non-spec or
   * 500 error, a malformed result, a secret in an answer or error, a write by a failed call, a polluted prototype.
   */
  async check(tally: Tally, method: MethodName, args: readonly unknown[], source: "catalogue" | "random") {
    const world = this.world;
    const before = this.known ?? (await world.snapshot());
    const resolved = args.map((a) => resolveDeep(a, world.pools));
    world.guard.reset();
    const outcome = await attempt(() => callMethod(world.connections, method, resolved));
    const problems: string[] = [];
    const { tokens, expiredTokens, hashes, seals } = world.pools;
    if (outcome.ok) {
      this.known = undefined;
      this.untouched = false;
      tally.record(method, source, null);
      const shape = resultProblem(method, outcome.value);
      if (shape !== null) problems.push(shape);
      const leak = secretProblem(JSON.stringify(outcome.value) ?? "", world.pools);
      if (leak !== null) problems.push(leak);
    } else {
      const error = outcome.error;
      const code =
        error instanceof ConnectionError ? error.code : `non-spec:${(error as Error)?.name ?? typeof error}`;
      tally.record(method, source, code);
      const spec = specErrorProblem(error);
      if (spec !== null) problems.push(spec);
      const leak = errorLeakProblem(error, [...tokens, ...expiredTokens, ...hashes, ...seals]);
      if (leak !== null) problems.push(leak);
      const after = await world.snapshot();
      const changed = sameSnapshot(before, after);
      if (changed !== null) problems.push(`a failed call wrote: ${changed}`);
      this.known = after;
    }
    const polluted = pollutionProblem(BASELINE);
    if (polluted !== null) problems.push(polluted);
    return problems;
  }
}

/** The catalogue of one method on a fresh world; returns every problem found, labelled. */
async function runCatalogue(
  world: () => Promise<HostileWorld>,
  tally: Tally,
  method: MethodName,
): Promise<string[]> {
  const probe = new Probe(await world());
  const problems: string[] = [];
  for (const call of catalogueCalls(method)) {
    for (const p of await probe.check(tally, method, call.args, "catalogue"))
      problems.push(`${call.label} → ${p}`);
  }
  return problems;
}

/**
 * The fast-check property of one method. `world()` gives a world when the last one may have changed (a call
 * succeeded); runs after a failed call reuse the world, which that call left exactly as it was.
 */
async function runProperty(
  world: () => Promise<HostileWorld>,
  tally: Tally,
  method: MethodName,
  numRuns: number,
): Promise<void> {
  let probe: Probe | undefined;
  await fc.assert(
    fc.asyncProperty(METHOD_SPECS[method].args, async (args) => {
      if (probe === undefined || !probe.untouched) probe = new Probe(await world());
      const problems = await probe.check(tally, method, args, "random");
      if (problems.length > 0) throw new Error(problems.join("\n"));
    }),
    { numRuns, endOnFailure: true },
  );
}

/** The tests of one store: `world` makes a fresh seeded world; `perRun` the world of each property run. */
function suite(
  engine: "memory" | "pglite",
  world: () => Promise<HostileWorld>,
  perRun: { beforeProperty: () => Promise<unknown>; world: () => Promise<HostileWorld> },
) {
  const tally = tallies[engine];
  for (const method of METHODS) {
    it(`${method}: the catalogue (every position, every adversarial entry)`, async () => {
      const problems = await runCatalogue(world, tally, method);
      expect(problems, problems.join("\n\n")).toEqual([]);
    });
    it(`${method}: ${RUNS[engine]} random hostile calls`, async () => {
      await perRun.beforeProperty();
      await runProperty(perRun.world, tally, method, RUNS[engine]);
    });
  }
}

/** Settles a call and returns its error code, or "ok" for a success. */
async function codeOf(call: Promise<unknown>): Promise<string> {
  const outcome = await attempt(() => call);
  if (outcome.ok) return "ok";
  return outcome.error instanceof ConnectionError ? outcome.error.code : `non-spec ${show(outcome.error)}`;
}

/**
 * Minimal reproductions of what the catalogue and the properties found, one test each, so each finding reads (and
 * is fixed) on its own. Each expects what the spec and docs/errors.md promise: a spec 4xx code, never a 500.
 */
function findings(engine: "memory" | "pglite", world: () => Promise<HostileWorld>) {
  describe(`findings [${engine}]`, () => {
    it("create with options null is an invalid argument (or no options), not a 500", async () => {
      const w = await world();
      const code = await codeOf(
        callMethod(w.connections, "create", [as(ALICE), FILE, [{ email: "opts@outside.example" }], null]),
      );
      expect(["ok", "cortex.invalidArgument.unspecified"]).toContain(code);
    });

    it("create with a sparse target list refuses the hole as a target, instead of answering []", async () => {
      const w = await world();
      const before = await w.snapshot();
      const code = await codeOf(callMethod(w.connections, "create", [as(ALICE), FILE, new Array(3)]));
      expect(code).toBe("cortex.invalidArgument.connectionTarget");
      expect(sameSnapshot(before, await w.snapshot())).toBeNull();
    });

    it.each([
      ["a NUL in a target name", [{ email: "n1@outside.example", name: { first: "a\u0000b" } }], undefined],
      [
        "an unpaired surrogate in a target name",
        [{ email: "n2@outside.example", name: { last: "x\ud800" } }],
        undefined,
      ],
      ["a NUL in contextSource", [{ email: "n3@outside.example" }], { contextSource: "src\u0000" }],
      [
        "an unpaired surrogate in contextSource",
        [{ email: "n4@outside.example" }],
        { contextSource: "\udc00src" },
      ],
    ])("create with %s is an invalid argument on every store, not a 500", async (_, targets, options) => {
      const w = await world();
      const before = await w.snapshot();
      const code = await codeOf(callMethod(w.connections, "create", [as(ALICE), FILE, targets, options]));
      expect(["cortex.invalidArgument.connectionTarget", "cortex.invalidArgument.unspecified"]).toContain(
        code,
      );
      expect(sameSnapshot(before, await w.snapshot())).toBeNull();
    });

    it.each([
      ["an org with a NUL", ["acme\u0000", CAROL, CHART]],
      ["an org the org schema refuses", ["a b", CAROL, CHART]],
      ["an org of 100k characters", ["a".repeat(100_000), CAROL, CHART]],
      ["an object name with a NUL", [ORG, CAROL, { object: "c_chart\u0000", _id: CHART._id }]],
      ["an object name the object schema refuses", [ORG, CAROL, { object: "C Chart", _id: CHART._id }]],
    ])("resolveAccess with %s is an invalid argument, as everywhere else in the facade", async (_, args) => {
      const w = await world();
      expect(await codeOf(callMethod(w.connections, "resolveAccess", args))).toBe(
        "cortex.invalidArgument.unspecified",
      );
    });

    it.each([
      ["batchSize NaN", { batchSize: Number.NaN }],
      ["batchSize {}", { batchSize: {} }],
      ["batchSize 1n", { batchSize: 1n }],
      ["options null", null],
      ["maxBatches 'x'", { maxBatches: "x" }],
    ])("purgeExpired with %s is an invalid argument and runs no loop", async (_, options) => {
      const w = await world();
      w.guard.reset();
      const code = await codeOf(callMethod(w.connections, "purgeExpired", [ORG, options]));
      expect(code).toBe("cortex.invalidArgument.unspecified");
      expect(w.guard.transactions).toBeLessThanOrEqual(1);
    });
  });
}

describe("hostile input at every facade method", () => {
  describe("[memory]", () => {
    // A fresh, seeded world per call: runs are independent, so a counterexample replays exactly.
    suite("memory", memoryWorld, { beforeProperty: async () => undefined, world: memoryWorld });
    findings("memory", memoryWorld);
  });

  describe("[pglite]", () => {
    const schema = "conn_hostile";
    let db: Database | undefined;
    let current: HostileWorld | undefined;
    beforeAll(async () => {
      db = await openPglite();
      await migrate(db, { schema });
    }, 60_000);
    afterAll(async () => {
      await db?.close();
    });
    // One PGlite instance for the file; its tables are emptied and seeded again before each catalogue and each
    // property (the runs of one property share that world).
    const fresh = async () => {
      if (db === undefined) throw new Error("PGlite is not open");
      current = await postgresWorld(db, schema, "pglite");
      return current;
    };
    suite("pglite", fresh, {
      beforeProperty: fresh,
      world: async () => current ?? fresh(),
    });
    findings("pglite", fresh);
  });

  it("leaves every built-in prototype as it was", () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(prototypeFingerprint()).toBe(BASELINE);
  });

  afterAll(() => {
    const lines = [
      ...tallies.memory.lines("hostile-input [memory]"),
      ...tallies.pglite.lines("hostile-input [pglite]"),
    ];
    for (const line of lines) console.log(line);
    const total = (t: Tally) => [...t.byKey.values()].reduce((n, f) => n + f.tried, 0);
    const file = writeResults("hostile-input.json", {
      suite: "hostile-input",
      date: new Date().toISOString(),
      node: process.version,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      runsPerProperty: RUNS,
      totals: { memory: total(tallies.memory), pglite: total(tallies.pglite) },
      memory: tallies.memory.toJSON(),
      pglite: tallies.pglite.toJSON(),
    });
    console.log(`hostile-input: figures written to ${file}; ${show(RUNS)} runs per property`);
  });
});
