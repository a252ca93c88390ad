/**
 * The load of the survival test: clients of the demo HTTP server, each working its own (context, target) pair
 * through create, accept or reject, reads and delete, with a ledger of what the server acknowledged; the demo
 * server as a child process; and the checks of every 5xx answer.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

export const ORG = "acme";
/** Alice owns every context of the survival fixture. */
export const ALICE = "5f0000000000000000000a01";
/** The `c_patient_files` instance of client `i`. */
export const contextOf = (i: number): string => `5f00000000000000000f${(0x1000 + i).toString(16)}`;
/** The target account of client `i`. */
export const targetOf = (i: number): string => `5f000000000000000000${(0xb000 + i).toString(16)}`;

/** Writes a demo-server fixture with Alice, `clients` target accounts and one patient file per client. */
export async function writeSurvivalFixture(dir: string, clients: number): Promise<string> {
  const ids = Array.from({ length: clients }, (_, i) => i);
  const fixture = {
    orgs: [{ code: ORG, name: "Acme Health", connectionUrl: "https://acme.example/connections/{token}" }],
    accounts: [
      { org: ORG, _id: ALICE, email: "alice@acme.example", name: { first: "Alice" }, verified: true },
      ...ids.map((i) => ({
        org: ORG,
        _id: targetOf(i),
        email: `target${i}@acme.example`,
        name: { first: `Target ${i}` },
        verified: true,
      })),
    ],
    objects: [{ org: ORG, name: "c_patient_file", plural: "c_patient_files", allowConnections: true }],
    instances: ids.map((i) => ({
      org: ORG,
      object: "c_patient_file",
      _id: contextOf(i),
      access: { [ALICE]: 7 },
    })),
  };
  const path = join(dir, "survival-fixture.json");
  await writeFile(path, JSON.stringify(fixture));
  return path;
}

// ---------------------------------------------------------------------------------------------------------------
// The server process.

/** The demo HTTP server in its own process, and what it wrote. */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  stdout(): string;
  stderr(): string;
  /** True while the process has neither exited nor been killed by a signal. */
  alive(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const exampleDir = fileURLToPath(new URL("../../../../examples/http-server/", import.meta.url));
const tsx = fileURLToPath(new URL("../../../../node_modules/.bin/tsx", import.meta.url));

/** Starts `examples/http-server` as `pnpm serve` does (tsx src/main.ts) with `env`; resolves once it listens. */
export async function startServerProcess(
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<ServerProcess> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CONN_")));
  const child = spawn(tsx, ["--conditions=@conn/source", "src/main.ts"], {
    cwd: exampleDir,
    env: { ...clean, ...env },
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  const until = performance.now() + timeoutMs;
  let url: string | undefined;
  while (url === undefined) {
    url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    if (url !== undefined) break;
    if (child.exitCode !== null || performance.now() > until) {
      child.kill("SIGKILL");
      throw new Error(`the demo server did not start:\n${out}\n${err}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    child,
    url,
    stdout: () => out,
    stderr: () => err,
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const how = await exited;
      clearTimeout(timer);
      return how;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP calls and what every failed one must look like.

/** One answer: its status, headers, parsed body, when it came, and how long it took. */
export interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: the test reads JSON answers field by field
  body: any;
  text: string;
  at: number;
  ms: number;
}

/** No answer within the client timeout, or no connection at all. */
export class NoAnswer extends Error {}

/** Calls the server with a client-side timeout; `as` is the Bearer account id. */
export async function call(
  base: string,
  method: string,
  path: string,
  options: { as?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<Answer> {
  const started = performance.now();
  const headers: Record<string, string> = {};
  if (options.as !== undefined) headers.authorization = `Bearer ${options.as}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${base}/${ORG}/v2${path}`, {
      method,
      headers,
      signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    text = await response.text();
  } catch (error) {
    throw new NoAnswer(
      `${method} ${path}: no answer (${(error as Error).name}: ${(error as Error).message})`,
    );
  }
  let body: unknown;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  const at = performance.now();
  return { status: response.status, headers: response.headers, body, text, at, ms: at - started };
}

/** What a 5xx answer must be: a 503 `cortex.error.unavailable` with `Retry-After` and its request id. Problems, if any. */
export function problemsOf5xx(answer: Answer): string[] {
  const problems: string[] = [];
  const body = answer.body as Record<string, unknown> | undefined;
  if (answer.status !== 503) problems.push(`status ${answer.status}`);
  if (body?.errCode !== "cortex.error.unavailable") problems.push(`errCode ${String(body?.errCode)}`);
  if (!/^\d+$/.test(answer.headers.get("retry-after") ?? "")) problems.push("no Retry-After");
  const id = answer.headers.get("x-request-id");
  if (id === null || body?.requestId !== id)
    problems.push(`request id ${String(body?.requestId)} vs header ${id}`);
  if (body?.reason !== undefined || body?.path !== undefined) problems.push("a reason or path");
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// The clients.

/** What one pair should hold at the end, from the last operation the server acknowledged. */
export type PairState = { kind: "empty" } | { kind: "pending"; id: string } | { kind: "active"; id: string };

/** Everything the clients saw. */
export interface Ledger {
  /** Answers by route and status, e.g. `POST create 200`. */
  answers: Record<string, number>;
  /** Every 5xx answer (503s; anything else is also a violation). */
  failures: Answer[];
  /** Acknowledged creates: the connection id and its client. */
  createdIds: Map<string, number>;
  /** Ids whose delete or reject the server acknowledged. */
  removedIds: Set<string>;
  /** Per client: the state the last acknowledged operation left (null while an unacknowledged one is pending). */
  finalState: (PairState | null)[];
  /** Completed cycles (create to delete or reject). */
  cycles: number;
  /** Successful answers that needed the database, with the time they arrived. */
  successes: number[];
  /** Things that must not happen. */
  violations: string[];
  /** The slowest answer of any call, ms. */
  slowestMs: number;
  /** Every answer's arrival time and status (0: none within the client timeout). */
  timeline: { at: number; status: number }[];
}

/** A fresh ledger for `clients` clients. */
export function newLedger(clients: number): Ledger {
  return {
    answers: {},
    failures: [],
    createdIds: new Map(),
    removedIds: new Set(),
    finalState: Array.from({ length: clients }, () => ({ kind: "empty" }) as PairState),
    cycles: 0,
    successes: [],
    violations: [],
    slowestMs: 0,
    timeline: [],
  };
}

/** The server refused with a 5xx: the pair's state is unknown until a cleanup confirms it. */
class Unavailable extends Error {}

/**
 * One client: works pair `i` (Alice's file `i`, target `i`) until `stop()` says so, then stops after its current
 * step, leaving the pair in whatever state that step left. After a 5xx it backs off briefly and cleans the pair
 * (lists it as Alice, deletes what is there, lists again) before the next cycle; a 4xx is a violation unless a
 * 5xx since the last clean state could explain it.
 */
export async function runClient(base: string, i: number, ledger: Ledger, stop: () => boolean): Promise<void> {
  const ctx = contextOf(i);
  const target = targetOf(i);
  let dirty = false;

  /** One call: tallied, checked, and thrown as Unavailable when it is a 5xx or gets no answer. */
  const step = async (
    label: string,
    method: string,
    path: string,
    as: string,
    expected: number[],
    body?: unknown,
  ): Promise<Answer> => {
    let answer: Answer;
    try {
      answer = await call(base, method, path, { as, ...(body === undefined ? {} : { body }) });
    } catch (error) {
      ledger.timeline.push({ at: performance.now(), status: 0 });
      ledger.violations.push(`client ${i} ${label}: ${(error as Error).message}`);
      ledger.finalState[i] = null;
      dirty = true;
      throw new Unavailable(label);
    }
    ledger.slowestMs = Math.max(ledger.slowestMs, answer.ms);
    ledger.timeline.push({ at: answer.at, status: answer.status });
    const key = `${label} ${answer.status}`;
    ledger.answers[key] = (ledger.answers[key] ?? 0) + 1;
    if (answer.status >= 500) {
      ledger.failures.push(answer);
      for (const p of problemsOf5xx(answer)) ledger.violations.push(`client ${i} ${label}: 5xx with ${p}`);
      ledger.finalState[i] = null;
      dirty = true;
      throw new Unavailable(label);
    }
    if (!expected.includes(answer.status)) {
      if (!dirty) {
        ledger.violations.push(
          `client ${i} ${label}: ${answer.status} ${answer.body?.errCode ?? ""} in a clean state`,
        );
      }
      dirty = true;
      ledger.finalState[i] = null;
      throw new Unavailable(label);
    }
    ledger.successes.push(answer.at);
    return answer;
  };

  /** Lists the pair as Alice and deletes what is there until a list comes back empty. */
  const clean = async (): Promise<void> => {
    const listed = await step("list context", "GET", `/c_patient_files/${ctx}/connections`, ALICE, [200]);
    for (const c of listed.body.data as { _id: string }[]) {
      const removed = await step("cleanup delete", "DELETE", `/connections/${c._id}`, ALICE, [200, 404]);
      if (removed.status === 200) ledger.removedIds.add(c._id);
    }
    const again = await step("list context", "GET", `/c_patient_files/${ctx}/connections`, ALICE, [200]);
    if ((again.body.data as unknown[]).length === 0) {
      dirty = false;
      ledger.finalState[i] = { kind: "empty" };
    }
  };

  for (let k = 0; !stop(); k++) {
    try {
      if (dirty) {
        await clean();
        continue;
      }
      const created = await step("create", "POST", `/c_patient_files/${ctx}/connections`, ALICE, [200], {
        targets: [{ _id: target, access: 4 }],
      });
      const entry = created.body.data[0] as { object: string; _id: string; state: number };
      if (entry.object !== "connection" || entry.state !== 0) {
        ledger.violations.push(`client ${i} create: ${JSON.stringify(entry)} in a clean state`);
        dirty = true;
        continue;
      }
      const id = entry._id;
      ledger.createdIds.set(id, i);
      ledger.finalState[i] = { kind: "pending", id };
      if (stop()) break;

      const mine = await step("list as target", "GET", "/connections?state=0", target, [200]);
      const token = (mine.body.data as { _id: string; token?: string }[]).find((c) => c._id === id)?.token;
      if (token === undefined) {
        ledger.violations.push(`client ${i}: its acknowledged invitation ${id} is not in its list`);
        dirty = true;
        continue;
      }
      if (k % 2 === 0) {
        ledger.finalState[i] = null;
        await step("accept", "POST", `/connections/${token}`, target, [200]);
        ledger.finalState[i] = { kind: "active", id };
        if (stop()) break;
        const read = await step("read as target", "GET", `/connections/${id}`, target, [200]);
        if (read.body.state !== 1)
          ledger.violations.push(`client ${i}: accepted ${id} reads as ${read.body.state}`);
        await step("list context", "GET", `/c_patient_files/${ctx}/connections`, ALICE, [200]);
        if (stop()) break;
        ledger.finalState[i] = null;
        await step("delete", "DELETE", `/connections/${id}`, ALICE, [200]);
      } else {
        ledger.finalState[i] = null;
        await step("reject", "DELETE", `/connections/${token}`, target, [200]);
      }
      ledger.removedIds.add(id);
      ledger.finalState[i] = { kind: "empty" };
      // Revocation holds: the target can no longer read what was removed.
      await step("read after removal", "GET", `/connections/${id}`, target, [404]);
      ledger.cycles++;
    } catch (error) {
      if (!(error instanceof Unavailable)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 30));
    }
  }
  // A pair left in an unknown state is cleaned now that the database is back, so its end state is known.
  for (let attempt = 0; dirty && attempt < 50; attempt++) {
    try {
      await clean();
    } catch (error) {
      if (!(error instanceof Unavailable)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  if (dirty)
    ledger.violations.push(`client ${i}: its pair could not be cleaned after the database came back`);
}
