/**
 * The access cache across processes (issue 17): two processes on one PostgreSQL, each with the cache on. The writer
 * grants and revokes eight keys at once (invite, accept, delete by owner or target, accept racing a delete, an
 * upgrade by re-invite); the reader checks those keys in a tight loop. Meanwhile the test terminates the cache's
 * listening connection of each process several times (pg_terminate_backend). Checked: no read that started after a
 * revoking call returned (and the reader heard so) granted access; the reader answered mostly from its cache; each
 * cache listened again after every termination. Printed: how long after a revoking call started the reader still
 * saw the grant (the propagation bound). 15 s by default, 60 s with CONN_SOAK=1.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  describeServer,
  LONG,
  machine,
  openServerDb,
  serverUrl,
  sleep,
  type TestDb,
  terminateBackends,
  writeResult,
} from "./support/pg.js";

const DURATION_MS = LONG ? 60_000 : 15_000;
const KEYS = 8;
const KILLS = LONG ? 12 : 5;
const FIXTURE = fileURLToPath(new URL("./fixtures/access-cache-process.ts", import.meta.url));
const PACKAGE = fileURLToPath(new URL("..", import.meta.url));

/** A child process speaking JSON lines. */
interface Side {
  child: ChildProcess;
  appName: string;
  send(message: Record<string, unknown>): void;
  result: Promise<Record<string, unknown>>;
  /** Resolves once the process listens and is about to start. */
  ready: Promise<void>;
}

function start(
  role: "writer" | "reader",
  t: TestDb,
  key: string,
  onMessage: (m: Record<string, unknown>) => void,
): Side {
  const appName = `conn-cache-${role}-${process.pid}`;
  const child = spawn(process.execPath, ["--import", "tsx", "--conditions=@conn/source", FIXTURE], {
    cwd: PACKAGE,
    env: {
      ...process.env,
      CONN_PG_URL: serverUrl(),
      ROLE: role,
      KEYS: String(KEYS),
      SCHEMA: t.schema,
      APP_NAME: appName,
      TOKEN_KEY: key,
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stderr?.on("data", (chunk: Buffer) => process.stderr.write(`[${role}] ${chunk.toString()}`));
  let readyNow: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    readyNow = resolve;
  });
  const result = new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      const message = JSON.parse(line) as Record<string, unknown>;
      if (message.t === "result") resolve(message);
      else if (message.t === "ready") readyNow();
      else onMessage(message);
    });
    child.once("exit", (code) => reject(new Error(`${role} exited with ${code} before its result`)));
  });
  result.catch(() => {});
  return {
    child,
    appName,
    result,
    ready,
    send: (message) => {
      if (child.stdin?.writable) child.stdin.write(`${JSON.stringify(message)}\n`);
    },
  };
}

/** The p-th percentile (0..100) of `values`. */
function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

describeServer("the access cache across two processes", () => {
  let t: TestDb;
  const sides: Side[] = [];

  beforeAll(async () => {
    t = await openServerDb("acache", 2);
  });
  afterAll(async () => {
    for (const { child } of sides)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await t?.drop();
  });

  it(
    `${DURATION_MS / 1000} s of grants and revocations in one process, reads in the other, ${KILLS} listener terminations each: no grant read after a revocation returned`,
    async () => {
      const key = randomBytes(32).toString("hex");
      let reader: Side | undefined;
      const writer = start("writer", t, key, (m) => reader?.send(m));
      reader = start("reader", t, key, (m) => writer.send(m));
      sides.push(writer, reader);
      await Promise.race([
        Promise.all([writer.ready, reader.ready]),
        Promise.all([writer.result, reader.result]).then(() => {
          throw new Error("a side ended before it was ready");
        }),
      ]);

      let killed = 0;
      const started = Date.now();
      for (let i = 1; i <= KILLS; i++) {
        await sleep(Math.max(0, started + (i * DURATION_MS) / (KILLS + 1) - Date.now()));
        killed += await terminateBackends(`${reader.appName}:access-listener`);
        killed += await terminateBackends(`${writer.appName}:access-listener`);
      }
      await sleep(Math.max(0, started + DURATION_MS - Date.now()));
      // The writer first (it finishes its rounds, which need the reader's acknowledgements), then the reader.
      writer.send({ t: "stop" });
      const writerTimer = setTimeout(() => writer.child.kill("SIGKILL"), 30_000);
      const writerResult = await writer.result.catch(() => ({ revokes: -1 }));
      clearTimeout(writerTimer);
      reader.send({ t: "stop" });
      const readerResult = await reader.result;

      const stale = readerResult.staleAfterStartMs as number[];
      const afterCommit = readerResult.staleAfterCommitMs as number[];
      const cache = readerResult.cache as { hits: number; misses: number; bypasses: number };
      const figures = {
        machine: machine(),
        durationMs: DURATION_MS,
        keys: KEYS,
        listenerTerminations: killed,
        writer: writerResult,
        reader: { ...readerResult, staleAfterStartMs: undefined, staleAfterCommitMs: undefined },
        hitRatio: round(cache.hits / Math.max(1, cache.hits + cache.misses + cache.bypasses)),
        propagation: {
          note: "how long after a revoking call started the other process still began a read that granted access (ms)",
          samples: stale.length,
          p50: round(percentile(stale, 50)),
          p99: round(percentile(stale, 99)),
          max: round(Math.max(...stale)),
          afterCommit: {
            note: "the same from the delete's commit (ms; ≤ 0: no read that began after the commit granted)",
            samples: afterCommit.length,
            p50: round(percentile(afterCommit, 50)),
            p99: round(percentile(afterCommit, 99)),
            max: round(Math.max(...afterCommit)),
          },
        },
      };
      writeResult("access-cache", figures);
      console.log(`[access-cache] ${JSON.stringify(figures)}`);

      expect(killed, "listener sessions terminated").toBeGreaterThanOrEqual(KILLS);
      expect(readerResult.violations, JSON.stringify(readerResult.firstViolations)).toBe(0);
      expect(
        readerResult.grantsStartedAfterReturn,
        "grants read that started after the revoking call returned",
      ).toBe(0);
      expect(writerResult.revokes as number, "revocations completed").toBeGreaterThan(DURATION_MS / 1000);
      expect(readerResult.granted as number, "reads that granted access").toBeGreaterThan(0);
      expect(cache.hits, "reads answered from the cache").toBeGreaterThan(cache.misses);
      expect(stale.length).toBeGreaterThan(0);
    },
    DURATION_MS + 120_000,
  );
});
