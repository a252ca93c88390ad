import { defineConfig } from "vitest/config";
import { SlowFilesFirst } from "./scripts/test-sequencer.ts";
import projects from "./vitest.workspace.ts";

export default defineConfig({
  test: {
    // One line first: which suites need CONN_PG_URL, and whether the soak runs are on.
    globalSetup: ["./scripts/test-banner.ts"],
    projects,
    // Vitest's default on 2 cores is one worker; most suites wait on PostgreSQL, child processes or a browser, so
    // two run side by side with no test timing out.
    maxWorkers: 2,
    // The slow files first, whatever their project, so the two workers finish together (scripts/test-sequencer.ts):
    // 284 s for the whole suite here with CI=true and a server, 310 s in vitest's own order.
    sequence: { sequencer: SlowFilesFirst },
  },
});
