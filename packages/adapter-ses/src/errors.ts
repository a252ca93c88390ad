import { ConnectionError } from "@conn/core";
import { redact } from "./escape.js";

/** SDK error names that are worth retrying whatever the HTTP status says. */
const RETRYABLE_NAMES: ReadonlySet<string> = new Set([
  "TooManyRequestsException",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "LimitExceededException",
  "InternalServiceErrorException",
  "InternalFailure",
  "InternalError",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "ConcurrentModificationException",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
]);

/** SDK error names that the same message will always get again: retrying cannot help. */
const PERMANENT_NAMES: ReadonlySet<string> = new Set([
  "MessageRejected",
  "BadRequestException",
  "InvalidParameterValue",
  "AccountSuspendedException",
  "SendingPausedException",
  "MailFromDomainNotVerifiedException",
  "NotFoundException",
  "AccessDeniedException",
]);

/** Node and undici error codes of a request that never got an HTTP answer. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "ESOCKETTIMEDOUT",
]);

/** Options of {@link classifySesError}. */
export interface ClassifySesErrorOptions {
  /** Strings that must not survive in any message (the token, the accept URL); replaced by `[redacted]`. */
  secrets?: readonly string[];
}

/** The parts of an SDK (smithy) error the classifier reads. */
interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/** True when `err` is worth retrying: throttling, a 5xx or 429, or a fault with no HTTP answer (network, timeout). */
export function isRetryableSesError(err: unknown): boolean {
  if (err instanceof ConnectionError) return err.retryable;
  if (typeof err !== "object" || err === null) return true;
  const e = err as SdkErrorShape;
  const name = typeof e.name === "string" ? e.name : "";
  if (PERMANENT_NAMES.has(name)) return false;
  if (RETRYABLE_NAMES.has(name)) return true;
  if (typeof e.$retryable === "object" && e.$retryable !== null) return true;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === "number") return status >= 500 || status === 429 || status === 408;
  if (typeof e.code === "string" && (NETWORK_CODES.has(e.code) || e.code.startsWith("UND_ERR_"))) return true;
  // No HTTP answer at all (a lost connection, a credentials lookup that timed out): the request may succeed later,
  // and the outbox dead-letters it if it never does.
  return true;
}

/** Scrubs `secrets` out of an error's own `message` and `stack`, in place, so a logged cause cannot leak them. */
function scrubInPlace(err: unknown, secrets: readonly string[]): void {
  if (typeof err !== "object" || err === null || secrets.length === 0) return;
  const e = err as Record<string, unknown>;
  for (const key of ["message", "stack", "detail"]) {
    const value = e[key];
    if (typeof value === "string") {
      const clean = redact(value, secrets);
      if (clean !== value) {
        try {
          e[key] = clean;
        } catch {
          // A frozen error keeps its text; the ConnectionError's own message is still scrubbed.
        }
      }
    }
  }
}

/**
 * Wraps an SES (or network) error as a `ConnectionError` with code `cortex.error.unspecified`, `retryable` set for
 * the outbox relay, the SDK error name as `reason` and the error as `cause`, with `secrets` scrubbed from every message.
 */
export function classifySesError(err: unknown, options: ClassifySesErrorOptions = {}): ConnectionError {
  const secrets = options.secrets ?? [];
  if (err instanceof ConnectionError) {
    scrubInPlace(err, secrets);
    return err;
  }
  scrubInPlace(err, secrets);
  const retryable = isRetryableSesError(err);
  const e = (typeof err === "object" && err !== null ? err : {}) as SdkErrorShape;
  const name = typeof e.name === "string" && e.name.length > 0 ? e.name : "Error";
  const code = typeof e.code === "string" ? ` (${e.code})` : "";
  const detail = typeof e.message === "string" ? e.message : String(err);
  const message = redact(
    `SES could not send the email (${retryable ? "retryable" : "permanent"}): ${name}${code}: ${detail}`,
    secrets,
  );
  return new ConnectionError("cortex.error.unspecified", { retryable, cause: err, message, reason: name });
}
