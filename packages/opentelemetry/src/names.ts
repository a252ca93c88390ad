/** The instrumentation scope every tracer and meter of this package is named after. */
export const INSTRUMENTATION_SCOPE = "@conn/opentelemetry";

/** The version reported with the scope. */
export const INSTRUMENTATION_VERSION = "0.1.0";

/** Span names. */
export const SPANS = {
  /** One use case of the facade: `conn.connections.<method>`, e.g. `conn.connections.create`. */
  useCase: (method: string): string => `conn.connections.${method}`,
  /** One delivery attempt of one outbox message (the notifier's send and the settling of the message). */
  send: "conn.outbox.send",
} as const;

/** Metric names. */
export const METRICS = {
  /** Histogram, seconds: how long `resolveAccess` took, by outcome. */
  resolveAccessDuration: "conn.resolve_access.duration",
  /** Counter: delivery attempts by outcome (delivered, retried, dead, lost) and notice kind. */
  sends: "conn.outbox.sends",
  /** Counter: messages dead-lettered, by notice kind. */
  deadLettered: "conn.outbox.dead_lettered",
  /** Gauge: pending messages (waiting, leased or retrying). */
  pending: "conn.outbox.pending",
  /** Gauge: pending messages due now and not leased: the backlog the relays have not taken yet. */
  due: "conn.outbox.due",
  /** Gauge, seconds: how long the oldest due message has been due (0 when none is due). */
  oldestDueAge: "conn.outbox.oldest_due_age",
  /** Gauge: dead letters waiting to be handled. */
  dead: "conn.outbox.dead",
} as const;

/** Attribute names. None ever carries a token, an email address, a name or a host's account or record id. */
export const ATTRIBUTES = {
  /** The org code. On spans only (metrics stay low-cardinality). */
  org: "conn.org",
  /** The facade method. */
  operation: "conn.operation",
  /** The context's object name, e.g. `c_patient_file` (never its id). */
  contextObject: "conn.context.object",
  /** How many targets a create asked for. */
  targets: "conn.targets.count",
  /** How a call or an attempt ended: `ok` or `error` (calls), `delivered` | `retried` | `dead` | `lost` (sends). */
  outcome: "conn.outcome",
  /** The spec error code of a failure, e.g. `cortex.accessDenied.shareAccess` (OpenTelemetry's `error.type`). */
  errorType: "error.type",
  /** True when a failure is worth retrying. */
  retryable: "conn.error.retryable",
  /** The notice kind: `invite-existing-user`, `invite-new-user`, `connection-created` or `access-ending`. */
  noticeKind: "conn.notice.kind",
  /** The attempt number, 1 for the first. */
  attempt: "conn.outbox.attempt",
  /** The outbox message id (random; names no person). */
  messageId: "conn.outbox.message_id",
  /** True when the send was aborted at its deadline. */
  timedOut: "conn.outbox.timed_out",
} as const;
