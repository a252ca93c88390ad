import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const run = promisify(execFile);
const dir = fileURLToPath(new URL("..", import.meta.url));
const PG_URL = process.env.CONN_PG_URL ?? "";
const IN_CI = process.env.CI === "true" || process.env.CI === "1";

// Needs a PostgreSQL server: CONN_PG_URL (CI always sets it, and then a missing server fails this test).
it.skipIf(PG_URL === "" && !IN_CI)(
  "the postgres-ses example runs the story on PostgreSQL and prints the two invitation emails (skipped without CONN_PG_URL outside CI)",
  async () => {
    if (PG_URL === "") throw new Error("CI is set but CONN_PG_URL is not: this example must not be skipped");
    const { stdout } = await run("pnpm", ["start"], {
      cwd: dir,
      timeout: 110_000,
      env: { ...process.env, CONN_DATABASE_URL: PG_URL, CONN_DATABASE_SCHEMA: "" },
    });
    expect(stdout).toContain("Bob's effective access: 4");
    expect(stdout).toContain("Bob's effective access: 0");
    expect(stdout).toContain("Dan's effective access: 4");
    expect(stdout).toContain("Emails the SES emulator received: 2");
    expect(stdout).toMatch(/--- To: bob@acme\.example\n--- Subject: .*Alice Owner/);
    expect(stdout).toMatch(/--- To: dan@elsewhere\.example/);
    expect(stdout).toContain("https://acme.example/connections/<token>");
  },
);
