import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const run = promisify(execFile);
const dir = fileURLToPath(new URL("..", import.meta.url));

it("pnpm demo tells the seed's story: invite, accept, Read, delete, None; auto; email invitation", async () => {
  const { stdout } = await run("pnpm", ["start"], { cwd: dir, timeout: 60_000 });
  const order = [
    "Alice owns the patient file and connects Bob at Read.",
    "Notice sent: invite-existing-user to bob@acme.example",
    '"token": "',
    "Bob's effective access: Read (4)",
    "Bob's effective access: None (0)",
    "Notice sent: connection-created to carol@acme.example",
    "Carol's effective access: Share (5)",
    '"email": "dan@elsewhere.example"',
    "Notice sent: invite-new-user to dan@elsewhere.example",
    "Invitations bound to Dan: 1",
    "Dan's effective access: Read (4)",
    "cortex.invalidArgument.connectionToken (400)",
  ];
  let at = 0;
  for (const line of order) {
    const found = stdout.indexOf(line, at);
    expect(found, `expected "${line}" after position ${at}`).toBeGreaterThanOrEqual(0);
    at = found + line.length;
  }
  // The creator's view of Bob's invitation carries no token: the first token printed is in Bob's list.
  const aliceView = stdout.slice(0, stdout.indexOf("Bob lists his connections"));
  expect(aliceView).not.toContain('"token"');
}, 60_000);

it("with CONN_PGLITE_DIR the demo keeps the first run's connections for the second run; a relative dir is the caller's", async () => {
  const { existsSync } = await import("node:fs");
  const { mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const caller = await mkdtemp(join(tmpdir(), "conn-demo-"));
  try {
    // Typed in `caller` as `CONN_PGLITE_DIR=./data pnpm --dir examples/quickstart start`: pnpm runs the script in
    // examples/quickstart and sets INIT_CWD to `caller`, where the data must land.
    const { INIT_CWD: _ignored, ...inherited } = process.env;
    const env = { ...inherited, CONN_PGLITE_DIR: "./data" };
    const first = await run("pnpm", ["--dir", dir, "start"], { cwd: caller, env, timeout: 120_000 });
    expect(first.stdout).toContain("Persistence: pglite");
    expect(existsSync(join(caller, "data")), "the data directory is in the caller's folder").toBe(true);
    expect(existsSync(join(dir, "data")), "and not in examples/quickstart").toBe(false);
    expect(first.stdout).toContain("Connections Alice made in earlier runs: 0");
    const second = await run("pnpm", ["--dir", dir, "start"], { cwd: caller, env, timeout: 120_000 });
    expect(second.stdout).toContain("Connections Alice made in earlier runs: 2");
    expect(second.stdout).toContain(
      "Carol already holds it from an earlier run: cortex.conflict.connectionExists (409)",
    );
  } finally {
    await rm(caller, { recursive: true, force: true });
  }
}, 240_000);
