import type { AccessCacheResult } from "./access-cache.js";
import type { StatementCount } from "./counting.js";
import type { FlowGrowthResult } from "./flows.js";
import type { Timing } from "./harness.js";
import type { HttpResult } from "./http.js";
import type { HttpGetResult } from "./http-get.js";
import type { Budget, DataSetSize, EngineName } from "./options.js";
import type { ScaleResult } from "./scale.js";

/** The scenarios every engine runs, in report order. */
export const SCENARIOS = [
  "resolveAccess.hit",
  "resolveAccess.miss",
  "activeAccess.hit",
  "floor.hit",
  "floor.miss",
  "create.1",
  "create.10",
  "create.100",
  "accept",
  "reject",
  "delete",
  "list.first",
  "list.deep",
] as const;

/** One scenario id. */
export type ScenarioId = (typeof SCENARIOS)[number];

/**
 * Scenarios only the Postgres engines run. `writeFloor*`: BEGIN + a one-row INSERT into `connections` + COMMIT on the
 * same pool, interleaved with accept on stale statistics, with accept after ANALYZE, and with create (1 target).
 * `createSql.1`: the round trips of one create (1 target) replayed on a raw client with fresh identifiers, interleaved
 * with that create and its floor (what the statements cost without the library around them). `createSql.paused`: the
 * same replay sent only after the client has been busy for 100 µs since the previous answer (what a pause alone costs).
 */
export const SQL_ONLY_SCENARIOS = [
  "floor.unpreparedHit",
  "accept.analyzed",
  "reject.analyzed",
  "writeFloor",
  "writeFloor.analyzed",
  "writeFloor.create",
  "createSql.1",
  "createSql.paused",
] as const;

/** Scenarios only the memory engine runs: the async function awaiting two Map.get with precomputed keys. */
export const MEMORY_ONLY_SCENARIOS = ["twoLookups.hit"] as const;

/** The peers' scenarios: casbin through `enforceSync` (two models) and `@casl/ability`'s `can()`. */
export const PEER_SCENARIOS = [
  "casbin.acl.hit",
  "casbin.acl.miss",
  "casbin.rbac.hit",
  "casbin.rbac.miss",
  "casl.hit",
  "casl.miss",
] as const;

/** One timed scenario. */
export interface ScenarioResult {
  /** What was timed, in words. */
  label: string;
  timing: Timing;
  /** SQL statements of one call (Postgres engines), counted on a separate, untimed call. */
  statements?: StatementCount;
}

/** `purgeExpired` over the expired invitations: one timed run (it consumes its data set). */
export interface PurgeResult {
  rows: number;
  removed: number;
  ms: number;
  rowsPerSec: number;
  statements?: StatementCount;
  /**
   * One batch of the same purge on freshly written rows the planner's statistics do not know of yet (Postgres
   * engines): measured after the purge above, on a second copy of the expired invitations.
   */
  staleBatch?: { rows: number; ms: number };
}

/** Everything measured on one engine. */
export interface EngineResult {
  engine: EngineName;
  /** Seeding the warm data set. */
  seed: { rows: number; ms: number };
  /** Heap growth per connection of the warm data set (memory engine; needs `gc`). */
  heapBytesPerConnection?: number;
  /** pg_total_relation_size(connections) / rows after seeding the warm data set (Postgres engines). */
  table?: { rows: number; bytes: number; bytesPerRow: number };
  scenarios: Partial<
    Record<
      ScenarioId | (typeof SQL_ONLY_SCENARIOS)[number] | (typeof MEMORY_ONLY_SCENARIOS)[number],
      ScenarioResult
    >
  >;
  purge: PurgeResult;
  http?: HttpResult;
  /** GET by id through `@conn/http` against the bare Hono and node:http floors (memory engine). */
  httpGet?: HttpGetResult;
}

/** The peers, measured in the same run on the same grants. */
export interface PeerResult {
  casbin: { version: string; loadMs: number };
  casl: { version: string; loadMs: number };
  grants: number;
  scenarios: Partial<Record<(typeof PEER_SCENARIOS)[number], ScenarioResult>>;
}

/** One goal of the issue and how this run did against it. */
export interface GoalResult {
  id: string;
  goal: string;
  engine: EngineName | "all";
  /** The figure the goal is about (a ratio, or a rate for rate goals), or null when it is a count. */
  value: number | null;
  measured: string;
  met: boolean;
  /** Why, when missed (and what it would take); a note when met. */
  note: string;
}

/** The whole result file. */
export interface BenchResults {
  meta: {
    date: string;
    mode: "full" | "quick";
    node: string;
    v8: string;
    platform: string;
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    postgresServer: string | null;
    harness: string;
    /** What was measured: the packages as built for npm (`pnpm bench`) or the TypeScript sources run by tsx (tests). */
    library?: "built" | "sources";
    gcExposed: boolean;
    durationMs: number;
  };
  size: DataSetSize;
  budgets: {
    reads: Budget;
    writes: Budget;
    http: { flows: number; concurrency: number } | null;
    httpGet?: { requests: number; concurrency: number; rounds: number } | null;
    flows?: { chunk: number; total: number; concurrency: number; accounts: number } | null;
  };
  engines: EngineResult[];
  peer: PeerResult | null;
  /** Flow throughput fresh and after many flows (memory, and the server when it ran). */
  flows: FlowGrowthResult[];
  /** The scale tables (the server at 10k, 100k and 1M connections; memory at 100k and 1M). */
  scale: ScaleResult[];
  /** The access cache part (PostgreSQL server only; see src/access-cache.ts). */
  accessCache?: AccessCacheResult | null;
  goals: GoalResult[];
}
