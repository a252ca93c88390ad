/** Every error code of docs/behaviour.md §12 with its HTTP status. */
export const ERROR_STATUS = {
  "cortex.accessDenied.connectionsDisabled": 403,
  "cortex.accessDenied.connectionRequiresVerification": 403,
  "cortex.accessDenied.shareAccess": 403,
  "cortex.accessDenied.connection": 403,
  "cortex.accessDenied.autoConnectionRequiresAccess": 403,
  "cortex.accessDenied.notLoggedIn": 403,
  "cortex.invalidArgument.connectionTarget": 400,
  "cortex.invalidArgument.noConnectionTargets": 400,
  "cortex.invalidArgument.autoConnectionRequiresId": 400,
  "cortex.invalidArgument.requireConnectionAccept": 400,
  "cortex.invalidArgument.connectionToken": 400,
  "cortex.invalidArgument.unspecified": 400,
  "cortex.notFound.account": 404,
  "cortex.notFound.unspecified": 404,
  "cortex.conflict.connectionExists": 409,
  "cortex.tooLarge.connectionTargets": 413,
  "cortex.error.unspecified": 500,
  "cortex.error.unavailable": 503,
  // This library's own codes, for share links (see docs/time-limits-and-links.md).
  "cortex.accessDenied.shareLinkDomain": 403,
  "cortex.invalidArgument.shareLinkRevoked": 400,
  "cortex.invalidArgument.shareLinkExpired": 400,
  "cortex.conflict.shareLinkUsedUp": 409,
} as const;

/** A spec error code, e.g. `cortex.accessDenied.shareAccess`. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** Every error code: the spec's list in its order, then this library's own (share links). */
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

/** The short Cortex fault code (`kAccessDenied`, …) for each code family. */
const FAULT_KIND: Record<string, string> = {
  accessDenied: "kAccessDenied",
  invalidArgument: "kInvalidArgument",
  notFound: "kNotFound",
  conflict: "kExists",
  tooLarge: "kTooLarge",
  error: "kError",
};

/** Codes whose fault kind is not their family's. */
const CODE_KIND: Partial<Record<ErrorCode, string>> = {
  "cortex.error.unavailable": "kUnavailable",
};

/** Default human messages, one per code. */
const MESSAGES: Record<ErrorCode, string> = {
  "cortex.accessDenied.connectionsDisabled": "Connections are not enabled for this object.",
  "cortex.accessDenied.connectionRequiresVerification":
    "A verified account is required to create connections.",
  "cortex.accessDenied.shareAccess": "Share access is required.",
  "cortex.accessDenied.connection": "Access to this connection is denied.",
  "cortex.accessDenied.autoConnectionRequiresAccess":
    "Automatic connections require the object's required access to the target account.",
  "cortex.accessDenied.notLoggedIn": "You must be logged in.",
  "cortex.invalidArgument.connectionTarget": "Invalid connection target.",
  "cortex.invalidArgument.noConnectionTargets": "At least one connection target is required.",
  "cortex.invalidArgument.autoConnectionRequiresId": "Automatic connections require an account id target.",
  "cortex.invalidArgument.requireConnectionAccept": "This object requires connections to be accepted.",
  "cortex.invalidArgument.connectionToken": "Invalid connection token.",
  "cortex.invalidArgument.unspecified": "Invalid argument.",
  "cortex.notFound.account": "Account not found.",
  "cortex.notFound.unspecified": "Resource not found.",
  "cortex.conflict.connectionExists": "The connection already exists.",
  "cortex.tooLarge.connectionTargets": "Too many connection targets.",
  "cortex.error.unspecified": "An unexpected error occurred.",
  "cortex.error.unavailable": "The service is temporarily unavailable; try again later.",
  "cortex.accessDenied.shareLinkDomain": "This share link is limited to accounts of another email domain.",
  "cortex.invalidArgument.shareLinkRevoked": "This share link has been revoked.",
  "cortex.invalidArgument.shareLinkExpired": "This share link has expired.",
  "cortex.conflict.shareLinkUsedUp": "This share link has no uses left.",
};

/**
 * Why each refusal (4xx) happened, when the code that raised it gave no reason of its own: every refusal carries a
 * reason. Faults (5xx) carry none, so nothing of an internal failure reaches an answer.
 */
const DEFAULT_REASONS: Partial<Record<ErrorCode, string>> = {
  "cortex.accessDenied.connectionsDisabled": "the object's settings do not allow connections",
  "cortex.accessDenied.connectionRequiresVerification": "the caller's account is not verified",
  "cortex.accessDenied.shareAccess": "the caller's access to the record is below Share",
  "cortex.accessDenied.connection":
    "the caller is neither the connection's creator, its target, nor above it",
  "cortex.accessDenied.autoConnectionRequiresAccess":
    "the target lacks the access the object requires for automatic connections",
  "cortex.accessDenied.notLoggedIn": "the caller is anonymous or names no account of this org",
  "cortex.invalidArgument.connectionTarget": "a target is neither an account id nor an email address",
  "cortex.invalidArgument.noConnectionTargets": "the list of targets is empty",
  "cortex.invalidArgument.autoConnectionRequiresId":
    "an automatic connection needs an account id, not an email",
  "cortex.invalidArgument.requireConnectionAccept": "the object requires every connection to be accepted",
  "cortex.invalidArgument.connectionToken": "the token is malformed, unknown, expired or already used",
  "cortex.invalidArgument.unspecified": "the input does not match what the call accepts",
  "cortex.notFound.account": "no account of this org has that id",
  "cortex.notFound.unspecified": "no such connection is visible to the caller",
  "cortex.conflict.connectionExists": "an equal or higher connection already exists",
  "cortex.tooLarge.connectionTargets": "more targets than one call accepts",
  "cortex.accessDenied.shareLinkDomain": "the caller's email is not of the domain the link is limited to",
  "cortex.invalidArgument.shareLinkRevoked":
    "the link was revoked by its creator or a Share holder above them",
  "cortex.invalidArgument.shareLinkExpired": "the link is past its expiry",
  "cortex.conflict.shareLinkUsedUp": "every use the link allowed has been taken",
};

/** Optional details of a {@link ConnectionError}. */
export interface ConnectionErrorOptions {
  /** A human message; defaults to the code's standard message. */
  message?: string;
  /** Why, in more detail (never a secret). */
  reason?: string;
  /** The input path the error is about, e.g. `targets[2].email`. */
  path?: string;
  /** The underlying fault. */
  cause?: unknown;
  /**
   * True when the same call may succeed if retried (an infrastructure fault such as a lost connection); defaults to
   * true for `cortex.error.unavailable`, false for every other code.
   */
  retryable?: boolean;
}

/** The one error type of the library: a spec `code`, its HTTP `status`, a message and an optional `cause`. */
export class ConnectionError extends Error {
  /** The spec error code callers branch on. */
  readonly code: ErrorCode;
  /** The HTTP status of the code (docs/behaviour.md §12). */
  readonly status: number;
  /** Why, in more detail. */
  readonly reason: string | undefined;
  /** The input path the error is about. */
  readonly path: string | undefined;
  /** True when the same call may succeed if retried. */
  readonly retryable: boolean;

  constructor(code: ErrorCode, options: ConnectionErrorOptions = {}) {
    super(
      options.message ?? MESSAGES[code],
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "ConnectionError";
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.reason = options.reason ?? DEFAULT_REASONS[code];
    this.path = options.path;
    this.retryable = options.retryable ?? code === "cortex.error.unavailable";
  }

  /** The JSON fault shape of docs/behaviour.md §13. */
  toFault(): Fault {
    return toFault(this);
  }
}

/** The JSON fault of docs/behaviour.md §13. */
export interface Fault {
  object: "fault";
  name: "fault";
  errCode: ErrorCode;
  code: string;
  status: number;
  message: string;
  reason?: string;
  path?: string;
  /** The id of the request that failed, as the server's error reporter received it (set by the HTTP layer). */
  requestId?: string;
}

/** Builds the JSON fault of docs/behaviour.md §13 from an error. */
export function toFault(error: ConnectionError): Fault {
  const family = error.code.split(".")[1] ?? "error";
  const fault: Fault = {
    object: "fault",
    name: "fault",
    errCode: error.code,
    code: CODE_KIND[error.code] ?? FAULT_KIND[family] ?? "kError",
    status: error.status,
    message: error.message,
  };
  if (error.reason !== undefined) fault.reason = error.reason;
  if (error.path !== undefined) fault.path = error.path;
  return fault;
}

/** True when `value` is a {@link ConnectionError}, optionally with the given code. */
export function isConnectionError(value: unknown, code?: ErrorCode): value is ConnectionError {
  return value instanceof ConnectionError && (code === undefined || value.code === code);
}

/**
 * True when `error` says that what it came from (storage, a host port) is down or timed out, so the same call may
 * succeed later: a `ConnectionError` with code `cortex.error.unavailable`, a 5xx `ConnectionError` marked
 * `retryable`, or an error named `TimeoutError` (what `AbortSignal.timeout` aborts a `fetch` with).
 */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof ConnectionError) {
    return error.code === "cortex.error.unavailable" || (error.status >= 500 && error.retryable);
  }
  return error instanceof Error && error.name === "TimeoutError";
}

/** True when a 5xx error carries nothing but its code: the standard message, no reason, no path. */
function bare(error: ConnectionError): boolean {
  return error.message === MESSAGES[error.code] && error.reason === undefined && error.path === undefined;
}

/**
 * What a caller may be told about any failure. A 4xx `ConnectionError` is returned as is: it is about the caller's
 * own input or rights. Anything else becomes a bare `cortex.error.unavailable` (retryable; see
 * {@link isUnavailable}) or `cortex.error.unspecified` (not retryable): the standard message, no reason, no path,
 * and the original error only as `cause`, so no driver message, SQL state, host, port or stack reaches an answer.
 * A bare error that already has the right code is returned as is, so applying it twice wraps once.
 */
export function publicError(error: unknown): ConnectionError {
  if (error instanceof ConnectionError && error.status < 500) return error;
  const code: ErrorCode = isUnavailable(error) ? "cortex.error.unavailable" : "cortex.error.unspecified";
  const retryable = code === "cortex.error.unavailable";
  if (
    error instanceof ConnectionError &&
    error.code === code &&
    error.retryable === retryable &&
    bare(error)
  ) {
    return error;
  }
  return new ConnectionError(code, { cause: error, retryable });
}

/**
 * Not an answer to anyone: what a repository throws when create's look-up, called expecting no rows
 * (`ConnectionRepository.expectNoneForCreate`), found some. Nothing of that transaction was written; create runs again
 * and plans on the rows found. It never leaves the create that caused it.
 */
export class SnapshotNotEmpty extends Error {
  constructor() {
    super("create's look-up found rows where none were expected");
    this.name = "SnapshotNotEmpty";
  }
}
