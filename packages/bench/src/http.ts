import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { AccessLevel } from "@conn/core";
import { createConnectionsApp, startServer } from "@conn/http";
import type { Hono } from "hono";
import { ids, OBJECT, ORG, PLURAL } from "./dataset.js";
import type { BenchEngine } from "./engines.js";

/** Latency of one step of the flow, as the load generator saw it (ms, client side, loopback included). */
export interface StepSummary {
  count: number;
  medianMs: number;
  p99Ms: number;
  meanMs: number;
}

/** What the load generator measured. */
export interface HttpResult {
  wallMs: number;
  flows: number;
  errors: number;
  firstError: string | null;
  flowsPerSec: number;
  requestsPerSec: number;
  concurrency: number;
  steps: Record<"create" | "readToken" | "accept" | "resolve", StepSummary>;
}

/** `@conn/http` over the engine's facade, as the bench serves it: the bearer token is the account id (loopback only). */
export function benchApi(engine: Pick<BenchEngine, "connections">): Hono {
  return createConnectionsApp({
    connections: engine.connections,
    authenticate: (request) => {
      const header = request.headers.get("authorization");
      return header?.startsWith("Bearer ") ? { accountId: header.slice(7) } : null;
    },
    onUnexpectedError: (error) => console.error("bench http: unexpected error", error),
  });
}

const GENERATOR = fileURLToPath(new URL("./load-generator.mjs", import.meta.url));

/**
 * Serves the engine's facade through `@conn/http` on loopback (plus one host route, `GET /host/access`, that calls
 * `resolveAccess` the way a host's own route would before serving a record), forks the load generator as a second
 * process, and lets it run `flows` flows of create → read token (as the target) → accept → resolve, `concurrency`
 * at a time. Each flow uses a fresh context the creator owns, so no flow meets another's connection.
 */
export async function runHttp(
  engine: BenchEngine,
  options: { flows: number; concurrency: number; contextBase: number; accounts: number },
): Promise<HttpResult> {
  const warmup = Math.min(50, Math.ceil(options.flows / 10));
  const flows = Array.from({ length: options.flows + warmup }, (_, k) => {
    const context = ids.freshContext(options.contextBase + k);
    engine.contexts.grant(ORG, ids.creator, { object: OBJECT, _id: context }, AccessLevel.Delete);
    return { context, target: ids.account(k % options.accounts) };
  });
  const api = benchApi(engine);
  const server = await startServer({
    app: {
      fetch: async (request) => {
        const url = new URL(request.url);
        if (url.pathname !== "/host/access") return api.fetch(request);
        const q = url.searchParams;
        const access = await engine.connections.resolveAccess(q.get("org") ?? "", q.get("account") ?? "", {
          object: q.get("object") ?? "",
          _id: q.get("id") ?? "",
        });
        return Response.json({ access });
      },
    },
  });
  try {
    const child = fork(GENERATOR, [], { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const answer = new Promise<{ ok: boolean; result?: Omit<HttpResult, "concurrency">; error?: string }>(
      (resolve, reject) => {
        child.once("message", (m) => resolve(m as { ok: boolean; result?: Omit<HttpResult, "concurrency"> }));
        child.once("error", reject);
        child.once("exit", (code) =>
          reject(new Error(`load generator exited with ${code} before answering`)),
        );
      },
    );
    child.send({
      url: server.url,
      org: ORG,
      plural: PLURAL,
      object: OBJECT,
      creator: ids.creator,
      flows,
      warmup,
      concurrency: options.concurrency,
      timeoutMs: 240_000,
    });
    const message = await answer;
    if (!message.ok || message.result === undefined)
      throw new Error(`load generator failed: ${message.error}`);
    return { ...message.result, concurrency: options.concurrency };
  } finally {
    await server.close();
  }
}
