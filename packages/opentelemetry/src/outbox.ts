import type { OutboxRelay, OutboxRelayObserver, OutboxSendInfo, OutboxStats } from "@conn/core";
import {
  type Attributes,
  type BatchObservableCallback,
  type Span,
  SpanKind,
  SpanStatusCode,
} from "@opentelemetry/api";
import { meterOf, type TelemetryProviders, tracerOf } from "./connections.js";
import { ATTRIBUTES, METRICS, SPANS } from "./names.js";

/**
 * An {@link OutboxRelayObserver} that runs each delivery attempt in a `conn.outbox.send` span (org, notice kind,
 * attempt, outcome; the spec code as `error.type` on failure) and counts attempts by outcome (`conn.outbox.sends`)
 * and dead letters (`conn.outbox.dead_lettered`). Hand it to the relay as `observer`.
 */
export function outboxObserver(providers: TelemetryProviders = {}): OutboxRelayObserver {
  const tracer = tracerOf(providers);
  const meter = meterOf(providers);
  const sends = meter.createCounter(METRICS.sends, { description: "Delivery attempts by outcome" });
  const deadLettered = meter.createCounter(METRICS.deadLettered, { description: "Messages dead-lettered" });
  // The span of each attempt in flight, by the info object the relay hands to both calls (no reliance on a
  // context manager being installed).
  const open = new WeakMap<OutboxSendInfo, Span>();
  return {
    attempt: (info, run) =>
      tracer.startActiveSpan(
        SPANS.send,
        {
          kind: SpanKind.PRODUCER,
          attributes: {
            [ATTRIBUTES.org]: info.org,
            [ATTRIBUTES.noticeKind]: info.kind,
            [ATTRIBUTES.attempt]: info.attempt,
            [ATTRIBUTES.messageId]: info.messageId,
          },
        },
        async (span) => {
          open.set(info, span);
          try {
            return await run();
          } catch (error) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: "cortex.error.unspecified" });
            throw error;
          } finally {
            open.delete(info);
            span.end();
          }
        },
      ),
    settled: (info, result) => {
      const attributes: Attributes = {
        [ATTRIBUTES.outcome]: result.outcome,
        [ATTRIBUTES.noticeKind]: info.kind,
      };
      if (result.code !== null) attributes[ATTRIBUTES.errorType] = result.code;
      sends.add(1, attributes);
      if (result.outcome === "dead") deadLettered.add(1, { [ATTRIBUTES.noticeKind]: info.kind });
      const span = open.get(info);
      if (span === undefined) return;
      span.setAttribute(ATTRIBUTES.outcome, result.outcome);
      span.setAttribute(ATTRIBUTES.timedOut, result.timedOut);
      if (result.code !== null) {
        span.setAttribute(ATTRIBUTES.errorType, result.code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: result.code });
      }
    },
  };
}

/** What {@link observeOutbox} reads: a relay (its `stats()`), or any function giving the same figures. */
export type OutboxStatsSource = Pick<OutboxRelay, "stats"> | (() => Promise<OutboxStats>);

/**
 * Registers the outbox gauges (`conn.outbox.pending`, `.due`, `.oldest_due_age`, `.dead`), read from the relay's
 * `stats()` each time the host's metric reader collects. Returns a function that unregisters them. One read serves
 * all four; a failed read reports nothing for that collection.
 */
export function observeOutbox(
  source: OutboxStatsSource,
  providers: TelemetryProviders = {},
  now: () => Date = () => new Date(),
): () => void {
  const meter = meterOf(providers);
  const pending = meter.createObservableGauge(METRICS.pending, { description: "Pending outbox messages" });
  const due = meter.createObservableGauge(METRICS.due, { description: "Outbox messages due and not leased" });
  const age = meter.createObservableGauge(METRICS.oldestDueAge, {
    description: "How long the oldest due outbox message has been due",
    unit: "s",
  });
  const dead = meter.createObservableGauge(METRICS.dead, {
    description: "Dead letters waiting to be handled",
  });
  const read = typeof source === "function" ? source : () => source.stats();
  const callback: BatchObservableCallback = async (result) => {
    let stats: OutboxStats;
    try {
      stats = await read();
    } catch {
      return;
    }
    result.observe(pending, stats.pending);
    result.observe(due, stats.due);
    result.observe(dead, stats.dead);
    const oldest =
      stats.oldestDueAt === null ? 0 : Math.max(0, now().getTime() - stats.oldestDueAt.getTime());
    result.observe(age, oldest / 1000);
  };
  const observables = [pending, due, age, dead];
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}
