import { defineProject } from "vitest/config";

export default defineProject({
  ssr: { resolve: { conditions: ["@conn/source", "node", "development|production"] } },
  test: { name: "opentelemetry", include: ["test/**/*.test.ts"] },
});
