import { type ChildProcess, fork } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { type RunningServer, startServer } from "@conn/http";
import { Hono } from "hono";
import { ids, ORG } from "./dataset.js";
import type { BenchEngine } from "./engines.js";
import { benchApi } from "./http.js";

/** One server's answers to the same GET, all rounds merged. */
export interface GetTiming {
  /** Requests answered per second of wall time (client side). */
  requestsPerSec: number;
  /** Median latency, ms (client side, loopback included). */
  p50Ms: number;
  /** 99th percentile latency, ms. */
  p99Ms: number;
  /** Requests timed. */
  requests: number;
}

/** `GET /{org}/v2/connections/{id}` through `@conn/http`, against two floors answering the same JSON body. */
export interface HttpGetResult {
  /** `@conn/http` on `startServer` over the engine's facade. */
  conn: GetTiming;
  /** A bare Hono app on `@hono/node-server` (`c.json` of the same body). */
  hono: GetTiming;
  /** A bare `node:http` server (`JSON.stringify` of the same body). */
  node: GetTiming;
  /** Bytes of the JSON body. */
  bodyBytes: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Rounds the three servers were measured in, in turn. */
  rounds: number;
}

const GENERATOR = fileURLToPath(new URL("./get-load.mjs", import.meta.url));

interface JobResult {
  wallMs: number;
  latencies: number[];
  errors: number;
  firstError: string | null;
}

/** Sends one job to the load generator and waits for its answer. */
function send(child: ChildProcess, job: object): Promise<JobResult> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`GET load generator exited with ${code}`));
    child.once("exit", onExit);
    child.once("message", (m) => {
      child.off("exit", onExit);
      const message = m as { ok: boolean; result?: JobResult; error?: string };
      if (!message.ok || message.result === undefined) reject(new Error(`GET load: ${message.error}`));
      else if (message.result.errors > 0) reject(new Error(`GET load: ${message.result.firstError}`));
      else resolve(message.result);
    });
    child.send(job);
  });
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] ?? 0) + ((sorted[hi] ?? 0) - (sorted[lo] ?? 0)) * (pos - lo);
}

function timing(results: readonly JobResult[]): GetTiming {
  const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const wall = results.reduce((a, r) => a + r.wallMs, 0);
  return {
    requestsPerSec: (latencies.length * 1000) / Math.max(1, wall),
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    requests: latencies.length,
  };
}

/** Starts a bare `node:http` server that answers every request with `body` as JSON. */
function startNodeFloor(body: unknown): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { "Content-Type": "application/json" });
    response.end(JSON.stringify(body));
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/**
 * The same `GET` by id three ways, measured in turn in `rounds` rounds by a second process (the servers run in this
 * one): `@conn/http` over the engine's facade (the owner reads an active connection of the warm data set), a bare
 * Hono app on `@hono/node-server` and a bare `node:http` server, both answering the JSON body `@conn/http` gave.
 */
export async function runHttpGet(
  engine: BenchEngine,
  options: { requests: number; concurrency: number; rounds: number },
): Promise<HttpGetResult> {
  const api = benchApi(engine);
  const path = `/${ORG}/v2/connections/${ids.seeded(0)}`;
  const headers = { authorization: `Bearer ${ids.owner}` };
  const servers: { close: () => Promise<void> }[] = [];
  const child = fork(GENERATOR, [], { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  try {
    const conn: RunningServer = await startServer({ app: api });
    servers.push(conn);
    const first = await fetch(`${conn.url}${path}`, { headers });
    const text = await first.text();
    if (first.status !== 200) throw new Error(`GET by id answered ${first.status}: ${text}`);
    const body = JSON.parse(text) as Record<string, unknown>;
    const bare = new Hono();
    bare.get("/:org/v2/connections/:id", (c) => c.json(body));
    const hono = await startServer({ app: bare });
    servers.push(hono);
    const node = await startNodeFloor(body);
    servers.push(node);
    const targets = [
      { key: "conn", url: `${conn.url}${path}` },
      { key: "hono", url: `${hono.url}${path}` },
      { key: "node", url: `${node.url}${path}` },
    ] as const;
    const job = (url: string, requests: number) => ({
      url,
      headers,
      requests,
      concurrency: options.concurrency,
    });
    for (const t of targets) await send(child, job(t.url, Math.max(10, Math.ceil(options.requests / 4))));
    const results: Record<(typeof targets)[number]["key"], JobResult[]> = { conn: [], hono: [], node: [] };
    for (let round = 0; round < options.rounds; round++) {
      for (const t of targets) results[t.key].push(await send(child, job(t.url, options.requests)));
    }
    return {
      conn: timing(results.conn),
      hono: timing(results.hono),
      node: timing(results.node),
      bodyBytes: Buffer.byteLength(text),
      concurrency: options.concurrency,
      rounds: options.rounds,
    };
  } finally {
    child.send("exit");
    for (const s of servers) await s.close();
  }
}
