/** `src/main.ts` as `pnpm web` runs it: a real process, what it prints, its pages, its exit. */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";

const dir = fileURLToPath(new URL("..", import.meta.url));
const root = fileURLToPath(new URL("../../..", import.meta.url));

const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

/** Starts `tsx src/main.ts` as the package's `start` script does, with no CONN_* setting but `env`. */
function start(env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CONN_")));
  const child = spawn(`${root}node_modules/.bin/tsx`, ["--conditions=@conn/source", "src/main.ts"], {
    cwd: dir,
    env: { ...clean, ...env },
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
  const exit = new Promise<{ code: number | null }>((resolve) =>
    child.on("exit", (code) => resolve({ code })),
  );
  return { child, stdout: () => out, stderr: () => err, exit };
}

it("`pnpm web` runs the start script", () => {
  const pkg = JSON.parse(readFileSync(`${dir}package.json`, "utf8"));
  const rootPkg = JSON.parse(readFileSync(`${root}package.json`, "utf8"));
  expect(pkg.scripts.start).toBe("tsx --conditions=@conn/source src/main.ts");
  expect(rootPkg.scripts.web).toBe(`pnpm --filter ${pkg.name} start`);
});

it("prints where to go and the demo accounts, serves the pages, logs requests token-free, stops on SIGTERM", async () => {
  const run = start({ PORT: "0" });
  await expect.poll(run.stdout, { timeout: 20_000 }).toContain("Ctrl-C stops.");
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(run.stdout())?.[1] as string;
  const out = run.stdout();
  expect(out).toContain(`open ${url}/acme in a browser`);
  expect(out).toContain(`persistence: memory · emails: demo mailbox at ${url}/acme/demo/mailbox`);
  expect(out).toContain(`invitation links: ${url}/acme/connections/<token>`);
  expect(out).toContain("alice@acme.example     Alice Owner");
  expect(out).toContain("dave@acme.example      Dave Unverified (email not verified)");

  const home = await fetch(`${url}/acme`);
  expect(home.status).toBe(200);
  expect(await home.text()).toContain("<title>Welcome – Acme Health</title>");
  const token = "Q".repeat(43);
  expect((await fetch(`${url}/acme/connections/${token}`, { redirect: "manual" })).status).toBe(303);
  await expect.poll(run.stdout).toContain("GET /acme/connections/<token> 303");
  expect(run.stdout()).not.toContain(token);

  run.child.kill("SIGTERM");
  expect(await run.exit).toEqual({ code: 0 });
  expect(run.stdout()).toMatch(/SIGTERM: stopping…\nstopped\n$/);
  expect(run.stderr()).toBe("");
}, 60_000);

it("bad settings stop it before it listens, naming each one", async () => {
  const run = start({ PORT: "eighty", CONN_WEB_PUBLIC_URL: "ftp://x" });
  expect(await run.exit).toEqual({ code: 1 });
  expect(run.stderr().trim()).toBe(
    'Invalid @conn configuration: PORT: must be a port number 0..65535, got "eighty"; ' +
      'CONN_WEB_PUBLIC_URL: must be an http(s) URL, got "ftp://x"',
  );
  expect(run.stdout()).not.toContain("listening");
}, 60_000);
