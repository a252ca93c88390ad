import { ConnectionError, type ErrorCode } from "@conn/core";
import { SNAPSHOT_NOT_EMPTY } from "./connection-sql.js";

/**
 * SQLSTATE codes (besides classes 08, connection exception, and 53, insufficient resources) after which the server
 * is down, restarting, busy or timed out, or aborted the transaction: the same call may succeed if retried.
 */
const RETRYABLE_SQLSTATES = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03", // lock_not_available
  "57014", // query_canceled (statement_timeout)
  "57P01", // admin_shutdown (e.g. pg_terminate_backend, a fast shutdown)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, shutting down)
  "57P05", // idle_session_timeout
]);

/** Node socket error codes that mean the connection to the server failed or timed out. */
const RETRYABLE_ERRNOS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
]);

/** Messages node-postgres uses for lost, refused or timed-out connections, which carry no code. */
const RETRYABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/i;

/** The SQLSTATE or errno code of a driver error, if it has one. */
export function driverCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  const { code } = error;
  return typeof code === "string" ? code : undefined;
}

/** How many times work the server aborted for a deadlock or serialization failure is tried in all. */
export const MAX_TRANSACTION_ATTEMPTS = 4;

/** True for a deadlock or serialization failure: the server rolled the transaction back, so it can run again. */
export function isAbortedByServer(error: unknown): boolean {
  const cause = error instanceof ConnectionError ? error.cause : error;
  const code = driverCode(cause);
  return code === "40P01" || code === "40001";
}

/** True when create's look-up, called expecting no rows, found some (SQLSTATE {@link SNAPSHOT_NOT_EMPTY}). */
export function isSnapshotNotEmpty(error: unknown): boolean {
  const cause = error instanceof ConnectionError ? error.cause : error;
  return driverCode(cause) === SNAPSHOT_NOT_EMPTY;
}

/** A short random pause before attempt `attempt + 1` of work the server aborted (it grows with the attempts). */
export function pauseBeforeRetry(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
}

/**
 * Runs `work`, and again (up to {@link MAX_TRANSACTION_ATTEMPTS} times in all, after a short random pause) while the
 * server aborts it for a deadlock or a serialization failure: `work` must be a transaction of its own, so that an
 * aborted attempt left nothing behind.
 */
export async function retryAborted<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= MAX_TRANSACTION_ATTEMPTS || !isAbortedByServer(error)) throw error;
    }
    await pauseBeforeRetry(attempt);
  }
}

/**
 * True when a driver error means the database is down, unreachable, restarting, overloaded or timed out, or aborted
 * the transaction (deadlock, serialization failure): the same call may succeed if retried.
 */
export function isRetryableDriverError(error: unknown): boolean {
  const code = driverCode(error);
  if (code !== undefined) {
    if (code.startsWith("08") || code.startsWith("53")) return true;
    if (RETRYABLE_SQLSTATES.has(code) || RETRYABLE_ERRNOS.has(code)) return true;
  }
  return error instanceof Error && RETRYABLE_MESSAGES.test(error.message);
}

/** What a unique violation that escapes a statement means where it happened. */
export type UniqueViolationCode = Extract<
  ErrorCode,
  "cortex.conflict.connectionExists" | "cortex.error.unspecified"
>;

/**
 * Turns anything a driver threw into a {@link ConnectionError} whose `reason` is only the adapter call that failed
 * (`operation`, e.g. `claimPending`; none for a conflict); the driver error is its `cause`, and nothing of it (message, SQLSTATE, host,
 * port, statement, parameters) reaches the message or reason. A unique violation becomes `uniqueViolation` (not
 * retryable); a fault after which the call may succeed (see {@link isRetryableDriverError})
 * `cortex.error.unavailable` (retryable); anything else `cortex.error.unspecified`. A `ConnectionError` passes
 * through unchanged. The facade answers callers with the code alone and keeps this error as its `cause`.
 */
export function toConnectionError(
  error: unknown,
  operation: string,
  uniqueViolation: UniqueViolationCode = "cortex.error.unspecified",
): ConnectionError {
  if (error instanceof ConnectionError) return error;
  const reason = operation;
  if (driverCode(error) === "23505") {
    // A conflict is an answer a caller sees as is: it says nothing of the adapter.
    const where = uniqueViolation === "cortex.error.unspecified" ? { reason } : {};
    return new ConnectionError(uniqueViolation, { cause: error, ...where, retryable: false });
  }
  if (isRetryableDriverError(error)) {
    return new ConnectionError("cortex.error.unavailable", { cause: error, reason, retryable: true });
  }
  return new ConnectionError("cortex.error.unspecified", { cause: error, reason, retryable: false });
}

/** Runs `fn`, rethrowing any driver error as a {@link ConnectionError} (see {@link toConnectionError}). */
export async function guard<T>(
  operation: string,
  fn: () => Promise<T>,
  uniqueViolation?: UniqueViolationCode,
): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toConnectionError(error, operation, uniqueViolation);
  }
}
