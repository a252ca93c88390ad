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
  type Notifier,
  type NotifierSendOptions,
  type Outbox,
  OutboxRelay,
  type OutboxRelayObserver,
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
  availableAt: Date = clock.now(),
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
  await store.transaction((tx) => tx.outbox.enqueue([{ id, org: ORG, notice, availableAt }]));
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
    expect(await r.drain()).toEqual({ delivered: 1, retried: 0, dead: 0, lost: 0 });
    expect(await r.drain()).toEqual({ delivered: 0, retried: 0, dead: 0, lost: 0 });
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
    expect(await relay({ batchSize: 3 }).drain()).toEqual({ delivered: 7, retried: 0, dead: 0, lost: 0 });
    expect(new Set(notifier.sent.map((n) => n.idempotencyKey)).size).toBe(7);
  });

  it("retries a retryable failure with backoff, then dead-letters it after maxAttempts keeping the last error", async () => {
    const { id } = await enqueue();
    let calls = 0;
    notifier.failWith(() => retryable(`smtp unavailable #${++calls}`));
    // random 0.999: the delay is just under the ceiling base·2^(attempt-1).
    const r = relay({ maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000 }, new FixedRandom([0.999]));
    const t0 = clock.now().getTime();

    expect(await r.drain()).toEqual({ delivered: 0, retried: 1, dead: 0, lost: 0 });
    let state = await row(id);
    expect(state).toMatchObject({ status: "pending", attempts: 1 });
    expect(state.availableAt.getTime()).toBe(t0 + 999);
    expect(state.lastError).toContain("smtp unavailable #1");

    // Not due yet: nothing happens.
    clock.advance(998);
    expect(await r.drain()).toEqual({ delivered: 0, retried: 0, dead: 0, lost: 0 });
    expect(calls).toBe(1);

    clock.advance(1);
    expect(await r.drain()).toEqual({ delivered: 0, retried: 1, dead: 0, lost: 0 });
    state = await row(id);
    expect(state.attempts).toBe(2);
    expect(state.availableAt.getTime()).toBe(t0 + 999 + 1998);

    clock.advance(1998);
    expect(await r.drain()).toEqual({ delivered: 0, retried: 0, dead: 1, lost: 0 });
    state = await row(id);
    expect(state).toMatchObject({ status: "dead", attempts: 3 });
    expect(state.lastError).toContain("smtp unavailable #3");
    expect(state.notice.tokenSeal).toBeNull();
    expect(await store.outbox.counts()).toEqual({ pending: 0, delivered: 0, dead: 1 });

    // A dead letter is never tried again.
    notifier.failWith(null);
    clock.advance(24 * 60 * 60 * 1000);
    expect(await r.drain()).toEqual({ delivered: 0, retried: 0, dead: 0, lost: 0 });
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
    expect(await r.drain()).toEqual({ delivered: 1, retried: 0, dead: 0, lost: 0 });
    expect(notifier.sent).toHaveLength(1);
    expect(await row(id)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("a permanent failure (retryable false) is dead at once", async () => {
    const { id } = await enqueue();
    notifier.failWith(() => permanent());
    expect(await relay({ maxAttempts: 8 }).drain()).toEqual({ delivered: 0, retried: 0, dead: 1, lost: 0 });
    const state = await row(id);
    expect(state).toMatchObject({ status: "dead", attempts: 1 });
    expect(state.lastError).toContain("mailbox does not exist");
  });

  it("a plain error is treated as retryable", async () => {
    const { id } = await enqueue();
    notifier.failWith(() => new TypeError("fetch failed"));
    expect(await relay().drain()).toEqual({ delivered: 0, retried: 1, dead: 0, lost: 0 });
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
    expect(await r.drain()).toEqual({ delivered: 0, retried: 1, dead: 0, lost: 0 });
    expect(calls).toBe(1);
    expect(await row(id)).toMatchObject({ status: "pending", attempts: 1 });
  });

  it("a claimed message is not claimed again before its lease ends", async () => {
    await enqueue();
    const claimed = await store.outbox.claim(ORG, clock.now(), 10, 60_000);
    expect(claimed).toHaveLength(1);
    expect(await relay().drain()).toEqual({ delivered: 0, retried: 0, dead: 0, lost: 0 });
    clock.advance(60_000);
    expect(await relay().drain()).toEqual({ delivered: 1, retried: 0, dead: 0, lost: 0 });
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
    const outbox: Outbox = new Proxy(store.outbox, {
      get(target, prop, receiver) {
        if (prop === "dueOrgs" && fail) return async () => Promise.reject(new Error("database down"));
        const value = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
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

/** A notifier whose sends wait until the test settles them; records each call and its abort signal. */
class GatedNotifier implements Notifier {
  readonly calls: { notice: Notice; signal: AbortSignal | undefined; settle: (error?: unknown) => void }[] =
    [];
  inFlight = 0;
  maxInFlight = 0;

  send(notice: Notice, options?: NotifierSendOptions): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<void>((resolve, reject) => {
      const settle = (error?: unknown) => {
        this.inFlight--;
        if (error === undefined) resolve();
        else reject(error);
      };
      this.calls.push({ notice, signal: options?.signal, settle });
      // A notifier that honours the signal stops when the relay gives up.
      options?.signal?.addEventListener("abort", () => settle(options.signal?.reason), { once: true });
    });
  }
}

function gatedRelay(gated: Notifier, options: OutboxRelayOptions = {}, observer?: OutboxRelayObserver) {
  return new OutboxRelay(
    { outbox: store.outbox, notifier: gated, tokens, clock, random: new FixedRandom([0.5]), observer },
    options,
  );
}

/** Lets queued promise callbacks run (the relay's awaits on the in-memory outbox). */
const settleMicrotasks = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("OutboxRelay: lease-safe delivery", () => {
  it("refuses options where a send could outlast its lease", () => {
    expect(() => relay({ leaseMs: 20_000, sendTimeoutMs: 20_000, leaseMarginMs: 0 })).toThrow(
      ConnectionError,
    );
    expect(() => relay({ leaseMs: 24_000, sendTimeoutMs: 20_000 })).toThrow(/leaseMs/);
    expect(() => relay({ concurrency: 0 })).toThrow(/concurrency/);
    expect(relay({ leaseMs: 26_000, sendTimeoutMs: 20_000 }).options.leaseMarginMs).toBe(5_000);
  });

  it("sends a batch with at most `concurrency` sends in flight", async () => {
    for (let i = 0; i < 7; i++) await enqueue("connection-created");
    const gated = new GatedNotifier();
    const drained = gatedRelay(gated, { concurrency: 3, batchSize: 10 }).drain();
    await vi.waitFor(() => expect(gated.calls).toHaveLength(3));
    await settleMicrotasks();
    expect(gated.calls).toHaveLength(3);
    for (let i = 0; i < 7; i++) {
      await vi.waitFor(() => expect(gated.calls.length).toBeGreaterThan(i));
      gated.calls[i]?.settle();
    }
    expect(await drained).toEqual({ delivered: 7, retried: 0, dead: 0, lost: 0 });
    expect(gated.maxInFlight).toBe(3);
  });

  it("aborts a send at its deadline: the notifier's signal fires and the message is retried later", async () => {
    const { id } = await enqueue();
    const gated = new GatedNotifier();
    const drained = gatedRelay(gated, { sendTimeoutMs: 5_000, leaseMs: 60_000 }).drain();
    await vi.waitFor(() => expect(gated.calls).toHaveLength(1));
    expect(gated.calls[0]?.signal?.aborted).toBe(false);
    clock.advance(5_000);
    expect(await drained).toEqual({ delivered: 0, retried: 1, dead: 0, lost: 0 });
    expect(gated.calls[0]?.signal?.aborted).toBe(true);
    expect(await row(id)).toMatchObject({ status: "pending", attempts: 1 });
    expect((await row(id)).lastError).toContain("did not finish within 5000 ms");
  });

  it("renews a lease before a send that could outlast it, and sends nothing whose lease another relay took", async () => {
    const first = await enqueue("connection-created");
    const second = await enqueue("connection-created");
    const gated = new GatedNotifier();
    const options = { leaseMs: 30_000, sendTimeoutMs: 10_000, leaseMarginMs: 1_000, concurrency: 1 };
    const drained = gatedRelay(gated, options).drain();
    await vi.waitFor(() => expect(gated.calls).toHaveLength(1));
    // The first send takes 25 s: the second message then has 5 s of lease left, less than a send may take.
    clock.advance(25_000);
    gated.calls[0]?.settle();
    await vi.waitFor(() => expect(gated.calls).toHaveLength(2));
    expect((await row(second.id)).leaseUntil).toEqual(new Date(clock.now().getTime() + 30_000));
    gated.calls[1]?.settle();
    expect(await drained).toEqual({ delivered: 2, retried: 0, dead: 0, lost: 0 });
    expect(await row(first.id)).toMatchObject({ status: "delivered", claims: 1 });

    // Now a batch whose leases lapse while its first send runs, and another relay claims both messages.
    const third = await enqueue("connection-created");
    const fourth = await enqueue("connection-created");
    const next = gatedRelay(gated, options).drain();
    await vi.waitFor(() => expect(gated.calls).toHaveLength(3));
    clock.advance(30_000);
    const taken = await store.outbox.claim(ORG, clock.now(), 10, 60_000);
    expect(taken.map((m) => m.id).sort()).toEqual([third.id, fourth.id].sort());
    gated.calls[2]?.settle();
    // The send in flight is not settled by this relay, and the other message is never sent by it.
    expect(await next).toEqual({ delivered: 0, retried: 0, dead: 0, lost: 2 });
    expect(gated.calls).toHaveLength(3);
    expect(await row(fourth.id)).toMatchObject({ status: "pending", claims: 2 });
  });

  it("a send that finishes after its lease was taken over is not settled: the other relay's claim stands", async () => {
    const { id } = await enqueue("connection-created");
    const gated = new GatedNotifier();
    const drained = gatedRelay(gated, { leaseMs: 30_000, sendTimeoutMs: 10_000 }).drain();
    await vi.waitFor(() => expect(gated.calls).toHaveLength(1));
    // A notifier that ignores its deadline (no abort, no answer) while the lease lapses and another relay claims.
    const [claimed] = await store.outbox.claim(ORG, new Date(clock.now().getTime() + 30_000), 10, 60_000);
    expect(claimed?.claim).toBe(2);
    gated.calls[0]?.settle();
    expect(await drained).toEqual({ delivered: 0, retried: 0, dead: 0, lost: 1 });
    expect(await row(id)).toMatchObject({ status: "pending", claims: 2 });
  });

  it("stop gives back the claimed messages it has not started; another relay takes them at once", async () => {
    for (let i = 0; i < 4; i++) await enqueue("connection-created");
    const gated = new GatedNotifier();
    const r = gatedRelay(gated, { concurrency: 1, batchSize: 10 });
    r.start();
    await vi.waitFor(() => expect(gated.calls).toHaveLength(1));
    const stopped = r.stop();
    gated.calls[0]?.settle();
    await stopped;
    expect(gated.calls).toHaveLength(1);
    expect(await store.outbox.counts()).toEqual({ pending: 3, delivered: 1, dead: 0 });
    expect(await relay().drain()).toEqual({ delivered: 3, retried: 0, dead: 0, lost: 0 });
  });

  it("wake makes a sleeping loop drain at once", async () => {
    const r = relay({ idleMs: 60_000 });
    r.start();
    await settleMicrotasks();
    await enqueue();
    await settleMicrotasks();
    expect(notifier.sent).toHaveLength(0);
    r.wake();
    await vi.waitFor(() => expect(notifier.sent).toHaveLength(1));
    await r.stop();
  });

  it("between full drains the loop looks back fullScanMs from the last full one; an older message waits for the next", async () => {
    const r = relay({ idleMs: 60_000, fullScanMs: 30_000 });
    r.start(); // the first drain is a full one, now
    await settleMicrotasks();
    // A message due 31 s before that drain (its unit of work committed late), and one due now.
    const late = await enqueue("invite-existing-user", new Date(clock.now().getTime() - 31_000));
    const fresh = await enqueue();
    r.wake();
    await vi.waitFor(() => expect(notifier.sent).toHaveLength(1));
    expect((await row(fresh.id)).status).toBe("delivered");
    expect((await row(late.id)).status).toBe("pending");
    // 30 s after the last full drain started, the next drain is a full one again.
    clock.advance(30_000);
    r.wake();
    await vi.waitFor(async () => expect((await row(late.id)).status).toBe("delivered"));
    await r.stop();
  });

  it("tells its observer about each attempt: org, kind and attempt number, never the recipient", async () => {
    await enqueue();
    await enqueue("connection-created");
    const seen: unknown[] = [];
    const observer: OutboxRelayObserver = {
      attempt: (info, run) => {
        seen.push(["attempt", info]);
        return run();
      },
      settled: (info, result) => seen.push(["settled", info.kind, info.attempt, result]),
    };
    let calls = 0;
    notifier.failWith(() => (++calls === 1 ? permanent() : null));
    await gatedRelay(notifier, { concurrency: 1 }, observer).drain();
    expect(seen).toEqual([
      ["attempt", { org: ORG, messageId: expect.any(String), kind: "invite-existing-user", attempt: 1 }],
      [
        "settled",
        "invite-existing-user",
        1,
        { outcome: "dead", code: "cortex.error.unspecified", timedOut: false },
      ],
      ["attempt", { org: ORG, messageId: expect.any(String), kind: "connection-created", attempt: 1 }],
      ["settled", "connection-created", 1, { outcome: "delivered", code: null, timedOut: false }],
    ]);
    expect(JSON.stringify(seen)).not.toContain("bob@example.com");
  });
});

describe("OutboxRelay: retention and dead letters", () => {
  it("purgeDelivered deletes delivered messages older than the retention, and keeps dead letters", async () => {
    const old = await enqueue("connection-created");
    const dead = await enqueue();
    notifier.failWith((n) => (n.kind === "connection-created" ? null : permanent()));
    const r = relay({ retentionMs: 60_000 });
    await r.drain();
    clock.advance(59_999);
    expect(await r.purgeDelivered()).toBe(0);
    clock.advance(2);
    expect(await r.purgeDelivered()).toBe(1);
    expect(store.state.outbox.has(old.id)).toBe(false);
    clock.advance(365 * 86_400_000);
    expect(await r.purgeDelivered()).toBe(0);
    expect((await row(dead.id)).status).toBe("dead");
  });

  it("the loop sweeps retention on its own", async () => {
    const { id } = await enqueue("connection-created");
    const r = relay({ retentionMs: 1_000, idleMs: 500, purgeIntervalMs: 500 });
    r.start();
    await vi.waitFor(() => expect(notifier.sent).toHaveLength(1));
    for (let i = 0; i < 4 && store.state.outbox.has(id); i++) {
      clock.advance(500);
      await settleMicrotasks();
    }
    await vi.waitFor(() => expect(store.state.outbox.has(id)).toBe(false));
    await r.stop();
  });

  it("lists dead letters without seals, requeues one (delivered on the next drain) and purges another", async () => {
    const a = await enqueue("connection-created");
    const b = await enqueue("connection-created");
    notifier.failWith(() => permanent("mailbox does not exist"));
    const r = relay();
    await r.drain();
    const dead = await r.deadLetters({ org: ORG });
    expect(dead.map((e) => e.id).sort()).toEqual([a.id, b.id].sort());
    expect(dead[0]?.lastError).toContain("mailbox does not exist");
    expect(JSON.stringify(dead)).not.toContain("tokenSeal");
    await expect(r.deadLetters({ limit: 0 })).rejects.toThrow(ConnectionError);
    expect(await r.message(a.id)).toMatchObject({ id: a.id, status: "dead" });

    notifier.failWith(null);
    expect(await r.requeue(ORG, a.id)).toBe("requeued");
    expect(await r.requeue(ORG, a.id)).toBe("notDead");
    expect(await r.drain()).toEqual({ delivered: 1, retried: 0, dead: 0, lost: 0 });
    expect(await r.purgeDeadLetter(ORG, b.id)).toBe(true);
    expect(await r.stats()).toEqual({ pending: 0, dead: 0, due: 0, oldestDueAt: null });
  });

  it("a dead invitation whose connection is gone is not requeued (its link would not work)", async () => {
    const { id } = await enqueue();
    notifier.failWith(() => permanent());
    const r = relay();
    await r.drain();
    expect(await r.requeue(ORG, id)).toBe("invitationClosed");
  });
});
