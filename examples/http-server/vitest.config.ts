import { defineProject } from "vitest/config";

export default defineProject({
  ssr: { resolve: { conditions: ["@conn/source", "node", "development|production"] } },
  test: {
    name: "example-http-server",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
