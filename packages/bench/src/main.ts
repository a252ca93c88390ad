import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { assertBuiltIsCurrent, BUILT_ENV, resolvesToBuilt } from "./artifact.js";
import { parseArgs, USAGE } from "./options.js";
import type { BenchResults } from "./results.js";
import { runBench, writeOutputs } from "./run.js";

/** `pnpm bench [--quick] …`: see {@link parseArgs}. */
async function main(): Promise<void> {
  if (process.argv.includes("--help")) {
    console.log(USAGE);
    return;
  }
  let options: ReturnType<typeof parseArgs>;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 2;
    return;
  }
  if (process.argv.includes("--render")) {
    // Re-renders the doc and chart from the last result file (same figures), e.g. after a wording change.
    const file = join(options.resultsDir, options.quick ? "quick.json" : "latest.json");
    const results = JSON.parse(await readFile(file, "utf8")) as BenchResults;
    await writeOutputs(results, options);
    return;
  }
  // The library as a host imports it: the built packages (the bench script runs without the @conn/source condition),
  // which must not be older than their sources. Run with the condition, the sources are measured, and the results say so.
  if (resolvesToBuilt()) {
    process.env[BUILT_ENV] = "1";
    try {
      await assertBuiltIsCurrent();
    } catch (error) {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 2;
      return;
    }
  }
  await runBench(options);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
