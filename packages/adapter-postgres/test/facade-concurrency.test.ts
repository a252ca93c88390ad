import {
  CryptoTokenService,
  InMemoryAccountDirectory,
  InMemoryContextAccess,
  InMemoryOrgDirectory,
  RandomIdGenerator,
  SystemClock,
} from "@conn/adapter-memory";
import {
  AccessLevel,
  ConnectionError,
  type ConnectionView,
  createConnections,
  isConnectionError,
} from "@conn/core";
import { expect, it } from "vitest";
import { driverCode } from "../src/errors.js";
import { type Database, literalText, PostgresUnitOfWork, TEXT_LITERAL } from "../src/index.js";
import { describeEngines } from "./support/engines.js";

const ORG = "acme";
const [A, B, C] = ["5f0000000000000000000a01", "5f0000000000000000000b02", "5f0000000000000000000c03"];
const FILE = { object: "c_file", _id: "5f00000000000000000f11e1" };

// Races through the whole facade, on the real server only: PGlite runs one transaction at a time, so nothing races
// there (stack notes). 20 pooled clients.
/** A held statement that is a call of conn_run: its literal's two groups. */
const RUN_CALL = new RegExp(String.raw`^SELECT "[a-z0-9_]+"\.conn_run\(${TEXT_LITERAL}::jsonb\)$`);

describeEngines(
  "the facade under concurrency",
  "fconc",
  (ctx) => {
    const world = (db: Database = ctx.db) => {
      const orgs = new InMemoryOrgDirectory();
      const accounts = new InMemoryAccountDirectory();
      const contexts = new InMemoryContextAccess();
      orgs.put({ code: ORG, name: "Acme" });
      contexts.defineObject(ORG, { name: "c_file", allowConnections: true });
      for (const [id, name] of [
        [A, "alice"],
        [B, "bob"],
        [C, "carol"],
      ] as const) {
        accounts.put(ORG, { _id: id, email: `${name}@acme.example`, name: { first: name }, verified: true });
      }
      contexts.grant(ORG, A, FILE, AccessLevel.Delete);
      contexts.grant(ORG, C, FILE, AccessLevel.Delete);
      const clock = new SystemClock();
      const connections = createConnections({
        store: new PostgresUnitOfWork(db, { schema: ctx.schema }),
        accounts,
        contexts,
        orgs,
        tokens: new CryptoTokenService(),
        ids: new RandomIdGenerator(clock),
        clock,
      });
      return connections;
    };
    const as = (accountId: string) => ({ org: ORG, accountId });
    const count = async (where: string) => {
      const { rows } = await ctx.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${ctx.s}.connections WHERE ${where}`,
      );
      return rows[0]?.n ?? -1;
    };
    const tokenOf = async (c: ReturnType<typeof world>, who: string) => {
      const list = await c.list(as(who), { state: 0 });
      return (list.data[0] as ConnectionView).token as string;
    };

    /**
     * The test's database, whose transactions call `afterQuery` after each statement they send and `onQueued` for each
     * one queued for the COMMIT (Queryable.atCommit, passed on).
     */
    const watched = (hooks: {
      afterQuery?: (text: string) => Promise<void> | void;
      onQueued?: (text: string) => void;
    }): Database => ({
      engine: ctx.db.engine,
      query: (text, params) => ctx.db.query(text, params),
      transaction: (work) =>
        ctx.db.transaction((tx) =>
          work({
            query: async (text, params) => {
              const result = await tx.query(text, params);
              await hooks.afterQuery?.(text);
              return result as never;
            },
            ...(tx.atCommit === undefined
              ? {}
              : {
                  atCommit: (text: string) => {
                    hooks.onQueued?.(text);
                    tx.atCommit?.(text);
                  },
                }),
          }),
        ),
      close: async () => {},
    });

    it("50 parallel accepts of one token: one transition, one active row; the rest a clean connectionToken", async () => {
      const c = world();
      await c.create(as(A), FILE, [{ _id: B, access: AccessLevel.Read }]);
      const token = await tokenOf(c, B);
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => c.accept(as(B), token)));
      const ok = results.filter((r) => r.status === "fulfilled");
      const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
      expect(ok).toHaveLength(1);
      expect(failed.every((e) => isConnectionError(e, "cortex.invalidArgument.connectionToken"))).toBe(true);
      expect(await count("state = 1")).toBe(1);
      expect(await count("state = 0")).toBe(0);
      expect(await c.resolveAccess(ORG, B, FILE)).toBe(AccessLevel.Read);
    });

    it("20 parallel identical creates by one creator: one pending invitation", async () => {
      const c = world();
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () => c.create(as(A), FILE, [{ _id: B, access: AccessLevel.Read }])),
      );
      expect(results.every((r) => r.status === "fulfilled")).toBe(true);
      expect(await count("state = 0")).toBe(1);
      // The last token issued is the one that works (a re-invite issues a fresh token).
      const token = await tokenOf(c, B);
      await expect(c.accept(as(B), token)).resolves.toMatchObject({ state: 1 });
    });

    it("accept racing delete: the end state is either active-then-deleted-or-not, never a pending and an active", async () => {
      for (let round = 0; round < 10; round++) {
        await ctx.db.query(`TRUNCATE ${ctx.s}.connections, ${ctx.s}.connection_outbox`);
        const c = world();
        const [created] = await c.create(as(A), FILE, [{ _id: B, access: AccessLevel.Read }]);
        const token = await tokenOf(c, B);
        const [accepted, deleted] = await Promise.allSettled([
          c.accept(as(B), token),
          c.delete(as(A), (created as ConnectionView)._id),
        ]);
        const rows = await count("true");
        expect(rows).toBeLessThanOrEqual(1);
        expect(await count("state = 0")).toBe(0);
        if (accepted.status === "fulfilled" && deleted.status === "fulfilled") {
          // Both won: the delete removed the record that had just become active (same id), or vice versa.
          expect(rows).toBe(0);
        }
        if (accepted.status === "rejected") expect(isConnectionError(accepted.reason)).toBe(true);
        if (deleted.status === "rejected") expect(isConnectionError(deleted.reason)).toBe(true);
        expect(await c.resolveAccess(ORG, B, FILE)).toBe(rows === 1 ? AccessLevel.Read : AccessLevel.None);
      }
    });

    it("delete racing accept: a delete that answers success or notFound always ends the access (issue 11)", async () => {
      // Before the fix, accept deleted the pending row and inserted the active one under the same id: a delete waiting
      // on the row found nothing, answered notFound, and the target kept its access (3–5 rounds of 8).
      for (let round = 0; round < 12; round++) {
        await ctx.db.query(`TRUNCATE ${ctx.s}.connections, ${ctx.s}.connection_outbox`);
        const c = world();
        const [created] = await c.create(as(A), FILE, [{ _id: B, access: AccessLevel.Read }]);
        const token = await tokenOf(c, B);
        const deleter = round % 2 === 0 ? A : B;
        const [, deleted] = await Promise.allSettled([
          c.accept(as(B), token),
          c.delete(as(deleter), (created as ConnectionView)._id),
        ]);
        const ended =
          deleted.status === "fulfilled" || isConnectionError(deleted.reason, "cortex.notFound.unspecified");
        expect(ended, `round ${round}: the delete answered ${deleted.status}`).toBe(true);
        expect(await c.resolveAccess(ORG, B, FILE), `round ${round}: access after the delete`).toBe(
          AccessLevel.None,
        );
        expect(await count("true")).toBe(0);
      }
    }, 60_000);

    it("two creators' invitations to one target accepted at once never deadlock (issue 11)", async () => {
      // Before the fix, 7 of 12 tries deadlocked: each accept held its own pending row and waited for the other's
      // (the superseded invitation, the active row), and the loser waited out deadlock_timeout before its retry.
      let deadlocks = 0;
      const watched: Database = {
        engine: ctx.db.engine,
        query: (text, params) => ctx.db.query(text, params),
        transaction: async (work) => {
          try {
            return await ctx.db.transaction(work);
          } catch (error) {
            const cause = error instanceof ConnectionError ? error.cause : error;
            if (driverCode(cause) === "40P01") deadlocks++;
            throw error;
          }
        },
        close: async () => {},
      };
      for (let round = 0; round < 12; round++) {
        await ctx.db.query(`TRUNCATE ${ctx.s}.connections, ${ctx.s}.connection_outbox`);
        const c = world(watched);
        await c.create(as(A), FILE, [{ _id: B, access: AccessLevel.Read }]);
        await c.create(as(C), FILE, [{ _id: B, access: AccessLevel.Read }]);
        const tokens = (await c.list(as(B), { state: 0 })).data.map((v) => v.token as string);
        expect(tokens).toHaveLength(2);
        const results = await Promise.allSettled(tokens.map((t) => c.accept(as(B), t)));
        for (const r of results) if (r.status === "rejected") expect(isConnectionError(r.reason)).toBe(true);
        expect(await count("state = 1")).toBe(1);
        expect(await count("state = 0")).toBe(0);
      }
      expect(deadlocks).toBe(0);
    }, 60_000);

    it("create to invited accounts is one round trip on a fresh context; a re-invite finds the first one failed and takes two", async () => {
      const sent: string[] = [];
      const counting = watched({
        afterQuery: () => {
          sent.push("query");
        },
        // A held statement by the routines it calls: conn_run's steps, in order (migrations 45 and 46).
        onQueued: (text) => {
          const run = RUN_CALL.exec(text);
          const steps = run === null ? [] : (JSON.parse(literalText(run[1], run[2])) as [string][]);
          sent.push(`at commit: ${run === null ? text : steps.map(([name]) => name).join(", ")}`);
        },
      });
      const made = await world(counting).create(as(A), FILE, [
        { _id: B, access: AccessLevel.Read },
        { email: "dora@acme.example", access: AccessLevel.Read },
      ]);
      expect(made.every((m) => "object" in m && m.object === "connection")).toBe(true);
      // Nothing sent on its own: the look-up (expecting no rows), the invitations (inserted as new) and the notices
      // all go with the COMMIT, in one round trip, as one statement.
      expect(sent).toEqual(["at commit: expect_none_for_create, save_pending_fresh, enqueue"]);
      expect(await count("state = 0")).toBe(2);
      // Again: the look-up finds both invitations, so that round trip writes nothing and the create runs as before
      // (the look-up with BEGIN, then the writes with the COMMIT), re-inviting both under their ids.
      sent.length = 0;
      const again = await world(counting).create(as(A), FILE, [
        { _id: B, access: AccessLevel.Read },
        { email: "dora@acme.example", access: AccessLevel.Read },
      ]);
      expect(sent).toEqual([
        "at commit: expect_none_for_create, save_pending_fresh, enqueue",
        "query",
        "at commit: save_pending_as_expected, enqueue",
      ]);
      expect(again.map((m) => ("_id" in m ? m._id : null))).toEqual(
        made.map((m) => ("_id" in m ? m._id : null)),
      );
      expect(await count("state = 0")).toBe(2);
    });

    it("an invitation bound by a registration while create re-invites it: the create runs again and notifies the bound account", async () => {
      const c = world();
      const email = "dora@acme.example";
      const D = "5f0000000000000000000d04";
      await c.create(as(A), FILE, [{ email, access: AccessLevel.Read }]);
      expect(await count(`state = 0 AND target_account IS NULL AND target_email = '${email}'`)).toBe(1);
      // Dora registers (bindEmail takes no context lock) after create has read the invitation, before it commits.
      let lookUps = 0;
      const binding = watched({
        afterQuery: async (text) => {
          if (text.includes("conn_find_for_create") && ++lookUps === 1) {
            await ctx.repoOn(ctx.db).bindEmail(ORG, email, D, new Date());
          }
        },
      });
      const [again] = await world(binding).create(as(A), FILE, [{ email, access: AccessLevel.Share }]);
      // The first attempt expected the invitation unbound: its commit failed, and the second planned on the bound one.
      expect(lookUps).toBe(2);
      expect((again as ConnectionView).access).toBe(AccessLevel.Share);
      // Its notice goes to Dora's account (the view hides an email invitation's account from its creator).
      const { rows } = await ctx.db.query<{ kind: string; account: string | null }>(
        `SELECT notice->>'kind' AS kind, notice->'recipient'->>'account' AS account
         FROM ${ctx.s}.connection_outbox ORDER BY seq DESC LIMIT 1`,
      );
      expect(rows[0]).toEqual({ kind: "invite-existing-user", account: D });
      expect(await count(`state = 0 AND target_account = '${D}' AND access = ${AccessLevel.Share}`)).toBe(1);
      expect(await count("true")).toBe(1);
    });

    it("two creators invite the same target in parallel; both accepted in parallel: one active connection", async () => {
      const c = world();
      await Promise.all([
        c.create(as(A), FILE, [{ _id: B, access: AccessLevel.Read }]),
        c.create(as(C), FILE, [{ _id: B, access: AccessLevel.Share }]),
      ]);
      const list = await c.list(as(B), { state: 0 });
      expect(list.data).toHaveLength(2);
      const tokens = list.data.map((v) => v.token as string);
      const results = await Promise.allSettled(tokens.map((t) => c.accept(as(B), t)));
      // The second accept either merges into the first's active row, or finds its invitation superseded.
      expect(results.some((r) => r.status === "fulfilled")).toBe(true);
      for (const r of results) if (r.status === "rejected") expect(isConnectionError(r.reason)).toBe(true);
      expect(await count("state = 1")).toBe(1);
      expect(await count("state = 0")).toBe(0);
      expect(await c.resolveAccess(ORG, B, FILE)).toBe(AccessLevel.Share);
    });
  },
  { engines: ["postgres"], maxClients: 20 },
);
