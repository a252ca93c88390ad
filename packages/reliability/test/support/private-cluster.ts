/**
 * A PostgreSQL 15 cluster of the test's own: initdb into a temporary directory as the `postgres` user, on a free
 * loopback port, started, restarted and stopped with `pg_ctl -w`, removed at the end. A test that restarts the
 * database runs on one of these: the shared server is never stopped or restarted.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";

/** Where the server binaries of PostgreSQL 15 are (Debian and Ubuntu packages). */
export const PG_BIN = process.env.CONN_PG_BIN ?? "/usr/lib/postgresql/15/bin";

/** Why a private cluster cannot run here, or null when it can. */
export function privateClusterUnavailable(): string | null {
  for (const tool of ["initdb", "pg_ctl", "postgres"]) {
    if (!existsSync(join(PG_BIN, tool))) return `no ${join(PG_BIN, tool)} (set CONN_PG_BIN to the binaries)`;
  }
  if (process.getuid?.() !== 0 && process.env.USER !== "postgres") {
    return "the cluster runs as the postgres user: run the tests as root (runuser) or as postgres";
  }
  return null;
}

/** Runs a command (as the `postgres` user when we are root); rejects with its output when it fails. */
function run(command: string, args: string[], timeoutMs: number): Promise<string> {
  const asPostgres = process.getuid?.() === 0;
  const [file, argv] = asPostgres ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error === null) resolve(`${stdout}${stderr}`);
      else reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stdout}${stderr}`));
    });
  });
}

/** A loopback port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address !== null ? resolve(address.port) : reject(),
      );
    });
  });
}

/** A running private cluster. */
export interface PrivateCluster {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** A connection string to its `postgres` database as the `postgres` user (trust authentication). */
  url(applicationName?: string): string;
  /** `pg_ctl restart -m fast -w`: ends every session, stops, starts again. */
  restart(): Promise<void>;
  /** `pg_ctl stop -m fast -w`: ends every session and stops; nothing listens on the port until `start()`. */
  stop(): Promise<void>;
  /** `pg_ctl start -w`. */
  start(): Promise<void>;
  /** True when a new session can connect and run `SELECT 1`. */
  accepts(): Promise<boolean>;
  /** Stops the cluster and removes its directory. Safe to call twice. */
  destroy(): Promise<void>;
}

/**
 * Creates and starts a cluster: trust authentication on 127.0.0.1 only, its socket in its own directory, small
 * memory, `fsync` off (a restart here is a clean one; nothing of the test depends on surviving an OS crash).
 */
export async function startPrivateCluster(): Promise<PrivateCluster> {
  const dir = await mkdtemp(join(tmpdir(), "conn-cluster-"));
  const data = join(dir, "data");
  if (process.getuid?.() === 0) {
    const { uid, gid } = await postgresIds();
    await chown(dir, uid, gid);
  }
  await chmod(dir, 0o700);
  const port = await freePort();
  const pgCtl = join(PG_BIN, "pg_ctl");
  const options = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    "-c fsync=off",
    "-c shared_buffers=16MB",
    "-c max_connections=60",
  ].join(" ");
  const log = join(dir, "log");
  const start = () => run(pgCtl, ["-D", data, "-l", log, "-o", options, "-w", "-t", "30", "start"], 40_000);
  let started = false;
  try {
    await run(join(PG_BIN, "initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"], 60_000);
    await start();
    started = true;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const url = (applicationName?: string) =>
    `postgres://postgres@127.0.0.1:${port}/postgres${applicationName === undefined ? "" : `?application_name=${encodeURIComponent(applicationName)}`}`;
  let destroyed: Promise<void> | null = null;
  return {
    port,
    url,
    async restart() {
      await run(
        pgCtl,
        ["-D", data, "-l", log, "-o", options, "-m", "fast", "-w", "-t", "30", "restart"],
        40_000,
      );
    },
    async stop() {
      await run(pgCtl, ["-D", data, "-m", "fast", "-w", "-t", "30", "stop"], 40_000);
    },
    async start() {
      await start();
    },
    async accepts() {
      const client = new pg.Client({
        connectionString: url("conn-cluster-probe"),
        connectionTimeoutMillis: 1_000,
      });
      client.on("error", () => {});
      try {
        await client.connect();
        await client.query("SELECT 1");
        return true;
      } catch {
        return false;
      } finally {
        await client.end().catch(() => {});
      }
    },
    destroy() {
      destroyed ??= (async () => {
        if (started) await run(pgCtl, ["-D", data, "-m", "immediate", "-w", "stop"], 30_000).catch(() => {});
        await rm(dir, { recursive: true, force: true });
      })();
      return destroyed;
    },
  };
}

/** The uid and gid of the `postgres` user. */
async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const out = await new Promise<string>((resolve, reject) =>
    execFile("id", ["postgres"], (error, stdout) => (error === null ? resolve(stdout) : reject(error))),
  );
  const uid = Number(/uid=(\d+)/.exec(out)?.[1]);
  const gid = Number(/gid=(\d+)/.exec(out)?.[1]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid))
    throw new Error(`cannot read the postgres user: ${out}`);
  return { uid, gid };
}

/** Polls `accepts()` every `everyMs` until it is true; resolves with the `performance.now()` of that moment. */
export async function whenAccepting(
  cluster: PrivateCluster,
  timeoutMs: number,
  everyMs = 10,
): Promise<number> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (await cluster.accepts()) return performance.now();
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`the private cluster did not accept connections within ${timeoutMs} ms`);
}
