/** `src/main.ts` as `pnpm serve` runs it: a real process, its output, its exit on SIGTERM or on bad settings. */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { A, B, C, client, FILE } from "./support.ts";

const dir = fileURLToPath(new URL("..", import.meta.url));
const root = fileURLToPath(new URL("../../..", import.meta.url));

/** The environment of a child: this one without any CONN_* setting, plus `extra`. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CONN_")));
  return { ...env, ...extra };
}

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

/** Starts `node --import tsx src/main.ts` as the package's `start` script does. */
function start(env: Record<string, string>): Run {
  const child = spawn(process.execPath, ["--import", "tsx", "--conditions=@conn/source", "src/main.ts"], {
    cwd: dir,
    env: childEnv(env),
  });
  running.push(child);
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exit };
}

it("the start script is what `pnpm serve` runs", () => {
  const pkg = JSON.parse(readFileSync(`${dir}package.json`, "utf8"));
  const rootPkg = JSON.parse(readFileSync(`${root}package.json`, "utf8"));
  expect(pkg.name).toBe("@conn/example-http-server");
  // exec: no shell stays between pnpm and node, so Ctrl-C reaches only node, which stops and exits 0.
  expect(pkg.scripts.start).toBe("exec node --import tsx --conditions=@conn/source src/main.ts");
  expect(rootPkg.scripts.serve).toBe("exec pnpm --filter @conn/example-http-server start");
});

it("Ctrl-C (SIGINT) stops it with exit code 0", async () => {
  const run = start({ PORT: "0" });
  await expect.poll(run.stdout, { timeout: 20_000 }).toContain("Ctrl-C stops");
  run.child.kill("SIGINT");
  expect(await run.exit).toEqual({ code: 0, signal: null });
  expect(run.stdout()).toMatch(/SIGINT: stopping…\nstopped\n$/);
  expect(run.stderr()).toBe("");
}, 30_000);

it("prints its URL and the demo accounts, serves the API, and stops cleanly on SIGTERM", async () => {
  const run = start({ PORT: "0" });
  await expect.poll(run.stdout, { timeout: 20_000 }).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+\n/);
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(run.stdout())?.[1] as string;
  expect(url).not.toMatch(/:0$/);
  await expect.poll(run.stdout).toContain("Ctrl-C stops");
  const out = run.stdout();
  expect(out).toContain("persistence: memory · notices: log");
  expect(out).toContain("DEMO-ONLY authentication: send 'Authorization: Bearer <account _id>'");
  expect(out).toContain(`${A}  Alice Owner    alice@acme.example`);
  expect(out).toContain(`${B}  Bob Doctor     bob@acme.example`);
  expect(out).toContain(`${C}  Carol Nurse    carol@acme.example`);
  expect(out).toContain(`c_patient_files/${FILE}: Alice Owner Delete (7)`);

  const call = client(() => url);
  const created = await call("POST", `/c_patient_files/${FILE}/connections`, {
    as: A,
    body: { targets: [{ _id: B, access: 4 }] },
  });
  expect(created.status).toBe(200);
  const bobs = await call("GET", "/connections?state=0", { as: B });
  expect(bobs.body.data[0].token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
  // The notice is printed, its token hidden.
  await expect
    .poll(run.stdout)
    .toContain(`[conn] notice invite-existing-user to bob@acme.example about /c_patient_files/${FILE}`);
  expect(run.stdout()).toContain("accept=https://acme.example/connections/<token>");
  expect(run.stdout()).not.toContain(bobs.body.data[0].token);

  run.child.kill("SIGTERM");
  expect(await run.exit).toEqual({ code: 0, signal: null });
  expect(run.stdout()).toMatch(/SIGTERM: stopping…\nstopped\n$/);
  expect(run.stderr()).toBe("");
  await expect(fetch(`${url}/acme/v2/connections`)).rejects.toThrow();
}, 30_000);

it("a bad fixture, port or configuration stops it before it listens, with a message naming the problem", async () => {
  // Started together: each must fail on its own setting.
  const missing = start({ PORT: "0", CONN_FIXTURE: "no/such/fixture.json", INIT_CWD: "/tmp" });
  const port = start({ PORT: "eighty" });
  const config = start({ PORT: "0", CONN_DATABASE_URL: "mysql://db" });

  expect(await missing.exit).toEqual({ code: 1, signal: null });
  expect(missing.stderr().trim()).toBe("Invalid fixture /tmp/no/such/fixture.json: no such file");
  expect(missing.stdout()).not.toContain("listening");

  expect(await port.exit).toEqual({ code: 1, signal: null });
  expect(port.stderr().trim()).toBe(
    'Invalid @conn configuration: PORT: must be a port number 0..65535, got "eighty"',
  );

  expect(await config.exit).toEqual({ code: 1, signal: null });
  expect(config.stderr().trim()).toBe(
    "Invalid @conn configuration: persistence.url (CONN_DATABASE_URL): must be a postgres:// or postgresql:// connection" +
      " string; tokenKey (CONN_TOKEN_KEY): is required with PostgreSQL persistence, so targets can see their tokens" +
      " after a restart",
  );
  expect(config.stdout()).not.toContain("listening");
}, 60_000);
