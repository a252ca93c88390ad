import {
  ConnectionError,
  ERROR_CODES,
  ERROR_STATUS,
  type ErrorCode,
  isConnectionError,
  isUnavailable,
  publicError,
  toFault,
} from "@conn/core";
import { describe, expect, it } from "vitest";

/** Spec §12, transcribed independently of the source. */
const SPEC_TABLE: [ErrorCode, number][] = [
  ["cortex.accessDenied.connectionsDisabled", 403],
  ["cortex.accessDenied.connectionRequiresVerification", 403],
  ["cortex.accessDenied.shareAccess", 403],
  ["cortex.accessDenied.connection", 403],
  ["cortex.accessDenied.autoConnectionRequiresAccess", 403],
  ["cortex.accessDenied.notLoggedIn", 403],
  ["cortex.invalidArgument.connectionTarget", 400],
  ["cortex.invalidArgument.noConnectionTargets", 400],
  ["cortex.invalidArgument.autoConnectionRequiresId", 400],
  ["cortex.invalidArgument.requireConnectionAccept", 400],
  ["cortex.invalidArgument.connectionToken", 400],
  ["cortex.invalidArgument.unspecified", 400],
  ["cortex.notFound.account", 404],
  ["cortex.notFound.unspecified", 404],
  ["cortex.conflict.connectionExists", 409],
  ["cortex.tooLarge.connectionTargets", 413],
  ["cortex.error.unspecified", 500],
  ["cortex.error.unavailable", 503],
];

/** This library's own codes (share links, docs/time-limits-and-links.md), after the spec's. */
const LIBRARY_TABLE: [ErrorCode, number][] = [
  ["cortex.accessDenied.shareLinkDomain", 403],
  ["cortex.invalidArgument.shareLinkRevoked", 400],
  ["cortex.invalidArgument.shareLinkExpired", 400],
  ["cortex.conflict.shareLinkUsedUp", 409],
];

const FAULT_CODE: Record<string, string> = {
  accessDenied: "kAccessDenied",
  invalidArgument: "kInvalidArgument",
  notFound: "kNotFound",
  conflict: "kExists",
  tooLarge: "kTooLarge",
  error: "kError",
};

describe("error codes (docs/behaviour.md §12)", () => {
  it("ERROR_CODES is exactly the spec's list, in its order, then the library's own", () => {
    expect(ERROR_CODES).toEqual([...SPEC_TABLE, ...LIBRARY_TABLE].map(([code]) => code));
    expect(Object.keys(ERROR_STATUS)).toHaveLength(SPEC_TABLE.length + LIBRARY_TABLE.length);
  });

  it.each([...SPEC_TABLE, ...LIBRARY_TABLE])("%s has status %s", (code, status) => {
    expect(ERROR_STATUS[code]).toBe(status);
    const error = new ConnectionError(code);
    expect(error.status).toBe(status);
    expect(error.code).toBe(code);
    expect(error.message.length).toBeGreaterThan(0);
  });

  it("every code has its own default message", () => {
    const messages = new Set(ERROR_CODES.map((code) => new ConnectionError(code).message));
    expect(messages.size).toBe(ERROR_CODES.length);
  });
});

describe("ConnectionError", () => {
  it("is an Error with name, code, status, reason, path, cause and retryable", () => {
    const cause = new Error("socket closed");
    const error = new ConnectionError("cortex.error.unspecified", {
      message: "database unavailable",
      reason: "lost connection",
      path: "store",
      cause,
      retryable: true,
    });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("ConnectionError");
    expect(error.message).toBe("database unavailable");
    expect(error.reason).toBe("lost connection");
    expect(error.path).toBe("store");
    expect(error.cause).toBe(cause);
    expect(error.retryable).toBe(true);
  });

  it("unavailable is retryable unless told otherwise; every other code is not", () => {
    expect(new ConnectionError("cortex.error.unavailable").retryable).toBe(true);
    expect(new ConnectionError("cortex.error.unavailable", { retryable: false }).retryable).toBe(false);
    for (const code of ERROR_CODES.filter((c) => c !== "cortex.error.unavailable")) {
      expect(new ConnectionError(code).retryable, code).toBe(false);
    }
  });

  it("defaults: the code's message, a reason for every refusal (none for a fault), no path, no cause, not retryable", () => {
    const error = new ConnectionError("cortex.accessDenied.shareAccess");
    expect(error.message).toBe("Share access is required.");
    expect(error.reason).toBe("the caller's access to the record is below Share");
    for (const code of ERROR_CODES) {
      const reason = new ConnectionError(code).reason;
      if (ERROR_STATUS[code] < 500) expect(reason, code).toMatch(/^[a-z].{10,}$/);
      else expect(reason, code).toBeUndefined();
    }
    expect(new ConnectionError("cortex.notFound.account", { reason: "mine" }).reason).toBe("mine");
    expect(error.path).toBeUndefined();
    expect("cause" in error).toBe(false);
    expect(error.retryable).toBe(false);
  });

  it("isConnectionError checks the type and, optionally, the code", () => {
    const error = new ConnectionError("cortex.notFound.account");
    expect(isConnectionError(error)).toBe(true);
    expect(isConnectionError(error, "cortex.notFound.account")).toBe(true);
    expect(isConnectionError(error, "cortex.notFound.unspecified")).toBe(false);
    expect(isConnectionError(new Error("x"))).toBe(false);
    expect(isConnectionError({ code: "cortex.notFound.account" })).toBe(false);
    expect(isConnectionError(undefined)).toBe(false);
  });
});

describe("toFault (docs/behaviour.md §13)", () => {
  it.each(SPEC_TABLE)("%s: object, name, errCode, code, status, message", (code, status) => {
    const fault = toFault(new ConnectionError(code));
    const family = code.split(".")[1] as string;
    expect(fault).toEqual({
      object: "fault",
      name: "fault",
      errCode: code,
      code: code === "cortex.error.unavailable" ? "kUnavailable" : FAULT_CODE[family],
      status,
      message: new ConnectionError(code).message,
      ...(status < 500 ? { reason: new ConnectionError(code).reason } : {}),
    });
    // No path when there is nothing to say; a reason on every refusal, none on a fault.
    expect(Object.keys(fault).sort()).toEqual(
      ["code", "errCode", "message", "name", "object", ...(status < 500 ? ["reason"] : []), "status"].sort(),
    );
  });

  it("access denied faults carry kAccessDenied, invalid arguments kInvalidArgument, not found kNotFound", () => {
    expect(toFault(new ConnectionError("cortex.accessDenied.connection")).code).toBe("kAccessDenied");
    expect(toFault(new ConnectionError("cortex.invalidArgument.connectionToken")).code).toBe(
      "kInvalidArgument",
    );
    expect(toFault(new ConnectionError("cortex.notFound.account")).code).toBe("kNotFound");
  });

  it("includes reason and path when given, and nothing else (no cause, no stack)", () => {
    const error = new ConnectionError("cortex.invalidArgument.connectionTarget", {
      reason: "email: Invalid",
      path: "targets[2]",
      cause: new Error("secret internals"),
      message: "Bad target.",
    });
    const fault = error.toFault();
    expect(fault).toEqual({
      object: "fault",
      name: "fault",
      errCode: "cortex.invalidArgument.connectionTarget",
      code: "kInvalidArgument",
      status: 400,
      message: "Bad target.",
      reason: "email: Invalid",
      path: "targets[2]",
    });
    expect(JSON.stringify(fault)).not.toContain("secret internals");
    expect(JSON.parse(JSON.stringify(fault))).toEqual(fault);
  });
});

describe("publicError: faults carry codes, not internals", () => {
  /** A driver error as node-postgres throws it when its backend is terminated. */
  const terminated = Object.assign(new Error("terminating connection due to administrator command"), {
    code: "57P01",
  });
  /** Everything a 5xx answer must never show. */
  const internals = /administrator|57P01|127\.0\.0\.1|5432|ECONN|password|hunter2|\bat\s|\.ts:|\.js:/;

  const visible = (error: ConnectionError) =>
    JSON.stringify({
      fault: error.toFault(),
      message: error.message,
      reason: error.reason,
      path: error.path,
    });

  it("a 4xx ConnectionError is the caller's business: returned as is, reason and path included", () => {
    const error = new ConnectionError("cortex.invalidArgument.connectionTarget", {
      reason: "x",
      path: "targets[0]",
    });
    expect(publicError(error)).toBe(error);
  });

  it.each([
    [
      "unavailable with the driver's words",
      new ConnectionError("cortex.error.unavailable", {
        reason: "claimPending: [57P01] terminating connection due to administrator command",
        cause: terminated,
      }),
    ],
    [
      "unspecified and retryable (the former way of saying it)",
      new ConnectionError("cortex.error.unspecified", {
        retryable: true,
        message: "connect ECONNREFUSED 127.0.0.1:5432",
      }),
    ],
    [
      "a TimeoutError (AbortSignal.timeout)",
      new DOMException("The operation was aborted due to timeout: 127.0.0.1:5432", "TimeoutError"),
    ],
  ])("%s → a bare, retryable cortex.error.unavailable with the error as cause", (_label, error) => {
    expect(isUnavailable(error)).toBe(true);
    const answer = publicError(error);
    expect(answer.code).toBe("cortex.error.unavailable");
    expect(answer.status).toBe(503);
    expect(answer.retryable).toBe(true);
    expect(answer.cause).toBe(error);
    expect(answer.toFault()).toEqual({
      object: "fault",
      name: "fault",
      errCode: "cortex.error.unavailable",
      code: "kUnavailable",
      status: 503,
      message: "The service is temporarily unavailable; try again later.",
    });
    expect(visible(answer)).not.toMatch(internals);
  });

  it.each([
    ["a plain Error of a host port", new Error("connect ECONNREFUSED 127.0.0.1:5432 (password=hunter2)")],
    [
      "a driver error that is no outage",
      Object.assign(new Error('relation "x" does not exist'), { code: "42P01" }),
    ],
    [
      "an unspecified ConnectionError with a reason",
      new ConnectionError("cortex.error.unspecified", { reason: "at query (db.ts:12)" }),
    ],
    ["a thrown string", "password=hunter2"],
    ["undefined", undefined],
  ])("%s → a bare, not retryable cortex.error.unspecified with the error as cause", (_label, error) => {
    expect(isUnavailable(error)).toBe(false);
    const answer = publicError(error);
    expect(answer.code).toBe("cortex.error.unspecified");
    expect(answer.retryable).toBe(false);
    expect(answer.cause).toBe(error);
    expect(answer.reason).toBeUndefined();
    expect(answer.message).toBe("An unexpected error occurred.");
    expect(visible(answer)).not.toMatch(internals);
  });

  it("wraps once: a bare answer passed again is returned as is", () => {
    const once = publicError(terminated);
    expect(publicError(once)).toBe(once);
    const unavailable = publicError(new ConnectionError("cortex.error.unavailable", { cause: terminated }));
    expect(publicError(unavailable)).toBe(unavailable);
  });
});
