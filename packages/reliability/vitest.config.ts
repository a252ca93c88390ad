import { defineProject } from "vitest/config";

export default defineProject({
  ssr: { resolve: { conditions: ["@conn/source", "node", "development|production"] } },
  test: { name: "reliability", include: ["test/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000 },
});
