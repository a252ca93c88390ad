import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { CryptoRandom, CryptoTokenService, ManualClock } from "@conn/adapter-memory";
import { ConnectionError, type Notice, OutboxRelay, type SealedNotice } from "@conn/core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { databaseUrl, parseArgs } from "../src/cli.js";
import { type Database, migrate, PostgresUnitOfWork } from "../src/index.js";
import { openEngine, POSTGRES_ENABLED, uniqueSchema } from "./support/engines.js";
import { newId, pending, sealedNotice, T0 } from "./support/fixtures.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));

/**
 * Runs `conn-postgres` as its own process (the bin's source through tsx's loader, in one node process: `pnpm exec tsx`
 * added a pnpm start and a second node process, ~1.5 s a call); never throws on a non-zero exit.
 */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ["--conditions=@conn/source", "--import", "tsx", "src/bin.ts", ...args],
      {
        cwd: root,
        timeout: 60_000,
        env: { ...process.env, CONN_DATABASE_URL: process.env.CONN_PG_URL ?? "" },
      },
    );
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, out: e.stdout ?? "", err: e.stderr ?? "" };
  }
}

describe("conn-postgres: the database variable", () => {
  it("reads CONN_DATABASE_URL; DATABASE_URL only when it is unset, with a warning", () => {
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(databaseUrl({ CONN_DATABASE_URL: "postgres://a/x", DATABASE_URL: "postgres://b/y" })).toBe(
        "postgres://a/x",
      );
      expect(write).not.toHaveBeenCalled();
      expect(databaseUrl({ DATABASE_URL: "postgres://b/y" })).toBe("postgres://b/y");
      expect(write).toHaveBeenCalledWith(
        expect.stringMatching(/DATABASE_URL is deprecated; set CONN_DATABASE_URL/),
      );
      expect(databaseUrl({ CONN_DATABASE_URL: "", DATABASE_URL: "" })).toBeNull();
    } finally {
      write.mockRestore();
    }
  });
});

describe("conn-postgres outbox: argument parsing (node:util parseArgs)", () => {
  it("parses each command and refuses what does not fit", () => {
    expect(parseArgs(["outbox", "list"])).toMatchObject({
      command: "outbox list",
      status: "dead",
      limit: 50,
    });
    expect(
      parseArgs(["outbox", "list", "--org", "acme", "--after", "acme/abc", "--limit", "5", "--json"]),
    ).toEqual({
      command: "outbox list",
      schema: undefined,
      status: "dead",
      org: "acme",
      limit: 5,
      after: { org: "acme", id: "abc" },
      json: true,
    });
    expect(parseArgs(["outbox", "requeue", "a", "b", "--schema=s"])).toEqual({
      command: "outbox requeue",
      schema: "s",
      ids: ["a", "b"],
      org: undefined,
    });
    expect(parseArgs(["migrate", "--schema", "x"])).toEqual({ command: "migrate", schema: "x" });
    for (const bad of [
      ["outbox"],
      ["outbox", "drop"],
      ["outbox", "show"],
      ["outbox", "show", "a", "b"],
      ["outbox", "list", "--status", "lost"],
      ["outbox", "list", "--limit", "0"],
      ["outbox", "list", "--after", "nope"],
      ["outbox", "purge", "a", "--json"],
      ["migrate", "--org", "x"],
      ["migrate", "--force"],
    ]) {
      expect(parseArgs(bad), bad.join(" ")).toHaveProperty("error");
    }
  });
});

(POSTGRES_ENABLED ? describe : describe.skip)(
  "conn-postgres outbox, run as a process against the server",
  () => {
    const schema = uniqueSchema("cli_outbox");
    const secrets: string[] = [];
    let db: Database;
    const ids = { invitation: "", created: "", closed: "", pending: "", other: "" };

    beforeAll(async () => {
      db = await openEngine("postgres", 2);
      await migrate(db, { schema });
      const uow = new PostgresUnitOfWork(db, { schema });
      const tokens = new CryptoTokenService();
      // A pending invitation whose notice dies; one whose connection is gone; a connection-created notice; one
      // message still pending (it keeps its seal); one dead letter of another org.
      const open = tokens.issue();
      const record = pending({ org: "acme", tokenSeal: open.seal, tokenHash: open.hash });
      await uow.connections.savePending([record], T0);
      const gone = tokens.issue();
      const later = tokens.issue();
      secrets.push(open.seal, open.token, gone.seal, gone.token, later.seal, later.token);
      const message = (
        org: string,
        over: { connectionId?: string; tokenSeal: string | null } & Partial<SealedNotice>,
      ) => ({
        id: newId(),
        org,
        notice: {
          ...sealedNotice({ org, connectionId: over.connectionId ?? newId(), tokenSeal: over.tokenSeal }),
          ...over,
        },
        availableAt: T0,
      });
      const dying = [
        message("acme", { connectionId: record._id, tokenSeal: open.seal }),
        message("acme", { kind: "connection-created", tokenSeal: null, acceptUrlBase: null }),
        message("acme", { tokenSeal: gone.seal }),
        message("globex", { kind: "connection-created", tokenSeal: null, acceptUrlBase: null }),
      ];
      await uow.outbox.enqueue(dying);
      [ids.invitation, ids.created, ids.closed, ids.other] = dying.map((m) => m.id) as [
        string,
        string,
        string,
        string,
      ];
      const relay = new OutboxRelay(
        {
          outbox: uow.outbox,
          notifier: {
            send: async (n: Notice) => {
              throw new ConnectionError("cortex.error.unspecified", {
                retryable: false,
                message: `mailbox unavailable for ${n.recipient.email} (token ${n.token})`,
              });
            },
          },
          tokens,
          clock: new ManualClock(T0),
          random: new CryptoRandom(),
        },
        {},
      );
      expect((await relay.drain()).dead).toBe(4);
      const waiting = message("acme", { tokenSeal: later.seal });
      await uow.outbox.enqueue([{ ...waiting, availableAt: new Date(Date.now() + 3_600_000) }]);
      ids.pending = waiting.id;
    }, 60_000);

    afterAll(async () => {
      if (db === undefined) return;
      await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.close();
    });

    const clean = (text: string) => {
      for (const secret of secrets) expect(text).not.toContain(secret);
    };

    it("list: the dead letters of every org, one line each, with the error, never a token or seal", async () => {
      const all = await cli(["outbox", "list", "--schema", schema]);
      expect(all.code).toBe(0);
      const lines = all.out.trim().split("\n");
      expect(lines).toHaveLength(4);
      expect(lines[3]).toMatch(
        new RegExp(`^globex\\t${ids.other}\\tdead\\tconnection-created\\tattempts=1\\t`),
      );
      expect(all.out).toContain("mailbox unavailable");
      expect(all.out).toContain("[token]");
      clean(all.out + all.err);
      const page = await cli([
        "outbox",
        "list",
        "--schema",
        schema,
        "--org",
        "acme",
        "--limit",
        "2",
        "--json",
      ]);
      const entries = page.out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { id: string; notice: object });
      expect(entries).toHaveLength(2);
      expect(entries[0]?.notice).not.toHaveProperty("tokenSeal");
      const pendingList = await cli(["outbox", "list", "--schema", schema, "--status", "pending"]);
      expect(pendingList.out).toContain(ids.pending);
      clean(page.out + pendingList.out);
    }, 60_000);

    it("show: one message as JSON, even a pending one that still holds its seal in the table, without it", async () => {
      const shown = await cli(["outbox", "show", ids.pending, "--schema", schema]);
      expect(shown.code).toBe(0);
      expect(JSON.parse(shown.out)).toMatchObject({ id: ids.pending, org: "acme", status: "pending" });
      const { rows } = await db.query<{ seal: string }>(
        `SELECT notice->>'tokenSeal' AS seal FROM "${schema}".connection_outbox WHERE id = $1`,
        [ids.pending],
      );
      expect(rows[0]?.seal).toBe(secrets[4]);
      clean(shown.out + shown.err);
      expect((await cli(["outbox", "show", "ffffffffffffffffffffffff", "--schema", schema])).code).toBe(1);
    }, 60_000);

    it("requeue: the open invitation and the notice without a token go back in line; the closed one is refused", async () => {
      const result = await cli([
        "outbox",
        "requeue",
        ids.invitation,
        ids.created,
        ids.closed,
        "--schema",
        schema,
      ]);
      expect(result.code).toBe(1);
      expect(result.out).toContain(`${ids.invitation}: requeued`);
      expect(result.out).toContain(`${ids.created}: requeued`);
      expect(result.err).toContain(`${ids.closed}: invitationClosed`);
      clean(result.out + result.err);
      const { rows } = await db.query<{ id: string; status: string; attempts: number; has_seal: boolean }>(
        `SELECT id, status, attempts, notice->>'tokenSeal' IS NOT NULL AS has_seal
       FROM "${schema}".connection_outbox WHERE id = ANY($1::text[])`,
        [[ids.invitation, ids.created, ids.closed]],
      );
      const by = new Map(rows.map((r) => [r.id, r]));
      expect(by.get(ids.invitation)).toMatchObject({ status: "pending", attempts: 0, has_seal: true });
      expect(by.get(ids.created)).toMatchObject({ status: "pending", attempts: 0 });
      expect(by.get(ids.closed)).toMatchObject({ status: "dead" });
    }, 60_000);

    it("purge: deletes dead letters only, in their org", async () => {
      const wrongOrg = await cli(["outbox", "purge", ids.other, "--org", "acme", "--schema", schema]);
      expect(wrongOrg.code).toBe(1);
      const result = await cli(["outbox", "purge", ids.other, ids.pending, "--schema", schema]);
      expect(result.code).toBe(1);
      expect(result.out).toContain(`${ids.other}: purged`);
      expect(result.err).toContain(`${ids.pending}: notDead`);
      const { rows } = await db.query<{ id: string }>(`SELECT id FROM "${schema}".connection_outbox`);
      expect(rows.map((r) => r.id)).not.toContain(ids.other);
      expect(rows.map((r) => r.id)).toContain(ids.pending);
    }, 60_000);
  },
);
