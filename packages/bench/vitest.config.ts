import { defineProject } from "vitest/config";

export default defineProject({
  ssr: { resolve: { conditions: ["@conn/source", "node", "development|production"] } },
  test: {
    name: "bench",
    include: ["test/**/*.test.ts"],
    // The quick bench opens PGlite (and the server when CONN_PG_URL is set) and forks the HTTP load generator.
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
