import { CryptoRandom, CryptoTokenService, ManualClock, RecordingNotifier } from "@conn/adapter-memory";
import { ConnectionError, OutboxRelay } from "@conn/core";
import { expect, it } from "vitest";
import { describeEngines } from "./support/engines.js";
import { newId, sealedNotice, T0 } from "./support/fixtures.js";

describeEngines("the core outbox relay on the Postgres outbox", "relay", (ctx) => {
  const setup = async (count: number) => {
    const clock = new ManualClock(T0);
    const tokens = new CryptoTokenService();
    const notifier = new RecordingNotifier();
    const messages = Array.from({ length: count }, () => {
      const issued = tokens.issue();
      return {
        id: newId(),
        org: "acme",
        notice: sealedNotice({ tokenSeal: issued.seal }),
        availableAt: T0,
        token: issued.token,
      };
    });
    await ctx.uow.transaction((tx) => tx.outbox.enqueue(messages.map(({ token: _t, ...m }) => m)));
    const relay = (maxAttempts = 3) =>
      new OutboxRelay(
        { outbox: ctx.outbox, notifier, tokens, clock, random: new CryptoRandom() },
        { maxAttempts, batchSize: 4, baseDelayMs: 1_000, maxDelayMs: 10_000, leaseMs: 30_000 },
      );
    return { clock, notifier, messages, relay };
  };

  it("delivers every notice once, with the token re-derived from its seal, and keeps no seal afterwards", async () => {
    const { notifier, messages, relay } = await setup(10);
    expect(await relay().drain()).toEqual({ delivered: 10, retried: 0, dead: 0, lost: 0 });
    expect(notifier.sent.map((n) => n.token).sort()).toEqual(messages.map((m) => m.token).sort());
    expect(await relay().drain()).toEqual({ delivered: 0, retried: 0, dead: 0, lost: 0 });
    const { rows } = await ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${ctx.s}.connection_outbox WHERE notice->>'tokenSeal' IS NOT NULL`,
    );
    expect(rows[0]?.n).toBe(0);
  });

  it("a notifier that keeps failing: retried with backoff, then dead-lettered with the last error; nothing lost", async () => {
    const { clock, notifier, relay } = await setup(3);
    let calls = 0;
    notifier.failWith(() => {
      calls++;
      return new ConnectionError("cortex.error.unspecified", {
        retryable: true,
        message: `provider down #${calls}`,
      });
    });
    const r = relay(3);
    expect(await r.drain()).toEqual({ delivered: 0, retried: 3, dead: 0, lost: 0 });
    clock.advance(60_000);
    expect(await r.drain()).toEqual({ delivered: 0, retried: 3, dead: 0, lost: 0 });
    clock.advance(60_000);
    expect(await r.drain()).toEqual({ delivered: 0, retried: 0, dead: 3, lost: 0 });
    expect(await ctx.outbox.counts()).toEqual({ pending: 0, delivered: 0, dead: 3 });
    const { rows } = await ctx.db.query<{ attempts: number; last_error: string }>(
      `SELECT attempts, last_error FROM ${ctx.s}.connection_outbox ORDER BY id`,
    );
    expect(rows.every((row) => row.attempts === 3 && /provider down #\d+/.test(row.last_error))).toBe(true);
    expect(calls).toBe(9);
  });

  it("recovers: a notice that failed twice is delivered once the notifier works again", async () => {
    const { clock, notifier, relay } = await setup(2);
    notifier.failWith(() => new ConnectionError("cortex.error.unspecified", { retryable: true }));
    const r = relay(5);
    await r.drain();
    clock.advance(60_000);
    await r.drain();
    notifier.failWith(null);
    clock.advance(60_000);
    expect(await r.drain()).toEqual({ delivered: 2, retried: 0, dead: 0, lost: 0 });
    expect(notifier.sent).toHaveLength(2);
    expect(await ctx.outbox.counts()).toEqual({ pending: 0, delivered: 2, dead: 0 });
  });

  it("a relay that dies mid-batch loses nothing: its claims lapse and another relay delivers them", async () => {
    const { clock, notifier, relay } = await setup(6);
    // The first relay claims a batch and dies before settling any of it.
    const claimed = await ctx.outbox.claim("acme", clock.now(), 4, 30_000);
    expect(claimed).toHaveLength(4);
    expect(await relay().drain()).toEqual({ delivered: 2, retried: 0, dead: 0, lost: 0 });
    clock.advance(30_001);
    expect(await relay().drain()).toEqual({ delivered: 4, retried: 0, dead: 0, lost: 0 });
    expect(new Set(notifier.sent.map((n) => n.idempotencyKey)).size).toBe(6);
  });
});
