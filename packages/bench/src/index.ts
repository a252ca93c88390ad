/** @conn/bench: `pnpm bench`. In-process entry for the quick test: `runBench(defaultOptions(true))`. */
export { CountingDatabase, type StatementCount } from "./counting.js";
export { type BenchOptions, defaultOptions, type EngineName, parseArgs } from "./options.js";
export type { BenchResults } from "./results.js";
export { MEMORY_ONLY_SCENARIOS, PEER_SCENARIOS, SCENARIOS, SQL_ONLY_SCENARIOS } from "./results.js";
export { type BenchOutput, runBench } from "./run.js";
