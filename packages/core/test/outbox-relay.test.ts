import {
  CryptoTokenService,
  InMemoryUnitOfWork,
  ManualClock,
  type OutboxRow,
  RecordingNotifier,
} from "@conn/adapter-memory";
import {
  backoffDelay,
  ConnectionError,
  type Notice,
  type Outbox,
  OutboxRelay,
  type OutboxRelayOptions,
  type RandomSource,
  type SealedNotice,
} from "@conn/core";
import fc from "fast-check";
import { beforeEach, describe, expect, it, vi } from "vitest";

const ORG = "acme";

/** A random source that returns the values given, then the last one forever. */
class FixedRandom implements RandomSource {
  constructor(private readonly values: number[]) {}
  next(): number {
    return this.values.length > 1 ? (this.values.shift() as number) : (this.values[0] ?? 0);
  }
}

let store: InMemoryUnitOfWork;
let clock: ManualClock;
let tokens: CryptoTokenService;
let notifier: RecordingNotifier;
let issued: { token: string; seal: string }[];
let seq: number;

beforeEach(() => {
  store = new InMemoryUnitOfWork();
  clock = new ManualClock("2026-01-01T00:00:00.000Z");
  tokens = new CryptoTokenService();
  notifier = new RecordingNotifier();
  issued = [];
  seq = 0;
});

function relay(options: OutboxRelayOptions = {}, random: RandomSource = new FixedRandom([0.5])): OutboxRelay {
  return new OutboxRelay({ outbox: store.outbox, notifier, tokens, clock, random }, options);
}

/** Enqueues one invitation notice (with a real sealed token) in a unit of work; returns its id and token. */
async function enqueue(
  kind: SealedNotice["kind"] = "invite-existing-user",
): Promise<{ id: string; token: string }> {
  const t = tokens.issue();
  issued.push({ token: t.token, seal: t.seal });
  const id = `0000000000000000000000${(++seq).toString(16).padStart(2, "0")}`;
  const invitation = kind !== "connection-created";
  const notice: SealedNotice = {
    kind,
    idempotencyKey: `${ORG}:${id}`,
    org: { code: ORG, name: "Acme Health" },
    recipient: { account: null, email: "bob@example.com", name: { first: "Bob" } },
    context: {
      object: "c_file",
      _id: "c00000000000000000000001",
      path: "/c_files/c00000000000000000000001",
      label: null,
    },
    connectionId: "b00000000000000000000001",
    access: 4,
    creator: { _id: "a00000000000000000000001", name: { first: "Olga" } },
    tokenSeal: invitation ? t.seal : null,
    acceptUrlBase: invitation ? "https://acme.example/invite" : null,
    expiresAt: invitation ? new Date("2026-01-08T00:00:00.000Z") : null,
  };
  await store.transaction((tx) => tx.outbox.enqueue([{ id, org: ORG, notice, availableAt: clock.now() }]));
  return { id, token: t.token };
}

async function row(id: string): Promise<OutboxRow> {
  const found = (await store.outbox.rows()).find((r) => r.id === id);
  if (found === undefined) throw new Error(`no row ${id}`);
  return found;
}

const retryable = (message = "smtp unavailable") =>
  new ConnectionError("cortex.error.unspecified", { message, retryable: true });
const permanent = (message = "mailbox does not exist") =>
  new ConnectionError("cortex.error.unspecified", { message, retryable: false });

describe("OutboxRelay.drain", () => {
  it("delivers each message once, with the token revealed and the accept URL built", async () => {
    const { id, token } = await enqueue();
    const r = relay();
    expect(await r.drain()).toEqual({ delivered: 1, retried: 0, dead: 0 });
    expect(await r.drain()).toEqual({ delivered: 0, retried: 0, dead: 0 });
    expect(notifier.sent).toHaveLength(1);
    const notice = notifier.sent[0] as Notice;
    expect(notice.token).toBe(token);
    expect(notice.acceptUrl).toBe(`https://acme.example/invite/${token}`);
    expect(notice.idempotencyKey).toBe(`${ORG}:${id}`);
    expect(notice).not.toHaveProperty("tokenSeal");
    expect(await store.outbox.counts()).toEqual({ pending: 0, delivered: 1, dead: 0 });
    const delivered = await row(id);
    expect(delivered.status).toBe("delivered");
    expect(delivered.notice.tokenSeal).toBeNull(); // no usable secret rests in the outbox
  });

  it("delivers a notice without a token (connection-created)", async () => {
    await enqueue("connection-created");
    await relay().drain();
    expect(notifier.sent[0]).toMatchObject({ kind: "connection-created", token: null, acceptUrl: null });
  });

  it("delivers many messages across batches", async () => {
    for (let i = 0; i < 7; i++) await enqueue();
    expect(await relay({ batchSize: 3 }).drain()).toEqual({ delivered: 7, retried: 0, dead: 0 });
    expect(new Set(notifier.sent.map((n) => n.idempotencyKey)).size).toBe(7);
  });

  it("retries a retryable failure with backoff, then dead-letters it after maxAttempts keeping the last error", async () => {
    const { id } = await enqueue();
    let calls = 0;
    notifier.failWith(() => retryable(`smtp unavailable #${++calls}`));
    // random 0.999: the delay is just under the ceiling base·2^(attempt-1).
    const r = relay({ maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000 }, new FixedRandom([0.999]));
    const t0 = clock.now().getTime();

    expect(await r.drain()).toEqual({ delivered: 0, retried: 1, dead: 0 });
    let state = await row(id);
    expect(state).toMatchObject({ status: "pending", attempts: 1 });
    expect(state.availableAt.getTime()).toBe(t0 + 999);
    expect(state.lastError).toContain("smtp unavailable #1");

    // Not due yet: nothing happens.
    clock.advance(998);
    expect(await r.drain()).toEqual({ delivered: 0, retried: 0, dead: 0 });
    expect(calls).toBe(1);

    clock.advance(1);
    expect(await r.drain()).toEqual({ delivered: 0, retried: 1, dead: 0 });
    state = await row(id);
    expect(state.attempts).toBe(2);
    expect(state.availableAt.getTime()).toBe(t0 + 999 + 1998);

    clock.advance(1998);
    expect(await r.drain()).toEqual({ delivered: 0, retried: 0, dead: 1 });
    state = await row(id);
    expect(state).toMatchObject({ status: "dead", attempts: 3 });
    expect(state.lastError).toContain("smtp unavailable #3");
    expect(state.notice.tokenSeal).toBeNull();
    expect(await store.outbox.counts()).toEqual({ pending: 0, delivered: 0, dead: 1 });

    // A dead letter is never tried again.
    notifier.failWith(null);
    clock.advance(24 * 60 * 60 * 1000);
    expect(await r.drain()).toEqual({ delivered: 0, retried: 0, dead: 0 });
    expect(notifier.sent).toEqual([]);
    expect(calls).toBe(3);
  });

  it("a retried message is delivered once the notifier recovers", async () => {
    const { id } = await enqueue();
    notifier.failWith(() => retryable());
    const r = relay({ baseDelayMs: 1000 }, new FixedRandom([0.5]));
    await r.drain();
    notifier.failWith(null);
    clock.advance(500);
    expect(await r.drain()).toEqual({ delivered: 1, retried: 0, dead: 0 });
    expect(notifier.sent).toHaveLength(1);
    expect(await row(id)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("a permanent failure (retryable false) is dead at once", async () => {
    const { id } = await enqueue();
    notifier.failWith(() => permanent());
    expect(await relay({ maxAttempts: 8 }).drain()).toEqual({ delivered: 0, retried: 0, dead: 1 });
    const state = await row(id);
    expect(state).toMatchObject({ status: "dead", attempts: 1 });
    expect(state.lastError).toContain("mailbox does not exist");
  });

  it("a plain error is treated as retryable", async () => {
    const { id } = await enqueue();
    notifier.failWith(() => new TypeError("fetch failed"));
    expect(await relay().drain()).toEqual({ delivered: 0, retried: 1, dead: 0 });
    expect((await row(id)).lastError).toContain("fetch failed");
  });

  it("never keeps the token in lastError, even when the notifier's message echoes it", async () => {
    const { id, token } = await enqueue();
    notifier.failWith((n) =>
      retryable(`bad link ${n.acceptUrl} (token ${n.token}) for ${n.recipient.email}`),
    );
    await relay({ maxAttempts: 1 }).drain();
    const state = await row(id);
    expect(state.status).toBe("dead");
    expect(state.lastError).not.toContain(token);
    expect(state.lastError).toContain("[token]");
    expect(state.lastError).toContain("bob@example.com");
    expect(JSON.stringify(await store.outbox.rows())).not.toContain(token);

    const other = await enqueue();
    notifier.failWith((n) => permanent(`${n.token}${n.token}`));
    await relay().drain();
    expect((await row(other.id)).lastError).not.toContain(other.token);
  });

  it("one drain attempts each message at most once, even when the backoff draw is zero", async () => {
    // Full jitter may draw a zero delay; the message is then due again at once. A drain that keeps claiming while
    // its batches are full would retry it on the spot and burn every attempt in one go, dead-lettering a notice
    // over a momentary fault.
    const { id } = await enqueue();
    let calls = 0;
    notifier.failWith(() => {
      calls++;
      return retryable();
    });
    const r = relay({ batchSize: 1, maxAttempts: 5 }, new FixedRandom([0]));
    expect(await r.drain()).toEqual({ delivered: 0, retried: 1, dead: 0 });
    expect(calls).toBe(1);
    expect(await row(id)).toMatchObject({ status: "pending", attempts: 1 });
  });

  it("a claimed message is not claimed again before its lease ends", async () => {
    await enqueue();
    const claimed = await store.outbox.claim(clock.now(), 10, 60_000);
    expect(claimed).toHaveLength(1);
    expect(await relay().drain()).toEqual({ delivered: 0, retried: 0, dead: 0 });
    clock.advance(60_000);
    expect(await relay().drain()).toEqual({ delivered: 1, retried: 0, dead: 0 });
  });
});

describe("backoffDelay", () => {
  it("examples", () => {
    expect(backoffDelay(1, 1000, 60_000, 0)).toBe(0);
    expect(backoffDelay(1, 1000, 60_000, 0.5)).toBe(500);
    expect(backoffDelay(2, 1000, 60_000, 0.5)).toBe(1000);
    expect(backoffDelay(3, 1000, 60_000, 0.5)).toBe(2000);
    expect(backoffDelay(30, 1000, 60_000, 0.5)).toBe(30_000);
    expect(backoffDelay(3, 1000, 60_000, 0.999)).toBe(3996);
  });

  it("property: within [0, min(max, base·2^(attempt-1))), growing with attempts", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 3_600_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, base, max, random) => {
          const ceiling = Math.min(max, base * 2 ** (attempt - 1));
          const delay = backoffDelay(attempt, base, max, random);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThan(ceiling);
          expect(delay).toBeLessThanOrEqual(max);
          expect(backoffDelay(attempt + 1, base, max, random)).toBeGreaterThanOrEqual(delay);
        },
      ),
    );
  });
});

describe("OutboxRelay.start / stop", () => {
  it("drains at once, then after each idle pause, and stops cleanly (twice is safe)", async () => {
    await enqueue();
    const r = relay({ idleMs: 1000 });
    r.start();
    r.start(); // a second start does not start a second loop
    await vi.waitFor(() => expect(notifier.sent).toHaveLength(1));

    await enqueue();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(notifier.sent).toHaveLength(1); // asleep until the clock moves
    clock.advance(1000);
    await vi.waitFor(() => expect(notifier.sent).toHaveLength(2));

    await r.stop();
    await r.stop();
    await enqueue();
    clock.advance(5000);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(notifier.sent).toHaveLength(2); // stopped: nothing more is delivered
    expect(await store.outbox.counts()).toEqual({ pending: 1, delivered: 2, dead: 0 });
  });

  it("stop before start is a no-op; a loop can be started again after stop", async () => {
    const r = relay({ idleMs: 1000 });
    await r.stop();
    r.start();
    await r.stop();
    await enqueue();
    r.start();
    await vi.waitFor(() => expect(notifier.sent).toHaveLength(1));
    await r.stop();
  });

  it("a failing drain is reported to onError and the loop goes on", async () => {
    const errors: unknown[] = [];
    let fail = true;
    const outbox: Outbox = {
      enqueue: (m) => store.outbox.enqueue(m),
      claim: async (now, limit, lease) => {
        if (fail) throw new Error("database down");
        return store.outbox.claim(now, limit, lease);
      },
      markDelivered: (id, now) => store.outbox.markDelivered(id, now),
      markFailed: (id, e, at, now) => store.outbox.markFailed(id, e, at, now),
      counts: () => store.outbox.counts(),
    };
    const r = new OutboxRelay(
      { outbox, notifier, tokens, clock, random: new FixedRandom([0.5]) },
      { idleMs: 1000 },
    );
    await enqueue();
    r.start((e) => errors.push(e));
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    expect((errors[0] as Error).message).toBe("database down");
    fail = false;
    clock.advance(1000);
    await vi.waitFor(() => expect(notifier.sent).toHaveLength(1));
    await r.stop();
  });
});
