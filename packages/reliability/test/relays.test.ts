/**
 * Many relays on one PostgreSQL: three relay processes (each its own pool) deliver 1,000 notices (5,000 with
 * CONN_SOAK=1, as `pnpm test:soak` and CI run it) across 10 orgs to a provider in this process that stalls on some first attempts. One relay is killed
 * with SIGKILL mid-run. Checked: every notice reaches the provider, each exactly once by idempotency key except
 * for sends the killed relay had in flight (at most its concurrency, and only notices it was sending), every
 * stalled request was abandoned by its relay (its connection closed), and the outbox ends all delivered.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { CryptoTokenService } from "@conn/adapter-memory";
import { PostgresOutbox } from "@conn/adapter-postgres";
import type { SealedNotice } from "@conn/core";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  describeServer,
  LONG,
  machine,
  openServerDb,
  serverUrl,
  sleep,
  type TestDb,
  writeResult,
} from "./support/pg.js";

const NOTICES = LONG ? 5_000 : 1_000;
const ORGS = Array.from({ length: 10 }, (_, i) => `relays-${i}`);
/** Per mille of first attempts the provider never answers. */
const STALL_PER_MILLE = 15;
const RELAY_OPTIONS = {
  concurrency: 8,
  batchSize: 25,
  leaseMs: 5_000,
  sendTimeoutMs: 1_500,
  leaseMarginMs: 500,
  idleMs: 50,
  baseDelayMs: 50,
  maxDelayMs: 400,
  maxAttempts: 10,
};
const FIXTURE = fileURLToPath(new URL("./fixtures/relay-process.ts", import.meta.url));
const PACKAGE = fileURLToPath(new URL("..", import.meta.url));

/** What the provider saw. */
interface Provider {
  url: string;
  /** Accepted deliveries per idempotency key, in order: which relay sent each. */
  delivered: Map<string, string[]>;
  byRelay: Record<string, number>;
  stalled: number;
  /** Stalled requests whose connection the relay closed (it gave up at its deadline). */
  abandoned: number;
  close(): Promise<void>;
}

/** A provider that accepts a POST of `{ key, relay }` and answers 200, except that it stalls on some first tries. */
async function startProvider(): Promise<Provider> {
  const seen = new Set<string>();
  const p = {
    delivered: new Map<string, string[]>(),
    byRelay: {} as Record<string, number>,
    stalled: 0,
    abandoned: 0,
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      const { key, relay } = JSON.parse(body) as { key: string; relay: string };
      const first = !seen.has(key);
      seen.add(key);
      let hash = 0;
      for (const c of key) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
      if (first && hash % 1_000 < STALL_PER_MILLE) {
        p.stalled++;
        res.once("close", () => p.abandoned++);
        return; // never answered: the relay's deadline must end it
      }
      p.delivered.set(key, [...(p.delivered.get(key) ?? []), relay]);
      p.byRelay[relay] = (p.byRelay[relay] ?? 0) + 1;
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    ...p,
    get delivered() {
      return p.delivered;
    },
    get byRelay() {
      return p.byRelay;
    },
    get stalled() {
      return p.stalled;
    },
    get abandoned() {
      return p.abandoned;
    },
    url: `http://127.0.0.1:${port}/send`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Starts one relay process (node with tsx, so SIGKILL reaches the relay itself); resolves once it is running. */
async function startRelay(name: string, t: TestDb, provider: Provider, key: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "--conditions=@conn/source", FIXTURE], {
    cwd: PACKAGE,
    env: {
      ...process.env,
      CONN_PG_URL: serverUrl(),
      RELAY_NAME: name,
      RELAY_SCHEMA: t.schema,
      RELAY_PROVIDER_URL: provider.url,
      RELAY_TOKEN_KEY: key,
      RELAY_OPTIONS: JSON.stringify(RELAY_OPTIONS),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr?.on("data", (chunk: Buffer) => process.stderr.write(`[${name}] ${chunk.toString()}`));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`relay ${name} exited with ${code} before it was ready`)));
  });
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()));
}

describeServer("three relays on one PostgreSQL", () => {
  let t: TestDb;
  let provider: Provider;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    t = await openServerDb("relays", 4);
    provider = await startProvider();
  });
  afterAll(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await provider?.close();
    await t?.drop();
  });

  it(
    `deliver ${NOTICES.toLocaleString("en")} notices, each once by idempotency key, with one relay killed (SIGKILL) and a provider that stalls`,
    async () => {
      const key = randomBytes(32).toString("hex");
      const tokens = new CryptoTokenService({ key: Buffer.from(key, "hex") });
      const outbox = new PostgresOutbox(t.db, { schema: t.schema });
      const at = new Date(Date.now() - 60_000);
      for (let start = 0; start < NOTICES; start += 1_000) {
        const batch = Array.from({ length: Math.min(1_000, NOTICES - start) }, (_, k) => {
          const i = start + k;
          const org = ORGS[i % ORGS.length] as string;
          const id = `${i.toString(16).padStart(8, "0")}${randomBytes(8).toString("hex")}`;
          const notice: SealedNotice = {
            kind: "invite-existing-user",
            idempotencyKey: `${org}:${id}`,
            org: { code: org, name: org },
            recipient: { account: "a1", email: `r${i}@relays.test`, name: null },
            context: { object: "c_file", _id: "f1", path: "/c_files/f1", label: null },
            connectionId: id,
            access: 4,
            creator: { _id: "c1", name: null },
            tokenSeal: tokens.issue().seal,
            acceptUrlBase: "https://app.relays.test/accept",
            expiresAt: null,
          };
          return { id, org, notice, availableAt: at };
        });
        await outbox.enqueue(batch);
      }

      const started = Date.now();
      const names = ["r1", "r2", "r3"];
      for (const name of names) children.push(await startRelay(name, t, provider, key));
      const [r1, r2, r3] = children as [ChildProcess, ChildProcess, ChildProcess];

      // Kill r2 once it has delivered a share of the work, in the middle of its batches.
      const killAt = Math.floor(NOTICES / 8);
      while ((provider.byRelay.r2 ?? 0) < killAt && Date.now() - started < 60_000) await sleep(5);
      r2.kill("SIGKILL");
      await exited(r2);
      const killedAfterMs = Date.now() - started;
      const r2AtKill = provider.byRelay.r2 ?? 0;

      const deadline = started + (LONG ? 900_000 : 150_000);
      let counts = await outbox.counts();
      while (counts.delivered < NOTICES && Date.now() < deadline) {
        await sleep(100);
        counts = await outbox.counts();
      }
      const seconds = (Date.now() - started) / 1000;
      r1.kill("SIGTERM");
      r3.kill("SIGTERM");
      await Promise.all([exited(r1), exited(r3)]);

      const duplicates = [...provider.delivered].filter(([, relays]) => relays.length > 1);
      const figures = {
        machine: machine(),
        notices: NOTICES,
        orgs: ORGS.length,
        relays: 3,
        options: RELAY_OPTIONS,
        seconds,
        noticesPerSecond: Math.round(NOTICES / seconds),
        killed: { relay: "r2", afterMs: killedAfterMs, deliveredBeforeKill: r2AtKill },
        deliveredByRelay: provider.byRelay,
        provider: { stalledRequests: provider.stalled, abandonedByTheirRelay: provider.abandoned },
        outbox: counts,
        distinctKeysDelivered: provider.delivered.size,
        keysDeliveredTwice: duplicates.length,
        duplicatesFirstSentByTheKilledRelay: duplicates.filter(([, relays]) => relays[0] === "r2").length,
      };
      writeResult("relays", figures);
      console.log(`[relays] ${JSON.stringify(figures)}`);

      expect(counts).toEqual({ pending: 0, delivered: NOTICES, dead: 0 });
      expect(provider.delivered.size, "every notice reached the provider").toBe(NOTICES);
      expect(provider.byRelay.r2 ?? 0, "the killed relay sent nothing after its death").toBe(r2AtKill);
      expect(provider.byRelay.r1 ?? 0).toBeGreaterThan(0);
      expect(provider.byRelay.r3 ?? 0).toBeGreaterThan(0);
      expect(provider.stalled, "the provider stalled on some sends").toBeGreaterThan(0);
      await expect.poll(() => provider.abandoned, { timeout: 5_000 }).toBe(provider.stalled);
      // A send the killed relay had in flight may have reached the provider before it could be marked delivered:
      // the only duplicates possible, never more than its concurrency, and the copies share one idempotency key.
      for (const [dupKey, relays] of duplicates) expect(relays[0], dupKey).toBe("r2");
      expect(duplicates.length).toBeLessThanOrEqual(RELAY_OPTIONS.concurrency);
    },
    LONG ? 1_200_000 : 240_000,
  );
});
