import { z } from "zod";
import { ConnectionError, type ErrorCode, isConnectionError } from "../domain/errors.js";
import { type Notice, type NoticeKind, unsealNotice } from "../domain/notices.js";
import type {
  Outbox,
  OutboxClaim,
  OutboxEntry,
  OutboxMessage,
  OutboxStats,
  RequeueOutcome,
} from "../ports/outbox.js";
import type { Clock, Notifier, RandomSource, TokenService } from "../ports/services.js";

const DAY_MS = 24 * 60 * 60 * 1000;

/** The zod schema of {@link OutboxRelayOptions}; the relay's constructor parses its options with it. */
export const outboxRelayOptionsSchema = z
  .object({
    batchSize: z.int().min(1).max(1_000).default(50),
    concurrency: z.int().min(1).max(256).default(8),
    leaseMs: z.int().min(1).default(60_000),
    sendTimeoutMs: z.int().min(1).default(20_000),
    leaseMarginMs: z.int().min(0).default(5_000),
    maxAttempts: z.int().min(1).max(100).default(8),
    baseDelayMs: z.int().min(0).default(1_000),
    maxDelayMs: z
      .int()
      .min(0)
      .default(15 * 60_000),
    idleMs: z.int().min(1).default(1_000),
    orgsPerRound: z.int().min(1).max(1_000).default(32),
    retentionMs: z
      .int()
      .min(0)
      .default(7 * DAY_MS),
    purgeBatchSize: z.int().min(1).max(10_000).default(500),
    purgeIntervalMs: z.int().min(1).default(60_000),
    fullScanMs: z.int().min(1).default(30_000),
  })
  .strict()
  .refine((o) => o.leaseMs > o.sendTimeoutMs + o.leaseMarginMs, {
    path: ["leaseMs"],
    message: "must be greater than sendTimeoutMs + leaseMarginMs, so a send always ends inside its lease",
  });

/** Tuning of an {@link OutboxRelay}; every field has a default. */
export interface OutboxRelayOptions {
  /** Messages claimed per org and batch (default 50). */
  batchSize?: number;
  /** Sends in flight at once within a batch (default 8). */
  concurrency?: number;
  /** How long a claim holds before another relay may take the message (default 60 s). */
  leaseMs?: number;
  /** A send not finished after this long is aborted and counted as a retryable failure (default 20 s). */
  sendTimeoutMs?: number;
  /**
   * Slack kept between a send's deadline and its lease's end (default 5 s): a send starts only when its lease has
   * at least `sendTimeoutMs + leaseMarginMs` left, and the lease is renewed first when it has less. It also covers
   * the clock difference between relays.
   */
  leaseMarginMs?: number;
  /** Attempts before a message is dead-lettered (default 8). */
  maxAttempts?: number;
  /** First retry delay before jitter (default 1 s); doubles per attempt. */
  baseDelayMs?: number;
  /** Cap of the retry delay (default 15 min). */
  maxDelayMs?: number;
  /** Pause between polls when the outbox is empty (default 1 s). */
  idleMs?: number;
  /** Orgs served per round of a drain (default 32). */
  orgsPerRound?: number;
  /** How long delivered messages are kept before the loop purges them (default 7 days). Dead letters are kept. */
  retentionMs?: number;
  /** Messages deleted per purge statement (default 500). */
  purgeBatchSize?: number;
  /** Pause between retention sweeps of the loop (default 60 s). */
  purgeIntervalMs?: number;
  /**
   * How far back the loop's drains look (default 30 s). A drain of the loop scans from the oldest message only when
   * this long has passed since the last such full drain started; the drains in between look at messages due since
   * that start, less this. A message is found by the first drain after its commit when its unit of work committed
   * within this long of its due time, and otherwise by the next full drain. Where settled messages stay in the
   * outbox's index until a vacuum (PostgreSQL with autovacuum off), a drain then reads what this window holds, not
   * every message ever delivered.
   */
  fullScanMs?: number;
}

/** The options with defaults applied. */
export type OutboxRelayConfig = z.output<typeof outboxRelayOptionsSchema>;

/** What one drain did. `lost` counts messages whose lease another relay had taken over before they were settled. */
export interface DrainResult {
  delivered: number;
  retried: number;
  dead: number;
  lost: number;
}

/** What a relay tells instrumentation about one delivery attempt: never the recipient, never the token. */
export interface OutboxSendInfo {
  org: string;
  messageId: string;
  kind: NoticeKind;
  /** 1 for the first attempt. */
  attempt: number;
}

/** How one delivery attempt ended. */
export interface OutboxSendResult {
  outcome: "delivered" | "retried" | "dead" | "lost";
  /** The spec code of the failure (`cortex.error.unspecified` for a plain error), null when there was none. */
  code: ErrorCode | null;
  /** True when the send was aborted at its deadline. */
  timedOut: boolean;
}

/** Watches a relay's deliveries (metrics and traces); the default does nothing. */
export interface OutboxRelayObserver {
  /** Runs one attempt (`run` sends and settles it); an observer may run it inside a span. */
  attempt<T>(info: OutboxSendInfo, run: () => Promise<T>): Promise<T>;
  /** Called once per claimed message with what became of it, inside `attempt` when a send was made. */
  settled(info: OutboxSendInfo, result: OutboxSendResult): void;
}

/** The observer that observes nothing. */
const noObserver: OutboxRelayObserver = { attempt: (_info, run) => run(), settled: () => {} };

/** The ports a relay works through. */
export interface OutboxRelayDeps {
  outbox: Outbox;
  notifier: Notifier;
  tokens: TokenService;
  clock: Clock;
  random: RandomSource;
  /** Metrics and traces of each delivery (default: none). */
  observer?: OutboxRelayObserver | undefined;
}

/** Exponential backoff with full jitter: a uniform delay in [0, min(max, base·2^(attempt-1))]. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random * ceiling);
}

/** Parses relay options; a bad option is a `cortex.invalidArgument.unspecified` naming it. */
export function parseOutboxRelayOptions(options: OutboxRelayOptions = {}): OutboxRelayConfig {
  const parsed = outboxRelayOptionsSchema.safeParse(options);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`);
  const reason = `OutboxRelay options: ${problems.join("; ")}`;
  throw new ConnectionError("cortex.invalidArgument.unspecified", { reason, message: reason });
}

/** The most purge statements one retention sweep sends before it lets the relay deliver again. */
const PURGE_STATEMENTS_PER_SWEEP = 20;

/**
 * Delivers the outbox's intents to notify through a {@link Notifier}. Due messages are claimed per org in batches
 * with a lease, and sent `concurrency` at a time; each send has a deadline (`sendTimeoutMs`) and starts only when
 * its lease outlasts that deadline by `leaseMarginMs` (the lease is renewed first when it does not), so a send never
 * runs past its lease and no second relay takes a message that is still being sent. Failures are retried with
 * exponential backoff and jitter while retryable, and dead-lettered with the last error after `maxAttempts` or a
 * permanent failure. Settling names the claim's fencing token, so a relay that lost its lease changes nothing.
 * Run it as a loop ({@link OutboxRelay.start} / {@link OutboxRelay.stop}, which also purges delivered messages
 * past their retention) or call {@link OutboxRelay.drain}. Dead letters are listed, requeued and purged through
 * the relay too.
 */
export class OutboxRelay {
  /** The options in force, defaults applied. */
  readonly options: OutboxRelayConfig;
  private readonly observer: OutboxRelayObserver;
  private controller: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private sleeper: AbortController | null = null;
  private woken = false;
  private nextPurgeAt = Number.NEGATIVE_INFINITY;

  /** Parses `options`; throws a `ConnectionError` (`cortex.invalidArgument.unspecified`) naming a bad one. */
  constructor(
    private readonly deps: OutboxRelayDeps,
    options: OutboxRelayOptions = {},
  ) {
    this.options = parseOutboxRelayOptions(options);
    this.observer = deps.observer ?? noObserver;
  }

  /**
   * Claims and delivers every message due now, org by org and batch by batch, until none is left. A message that
   * fails during this drain is due again only after it, so one drain never spends two attempts of one message.
   */
  drain(): Promise<DrainResult> {
    return this.drainSince(undefined);
  }

  /** {@link OutboxRelay.drain}, of the messages due at or after `since` only (all when undefined). */
  private async drainSince(since: Date | undefined): Promise<DrainResult> {
    const result: DrainResult = { delivered: 0, retried: 0, dead: 0, lost: 0 };
    const dueBy = this.deps.clock.now();
    const signal = this.controller?.signal;
    const { outbox } = this.deps;
    while (!aborted(signal)) {
      const orgs = await outbox.dueOrgs(dueBy, this.deps.clock.now(), this.options.orgsPerRound, since);
      let claimed = 0;
      for (const org of orgs) {
        if (aborted(signal)) break;
        const batch = await outbox.claim(
          org,
          this.deps.clock.now(),
          this.options.batchSize,
          this.options.leaseMs,
          dueBy,
          since,
        );
        claimed += batch.length;
        await this.deliverBatch(batch, dueBy, result, signal);
      }
      if (claimed === 0) break;
    }
    return result;
  }

  /**
   * Deletes delivered messages older than `retentionMs`, a bounded number of batches per call; returns how many.
   * The loop calls it every `purgeIntervalMs` (sooner while there is more to purge). Dead letters are never purged
   * here.
   */
  async purgeDelivered(): Promise<number> {
    const before = new Date(this.deps.clock.now().getTime() - this.options.retentionMs);
    const { purgeBatchSize } = this.options;
    let budget = PURGE_STATEMENTS_PER_SWEEP;
    let purged = 0;
    for (const org of await this.deps.outbox.purgeableOrgs(before, this.options.orgsPerRound)) {
      for (let n = purgeBatchSize; n === purgeBatchSize && budget > 0; budget--) {
        n = await this.deps.outbox.purgeDelivered(org, before, purgeBatchSize);
        purged += n;
      }
      if (budget === 0) break;
    }
    return purged;
  }

  /** The outbox's figures now: counts by status, the due backlog and the due time of its oldest message. */
  stats(): Promise<OutboxStats> {
    return this.deps.outbox.stats(this.deps.clock.now());
  }

  /** Dead letters in (org, id) order, without token seals: of one org or of all, a page of at most `limit`. */
  async deadLetters(
    query: { org?: string; limit?: number; after?: { org: string; id: string } } = {},
  ): Promise<OutboxEntry[]> {
    const limit = query.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) {
      throw new ConnectionError("cortex.invalidArgument.unspecified", {
        reason: "deadLetters: limit must be an integer from 1 to 1000",
      });
    }
    return this.deps.outbox.list({ status: "dead", org: query.org, limit, after: query.after });
  }

  /** One outbox message by id (in `org` when given), without its token seal, or null. */
  message(id: string, org?: string): Promise<OutboxEntry | null> {
    return this.deps.outbox.get(id, org);
  }

  /**
   * Puts a dead letter back in line, due at once with a fresh set of attempts, and wakes the loop. An invitation is
   * requeued only while its connection is still a pending, unexpired invitation (its current token is sent).
   */
  async requeue(org: string, id: string): Promise<RequeueOutcome> {
    const outcome = await this.deps.outbox.requeue(org, id, this.deps.clock.now());
    if (outcome === "requeued") this.wake();
    return outcome;
  }

  /** Deletes a dead letter that has been dealt with; false when there is no dead letter with that id. */
  purgeDeadLetter(org: string, id: string): Promise<boolean> {
    return this.deps.outbox.purgeDead(org, id);
  }

  /**
   * Starts draining in a loop until {@link OutboxRelay.stop}: a drain (of every due message at the start and then at
   * least every `fullScanMs`, of those due in its window in between: see {@link OutboxRelayOptions.fullScanMs}), a
   * retention sweep when one is due, then the idle pause (cut short by {@link OutboxRelay.wake}). A drain that fails
   * is reported and retried after the pause.
   */
  start(onError?: (error: unknown) => void): void {
    if (this.loop !== null) return;
    const controller = new AbortController();
    this.controller = controller;
    this.loop = (async () => {
      let fullAt = Number.NEGATIVE_INFINITY;
      while (!controller.signal.aborted) {
        this.woken = false;
        const { fullScanMs } = this.options;
        const now = this.deps.clock.now().getTime();
        const full = now - fullAt >= fullScanMs;
        if (full) fullAt = now;
        try {
          await this.drainSince(full ? undefined : new Date(fullAt - fullScanMs));
          if (!controller.signal.aborted) await this.sweepWhenDue();
        } catch (error) {
          onError?.(error);
        }
        if (!controller.signal.aborted && !this.woken) await this.idle(controller.signal);
      }
    })();
  }

  /** Asks a running loop to drain at once instead of finishing its pause; calls made meanwhile coalesce. */
  wake(): void {
    this.woken = true;
    this.sleeper?.abort();
  }

  /**
   * Stops the loop: messages claimed but not yet started are given back at once (another relay can take them), sends
   * in flight finish (each within `sendTimeoutMs`) and are settled. Resolves when the loop has stopped; safe to call
   * twice.
   */
  async stop(): Promise<void> {
    this.controller?.abort();
    this.sleeper?.abort();
    const loop = this.loop;
    this.loop = null;
    this.controller = null;
    await loop;
  }

  private async idle(stopped: AbortSignal): Promise<void> {
    const sleeper = new AbortController();
    this.sleeper = sleeper;
    const onStop = (): void => sleeper.abort();
    stopped.addEventListener("abort", onStop, { once: true });
    try {
      if (!this.woken) await this.deps.clock.sleep(this.options.idleMs, sleeper.signal);
    } finally {
      stopped.removeEventListener("abort", onStop);
      this.sleeper = null;
    }
  }

  private async sweepWhenDue(): Promise<void> {
    const now = this.deps.clock.now().getTime();
    if (now < this.nextPurgeAt) return;
    const purged = await this.purgeDelivered();
    const more = purged >= PURGE_STATEMENTS_PER_SWEEP * this.options.purgeBatchSize;
    this.nextPurgeAt = more ? now : now + this.options.purgeIntervalMs;
  }

  /** Delivers a claimed batch, `concurrency` at a time; once stopped, gives back what has not started. */
  private async deliverBatch(
    batch: readonly OutboxMessage[],
    dueBy: Date,
    result: DrainResult,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batch.length) {
        const message = batch[next++] as OutboxMessage;
        if (aborted(signal)) await this.deps.outbox.release(fenceOf(message));
        else await this.deliverOne(message, dueBy, result);
      }
    };
    const workers = Math.min(this.options.concurrency, batch.length);
    const outcomes = await Promise.allSettled(Array.from({ length: workers }, worker));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  /** Sends one message within its deadline and settles it, unless its lease can no longer be held. */
  private async deliverOne(message: OutboxMessage, dueBy: Date, result: DrainResult): Promise<void> {
    const claim = fenceOf(message);
    const info: OutboxSendInfo = {
      org: message.org,
      messageId: message.id,
      kind: message.notice.kind,
      attempt: message.attempts + 1,
    };
    if (!(await this.holdLease(message, claim))) {
      result.lost++;
      this.observer.settled(info, { outcome: "lost", code: null, timedOut: false });
      return;
    }
    await this.observer.attempt(info, async () => {
      let token: string | null = null;
      let failure: unknown = null;
      try {
        const notice = unsealNotice(message.notice, (seal) => this.deps.tokens.reveal(seal));
        token = notice.token;
        await this.sendWithin(notice);
      } catch (error) {
        failure = error;
      }
      const outcome = await this.settle(message, claim, failure, token, dueBy);
      result[outcome]++;
      this.observer.settled(info, {
        outcome,
        code:
          failure === null ? null : isConnectionError(failure) ? failure.code : "cortex.error.unspecified",
        timedOut: isConnectionError(failure) && failure.reason === SEND_TIMEOUT_REASON,
      });
    });
  }

  /** True when the lease outlasts a whole send with margin, renewing it first when it would not. */
  private async holdLease(message: OutboxMessage, claim: OutboxClaim): Promise<boolean> {
    const now = this.deps.clock.now().getTime();
    const needed = this.options.sendTimeoutMs + this.options.leaseMarginMs;
    if (message.leaseUntil.getTime() - now >= needed) return true;
    return this.deps.outbox.renew(claim, new Date(now + this.options.leaseMs));
  }

  /** Calls the notifier, aborting it at the send deadline (a retryable failure). */
  private async sendWithin(notice: Notice): Promise<void> {
    const abort = new AbortController();
    const timer = new AbortController();
    const ms = this.options.sendTimeoutMs;
    const deadline = this.deps.clock.sleep(ms, timer.signal).then(() => {
      if (timer.signal.aborted) return;
      const error = new ConnectionError("cortex.error.unspecified", {
        retryable: true,
        reason: SEND_TIMEOUT_REASON,
        message: `The notifier did not finish within ${ms} ms; the send was aborted.`,
      });
      abort.abort(error);
      throw error;
    });
    try {
      await Promise.race([this.deps.notifier.send(notice, { signal: abort.signal }), deadline]);
    } finally {
      timer.abort();
    }
  }

  /** Marks the attempt's outcome on the message under its claim; "lost" when the claim is no longer held. */
  private async settle(
    message: OutboxMessage,
    claim: OutboxClaim,
    failure: unknown,
    token: string | null,
    dueBy: Date,
  ): Promise<"delivered" | "retried" | "dead" | "lost"> {
    const now = this.deps.clock.now();
    if (failure === null) return (await this.deps.outbox.markDelivered(claim, now)) ? "delivered" : "lost";
    const attempts = message.attempts + 1;
    const retryable = !isConnectionError(failure) || failure.retryable;
    const { baseDelayMs, maxDelayMs, maxAttempts } = this.options;
    const delay = backoffDelay(attempts, baseDelayMs, maxDelayMs, this.deps.random.next());
    const retryAt =
      retryable && attempts < maxAttempts
        ? new Date(Math.max(now.getTime(), dueBy.getTime()) + Math.max(1, delay))
        : null;
    const held = await this.deps.outbox.markFailed(claim, describe(failure, token), retryAt, now);
    if (!held) return "lost";
    return retryAt === null ? "dead" : "retried";
  }
}

/** The `reason` of the error a send gets when it is aborted at its deadline. */
export const SEND_TIMEOUT_REASON = "sendTimeout";

/** True once the loop has been asked to stop (read each time: the signal changes while a drain runs). */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function fenceOf(message: OutboxMessage): OutboxClaim {
  return { org: message.org, id: message.id, claim: message.claim };
}

/** The error text kept on a failed message, with the token scrubbed out should a notifier have echoed it. */
function describe(error: unknown, token: string | null): string {
  const text =
    isConnectionError(error) || error instanceof Error
      ? `${error.name}: ${error.message}`
      : `non-error thrown: ${String(error)}`;
  const scrubbed = token === null ? text : text.split(token).join("[token]");
  return scrubbed.slice(0, 2_000);
}
