import { ConnectionError, type OutboxMessage } from "@conn/core";
import { describe, expect, it } from "vitest";
import { MAX_LAST_ERROR_LENGTH, PostgresOutbox } from "../src/index.js";
import { describeEngines, openEngine } from "./support/engines.js";
import { ms, newId, sealedNotice, T0 } from "./support/fixtures.js";

describeEngines("PostgresOutbox", "outbox", (ctx) => {
  /** Enqueues `n` messages available at `at`; returns their ids in enqueue order. */
  async function enqueue(n: number, at: Date = T0): Promise<string[]> {
    const messages = Array.from({ length: n }, () => {
      const id = newId();
      return { id, org: "acme", notice: sealedNotice({ connectionId: id }), availableAt: at };
    });
    await ctx.outbox.enqueue(messages);
    return messages.map((m) => m.id);
  }

  /** The stored row of a message (the back door). */
  async function row(id: string) {
    const { rows } = await ctx.db.query<{
      status: string;
      attempts: number;
      last_error: string | null;
      available_at: Date;
      lease_until: Date | null;
      delivered_at: Date | null;
      last_attempt_at: Date | null;
      token_seal: string | null;
    }>(
      `SELECT status, attempts, last_error, available_at, lease_until, delivered_at, last_attempt_at,
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
      const claimed = await ctx.outbox.claim(T0, 2, 30_000);
      const expected: OutboxMessage = {
        id,
        org: "acme",
        notice,
        attempts: 0,
        availableAt: ms(-10),
        lastError: null,
      };
      expect(claimed).toEqual([expected, expect.objectContaining({ id: later[0] })]);
      expect(claimed[0]?.notice.expiresAt).toBeInstanceOf(Date);
    });

    it("does not claim a message before its availableAt", async () => {
      await enqueue(1, ms(1));
      expect(await ctx.outbox.claim(T0, 10, 30_000)).toEqual([]);
      expect((await ctx.outbox.claim(ms(1), 10, 30_000)).length).toBe(1);
    });

    it("does not claim a leased message again until its lease lapses (a relay that died loses nothing)", async () => {
      const [id] = await enqueue(1);
      expect((await ctx.outbox.claim(T0, 10, 1_000)).map((m) => m.id)).toEqual([id]);
      expect(await ctx.outbox.claim(ms(999), 10, 1_000)).toEqual([]);
      const again = await ctx.outbox.claim(ms(1_000), 10, 1_000);
      expect(again.map((m) => m.id)).toEqual([id]);
      expect((await row(id!))?.lease_until).toEqual(ms(2_000));
    });

    it("claims nothing for a limit of 0 and refuses a lease that is not positive", async () => {
      await enqueue(1);
      expect(await ctx.outbox.claim(T0, 0, 1_000)).toEqual([]);
      await expect(ctx.outbox.claim(T0, 1, 0)).rejects.toBeInstanceOf(ConnectionError);
    });

    it("enqueues nothing for an empty list", async () => {
      await ctx.outbox.enqueue([]);
      expect(await ctx.outbox.counts()).toEqual({ pending: 0, delivered: 0, dead: 0 });
    });
  });

  describe("settling", () => {
    it("markDelivered marks the message delivered and drops the token seal from the stored notice", async () => {
      const [id] = await enqueue(1);
      await ctx.outbox.claim(T0, 10, 1_000);
      await ctx.outbox.markDelivered(id!, ms(5));
      const stored = await row(id!);
      expect(stored).toMatchObject({
        status: "delivered",
        delivered_at: ms(5),
        lease_until: null,
        token_seal: null,
      });
      expect(await ctx.outbox.counts()).toEqual({ pending: 0, delivered: 1, dead: 0 });
      expect(await ctx.outbox.claim(ms(10_000), 10, 1_000)).toEqual([]);
    });

    it("markFailed with a retry time counts the attempt, keeps the error and makes it due again at that time", async () => {
      const [id] = await enqueue(1);
      await ctx.outbox.claim(T0, 10, 60_000);
      await ctx.outbox.markFailed(id!, "SES throttled", ms(500), ms(1));
      expect(await ctx.outbox.claim(ms(499), 10, 1_000)).toEqual([]);
      const [retried] = await ctx.outbox.claim(ms(500), 10, 1_000);
      expect(retried).toMatchObject({ id, attempts: 1, lastError: "SES throttled", availableAt: ms(500) });
      await ctx.outbox.markFailed(id!, "still throttled", ms(2_000), ms(600));
      expect(await row(id!)).toMatchObject({ attempts: 2, last_attempt_at: ms(600), lease_until: null });
      // A message waiting for a retry keeps its seal: it still has to be delivered.
      expect((await row(id!))?.token_seal).toBe(`seal-${id}`);
    });

    it("markFailed without a retry time dead-letters the message with the last error, keeping it", async () => {
      const [id] = await enqueue(1);
      await ctx.outbox.claim(T0, 10, 1_000);
      await ctx.outbox.markFailed(id!, "x".repeat(MAX_LAST_ERROR_LENGTH + 50), null, ms(1));
      const stored = await row(id!);
      expect(stored).toMatchObject({ status: "dead", attempts: 1, last_attempt_at: ms(1) });
      // A dead letter loses its seal too (ADR 0001).
      expect(stored?.token_seal).toBeNull();
      expect(stored?.last_error?.length).toBe(MAX_LAST_ERROR_LENGTH);
      expect(await ctx.outbox.counts()).toEqual({ pending: 0, delivered: 0, dead: 1 });
      expect(await ctx.outbox.claim(ms(1_000_000), 10, 1_000)).toEqual([]);
    });

    it("settling a message that is already settled changes nothing", async () => {
      const [id] = await enqueue(1);
      await ctx.outbox.markDelivered(id!, ms(1));
      await ctx.outbox.markFailed(id!, "late failure", null, ms(2));
      await ctx.outbox.markDelivered(id!, ms(3));
      expect(await row(id!)).toMatchObject({ status: "delivered", delivered_at: ms(1), attempts: 0 });
    });

    it("counts by status across orgs", async () => {
      const ids = await enqueue(4);
      await ctx.outbox.enqueue([
        { id: newId(), org: "other", notice: sealedNotice({ org: "other" }), availableAt: T0 },
      ]);
      await ctx.outbox.markDelivered(ids[0]!, T0);
      await ctx.outbox.markFailed(ids[1]!, "bounced", null, T0);
      expect(await ctx.outbox.counts()).toEqual({ pending: 3, delivered: 1, dead: 1 });
    });
  });

  describe("transactions", () => {
    it("an enqueue rolled back with its transaction leaves nothing", async () => {
      const failure = new Error("boom");
      await expect(
        ctx.uow.transaction(async (tx) => {
          await tx.outbox.enqueue([{ id: newId(), org: "acme", notice: sealedNotice(), availableAt: T0 }]);
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(await ctx.outbox.counts()).toEqual({ pending: 0, delivered: 0, dead: 0 });
    });
  });

  describe("several relays at once", () => {
    it("never hands one message to two claimers", async () => {
      const ids = await enqueue(120);
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
              const batch = await outbox.claim(T0, 7, 60_000);
              if (batch.length === 0) return mine;
              mine.push(...batch.map((m) => m.id));
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
  });
});

describe("PostgresOutbox construction", () => {
  it("refuses a schema name that is not plain", async () => {
    const db = { query: async () => ({ rows: [] }) };
    expect(() => new PostgresOutbox(db, { schema: 'x"; DROP TABLE y; --' })).toThrow(ConnectionError);
  });
});
