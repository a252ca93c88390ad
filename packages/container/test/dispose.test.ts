import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { POSTGRES_ENABLED, requirePgUrl, TEST_KEY, uniqueSchema } from "./support.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));

/**
 * Runs the fixture in its own process (one node process with tsx's loader, not `pnpm exec tsx`, which adds a pnpm
 * start and a second node process); resolves with its output once the process has exited by itself.
 */
async function runFixture(env: Record<string, string>): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    [
      "--import",
      "tsx",
      "--conditions=@conn/source",
      "--import=reflect-metadata",
      "test/fixtures/dispose-exits.ts",
    ],
    {
      cwd: root,
      timeout: 90_000,
      env: { ...process.env, CONN_PERSISTENCE: "", CONN_DATABASE_URL: "", ...env },
    },
  );
  return stdout;
}

describe("dispose() leaves no open handles: the process exits by itself", () => {
  it("memory", async () => {
    expect(await runFixture({ CONN_PERSISTENCE: "memory" })).toContain("disposed");
  }, 100_000);

  it("pglite, with the relay running", async () => {
    expect(await runFixture({ CONN_PERSISTENCE: "pglite", CONN_TOKEN_KEY: TEST_KEY })).toContain("disposed");
  }, 100_000);

  it.skipIf(!POSTGRES_ENABLED)(
    "postgres, with the pool and the relay (skipped without CONN_PG_URL outside CI)",
    async () => {
      const out = await runFixture({
        CONN_DATABASE_URL: requirePgUrl(),
        CONN_DATABASE_SCHEMA: uniqueSchema("exit"),
        CONN_TOKEN_KEY: TEST_KEY,
        CONN_NOTICES: "log", // PostgreSQL refuses notices kept in memory
      });
      expect(out).toContain("disposed");
    },
    100_000,
  );
});
