import { isConnectionError } from "../domain/errors.js";
import { unsealNotice } from "../domain/notices.js";
import type { Outbox } from "../ports/outbox.js";
import type { Clock, Notifier, RandomSource, TokenService } from "../ports/services.js";

/** Tuning of an {@link OutboxRelay}. */
export interface OutboxRelayOptions {
  /** Messages claimed per batch (default 50). */
  batchSize?: number;
  /** How long a claim holds before another relay may take the message (default 60 s). */
  leaseMs?: number;
  /** Attempts before a message is dead-lettered (default 8). */
  maxAttempts?: number;
  /** First retry delay before jitter (default 1 s); doubles per attempt. */
  baseDelayMs?: number;
  /** Cap of the retry delay (default 15 min). */
  maxDelayMs?: number;
  /** Pause between polls when the outbox is empty (default 1 s). */
  idleMs?: number;
}

/** What one drain did. */
export interface DrainResult {
  delivered: number;
  retried: number;
  dead: number;
}

/** The ports a relay works through. */
export interface OutboxRelayDeps {
  outbox: Outbox;
  notifier: Notifier;
  tokens: TokenService;
  clock: Clock;
  random: RandomSource;
}

/** Exponential backoff with full jitter: a uniform delay in [0, min(max, base·2^(attempt-1))]. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random * ceiling);
}

/**
 * Delivers the outbox's intents to notify through a {@link Notifier}: retried with exponential backoff and jitter
 * while the failure is retryable, dead-lettered with the last error after `maxAttempts` or a permanent failure.
 * Run it as a loop ({@link OutboxRelay.start} / {@link OutboxRelay.stop}) or call {@link OutboxRelay.drain}.
 */
export class OutboxRelay {
  private readonly options: Required<OutboxRelayOptions>;
  private controller: AbortController | null = null;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly deps: OutboxRelayDeps,
    options: OutboxRelayOptions = {},
  ) {
    this.options = {
      batchSize: options.batchSize ?? 50,
      leaseMs: options.leaseMs ?? 60_000,
      maxAttempts: options.maxAttempts ?? 8,
      baseDelayMs: options.baseDelayMs ?? 1_000,
      maxDelayMs: options.maxDelayMs ?? 15 * 60_000,
      idleMs: options.idleMs ?? 1_000,
    };
  }

  /** Claims and delivers every message due now, batch by batch, until none is left. */
  async drain(): Promise<DrainResult> {
    const result: DrainResult = { delivered: 0, retried: 0, dead: 0 };
    // Claim only what was due when the drain started: a message retried during this drain waits for the next
    // drain, so one drain never spends several attempts of one message.
    const startedAt = this.deps.clock.now();
    for (;;) {
      const batch = await this.deps.outbox.claim(startedAt, this.options.batchSize, this.options.leaseMs);
      for (const message of batch) {
        let token: string | null = null;
        try {
          const notice = unsealNotice(message.notice, (seal) => this.deps.tokens.reveal(seal));
          token = notice.token;
          await this.deps.notifier.send(notice);
          await this.deps.outbox.markDelivered(message.id, this.deps.clock.now());
          result.delivered++;
        } catch (error) {
          const attempts = message.attempts + 1;
          const retryable = !isConnectionError(error) || error.retryable;
          const now = this.deps.clock.now();
          const retryAt =
            retryable && attempts < this.options.maxAttempts
              ? new Date(
                  Math.max(now.getTime(), startedAt.getTime()) +
                    Math.max(
                      1,
                      backoffDelay(
                        attempts,
                        this.options.baseDelayMs,
                        this.options.maxDelayMs,
                        this.deps.random.next(),
                      ),
                    ),
                )
              : null;
          await this.deps.outbox.markFailed(message.id, describe(error, token), retryAt, now);
          if (retryAt === null) result.dead++;
          else result.retried++;
        }
      }
      if (batch.length < this.options.batchSize) return result;
    }
  }

  /** Starts draining in a loop until {@link OutboxRelay.stop}; a drain that fails is retried after the idle pause. */
  start(onError?: (error: unknown) => void): void {
    if (this.loop !== null) return;
    const controller = new AbortController();
    this.controller = controller;
    this.loop = (async () => {
      while (!controller.signal.aborted) {
        try {
          await this.drain();
        } catch (error) {
          onError?.(error);
        }
        if (!controller.signal.aborted) await this.deps.clock.sleep(this.options.idleMs, controller.signal);
      }
    })();
  }

  /** Stops the loop after the batch in flight; resolves when it has stopped. Safe to call twice. */
  async stop(): Promise<void> {
    this.controller?.abort();
    const loop = this.loop;
    this.loop = null;
    this.controller = null;
    await loop;
  }
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
