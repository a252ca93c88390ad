import { ConnectionError, type OutboxMessage } from "@conn/core";
import { describe, expect, it } from "vitest";
import { MAX_LAST_ERROR_LENGTH, PostgresOutbox, type Queryable } from "../src/index.js";
import { describeEngines, openEngine } from "./support/engines.js";
import { ms, newId, sealedNotice, T0 } from "./support/fixtures.js";

const fence = (m: OutboxMessage | undefined) => ({
  org: m?.org ?? "",
  id: m?.id ?? "",
  claim: m?.claim ?? 0,
});

describeEngines("PostgresOutbox", "outbox", (ctx) => {
  /** Enqueues `n` messages of `org` available at `at`; returns their ids in enqueue order. */
  async function enqueue(n: number, at: Date = T0, org = "acme"): Promise<string[]> {
    const messages = Array.from({ length: n }, () => {
      const id = newId();
      return { id, org, notice: sealedNotice({ connectionId: id }), availableAt: at };
    });
    await ctx.outbox.enqueue(messages);
    return messages.map((m) => m.id);
  }

  /** The stored row of a message (the back door). */
  async function row(id: string) {
    const { rows } = await ctx.db.query<{
      status: string;
      attempts: number;
      claims: number;
      last_error: string | null;
      available_at: Date;
      lease_until: Date | null;
      delivered_at: Date | null;
      last_attempt_at: Date | null;
      token_seal: string | null;
    }>(
      `SELECT status, attempts, claims, last_error, available_at, lease_until, delivered_at, last_attempt_at,
              notice->>'tokenSeal' AS token_seal
       FROM ${ctx.s}.connection_outbox WHERE id = $1`,
      [id],
    );
    return rows[0];
  }

  describe("enqueue and claim", () => {
    it("claims due messages with their notice as enqueued (dates revived), oldest first, up to the limit", async () => {
      const id = newId();
      const notice = sealedNotice({ connectionId: id });
      await ctx.outbox.enqueue([{ id, org: "acme", notice, availableAt: ms(-10) }]);
      const later = await enqueue(3, ms(-5));
      const claimed = await ctx.outbox.claim("acme", T0, 2, 30_000);
      const expected: OutboxMessage = {
        id,
        org: "acme",
        notice,
        attempts: 0,
        availableAt: ms(-10),
        lastError: null,
        claim: 1,
        leaseUntil: ms(30_000),
      };
      expect(claimed).toEqual([expected, expect.objectContaining({ id: later[0] })]);
      expect(claimed[0]?.notice.expiresAt).toBeInstanceOf(Date);
      expect(await row(id)).toMatchObject({ lease_until: ms(30_000), claims: 1 });
    });

    it("claims nothing for a limit of 0 and refuses a lease that is not positive or a bad limit", async () => {
      await enqueue(1);
      expect(await ctx.outbox.claim("acme", T0, 0, 1_000)).toEqual([]);
      await expect(ctx.outbox.claim("acme", T0, 1, 0)).rejects.toBeInstanceOf(ConnectionError);
      await expect(ctx.outbox.claim("acme", T0, -1, 1_000)).rejects.toBeInstanceOf(ConnectionError);
      await expect(ctx.outbox.dueOrgs(T0, T0, 1.5)).rejects.toBeInstanceOf(ConnectionError);
    });

    it("enqueues nothing for an empty list", async () => {
      await ctx.outbox.enqueue([]);
      expect(await ctx.outbox.counts()).toEqual({ pending: 0, delivered: 0, dead: 0 });
    });
  });

  describe("settling", () => {
    it("markDelivered records delivered_at and last_attempt_at, clears the lease and drops the seal", async () => {
      const [id] = await enqueue(1);
      const [m] = await ctx.outbox.claim("acme", T0, 10, 1_000);
      expect(await ctx.outbox.markDelivered(fence(m), ms(5))).toBe(true);
      expect(await row(id as string)).toMatchObject({
        status: "delivered",
        delivered_at: ms(5),
        last_attempt_at: ms(5),
        lease_until: null,
        token_seal: null,
      });
    });

    it("markFailed keeps the last error (cut to the maximum length) and when it was tried", async () => {
      const [id] = await enqueue(1);
      const [m] = await ctx.outbox.claim("acme", T0, 10, 60_000);
      await ctx.outbox.markFailed(fence(m), "SES throttled", ms(500), ms(1));
      expect(await row(id as string)).toMatchObject({
        attempts: 1,
        last_attempt_at: ms(1),
        lease_until: null,
      });
      expect((await row(id as string))?.token_seal).toBe(`seal-${id}`);
      const [again] = await ctx.outbox.claim("acme", ms(500), 10, 60_000);
      await ctx.outbox.markFailed(fence(again), "x".repeat(MAX_LAST_ERROR_LENGTH + 50), null, ms(600));
      const stored = await row(id as string);
      expect(stored).toMatchObject({ status: "dead", attempts: 2, claims: 2, token_seal: null });
      expect(stored?.last_error?.length).toBe(MAX_LAST_ERROR_LENGTH);
    });

    it("settling a message that is already settled changes nothing", async () => {
      const [id] = await enqueue(1);
      const [m] = await ctx.outbox.claim("acme", T0, 10, 1_000);
      expect(await ctx.outbox.markDelivered(fence(m), ms(1))).toBe(true);
      expect(await ctx.outbox.markFailed(fence(m), "late failure", null, ms(2))).toBe(false);
      expect(await ctx.outbox.markDelivered(fence(m), ms(3))).toBe(false);
      expect(await row(id as string)).toMatchObject({
        status: "delivered",
        delivered_at: ms(1),
        attempts: 0,
      });
    });
  });

  describe("plans", () => {
    it("claim, dueOrgs and the purge pick use the outbox's indexes, not a scan of every delivered row", async () => {
      if (ctx.engine === "pglite") return; // the planner check is about the server
      // Many delivered rows and a few pending ones, with statistics that do not know about either.
      await ctx.db.query(
        `INSERT INTO ${ctx.s}.connection_outbox (id, org, notice, available_at, status, delivered_at)
         SELECT lpad(to_hex(g), 24, '0'), 'org' || (g % 7), '{}'::jsonb, $1, 'delivered', $1
         FROM generate_series(1, 20000) AS g`,
        [ms(-60_000)],
      );
      await enqueue(5, ms(-1), "org1");
      const explain = async (sql: string, params: unknown[]) => {
        const { rows } = await ctx.db.query<{ "QUERY PLAN": string }>(`EXPLAIN ${sql}`, params);
        return rows.map((r) => r["QUERY PLAN"]).join("\n");
      };
      const claimPlan = await explain(
        `SELECT id FROM ${ctx.s}.connection_outbox WHERE org = $1 AND status = 'pending' AND available_at <= $2
           AND (lease_until IS NULL OR lease_until <= $3) ORDER BY available_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED`,
        ["org1", T0, T0, 50],
      );
      expect(claimPlan).toContain("connection_outbox_org_due_idx");
      const purgePlan = await explain(
        `SELECT id FROM ${ctx.s}.connection_outbox WHERE org = $1 AND status = 'delivered' AND delivered_at < $2
           ORDER BY delivered_at LIMIT $3`,
        ["org1", T0, 500],
      );
      expect(purgePlan).toContain("connection_outbox_org_delivered_idx");
    });
  });

  describe("since: a scan bounded from below", () => {
    /** The statements dueOrgs and claim send, with their parameters, captured instead of run. */
    async function sentBy(call: (outbox: PostgresOutbox) => Promise<unknown>) {
      const sent: { text: string; params: unknown[] }[] = [];
      const spy: Queryable = {
        async query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
          sent.push({ text, params: params ?? [] });
          return { rows: [] };
        },
      };
      await call(new PostgresOutbox(spy, { schema: ctx.schema }));
      return sent;
    }

    /** Shared buffers the statement reads when run (in a transaction rolled back after it: claim writes). */
    async function buffersOf(text: string, params: unknown[]): Promise<number> {
      let buffers = -1;
      const rollback = new Error("rollback");
      await ctx.db
        .transaction(async (tx) => {
          const { rows } = await tx.query<{ "QUERY PLAN": unknown }>(
            `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`,
            params,
          );
          const cell = rows[0]?.["QUERY PLAN"];
          const plan = (typeof cell === "string" ? JSON.parse(cell) : cell) as {
            Plan: { "Shared Hit Blocks": number; "Shared Read Blocks": number };
          }[];
          const top = plan[0]?.Plan;
          buffers = (top?.["Shared Hit Blocks"] ?? 0) + (top?.["Shared Read Blocks"] ?? 0);
          throw rollback;
        })
        .catch((error: unknown) => {
          if (error !== rollback && !(error instanceof Error && error.message.includes("rollback")))
            throw error;
        });
      return buffers;
    }

    it("dueOrgs and claim with `since` skip what is older, and their reads do not grow with delivered history", async () => {
      await ctx.db.query(`ALTER TABLE ${ctx.s}.connection_outbox SET (autovacuum_enabled = false)`);
      // 3,000 messages that were pending and then delivered: their entries stay in the due indexes (a status change
      // is no HOT update) until a vacuum, at the indexes' old end.
      await ctx.db.query(
        `INSERT INTO ${ctx.s}.connection_outbox (id, org, notice, available_at)
         SELECT lpad(to_hex(g), 24, '0'), 'acme', '{}'::jsonb, $1::timestamptz + g * interval '1 ms'
         FROM generate_series(1, 3000) AS g`,
        [ms(-86_400_000)],
      );
      await ctx.db.query(
        `UPDATE ${ctx.s}.connection_outbox SET status = 'delivered', delivered_at = $1 WHERE status = 'pending'`,
        [ms(-1000)],
      );
      const [old] = await enqueue(1, ms(-60_000));
      const [fresh] = await enqueue(1, ms(-1));
      const since = ms(-30_000);
      expect(await ctx.outbox.dueOrgs(T0, T0, 10, ms(1))).toEqual([]);
      expect(await ctx.outbox.dueOrgs(T0, T0, 10, since)).toEqual(["acme"]);
      const claimed = await ctx.outbox.claim("acme", T0, 10, 30_000, T0, since);
      expect(claimed.map((m) => m.id)).toEqual([fresh]);
      expect((await ctx.outbox.claim("acme", T0, 10, 30_000, T0)).map((m) => m.id)).toEqual([old]);
      await ctx.db.query(`UPDATE ${ctx.s}.connection_outbox SET lease_until = NULL`);
      // The same statements from the oldest and from `since`: the first reads every dead entry's page, the second not.
      const statements = [
        ...(await sentBy((o) => o.dueOrgs(T0, T0, 10, since))),
        ...(await sentBy((o) => o.claim("acme", T0, 10, 30_000, T0, since))),
      ];
      expect(statements).toHaveLength(2);
      for (const { text, params } of statements) {
        const at = params.indexOf(since);
        expect(at, text).toBeGreaterThan(0);
        const all = params.map((p: unknown, i: number) => (i === at ? null : p));
        const bounded = await buffersOf(text, params);
        const unbounded = await buffersOf(text, all);
        expect(unbounded, text).toBeGreaterThan(bounded + 5);
      }
    });
  });

  describe("several relays at once", () => {
    it("never hands one message to two claimers, across orgs", async () => {
      const ids = [...(await enqueue(60, T0, "acme")), ...(await enqueue(60, T0, "globex"))];
      // On the server each claimer has its own pool, so claims run on separate connections at the same moment.
      const extra =
        ctx.engine === "postgres" ? await Promise.all([1, 2, 3, 4].map(() => openEngine("postgres", 2))) : [];
      try {
        const outboxes =
          extra.length > 0
            ? extra.map((db) => new PostgresOutbox(db, { schema: ctx.schema }))
            : [ctx.outbox, ctx.outbox, ctx.outbox, ctx.outbox];
        const claimedBy = await Promise.all(
          outboxes.map(async (outbox) => {
            const mine: string[] = [];
            for (;;) {
              const orgs = await outbox.dueOrgs(T0, T0, 10);
              if (orgs.length === 0) return mine;
              for (const org of orgs) mine.push(...(await outbox.claim(org, T0, 7, 60_000)).map((m) => m.id));
            }
          }),
        );
        const all = claimedBy.flat();
        expect(all.length).toBe(ids.length);
        expect(new Set(all)).toEqual(new Set(ids));
        if (ctx.engine === "postgres") {
          // More than one claimer got work (they really ran side by side).
          expect(claimedBy.filter((mine) => mine.length > 0).length).toBeGreaterThan(1);
        }
      } finally {
        await Promise.all(extra.map((db) => db.close()));
      }
    });

    it("a relay whose lease was taken over cannot settle: the fencing token holds on separate connections", async () => {
      const [id] = await enqueue(1);
      const other = ctx.engine === "postgres" ? await openEngine("postgres", 2) : null;
      try {
        const second = other === null ? ctx.outbox : new PostgresOutbox(other, { schema: ctx.schema });
        const [stale] = await ctx.outbox.claim("acme", T0, 1, 100);
        const [fresh] = await second.claim("acme", ms(100), 1, 60_000);
        const settled = await Promise.all([
          ctx.outbox.markDelivered(fence(stale), ms(150)),
          second.markFailed(fence(fresh), "throttled", ms(1_000), ms(150)),
        ]);
        expect(settled).toEqual([false, true]);
        expect(await row(id as string)).toMatchObject({ status: "pending", attempts: 1, claims: 2 });
      } finally {
        await other?.close();
      }
    });
  });
});

describe("PostgresOutbox construction", () => {
  it("refuses a schema name that is not plain", async () => {
    const db = { query: async () => ({ rows: [] }) };
    expect(() => new PostgresOutbox(db, { schema: 'x"; DROP TABLE y; --' })).toThrow(ConnectionError);
  });
});
