import { defineConfig } from "vitest/config";
import projects from "./vitest.workspace.ts";

export default defineConfig({
  test: {
    // One line first: which suites need CONN_PG_URL, and whether the soak runs are on.
    globalSetup: ["./scripts/test-banner.ts"],
    projects,
    // Vitest's default on 2 cores is one worker; most suites wait on PostgreSQL, child processes or a browser, so
    // two run side by side with no test timing out (7 min instead of 10 for the whole suite here).
    maxWorkers: 2,
  },
});
