/**
 * Invitation tokens (docs/behaviour.md §3 and §6, ADR 0001):
 * (a) hashed at rest — every table of the schema, read with SQL on PGlite and on the server, holds no token issued
 *     (before delivery, after it, in a dead letter), and what a thief reads there (hash, seal) opens nothing;
 * (b) never in logs or errors — console output and the LogNotifier over a whole story, and every error and fault of
 *     every token path, carry no token;
 * (c) never in anyone's view but the target's — creator, Share holder, lists, reads by id, events, others' notices;
 * (d) no oracle — a wrong account's valid token and an unknown, expired or used token are indistinguishable, through
 *     the facade and byte for byte over HTTP (headers but `Date` and the random request id included);
 * (e) constant-time and strong — the presented token's digest always has the stored digest's length, so the
 *     comparison always reaches `timingSafeEqual` (counted through a pass-through mock of node:crypto); tokens are
 *     43 URL-safe characters, unique over 10,000 issues; a re-invite invalidates the old token.
 *
 * The server suite runs when CONN_PG_URL is set; with CI=true and no URL it fails. Figures go to
 * `results/tokens.json`.
 */
import { format, inspect } from "node:util";
import {
  CryptoRandom,
  CryptoTokenService,
  ManualClock,
  RandomIdGenerator,
  RecordingEventPublisher,
  RecordingNotifier,
} from "@conn/adapter-memory";
import { type Database, migrate, openPglite, PostgresUnitOfWork } from "@conn/adapter-postgres";
import { createConnectionsContainer, TOKENS } from "@conn/container";
import {
  AccessLevel,
  ConnectionError,
  type ConnectionView,
  createConnections,
  OutboxRelay,
  type Principal,
} from "@conn/core";
import { createConnectionsApp, type RunningServer, startServer } from "@conn/http";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ALICE,
  as,
  BOB,
  CAROL,
  CHART,
  DAY,
  FILE,
  fcRuns,
  HUGE_STRINGS,
  hostDirectories,
  memoryWorld,
  ORG,
  openServer,
  type RawResponse,
  rawRequest,
  SAM,
  SERVER_ENABLED,
  T0,
  TOKEN_KEY,
  UMA,
  uniqueSchema,
  writeResults,
} from "./support/hostile.js";

/** Counts calls of node:crypto's timingSafeEqual made anywhere in the workspace sources (a pass-through wrapper). */
const timing = vi.hoisted(() => ({ calls: 0 }));
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return {
    ...actual,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      timing.calls++;
      return actual.timingSafeEqual(a, b);
    },
  };
});

const figures: Record<string, unknown> = {};
const started = Date.now();

/** Settles a promise into its error (or fails the test if it resolves). */
async function errorOf(p: Promise<unknown>): Promise<ConnectionError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectionError);
    return error as ConnectionError;
  }
  throw new Error("expected the call to fail");
}

/** Every text an error could show: message, reason, path, fault, stack, and its inspection with causes. */
function errorText(error: unknown): string {
  if (!(error instanceof Error)) return inspect(error);
  const parts = [error.message, String(error), error.stack ?? "", inspect(error, { depth: 6 })];
  if (error instanceof ConnectionError)
    parts.push(JSON.stringify(error.toFault()), error.reason ?? "", error.path ?? "");
  return parts.join("\n");
}

/** The tokens found in `text`, of `tokens`. */
const leaked = (text: string, tokens: readonly string[]) =>
  tokens.filter((t) => t.length > 0 && text.includes(t));

// ---------------------------------------------------------------------------------------------------------------
// (a) hashed at rest

for (const engine of ["pglite", "postgres"] as const) {
  const enabled = engine === "pglite" || SERVER_ENABLED;
  const suite = enabled ? describe : describe.skip;
  suite(`(a) tokens are hashed at rest [${engine}${enabled ? "" : ": set CONN_PG_URL to run"}]`, () => {
    const schema = uniqueSchema(`tok_${engine === "pglite" ? "l" : "p"}`);
    let db: Database | undefined;
    beforeAll(async () => {
      db = engine === "pglite" ? await openPglite() : await openServer();
      await migrate(db, { schema });
    }, 60_000);
    afterAll(async () => {
      if (db === undefined) return;
      if (engine === "postgres") await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.close();
    });

    /** Every row of every table of the schema, as JSON text. */
    async function dump(): Promise<string> {
      if (db === undefined) throw new Error("no database");
      const { rows: tables } = await db.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
        [schema],
      );
      expect(tables.map((t) => t.table_name)).toEqual(
        expect.arrayContaining(["connection_outbox", "connections", "connection_migrations"]),
      );
      const parts: string[] = [];
      for (const { table_name } of tables) {
        const { rows } = await db.query<{ row: string }>(
          `SELECT row_to_json(t)::text AS row FROM "${schema}"."${table_name}" t`,
        );
        parts.push(...rows.map((r) => `${table_name}: ${r.row}`));
      }
      return parts.join("\n");
    }

    it("no table holds a token issued: before delivery, after it, after a re-invite, in a dead letter; a thief's hash and seal open nothing", async () => {
      if (db === undefined) throw new Error("no database");
      const clock = new ManualClock(T0);
      const tokens = new CryptoTokenService({ key: TOKEN_KEY });
      const store = new PostgresUnitOfWork(db, { schema });
      const { accounts, contexts, orgs } = hostDirectories();
      const connections = createConnections({
        store,
        accounts,
        contexts,
        orgs,
        tokens,
        ids: new RandomIdGenerator(clock),
        clock,
        events: new RecordingEventPublisher(),
      });
      const notifier = new RecordingNotifier();
      const relay = new OutboxRelay(
        { outbox: store.outbox, notifier, tokens, clock, random: new CryptoRandom() },
        { maxAttempts: 1 },
      );
      const alice = as(ALICE);
      const emails = Array.from({ length: 20 }, (_, i) => ({ email: `p${i}@outside.example` }));
      await connections.create(alice, FILE, [
        { _id: BOB, access: AccessLevel.Read },
        { email: "carol@acme.example" },
        { email: "dave@outside.example" },
        ...emails,
      ]);
      await connections.create(alice, CHART, [{ _id: CAROL, auto: true }]);

      // Before delivery: the targets' own views re-derive their tokens; no table holds them.
      const viewToken = async (p: Principal) => (await connections.list(p)).data.find((v) => v.token)?.token;
      const bobFirst = await viewToken(as(BOB));
      const carol = await viewToken(as(CAROL));
      expect(bobFirst).toBeDefined();
      expect(carol).toBeDefined();
      const known: string[] = [bobFirst as string, carol as string];
      let text = await dump();
      expect(leaked(text, known)).toEqual([]);
      // The rows are the right ones: Bob's row holds the hash of his token, and the seal, not the token.
      expect(text).toContain(tokens.hash(bobFirst as string));

      // A re-invite issues a fresh token; neither the old nor the new one is stored.
      await connections.create(alice, FILE, [{ _id: BOB, access: AccessLevel.Share }]);
      const bobSecond = (await viewToken(as(BOB))) as string;
      expect(bobSecond).not.toBe(bobFirst);
      known.push(bobSecond);
      expect(leaked(await dump(), known)).toEqual([]);

      // After delivery: every token the notifier was given (24 invitations, 2 of them to Bob) is absent.
      const drained = await relay.drain();
      expect(drained.dead).toBe(0);
      const delivered = notifier.sent.flatMap((n) => (n.token === null ? [] : [n.token]));
      expect(delivered.length).toBe(24);
      known.push(...delivered);
      text = await dump();
      expect(leaked(text, known)).toEqual([]);
      const { rows: sealed } = await db.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM "${schema}".connection_outbox WHERE status = 'delivered' AND notice->>'tokenSeal' IS NOT NULL`,
      );
      expect(sealed[0]?.n).toBe("0");

      // A dead letter: the notifier echoes the token and the accept URL in its error; the relay scrubs both.
      let deadToken = "";
      notifier.failWith((n) => {
        deadToken = n.token ?? "";
        return new Error(`SMTP 550 for ${n.recipient.email}: ${n.acceptUrl} (token ${n.token})`);
      });
      await connections.create(alice, FILE, [{ email: "eve@outside.example" }]);
      const dead = await relay.drain();
      notifier.failWith(null);
      expect(dead.dead).toBe(1);
      expect(deadToken).not.toBe("");
      known.push(deadToken);
      text = await dump();
      expect(leaked(text, known)).toEqual([]);
      expect(text).toContain("[token]");

      // What a thief reads (hashes, seals) opens nothing, for anyone; and a seal is useless without the key.
      const { rows } = await db.query<{ token_hash: string; token_seal: string }>(
        `SELECT token_hash, token_seal FROM "${schema}".connections WHERE state = 0`,
      );
      expect(rows.length).toBe(24);
      const stolen = rows.flatMap((r) => [r.token_hash, r.token_seal]);
      for (const s of stolen) {
        for (const who of [as(null), as(BOB)]) {
          expect((await errorOf(connections.getByToken(who, s))).code).toMatch(/^cortex\.invalidArgument\./);
        }
        expect((await errorOf(connections.accept(as(BOB), s))).code).toMatch(/^cortex\.invalidArgument\./);
      }
      const thief = new CryptoTokenService({ key: "a-different-key-of-at-least-32-bytes!!" });
      for (const r of rows) expect(known).not.toContain(thief.reveal(r.token_seal));
      // The old link is dead, the new one works.
      expect((await errorOf(connections.accept(as(BOB), bobFirst as string))).code).toBe(
        "cortex.invalidArgument.connectionToken",
      );
      await expect(connections.accept(as(BOB), bobSecond)).resolves.toMatchObject({ state: 1 });
      expect(leaked(await dump(), known)).toEqual([]);
      figures[`atRest.${engine}`] = {
        tokensSearched: new Set(known).size,
        rowsSearched: text.split("\n").length,
        stolenValuesPresented: stolen.length,
      };
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// (b) never in logs or errors

describe("(b) tokens never reach logs or errors", () => {
  const METHODS = ["log", "info", "warn", "error", "debug", "trace"] as const;
  let captured: string[] = [];
  const capture = () => {
    captured = [];
    for (const m of METHODS) {
      vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
        captured.push(format(...args));
      });
    }
  };
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** A container (memory store, LogNotifier), its HTTP app on a real server, and the host's ports. */
  async function setup(authenticate?: (request: Request) => { accountId: string } | null) {
    const { accounts, contexts, orgs } = hostDirectories();
    const clock = new ManualClock(T0);
    const conn = await createConnectionsContainer(
      { persistence: { kind: "memory" }, notices: { kind: "log" } },
      {
        register: (c) => {
          c.register(TOKENS.AccountDirectory, { useValue: accounts });
          c.register(TOKENS.ContextAccess, { useValue: contexts });
          c.register(TOKENS.OrgDirectory, { useValue: orgs });
          c.register(TOKENS.Clock, { useValue: clock });
        },
      },
    );
    const app = createConnectionsApp({
      connections: conn.connections,
      authenticate:
        authenticate ??
        ((request) => {
          const header = request.headers.get("authorization");
          return header?.startsWith("Bearer ") ? { accountId: header.slice(7) } : null;
        }),
    });
    const server = await startServer({ app, port: 0 });
    const call = (method: string, path: string, as?: string, body?: unknown) =>
      rawRequest(
        { host: "127.0.0.1", port: server.port },
        {
          method,
          path: `/${ORG}/v2${path}`,
          headers: {
            ...(as === undefined ? {} : { authorization: `Bearer ${as}` }),
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        },
      );
    return { conn, server, call, accounts, contexts, orgs, clock };
  }

  it("a whole story through the container (LogNotifier) and the HTTP app writes no token to the console, and no fault carries one", async () => {
    capture();
    const { conn, server, call, accounts, clock } = await setup();
    const tokens: string[] = [];
    const answers: RawResponse[] = [];
    const errors: unknown[] = [];
    const send = async (method: string, path: string, as?: string, body?: unknown) => {
      const res = await call(method, path, as, body);
      answers.push(res);
      return res;
    };
    const tokenOf = async (who: string) => {
      const res = await send("GET", "/connections?state=0", who);
      const token = (JSON.parse(res.text) as { data: ConnectionView[] }).data.find((v) => v.token)?.token;
      if (token === undefined) throw new Error(`no token in the view of ${who}`);
      tokens.push(token);
      return token;
    };
    try {
      const filePath = `/c_patient_files/${FILE._id}/connections`;
      expect(
        (
          await send("POST", filePath, ALICE, {
            targets: [{ _id: BOB }, { email: "dave@outside.example" }, { email: "carol@acme.example" }],
          })
        ).status,
      ).toBe(200);
      const bob = await tokenOf(BOB);
      const carol = await tokenOf(CAROL);
      // The landing page, anonymous; then every wrong way in.
      expect((await send("GET", `/connections/${bob}`)).status).toBe(200);
      for (const method of ["GET", "POST", "DELETE"]) {
        await send(method, `/connections/${bob}`, CAROL);
        await send(method, `/connections/${bob}!`, BOB);
        await send(method, `/connections/${bob}${"x".repeat(300)}`, BOB);
        await send(method, `/connections/${bob.slice(0, -1)}`, BOB);
      }
      await send("POST", `/connections/${bob}`);
      // Re-invite: the old link dies, the new one works, then is used up.
      await send("POST", filePath, ALICE, { targets: [{ _id: BOB, access: AccessLevel.Share }] });
      const bobNew = await tokenOf(BOB);
      expect((await send("POST", `/connections/${bob}`, BOB)).status).toBe(400);
      expect((await send("POST", `/connections/${bobNew}`, BOB)).status).toBe(200);
      expect((await send("POST", `/connections/${bobNew}`, BOB)).status).toBe(400);
      expect((await send("GET", `/connections/${bobNew}`)).status).toBe(400);
      // Dave registers later, binds, and reads his token; an anonymous holder rejects it.
      const DAVE = "5f0000000000000000000dae";
      accounts.put(ORG, {
        _id: DAVE,
        email: "dave@outside.example",
        name: { first: "Dave" },
        verified: true,
      });
      expect(await conn.connections.bindRegisteredAccount(ORG, DAVE)).toBe(1);
      const dave = await tokenOf(DAVE);
      expect((await send("DELETE", `/connections/${dave}`)).status).toBe(200);
      expect((await send("DELETE", `/connections/${dave}`)).status).toBe(400);
      // Carol's invitation expires.
      clock.advance(8 * DAY);
      expect((await send("POST", `/connections/${carol}`, CAROL)).status).toBe(400);
      expect((await send("GET", `/connections/${carol}`)).status).toBe(400);
      expect(await conn.connections.purgeExpired(ORG)).toBe(1);

      // The facade's own errors on the token paths.
      const facade = conn.connections;
      for (const t of [bob, bobNew, carol, dave]) {
        for (const who of [as(null), as(BOB), as(CAROL), as(SAM), as(UMA)]) {
          for (const op of ["accept", "reject", "getByToken"] as const) {
            for (const presented of [t, `${t}!`, `${t} `, t.toUpperCase(), `${t}${t}`]) {
              try {
                await facade[op](who, presented);
              } catch (error) {
                errors.push(error);
              }
            }
          }
        }
      }
    } finally {
      await server.close();
      await conn.dispose();
    }
    const consoleText = captured.join("\n");
    // Positive controls: the LogNotifier did write its lines, with the token replaced.
    expect(consoleText).toMatch(/\[conn\] notice invite-existing-user to bob@acme\.example/);
    expect(consoleText).toContain("<token>");
    expect(leaked(consoleText, tokens)).toEqual([]);
    const faults = answers.filter((a) => a.status !== 200);
    expect(faults.length).toBeGreaterThan(15);
    expect(leaked(faults.map((a) => a.text).join("\n"), tokens)).toEqual([]);
    expect(errors.length).toBeGreaterThan(200);
    expect(leaked(errors.map(errorText).join("\n"), tokens)).toEqual([]);
    figures.logs = {
      consoleLines: captured.length,
      httpAnswers: answers.length,
      httpFaults: faults.length,
      facadeErrors: errors.length,
      tokens: tokens.length,
    };
  });

  it("an unexpected error on a token route (the host's authentication fails) is reported without the token", async () => {
    capture();
    const { conn, server, call } = await setup((request) => {
      if (request.headers.get("authorization") === "Bearer broken")
        throw new Error("session store unreachable");
      const header = request.headers.get("authorization");
      return header?.startsWith("Bearer ") ? { accountId: header.slice(7) } : null;
    });
    let token = "";
    try {
      await call("POST", `/c_patient_files/${FILE._id}/connections`, ALICE, { targets: [{ _id: BOB }] });
      const list = JSON.parse((await call("GET", "/connections", BOB)).text) as { data: ConnectionView[] };
      token = list.data[0]?.token ?? "";
      expect(token).not.toBe("");
      for (const method of ["GET", "POST", "DELETE"]) {
        const res = await call(method, `/connections/${token}`, "broken");
        expect(res.status).toBe(500);
        expect(res.text).not.toContain(token);
      }
    } finally {
      await server.close();
      await conn.dispose();
    }
    const consoleText = captured.join("\n");
    // The default reporter did report the failures…
    expect(consoleText).toContain("session store unreachable");
    // …but must not write the invitation token of the request's URL to the log.
    expect(leaked(consoleText, [token])).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// (c) never in anyone's view but the target's

describe("(c) a token is in no one's view but the target's", () => {
  it("creator, Share holder, owners, lists, reads by id, events and other people's notices carry no token, hash or seal", async () => {
    const world = await memoryWorld();
    const c = world.connections;
    const { tokens, expiredTokens, hashes, seals, recordIds } = world.pools;
    const secrets = [...tokens, ...expiredTokens, ...hashes, ...seals];
    const clean = (label: string, value: unknown) => {
      const text = JSON.stringify(value);
      expect(text, label).not.toMatch(/"token(Hash|Seal)?"/);
      expect(leaked(text, secrets), label).toEqual([]);
    };
    // The creator's create answer, a re-invite included.
    clean("create answer", await c.create(as(ALICE), FILE, [{ email: "zed@outside.example" }, { _id: BOB }]));
    await world.relay.drain();
    secrets.push(...(await memoryWorldSecrets(world)));
    secrets.push(...world.notifier.sent.flatMap((n) => (n.token === null ? [] : [n.token])));
    // Lists and reads of everyone who is not the target.
    for (const who of [as(ALICE), as(SAM), as(UMA)]) {
      for (const show of ["creator", "target"] as const)
        clean(`list ${who.accountId} ${show}`, await c.list(who, { show }));
    }
    for (const who of [as(ALICE), as(SAM)])
      clean(`listForContext ${who.accountId}`, await c.listForContext(who, FILE));
    for (const id of recordIds) {
      for (const who of [as(ALICE), as(SAM)]) {
        try {
          clean(`get ${id} by ${who.accountId}`, await c.get(who, id));
        } catch (error) {
          expect(leaked(errorText(error), secrets)).toEqual([]);
        }
      }
    }
    // An anonymous holder of the link sees the invitation, not the token echoed back.
    clean("anonymous getByToken", await c.getByToken(as(null), tokens[1] as string));
    // The hidden target.account of an email invitation: absent for the creator and the Share holder.
    const carolByEmail = (await c.listForContext(as(SAM), FILE)).data.find(
      (v) => v.target.email === "carol@acme.example",
    );
    expect(carolByEmail?.target.account).toBeUndefined();
    expect((await c.get(as(ALICE), carolByEmail?._id as string)).target.account).toBeUndefined();
    // Events carry no token material at all.
    clean("events", world.events.events);
    // Each notice's token is in that notice only.
    for (const n of world.notifier.sent) {
      if (n.token === null) continue;
      for (const other of world.notifier.sent) {
        if (other !== n) expect(JSON.stringify(other)).not.toContain(n.token);
      }
    }
    // Positive control: the targets do see their own tokens (by list, by id, by token).
    const bobView = (await c.list(as(BOB))).data.find((v) => v.context._id === FILE._id && v.state === 0);
    expect(bobView?.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await c.get(as(BOB), bobView?._id as string)).token).toBe(bobView?.token);
    expect((await c.getByToken(as(BOB), bobView?.token as string)).token).toBe(bobView?.token);
    const carolView = (await c.list(as(CAROL))).data.find((v) => v.target.email === "carol@acme.example");
    expect(carolView?.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(carolView?.target.account?._id).toBe(CAROL);
  });
});

/** The hashes and seals the in-memory store holds now (after writes since seeding). */
async function memoryWorldSecrets(world: Awaited<ReturnType<typeof memoryWorld>>): Promise<string[]> {
  return [...world.store.state.records.values()].flatMap((r) =>
    [r.tokenHash, r.tokenSeal].filter((s): s is string => s !== null),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// (d) no oracle

describe("(d) a wrong account's valid token and an unknown token are indistinguishable", () => {
  let server: RunningServer | undefined;
  let world: Awaited<ReturnType<typeof memoryWorld>> | undefined;
  beforeAll(async () => {
    const current = () => {
      if (world === undefined) throw new Error("no world");
      return world.connections;
    };
    const app = createConnectionsApp({
      connections: {
        create: (...a) => current().create(...a),
        list: (...a) => current().list(...a),
        listForContext: (...a) => current().listForContext(...a),
        get: (...a) => current().get(...a),
        getByToken: (...a) => current().getByToken(...a),
        accept: (...a) => current().accept(...a),
        reject: (...a) => current().reject(...a),
        delete: (...a) => current().delete(...a),
        createShareLink: (...a) => current().createShareLink(...a),
        listShareLinks: (...a) => current().listShareLinks(...a),
        getShareLink: (...a) => current().getShareLink(...a),
        revokeShareLink: (...a) => current().revokeShareLink(...a),
        redeemShareLink: (...a) => current().redeemShareLink(...a),
      },
      authenticate: (request) => {
        const header = request.headers.get("authorization");
        return header?.startsWith("Bearer ") ? { accountId: header.slice(7) } : null;
      },
    });
    server = await startServer({ app, port: 0 });
  });
  beforeEach(async () => {
    world = await memoryWorld();
  });
  afterAll(async () => {
    await server?.close();
  });
  const need = () => {
    if (world === undefined || server === undefined) throw new Error("not started");
    return { world, server };
  };

  /** The same unknown token shape as a real one: 43 URL-safe characters. */
  const unknown = new CryptoTokenService().issue().token;

  it("through the facade: same code, status, message, reason, path for a wrong account, an unknown, an expired and a used token", async () => {
    const { world } = need();
    const c = world.connections;
    const [bobToken, daveToken, carolToken] = world.pools.tokens as [string, string, string];
    const expired = world.pools.expiredTokens[0] as string;
    const shape = (e: ConnectionError) => ({
      name: e.name,
      code: e.code,
      status: e.status,
      message: e.message,
      reason: e.reason,
      path: e.path,
      retryable: e.retryable,
      fault: e.toFault(),
    });
    const ops = {
      accept: (p: Principal, t: string) => c.accept(p, t),
      reject: (p: Principal, t: string) => c.reject(p, t),
      getByToken: (p: Principal, t: string) => c.getByToken(p, t),
    };
    let compared = 0;
    for (const [name, op] of Object.entries(ops)) {
      const reference = shape(await errorOf(op(as(CAROL), unknown)));
      expect(reference.code, name).toBe("cortex.invalidArgument.connectionToken");
      for (const [label, principal, token] of [
        ["Bob's live token, as Carol", as(CAROL), bobToken],
        ["Dave's live token, as Carol", as(CAROL), daveToken],
        ["Bob's live token, as Sam (Share on the file)", as(SAM), bobToken],
        ["Bob's live token, as Alice (its creator)", as(ALICE), bobToken],
        ["Carol's live token, as Bob", as(BOB), carolToken],
        ["an expired token, as Carol", as(CAROL), expired],
      ] as const) {
        expect(shape(await errorOf(op(principal, token))), `${name}: ${label}`).toEqual(reference);
        compared++;
      }
      // Anonymous: an unknown and an expired token answer alike (a live one is the landing page, by spec).
      if (name !== "accept") {
        expect(shape(await errorOf(op(as(null), expired)))).toEqual(
          shape(await errorOf(op(as(null), unknown))),
        );
        compared++;
      }
    }
    // A used token: Bob accepts, then his token answers as an unknown one, for him and for others.
    await c.accept(as(BOB), bobToken);
    for (const [name, op] of Object.entries(ops)) {
      for (const who of [as(BOB), as(CAROL)]) {
        expect(shape(await errorOf(op(who, bobToken))), `${name}: used`).toEqual(
          shape(await errorOf(op(who, unknown))),
        );
        compared++;
      }
    }
    // The wrong-account attempts consumed nothing: Carol's invitation still opens for Carol.
    await expect(c.accept(as(CAROL), carolToken)).resolves.toMatchObject({ state: 1 });
    figures.noOracleFacade = { comparisons: compared };
  });

  it("over HTTP: byte-identical answers, headers but Date and the request id included", async () => {
    const { world, server } = need();
    const origin = { host: "127.0.0.1", port: server.port };
    const [, daveToken, carolToken] = world.pools.tokens as [string, string, string];
    const expired = world.pools.expiredTokens[0] as string;
    const call = (method: string, token: string, who: string | null) =>
      rawRequest(origin, {
        method,
        path: `/${ORG}/v2/connections/${token}`,
        headers: who === null ? {} : { authorization: `Bearer ${who}` },
      });
    // The request id is random per request (a fresh UUID, the same length every time) and says nothing of the
    // token: it is checked to match its header, then left out, like Date.
    const comparable = (r: RawResponse) => {
      const { date: _date, "x-request-id": requestId, ...headers } = r.headers;
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
      const text = r.text.replace(`"requestId":"${requestId}"`, '"requestId":"<id>"');
      expect(text).toContain('"requestId":"<id>"');
      return { status: r.status, headers, text };
    };
    let compared = 0;
    for (const method of ["GET", "POST", "DELETE"]) {
      for (const who of [CAROL, SAM, ALICE, BOB]) {
        const reference = comparable(await call(method, unknown, who));
        expect(reference.status).toBe(400);
        expect(JSON.parse(reference.text).errCode).toBe("cortex.invalidArgument.connectionToken");
        // Dave's token is someone else's for all four; Carol's is someone else's for all but Carol.
        for (const token of [daveToken, expired, ...(who === CAROL ? [] : [carolToken])]) {
          expect(comparable(await call(method, token, who)), `${method} as ${who}`).toEqual(reference);
          compared++;
        }
      }
      if (method !== "POST") {
        expect(comparable(await call(method, expired, null))).toEqual(
          comparable(await call(method, unknown, null)),
        );
        compared++;
      }
    }
    // Nothing was consumed by the wrong-account attempts: Carol's invitation still opens for Carol.
    expect((await call("GET", carolToken, CAROL)).status).toBe(200);
    figures.noOracleHttp = { comparisons: compared };
  });
});

// ---------------------------------------------------------------------------------------------------------------
// (e) constant-time comparison, strength, re-invite

describe("(e) tokens are compared in constant time, strong, unique, and re-invites invalidate them", () => {
  const service = new CryptoTokenService({ key: TOKEN_KEY });
  const anyPresented = fc.oneof(
    fc.string({ unit: "binary", maxLength: 300 }),
    fc.string({ maxLength: 5000 }),
    fc.stringMatching(/^[A-Za-z0-9_-]{32,256}$/),
    fc.constantFrom(
      ...HUGE_STRINGS.map((h) =>
        String(h({ tokens: [], expiredTokens: [], hashes: [], seals: [], recordIds: [] })),
      ),
    ),
  );

  it("the digest of any presented token has the stored digest's length, so every comparison reaches timingSafeEqual", () => {
    const runs = fcRuns(500);
    const stored = service.issue();
    let comparisons = 0;
    fc.assert(
      fc.property(anyPresented, (presented) => {
        const digest = service.hash(presented);
        expect(digest).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(Buffer.byteLength(digest, "utf8")).toBe(Buffer.byteLength(stored.hash, "utf8"));
        const before = timing.calls;
        expect(service.matches(presented, stored.hash)).toBe(presented === stored.token);
        expect(timing.calls - before).toBe(1);
        comparisons++;
      }),
      { numRuns: runs },
    );
    // And the real token too.
    const before = timing.calls;
    expect(service.matches(stored.token, stored.hash)).toBe(true);
    expect(timing.calls - before).toBe(1);
    figures.constantTime = { presentedTokens: comparisons + 1 };
  });

  it("a stored hash of another length (a corrupt row) is refused without throwing", () => {
    fc.assert(
      fc.property(anyPresented, fc.string({ unit: "binary", maxLength: 100 }), (presented, storedHash) => {
        fc.pre(Buffer.byteLength(storedHash, "utf8") !== 43);
        expect(service.matches(presented, storedHash)).toBe(false);
      }),
      { numRuns: fcRuns(300) },
    );
    // 43 UTF-16 units but more bytes: the byte length decides, not the string length.
    expect(service.matches("x".repeat(43), "\u00e9".repeat(43))).toBe(false);
  });

  it("10,000 issued tokens: ≥ 32 URL-safe characters, unique tokens, hashes and seals, each re-derived from its seal", () => {
    const n = 10_000;
    const issued = Array.from({ length: n }, () => service.issue());
    for (const t of issued) {
      expect(t.token.length).toBeGreaterThanOrEqual(32);
      expect(t.token).toMatch(/^[A-Za-z0-9_-]+$/);
    }
    expect(new Set(issued.map((t) => t.token)).size).toBe(n);
    expect(new Set(issued.map((t) => t.hash)).size).toBe(n);
    expect(new Set(issued.map((t) => t.seal)).size).toBe(n);
    for (const t of issued.slice(0, 500)) {
      expect(service.reveal(t.seal)).toBe(t.token);
      expect(service.hash(t.token)).toBe(t.hash);
      expect(t.token).not.toBe(t.seal);
    }
    // Another key derives other tokens from the same seals.
    const other = new CryptoTokenService({ key: "another-key-of-at-least-thirty-two-bytes" });
    expect(issued.slice(0, 500).every((t) => other.reveal(t.seal) !== t.token)).toBe(true);
    figures.issued = { tokens: n, lengths: [...new Set(issued.map((t) => t.token.length))] };
  });

  it("a re-invite issues a fresh token and the old one stops working everywhere; facade tokens have the same strength", async () => {
    const world = await memoryWorld();
    const c = world.connections;
    const old = world.pools.tokens[0] as string;
    await c.create(as(ALICE), FILE, [{ _id: BOB, access: AccessLevel.Share }]);
    await world.relay.drain();
    const fresh = world.notifier.sent.at(-1)?.token as string;
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fresh).not.toBe(old);
    expect((await errorOf(c.accept(as(BOB), old))).code).toBe("cortex.invalidArgument.connectionToken");
    expect((await errorOf(c.getByToken(as(null), old))).code).toBe("cortex.invalidArgument.connectionToken");
    expect((await errorOf(c.reject(as(null), old))).code).toBe("cortex.invalidArgument.connectionToken");
    expect((await c.getByToken(as(BOB), fresh)).token).toBe(fresh);
    await expect(c.accept(as(BOB), fresh)).resolves.toMatchObject({
      state: 1,
      access: AccessLevel.Share,
    });
    // Every token the facade issued in the world.
    const all = world.notifier.sent.flatMap((n) => (n.token === null ? [] : [n.token]));
    expect(all.every((t) => /^[A-Za-z0-9_-]{43}$/.test(t))).toBe(true);
    expect(new Set(all).size).toBe(all.length);
  });
});

afterAll(() => {
  const file = writeResults("tokens.json", {
    suite: "tokens",
    date: new Date().toISOString(),
    node: process.version,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    server: SERVER_ENABLED,
    figures,
  });
  console.log(`tokens: ${JSON.stringify(figures)}; written to ${file}`);
});
