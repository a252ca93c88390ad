import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The slowest test files, in seconds, as measured in a quiet CI run of `pnpm test` (2 cores, 2 workers). Vitest's own
 * order runs the projects one after another by name, so the reliability project's timed runs came last and one
 * worker finished them alone; with no cache from an earlier run (as in CI) it has no durations to go by either.
 */
const SLOW_FILES: Readonly<Record<string, number>> = {
  "packages/reliability/test/survival.test.ts": 33,
  "packages/adapter-postgres/test/database.test.ts": 27,
  "packages/reliability/test/hostile-input.test.ts": 20,
  "examples/quickstart/test/demo.test.ts": 20,
  "packages/reliability/test/soak.test.ts": 19,
  "packages/reliability/test/access-cache.test.ts": 18,
  "packages/adapter-postgres/test/cli.test.ts": 18,
  "packages/adapter-postgres/test/contract-facade-pglite.test.ts": 15,
  "packages/container/test/dispose.test.ts": 15,
  "packages/reliability/test/relays.test.ts": 14,
  "packages/container/test/container.test.ts": 13,
  "examples/web/test/access-page.test.ts": 12,
  "packages/adapter-postgres/test/contract-linearizability.test.ts": 12,
  "packages/container/test/access-cache.test.ts": 11,
  "packages/reliability/test/hostile-http.test.ts": 11,
};

/**
 * Runs the known slow files first, longest first, whatever their project, then every other file in vitest's own
 * order: two workers then end close together (longest-processing-time-first scheduling).
 */
export class SlowFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const ordered = await super.sort(files);
    const root = this.ctx.config.root;
    const weight = (file: TestSpecification): number =>
      SLOW_FILES[relative(root, file.moduleId).split("\\").join("/")] ?? 0;
    // Array.prototype.sort is stable: files of equal weight keep vitest's order.
    return [...ordered].sort((a, b) => weight(b) - weight(a));
  }
}
