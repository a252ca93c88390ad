import type { Connections } from "@conn/core";
import { isConnectionError } from "@conn/core";
import {
  type Attributes,
  type Histogram,
  type MeterProvider,
  metrics,
  type Span,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import { ATTRIBUTES, INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION, METRICS, SPANS } from "./names.js";

/** Where the instrumentation gets its tracer and meter (default: the global providers the host's SDK registers). */
export interface TelemetryProviders {
  tracerProvider?: TracerProvider | undefined;
  meterProvider?: MeterProvider | undefined;
}

/** The tracer of this package. */
export function tracerOf(providers: TelemetryProviders = {}): Tracer {
  return (providers.tracerProvider ?? trace.getTracerProvider()).getTracer(
    INSTRUMENTATION_SCOPE,
    INSTRUMENTATION_VERSION,
  );
}

/** The meter of this package. */
export function meterOf(providers: TelemetryProviders = {}) {
  return (providers.meterProvider ?? metrics.getMeterProvider()).getMeter(
    INSTRUMENTATION_SCOPE,
    INSTRUMENTATION_VERSION,
  );
}

/** The span attributes of a facade call, from its arguments: org and context object, never ids or people. */
function callAttributes(method: string, args: readonly unknown[]): Attributes {
  const attributes: Attributes = { [ATTRIBUTES.operation]: method };
  const [first, second, third] = args;
  if (typeof first === "string") attributes[ATTRIBUTES.org] = first;
  else if (
    typeof first === "object" &&
    first !== null &&
    typeof (first as { org?: unknown }).org === "string"
  )
    attributes[ATTRIBUTES.org] = (first as { org: string }).org;
  for (const arg of [second, third]) {
    if (typeof arg === "object" && arg !== null && typeof (arg as { object?: unknown }).object === "string") {
      attributes[ATTRIBUTES.contextObject] = (arg as { object: string }).object;
      break;
    }
  }
  if (method === "create" && Array.isArray(third)) attributes[ATTRIBUTES.targets] = third.length;
  return attributes;
}

/** Marks a span failed with the spec code of `error` (never its message: it may name an account or an address). */
export function failSpan(span: Span, error: unknown): string {
  const code = isConnectionError(error) ? error.code : "cortex.error.unspecified";
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
  span.setAttribute(ATTRIBUTES.errorType, code);
  span.setAttribute(ATTRIBUTES.outcome, "error");
  if (isConnectionError(error)) span.setAttribute(ATTRIBUTES.retryable, error.retryable);
  return code;
}

const INSTRUMENTED = Symbol("conn.opentelemetry.instrumented");

/** True when `connections` is already instrumented (so it is never wrapped twice). */
export function isInstrumented(connections: Connections): boolean {
  return (connections as unknown as Record<symbol, unknown>)[INSTRUMENTED] === true;
}

/**
 * Wraps the facade so each use case runs in a span (`conn.connections.<method>`, with the org, the context's object
 * name and, on failure, the spec code as `error.type`) and `resolveAccess` records its latency
 * (`conn.resolve_access.duration`). `@conn/core` itself stays free of telemetry: this decorates it from outside.
 * A no-op until the host registers an OpenTelemetry SDK (or passes providers).
 */
export function instrumentConnections(
  connections: Connections,
  providers: TelemetryProviders = {},
): Connections {
  if (isInstrumented(connections)) return connections;
  const tracer = tracerOf(providers);
  const latency: Histogram = meterOf(providers).createHistogram(METRICS.resolveAccessDuration, {
    description: "How long resolveAccess took",
    unit: "s",
  });
  return new Proxy(connections, {
    get(target, prop, receiver) {
      if (prop === INSTRUMENTED) return true;
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function" || typeof prop !== "string") return value;
      const method = prop;
      return (...args: unknown[]) =>
        tracer.startActiveSpan(
          SPANS.useCase(method),
          { attributes: callAttributes(method, args) },
          async (span) => {
            const started = performance.now();
            let failure: string | null = null;
            try {
              const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
              span.setAttribute(ATTRIBUTES.outcome, "ok");
              return result;
            } catch (error) {
              failure = failSpan(span, error);
              throw error;
            } finally {
              span.end();
              if (method === "resolveAccess") {
                latency.record(
                  (performance.now() - started) / 1000,
                  failure === null
                    ? { [ATTRIBUTES.outcome]: "ok" }
                    : { [ATTRIBUTES.outcome]: "error", [ATTRIBUTES.errorType]: failure },
                );
              }
            }
          },
        );
    },
  });
}
