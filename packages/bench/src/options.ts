import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The stores the scenarios run on. */
export type EngineName = "memory" | "pglite" | "postgres";

/** Every engine, in report order. */
export const ENGINES: readonly EngineName[] = ["memory", "pglite", "postgres"];

/** The size of the warm data set and of the other data sets. */
export interface DataSetSize {
  /** Active connections of the warm data set. */
  connections: number;
  /** Contexts they are spread over. */
  contexts: number;
  /** Accounts they are spread over. */
  accounts: number;
  /** Expired invitations for `purgeExpired`. */
  expired: number;
  /** How deep the deep list page starts, in rows. */
  listDepth: number;
}

/** How long and how often each timed task runs. */
export interface Budget {
  /** Time budget per task, ms (tinybench keeps going until both this and `iterations` are met). */
  time: number;
  /** Minimum iterations per task. */
  iterations: number;
  /** Warm-up time per task, ms. */
  warmupTime: number;
  /** Warm-up iterations per task. */
  warmupIterations: number;
  /** Calls timed together in one sample for sub-microsecond operations (the timer cannot see one call). */
  batch: number;
}

/** What one bench run does. */
export interface BenchOptions {
  /** Quick mode: tiny counts, output to a temporary folder. */
  quick: boolean;
  /** The engines to run; `postgres` is left out when no `pgUrl` is given. */
  engines: EngineName[];
  /** The PostgreSQL server (from `CONN_PG_URL`), or undefined. */
  pgUrl: string | undefined;
  size: DataSetSize;
  /** Budget of read (look-up) tasks. */
  reads: Budget;
  /** Budget of write tasks (create, accept, reject, delete, list). */
  writes: Budget;
  /** HTTP scenario: flows (create + read token + accept + resolve) and how many run at once. */
  http: { flows: number; concurrency: number } | null;
  /** HTTP GET by id against the bare Hono and node:http floors (memory engine; off with `--no-http`). */
  httpGet: { requests: number; concurrency: number; rounds: number } | null;
  /** Flow throughput fresh and after `total` flows, in memory and on the server (`--no-flows` to skip). */
  flows: { chunk: number; total: number; concurrency: number; accounts: number } | null;
  /** The scale tables: sizes per engine (`--no-scale` to skip, `--scale-max N` to stop at N connections). */
  scale: { postgres: number[]; memory: number[] } | null;
  /** The peer (casbin): on or off. */
  peer: boolean;
  /** Where `latest.json` (or `quick.json`) goes. */
  resultsDir: string;
  /** Where `benchmarks.md` and `benchmarks.svg` go; null to write no doc. */
  docsDir: string | null;
  /** Progress lines (default: stderr). */
  log: (line: string) => void;
}

const here = dirname(fileURLToPath(import.meta.url));
/** packages/bench. */
export const PACKAGE_DIR = resolve(here, "..");
/** The repository root. */
export const REPO_DIR = resolve(PACKAGE_DIR, "../..");

/** The data-set sizes (full mode). */
export const FULL_SIZE: DataSetSize = {
  connections: 100_000,
  contexts: 1_000,
  accounts: 10_000,
  expired: 100_000,
  listDepth: 10_000,
};

/** Tiny sizes for quick mode: every scenario, in seconds. */
export const QUICK_SIZE: DataSetSize = {
  connections: 1_000,
  contexts: 10,
  accounts: 100,
  expired: 1_000,
  listDepth: 500,
};

/** The options of a full run (`pnpm bench`) or a quick one (`pnpm bench --quick`), before overrides. */
export function defaultOptions(quick: boolean, env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const pgUrl = env.CONN_PG_URL === undefined || env.CONN_PG_URL === "" ? undefined : env.CONN_PG_URL;
  return {
    quick,
    engines: ENGINES.filter((e) => e !== "postgres" || pgUrl !== undefined),
    pgUrl,
    size: quick ? QUICK_SIZE : FULL_SIZE,
    reads: quick
      ? { time: 15, iterations: 5, warmupTime: 5, warmupIterations: 2, batch: 20 }
      : { time: 1_500, iterations: 200, warmupTime: 300, warmupIterations: 50, batch: 1_000 },
    writes: quick
      ? { time: 10, iterations: 3, warmupTime: 0, warmupIterations: 1, batch: 1 }
      : { time: 1_200, iterations: 40, warmupTime: 200, warmupIterations: 5, batch: 1 },
    http: quick ? { flows: 10, concurrency: 2 } : { flows: 1_000, concurrency: 8 },
    httpGet: quick
      ? { requests: 20, concurrency: 2, rounds: 1 }
      : { requests: 4_000, concurrency: 8, rounds: 3 },
    flows: quick
      ? { chunk: 10, total: 40, concurrency: 2, accounts: 20 }
      : { chunk: 2_000, total: 20_000, concurrency: 8, accounts: 1_000 },
    scale: quick
      ? { postgres: [200, 1_000], memory: [200, 1_000] }
      : { postgres: [10_000, 100_000, 1_000_000], memory: [100_000, 1_000_000] },
    peer: true,
    resultsDir: quick ? join(tmpdir(), "conn-bench-quick") : join(PACKAGE_DIR, "results"),
    docsDir: quick ? null : join(REPO_DIR, "docs"),
    log: (line) => process.stderr.write(`${line}\n`),
  };
}

/** The command line. */
export const USAGE =
  "usage: pnpm bench [--quick] [--engines memory,pglite,postgres] [--no-http] [--no-peer] [--no-flows] [--no-scale]\n" +
  "                  [--scale-max N] [--out DIR] [--docs DIR] [--render]\n" +
  "  PostgreSQL runs when CONN_PG_URL is set. --quick: tiny counts, written to a temporary folder.\n" +
  "  --render: rewrite the doc and chart from the last result file, measuring nothing.";

/** Parses the command line: `--quick`, `--engines memory,pglite`, `--no-http`, `--no-peer`, `--no-flows`, `--no-scale`, `--scale-max N`, `--out DIR`, `--docs DIR`. */
export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const args = argv.filter((a) => a !== "--");
  const options = defaultOptions(args.includes("--quick"), env);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case "--quick":
      case "--render":
        break;
      case "--engines": {
        const wanted = value().split(",");
        for (const e of wanted) {
          if (!ENGINES.includes(e as EngineName)) throw new Error(`unknown engine ${e}`);
        }
        options.engines = ENGINES.filter((e) => wanted.includes(e));
        if (options.engines.includes("postgres") && options.pgUrl === undefined) {
          throw new Error("--engines postgres needs CONN_PG_URL");
        }
        break;
      }
      case "--no-http":
        options.http = null;
        options.httpGet = null;
        break;
      case "--no-flows":
        options.flows = null;
        break;
      case "--no-scale":
        options.scale = null;
        break;
      case "--scale-max": {
        const max = Number(value());
        if (!Number.isSafeInteger(max) || max < 1) throw new Error("--scale-max needs a positive integer");
        if (options.scale !== null) {
          options.scale = {
            postgres: options.scale.postgres.filter((n) => n <= max),
            memory: options.scale.memory.filter((n) => n <= max),
          };
        }
        break;
      }
      case "--no-peer":
        options.peer = false;
        break;
      case "--out":
        options.resultsDir = resolve(value());
        break;
      case "--docs":
        options.docsDir = resolve(value());
        break;
      case "--help":
        throw new Error(USAGE);
      default:
        throw new Error(`unknown argument ${arg}`);
    }
  }
  return options;
}
