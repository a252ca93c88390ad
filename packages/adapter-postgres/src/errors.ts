import { ConnectionError, type ErrorCode } from "@conn/core";

/** SQLSTATE codes (besides class 08, connection exceptions) after which the same call may succeed if retried. */
const RETRYABLE_SQLSTATES = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03", // lock_not_available
  "57P01", // admin_shutdown (e.g. pg_terminate_backend)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
]);

/** Node socket error codes that mean the connection to the server failed. */
const RETRYABLE_ERRNOS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/** Messages node-postgres uses for lost or failed connections, which carry no code. */
const RETRYABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i;

/** The SQLSTATE or errno code of a driver error, if it has one. */
export function driverCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  const { code } = error;
  return typeof code === "string" ? code : undefined;
}

/** True when a driver error is a fault worth retrying: a lost connection, a serialization failure or deadlock. */
export function isRetryableDriverError(error: unknown): boolean {
  const code = driverCode(error);
  if (code !== undefined) {
    if (code.startsWith("08") || RETRYABLE_SQLSTATES.has(code) || RETRYABLE_ERRNOS.has(code)) return true;
  }
  return error instanceof Error && RETRYABLE_MESSAGES.test(error.message);
}

/** What a unique violation that escapes a statement means where it happened. */
export type UniqueViolationCode = Extract<
  ErrorCode,
  "cortex.conflict.connectionExists" | "cortex.error.unspecified"
>;

/**
 * Turns anything a driver threw into a {@link ConnectionError} with the driver error as `cause`: a unique violation
 * becomes `uniqueViolation` (not retryable), everything else `cortex.error.unspecified`, retryable for lost
 * connections, serialization failures and deadlocks. A `ConnectionError` passes through unchanged. Statement
 * parameters never reach the message or reason (they may hold token hashes).
 */
export function toConnectionError(
  error: unknown,
  operation: string,
  uniqueViolation: UniqueViolationCode = "cortex.error.unspecified",
): ConnectionError {
  if (error instanceof ConnectionError) return error;
  const code = driverCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const reason = `${operation}: ${code === undefined ? "" : `[${code}] `}${message}`;
  if (code === "23505") {
    return new ConnectionError(uniqueViolation, { cause: error, reason, retryable: false });
  }
  return new ConnectionError("cortex.error.unspecified", {
    cause: error,
    reason,
    retryable: isRetryableDriverError(error),
  });
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
