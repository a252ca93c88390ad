import { Bench, type FnReturnedObject } from "tinybench";
import type { Budget } from "./options.js";

/** The timing of one task: per-operation latency (ns) and the sustained rate. */
export interface Timing {
  /** Median latency of one operation, ns. */
  medianNs: number;
  /** Mean latency, ns. */
  meanNs: number;
  /** 99th percentile latency, ns (for batched tasks: of the per-batch mean, see `batch`). */
  p99Ns: number;
  /** Operations per second, 1 / mean latency. */
  opsPerSec: number;
  /** Samples taken. */
  samples: number;
  /** Operations timed together in one sample (1: every call timed on its own). */
  batch: number;
  /** Rounds the samples were taken in, interleaved with the other tasks of its group. */
  rounds: number;
}

/** One task to time. */
export interface TaskSpec {
  name: string;
  fn: () => unknown;
  /** Time this many calls together and divide (for calls the timer cannot see one by one); default 1. */
  batch?: number;
  /** Runs before every timed call, outside the timing (e.g. makes the invitation the call consumes). */
  beforeEach?: () => Promise<void> | void;
  /** `fn` is synchronous: batched calls are not awaited (an await costs more than a Map look-up). */
  sync?: boolean;
}

/** Where synchronous results go, so the engine cannot drop the calls as dead code. */
export let sink: unknown;

const NS_PER_MS = 1e6;

/** A high-resolution clock in ms. */
const now = (): number => Number(process.hrtime.bigint()) / NS_PER_MS;

/** Adds a task to a tinybench Bench, batched when asked. */
function addTask(bench: Bench, spec: TaskSpec): void {
  const batch = Math.max(1, spec.batch ?? 1);
  if (batch === 1) {
    const fn = spec.fn;
    bench.add(
      spec.name,
      async () => {
        await fn();
      },
      spec.beforeEach === undefined ? { async: true } : { async: true, beforeEach: spec.beforeEach },
    );
    return;
  }
  const fn = spec.fn;
  bench.add(
    spec.name,
    async (): Promise<FnReturnedObject> => {
      const start = now();
      if (spec.sync === true) {
        for (let i = 0; i < batch; i++) sink = fn();
      } else {
        for (let i = 0; i < batch; i++) await fn();
      }
      const elapsed = now() - start;
      return { overriddenDuration: elapsed / batch, overriddenIterationCost: elapsed };
    },
    { async: true },
  );
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? 0;
  const b = sorted[hi] ?? 0;
  return a + (b - a) * (pos - lo);
}

/**
 * Times a group of tasks with tinybench, interleaved: `rounds` rounds, each giving every task its share of the
 * budget in turn, so a burst of load on the (shared) machine falls on all of them alike and their ratios hold.
 * The samples of all rounds are merged: median, p99 and mean are of them. The first round warms each task up.
 * With `batch` > 1 each sample times that many sequential calls and reports the mean of one.
 */
export async function measureGroup(
  specs: readonly TaskSpec[],
  budget: Budget,
  rounds = 1,
): Promise<Timing[]> {
  const samples: number[][] = specs.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, spec] of specs.entries()) {
      const warm = round === 0 && budget.warmupIterations > 0;
      const bench = new Bench({
        name: spec.name,
        time: budget.time / rounds,
        iterations: Math.ceil(budget.iterations / rounds),
        warmup: warm,
        warmupTime: budget.warmupTime,
        warmupIterations: budget.warmupIterations,
        timestampProvider: "hrtimeNow",
        retainSamples: true,
        throws: true,
      });
      addTask(bench, spec);
      await bench.run();
      const result = bench.tasks[0]?.result;
      if (result === undefined || !("latency" in result) || result.latency.samples === undefined) {
        const error = result !== undefined && "error" in result ? result.error : undefined;
        throw new Error(`bench task ${spec.name} did not complete (${result?.state ?? "no result"})`, {
          cause: error,
        });
      }
      samples[i]?.push(...result.latency.samples);
    }
  }
  return specs.map((spec, i) => {
    const sorted = (samples[i] ?? []).sort((a, b) => a - b);
    const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
    return {
      medianNs: quantile(sorted, 0.5) * NS_PER_MS,
      meanNs: mean * NS_PER_MS,
      p99Ns: quantile(sorted, 0.99) * NS_PER_MS,
      opsPerSec: mean > 0 ? 1000 / mean : 0,
      samples: sorted.length,
      batch: Math.max(1, spec.batch ?? 1),
      rounds,
    };
  });
}

/** Times one task (a group of one, one round). */
export async function measure(spec: TaskSpec, budget: Budget): Promise<Timing> {
  const [timing] = await measureGroup([spec], budget, 1);
  return timing as Timing;
}

/** Times one run of `fn` (for operations too long or too destructive to repeat, e.g. a purge of 100,000 rows). */
export async function measureOnce(fn: () => Promise<unknown>): Promise<{ ns: number }> {
  const start = process.hrtime.bigint();
  await fn();
  return { ns: Number(process.hrtime.bigint() - start) };
}
