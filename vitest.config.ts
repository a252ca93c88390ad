import { defineConfig } from "vitest/config";
import projects from "./vitest.workspace.ts";

export default defineConfig({
  test: {
    // One line first: which suites need CONN_PG_URL, and whether the soak runs are on.
    globalSetup: ["./scripts/test-banner.ts"],
    projects,
  },
});
