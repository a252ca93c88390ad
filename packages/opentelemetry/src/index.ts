/**
 * @conn/opentelemetry: traces and metrics for the `@conn` packages through `@opentelemetry/api`, a no-op until the host installs
 * an OpenTelemetry SDK. The facade is decorated from outside (`@conn/core` stays pure); the relay takes an
 * observer; the outbox gauges read the relay's stats. Names and attributes: `docs/observability.md`.
 *
 * Install: `pnpm add @conn/opentelemetry @opentelemetry/api`
 *
 * ```ts
 * import { instrumentConnections, observeOutbox, outboxObserver } from "@conn/opentelemetry";
 * const connections = instrumentConnections(createConnections(deps));
 * const relay = new OutboxRelay({ ...ports, observer: outboxObserver() });
 * const stopObserving = observeOutbox(relay);
 * ```
 * (`@conn/container` does all three unless `telemetry` is false.)
 */
export {
  failSpan,
  instrumentConnections,
  isInstrumented,
  meterOf,
  type TelemetryProviders,
  tracerOf,
} from "./connections.js";
export { ATTRIBUTES, INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION, METRICS, SPANS } from "./names.js";
export { type OutboxStatsSource, observeOutbox, outboxObserver } from "./outbox.js";
