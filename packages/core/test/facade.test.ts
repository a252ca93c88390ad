/**
 * The Connections facade on the in-memory adapters, against docs/behaviour.md §3–§12. Every test builds a fresh world.
 * Every error code of docs/behaviour.md §12 is triggered here through the facade; the last hook checks none was missed.
 */
import { RecordingEventPublisher } from "@conn/adapter-memory";
import {
  AccessLevel,
  type AccountDirectory,
  ConnectionError,
  type ConnectionEvent,
  type ConnectionRepository,
  type ConnectionView,
  type ContextAccess,
  type CreateResultEntry,
  createConnections,
  ERROR_CODES,
  type ErrorCode,
  isConnectionError,
  type Principal,
  type TargetFault,
  type TransactionalStores,
  type UnitOfWork,
} from "@conn/core";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  AUTO_CTX,
  B,
  C,
  CHAIN_CTX,
  CLOSED_CTX,
  CONNECTED,
  CTX,
  contextId,
  D,
  DAY,
  EMAIL,
  makeWorld,
  NOCHAIN_CTX,
  NOTE_CTX,
  ORG,
  ORG2,
  OTHER_CTX,
  OWNER,
  portsOf,
  QUIET_CTX,
  READER,
  ROLE1,
  ROLE2,
  ROLE3,
  SHARER,
  START,
  STRANGER,
  UNVERIFIED,
  UNVERIFIED_TARGET,
  unknownId,
  type World,
} from "./support/world.js";

/** Every code seen thrown by the facade or returned as a per-target fault in this file. */
const seen = new Set<string>();

afterAll(() => {
  // The share-link codes are triggered, each, by share-links.test.ts.
  const missing = ERROR_CODES.filter((code) => !code.includes(".shareLink") && !seen.has(code));
  expect(missing, "error codes never triggered through the facade").toEqual([]);
});

/** Awaits a rejection with a ConnectionError of `code` and records the code. */
async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<ConnectionError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a ConnectionError ${code}`).toBeInstanceOf(ConnectionError);
  const error = caught as ConnectionError;
  expect(error.code).toBe(code);
  expect(error.status).toBe(statusOf(code));
  seen.add(error.code);
  return error;
}

function statusOf(code: ErrorCode): number {
  if (code.startsWith("cortex.accessDenied.")) return 403;
  if (code.startsWith("cortex.invalidArgument.")) return 400;
  if (code.startsWith("cortex.notFound.")) return 404;
  if (code === "cortex.conflict.connectionExists") return 409;
  if (code === "cortex.tooLarge.connectionTargets") return 413;
  if (code === "cortex.error.unavailable") return 503;
  return 500;
}

function isFault(entry: CreateResultEntry | undefined): entry is TargetFault {
  return entry !== undefined && (entry as { object: string }).object === "fault";
}

/** The single entry of a create response, which must be a connection. */
function connectionOf(entry: CreateResultEntry | undefined): ConnectionView {
  if (entry === undefined || isFault(entry))
    throw new Error(`expected a connection, got ${JSON.stringify(entry)}`);
  return entry;
}

/** The entry of a create response, which must be a fault with `code`; records the code. */
function faultOf(entry: CreateResultEntry | undefined, code: ErrorCode): TargetFault {
  if (!isFault(entry)) throw new Error(`expected a fault, got ${JSON.stringify(entry)}`);
  expect(entry.errCode).toBe(code);
  expect(entry.status).toBe(statusOf(code));
  seen.add(entry.errCode);
  return entry;
}

let w: World;
beforeEach(() => {
  w = makeWorld();
});

/** Creates one pending invitation from `creator` to account `target` and returns it with its token. */
async function invite(
  target: string,
  options: { creator?: string; access?: number; roles?: string[]; context?: typeof CTX } = {},
): Promise<{ connection: ConnectionView; token: string }> {
  const before = w.notifier.sent.length;
  const t: { _id: string; access?: number; roles?: string[] } = { _id: target };
  if (options.access !== undefined) t.access = options.access;
  if (options.roles !== undefined) t.roles = options.roles;
  const [entry] = await w.connections.create(w.as(options.creator ?? OWNER), options.context ?? CTX, [t]);
  const connection = connectionOf(entry);
  expect(w.notifier.sent.length).toBe(before + 1);
  return { connection, token: w.lastToken() };
}

/** Invites and accepts: an active connection. */
async function connect(
  target: string,
  options: { creator?: string; access?: number; roles?: string[]; context?: typeof CTX } = {},
): Promise<ConnectionView> {
  const { token } = await invite(target, options);
  return w.connections.accept(w.as(target), token);
}

const eventTypes = () => w.events.events.map((e) => e.type);

// ---------------------------------------------------------------------------------------------------------------
describe("every error code of docs/behaviour.md §12, through the facade", () => {
  it("connectionsDisabled: the object does not allow connections (and an unknown object)", async () => {
    const error = await expectCode(
      w.connections.create(w.as(OWNER), CLOSED_CTX, [{ _id: B }]),
      "cortex.accessDenied.connectionsDisabled",
    );
    expect(error.toFault()).toMatchObject({ object: "fault", code: "kAccessDenied", status: 403 });
    await expectCode(
      w.connections.create(w.as(OWNER), { object: "c_unknown", _id: contextId(99) }, [{ _id: B }]),
      "cortex.accessDenied.connectionsDisabled",
    );
  });

  it("connectionRequiresVerification: an unverified creator", async () => {
    await expectCode(
      w.connections.create(w.as(UNVERIFIED), CTX, [{ _id: B }]),
      "cortex.accessDenied.connectionRequiresVerification",
    );
  });

  it("shareAccess: a creator below Share", async () => {
    await expectCode(
      w.connections.create(w.as(READER), CTX, [{ _id: B }]),
      "cortex.accessDenied.shareAccess",
    );
    await expectCode(
      w.connections.create(w.as(STRANGER), CTX, [{ _id: B }]),
      "cortex.accessDenied.shareAccess",
    );
  });

  it("connection: reading a connection the caller may not see", async () => {
    const { connection } = await invite(B);
    await expectCode(w.connections.get(w.as(STRANGER), connection._id), "cortex.accessDenied.connection");
  });

  it("autoConnectionRequiresAccess: a per-target fault, with the target", async () => {
    const results = await w.connections.create(w.as(OWNER), AUTO_CTX, [{ _id: D, auto: true }]);
    const fault = faultOf(results[0], "cortex.accessDenied.autoConnectionRequiresAccess");
    expect(fault).toMatchObject({
      object: "fault",
      name: "fault",
      code: "kAccessDenied",
      target: { _id: D },
    });
    expect(w.records()).toEqual([]);
  });

  it("notLoggedIn: anonymous create, accept, list, get, delete, listForContext", async () => {
    const anonymous = w.as(null);
    await expectCode(w.connections.create(anonymous, CTX, [{ _id: B }]), "cortex.accessDenied.notLoggedIn");
    const { connection, token } = await invite(B);
    await expectCode(w.connections.accept(anonymous, token), "cortex.accessDenied.notLoggedIn");
    await expectCode(w.connections.list(anonymous), "cortex.accessDenied.notLoggedIn");
    await expectCode(w.connections.get(anonymous, connection._id), "cortex.accessDenied.notLoggedIn");
    await expectCode(w.connections.delete(anonymous, connection._id), "cortex.accessDenied.notLoggedIn");
    await expectCode(w.connections.listForContext(anonymous, CTX), "cortex.accessDenied.notLoggedIn");
    expect(w.records()).toHaveLength(1);
  });

  it("notLoggedIn says why: an anonymous caller, or an account id that names no account of the org", async () => {
    const anonymous = await expectCode(w.connections.list(w.as(null)), "cortex.accessDenied.notLoggedIn");
    expect(anonymous.reason).toBe("the caller is anonymous");
    const unknown = await expectCode(
      w.connections.list(w.as("00000000-0000-4000-8000-000000000999")),
      "cortex.accessDenied.notLoggedIn",
    );
    expect(unknown.reason).toBe("the caller's account id names no account of this org");
  });

  it.each([
    ["a malformed id", { _id: "12 345" }],
    ["a malformed email", { email: "not an email" }],
    ["an object that is not an account", { object: "c_prescription", _id: contextId(1) }],
    ["the caller itself, by id", { _id: OWNER }],
    ["the caller itself, by email (any case)", { email: "  OWNER@acme.example " }],
    ["both _id and email", { _id: B, email: "bob@acme.example" }],
  ])("connectionTarget: %s, naming the entry in path", async (_label, bad) => {
    const error = await expectCode(
      w.connections.create(w.as(OWNER), CTX, [{ _id: C }, bad as { _id: string }]),
      "cortex.invalidArgument.connectionTarget",
    );
    expect(error.path).toBe("targets[1]");
    expect(w.records()).toEqual([]);
    expect(w.notifier.sent).toEqual([]);
  });

  it("noConnectionTargets: an empty list", async () => {
    await expectCode(
      w.connections.create(w.as(OWNER), CTX, []),
      "cortex.invalidArgument.noConnectionTargets",
    );
  });

  it("autoConnectionRequiresId: auto with an email target", async () => {
    await expectCode(
      w.connections.create(w.as(OWNER), AUTO_CTX, [{ email: "x@example.com", auto: true }]),
      "cortex.invalidArgument.autoConnectionRequiresId",
    );
  });

  it("requireConnectionAccept: auto on an object that requires acceptance", async () => {
    await expectCode(
      w.connections.create(w.as(OWNER), CTX, [{ _id: B }, { _id: C, auto: true }]),
      "cortex.invalidArgument.requireConnectionAccept",
    );
    expect(w.records()).toEqual([]);
  });

  it("requireConnectionAccept: auto on an account context, even where the object allows auto", async () => {
    const account = { object: "account", _id: D };
    w.contexts.defineObject(ORG, { name: "account", allowConnections: true, requireAccept: false });
    w.contexts.grant(ORG, OWNER, account, AccessLevel.Delete);
    const error = await expectCode(
      w.connections.create(w.as(OWNER), account, [{ _id: C, auto: true }]),
      "cortex.invalidArgument.requireConnectionAccept",
    );
    expect(error.reason).toContain("account");
    expect(w.records()).toEqual([]);
    // An invitation that waits for acceptance is fine.
    const [pending] = await w.connections.create(w.as(OWNER), account, [{ _id: C }]);
    expect((pending as ConnectionView).state).toBe(0);
  });

  it("connectionToken: an unknown token and another account's valid token fail alike (no oracle)", async () => {
    const { token } = await invite(B);
    const unknown = "A".repeat(43);
    const a = await expectCode(
      w.connections.accept(w.as(C), unknown),
      "cortex.invalidArgument.connectionToken",
    );
    const b = await expectCode(
      w.connections.accept(w.as(C), token),
      "cortex.invalidArgument.connectionToken",
    );
    expect(b.message).toBe(a.message);
    expect(b.status).toBe(a.status);
    expect(b.reason).toBe(a.reason);
    expect(b.path).toBe(a.path);
    expect(b.toFault()).toEqual(a.toFault());
    // Same for reject and read by token.
    const c = await expectCode(
      w.connections.reject(w.as(C), token),
      "cortex.invalidArgument.connectionToken",
    );
    const d = await expectCode(
      w.connections.reject(w.as(C), unknown),
      "cortex.invalidArgument.connectionToken",
    );
    expect(c.toFault()).toEqual(d.toFault());
    const e = await expectCode(
      w.connections.getByToken(w.as(C), token),
      "cortex.invalidArgument.connectionToken",
    );
    const f = await expectCode(
      w.connections.getByToken(w.as(C), unknown),
      "cortex.invalidArgument.connectionToken",
    );
    expect(e.toFault()).toEqual(f.toFault());
    // The invitation is untouched and still works for its target.
    expect((await w.connections.getByToken(w.as(B), token)).state).toBe(0);
  });

  it("unspecified: a malformed token, a malformed id, a malformed context or principal", async () => {
    for (const bad of ["short", "x".repeat(300), "has spaces in it and is long enough to pass", ""]) {
      const error = await expectCode(
        w.connections.accept(w.as(B), bad),
        "cortex.invalidArgument.unspecified",
      );
      expect(error.path).toBe("token");
      await expectCode(w.connections.reject(w.as(null), bad), "cortex.invalidArgument.unspecified");
      await expectCode(w.connections.getByToken(w.as(null), bad), "cortex.invalidArgument.unspecified");
    }
    for (const bad of ["123", "G".repeat(24), `${unknownId(1)}0`]) {
      const error = await expectCode(
        w.connections.get(w.as(OWNER), bad),
        "cortex.invalidArgument.unspecified",
      );
      expect(error.path).toBe("id");
      await expectCode(w.connections.delete(w.as(OWNER), bad), "cortex.invalidArgument.unspecified");
    }
    await expectCode(
      w.connections.create(w.as(OWNER), { object: "c_prescription", _id: "no pe" }, [{ _id: B }]),
      "cortex.invalidArgument.unspecified",
    );
    await expectCode(
      w.connections.create({ org: ORG, accountId: "no pe" }, CTX, [{ _id: B }]),
      "cortex.invalidArgument.unspecified",
    );
    await expectCode(w.connections.resolveAccess(ORG, "no pe", CTX), "cortex.invalidArgument.unspecified");
    await expectCode(w.connections.list(w.as(B), { limit: 0 }), "cortex.invalidArgument.unspecified");
  });

  it("notFound.account: unknown account ids, named in the reason", async () => {
    const error = await expectCode(
      w.connections.create(w.as(OWNER), CTX, [{ _id: B }, { _id: unknownId(1) }, { _id: unknownId(2) }]),
      "cortex.notFound.account",
    );
    expect(error.reason).toContain(unknownId(1));
    expect(error.reason).toContain(unknownId(2));
    expect(error.reason).not.toContain(B);
    expect(w.records()).toEqual([]);
    // Accounts of another org are unknown here.
    const other = await expectCode(
      w.connections.create(w.as(OWNER, ORG2), CTX, [{ _id: C }]),
      "cortex.notFound.account",
    );
    expect(other.reason).toContain(C);
  });

  it("notFound.unspecified: an unknown connection id", async () => {
    await expectCode(w.connections.get(w.as(OWNER), unknownId(5)), "cortex.notFound.unspecified");
    await expectCode(w.connections.delete(w.as(OWNER), unknownId(5)), "cortex.notFound.unspecified");
  });

  it("conflict.connectionExists: a per-target fault with the target when the request adds nothing", async () => {
    await connect(B, { access: 4, roles: [ROLE1] });
    const results = await w.connections.create(w.as(OWNER), CTX, [
      { _id: B, access: 4, roles: [ROLE1] },
      { _id: C },
    ]);
    expect(results).toHaveLength(2);
    const fault = faultOf(results[0], "cortex.conflict.connectionExists");
    expect(fault).toEqual({
      object: "fault",
      name: "fault",
      errCode: "cortex.conflict.connectionExists",
      code: "kExists",
      status: 409,
      message: expect.any(String),
      reason: "an equal or higher connection already exists",
      target: { _id: B },
    });
    expect(connectionOf(results[1]).state).toBe(0);
    // A lower request adds nothing either.
    const [lower] = await w.connections.create(w.as(OWNER), CTX, [{ _id: B, access: 2 }]);
    faultOf(lower, "cortex.conflict.connectionExists");
  });

  it("tooLarge.connectionTargets: more than 100 targets", async () => {
    const targets = Array.from({ length: 101 }, (_, i) => ({ email: `p${i}@example.com` }));
    await expectCode(w.connections.create(w.as(OWNER), CTX, targets), "cortex.tooLarge.connectionTargets");
    expect(w.records()).toEqual([]);
  });

  it("error.unavailable: a store whose transaction fails as a lost connection answers 503, retryable, with nothing of the driver", async () => {
    const lost = Object.assign(new Error("terminating connection due to administrator command"), {
      code: "57P01",
    });
    const down = new ConnectionError("cortex.error.unavailable", { cause: lost });
    const store: UnitOfWork = {
      connections: w.store.connections,
      outbox: w.store.outbox,
      shareLinks: w.store.shareLinks,
      transaction: async () => {
        throw down;
      },
    };
    const connections = createConnections({ ...deps(w), store });
    const error = await expectCode(
      connections.create(w.as(OWNER), CTX, [{ _id: B }]),
      "cortex.error.unavailable",
    );
    expect(error.retryable).toBe(true);
    expect(error.cause).toBe(lost);
    // Only the code's own fault: nothing of the driver.
    expect(error.toFault()).toEqual(new ConnectionError("cortex.error.unavailable").toFault());
    expect(w.records()).toEqual([]);
  });

  it("error.unavailable: a host port that says it is down (retryable) or times out (TimeoutError)", async () => {
    const saysDown: AccountDirectory = {
      findByIds: async () => {
        throw new ConnectionError("cortex.error.unspecified", {
          reason: "directory down: 10.0.0.7:389",
          retryable: true,
        });
      },
      findByEmails: async () => [],
    };
    const down = await expectCode(
      createConnections({ ...deps(w), accounts: saysDown }).create(w.as(OWNER), CTX, [{ _id: B }]),
      "cortex.error.unavailable",
    );
    expect(down.reason).toBeUndefined();
    expect(down.retryable).toBe(true);
    const timeout = new DOMException("signal timed out", "TimeoutError");
    const slow: AccountDirectory = {
      findByIds: async () => {
        throw timeout;
      },
      findByEmails: async () => [],
    };
    const timedOut = await expectCode(
      createConnections({ ...deps(w), accounts: slow }).create(w.as(OWNER), CTX, [{ _id: B }]),
      "cortex.error.unavailable",
    );
    expect(timedOut.cause).toBe(timeout);
  });

  it("error.unspecified: a plain error thrown by a host port (a bug) is its cause, never its message", async () => {
    const boom = new Error("ECONNRESET 10.0.0.7:389 at lookup (directory.ts:12)");
    const failing: AccountDirectory = {
      findByIds: async () => {
        throw boom;
      },
      findByEmails: async () => [],
    };
    const connections = createConnections({ ...deps(w), accounts: failing });
    const error = await expectCode(
      connections.create(w.as(OWNER), CTX, [{ _id: B }]),
      "cortex.error.unspecified",
    );
    expect(error.cause).toBe(boom);
    expect(error.retryable).toBe(false);
    expect(error.message).toBe("An unexpected error occurred.");
    expect(JSON.stringify(error.toFault())).not.toMatch(/ECONNRESET|10\.0\.0\.7|directory\.ts/);
  });

  it("error.unspecified: a port's 5xx ConnectionError loses its message and reason on the way out", async () => {
    const failing: AccountDirectory = {
      findByIds: async () => {
        throw new ConnectionError("cortex.error.unspecified", {
          message: "LDAP bind as cn=admin failed",
          reason: "10.0.0.7:389",
        });
      },
      findByEmails: async () => [],
    };
    const error = await expectCode(
      createConnections({ ...deps(w), accounts: failing }).create(w.as(OWNER), CTX, [{ _id: B }]),
      "cortex.error.unspecified",
    );
    expect(error.toFault()).toMatchObject({
      code: "kError",
      status: 500,
      message: "An unexpected error occurred.",
    });
    expect(error.reason).toBeUndefined();
    expect(String((error.cause as Error).message)).toContain("LDAP");
  });
});

/** The ports of a world, to build a facade with one of them replaced. */
const deps = portsOf;

/**
 * `w`'s store, but each transaction's `part` has its method `name` replaced by what `replace` makes from the real
 * one (a failure, or a race injected at that point); everything else is the real store's.
 */
function overriding<P extends keyof TransactionalStores, K extends keyof TransactionalStores[P]>(
  w: World,
  part: P,
  name: K,
  replace: (target: TransactionalStores[P]) => TransactionalStores[P][K],
): UnitOfWork {
  const wrap = (target: TransactionalStores[P]): TransactionalStores[P] =>
    new Proxy(target, {
      get(t, prop, receiver) {
        if (prop === name) return replace(t);
        const value = Reflect.get(t, prop, receiver);
        return typeof value === "function" ? value.bind(t) : value;
      },
    });
  return {
    connections: w.store.connections,
    outbox: w.store.outbox,
    shareLinks: w.store.shareLinks,
    transaction: (work) => w.store.transaction((tx) => work({ ...tx, [part]: wrap(tx[part]) })),
  };
}

/**
 * `w`'s store, but each transaction's repository records which of create's look-ups it was asked for in `calls`;
 * `without` hides `expectNoneForCreate` (a repository that does not offer it).
 */
function recordingLookUps(w: World, calls: string[], without = false): UnitOfWork {
  const wrap = (target: TransactionalStores["connections"]): TransactionalStores["connections"] =>
    new Proxy(target, {
      get(t, prop, receiver) {
        if (prop === "expectNoneForCreate" && without) return undefined;
        const value = Reflect.get(t, prop, receiver);
        if (typeof value !== "function") return value;
        if (prop !== "findForCreate" && prop !== "expectNoneForCreate") return value.bind(t);
        return (...args: unknown[]) => {
          calls.push(prop);
          return value.apply(t, args);
        };
      },
    });
  return {
    connections: w.store.connections,
    outbox: w.store.outbox,
    shareLinks: w.store.shareLinks,
    transaction: (work) => w.store.transaction((tx) => work({ ...tx, connections: wrap(tx.connections) })),
  };
}

// ---------------------------------------------------------------------------------------------------------------
describe("create's look-up, expected empty (one round trip on PostgreSQL)", () => {
  it("an owner's first invitation on a context is planned on an empty look-up the repository checks, not read first", async () => {
    const calls: string[] = [];
    const connections = createConnections({ ...deps(w), store: recordingLookUps(w, calls) });
    const [entry] = await connections.create(w.as(OWNER), CTX, [{ _id: B, access: 4 }]);
    expect(calls).toEqual(["expectNoneForCreate"]);
    expect(connectionOf(entry).state).toBe(0);
    expect(w.notifier.sent).toHaveLength(1);
    expect((await w.connections.getByToken(w.as(B), w.lastToken()))._id).toBe(connectionOf(entry)._id);
  });

  it("again to the same target: the check fails, nothing is written, and the create reads and re-invites", async () => {
    const first = await invite(B, { access: 2 });
    const before = await w.dump();
    const calls: string[] = [];
    const connections = createConnections({ ...deps(w), store: recordingLookUps(w, calls) });
    const [entry] = await connections.create(w.as(OWNER), CTX, [{ _id: B, access: 4 }]);
    expect(calls).toEqual(["expectNoneForCreate", "findForCreate"]);
    const again = connectionOf(entry);
    expect(again._id).toBe(first.connection._id);
    expect(again.access).toBe(4);
    // One notice for each create (the failed attempt queued none), and its token opens the invitation.
    expect(w.notifier.sent).toHaveLength(2);
    expect((await w.connections.getByToken(w.as(B), w.lastToken()))._id).toBe(first.connection._id);
    expect(await w.dump()).not.toBe(before);
  });

  it("a repository without expectNoneForCreate: create reads first, with the same outcome", async () => {
    const calls: string[] = [];
    const connections = createConnections({ ...deps(w), store: recordingLookUps(w, calls, true) });
    const [entry] = await connections.create(w.as(OWNER), CTX, [{ _id: B, access: 4 }]);
    expect(calls).toEqual(["findForCreate"]);
    expect(connectionOf(entry)).toMatchObject({ state: 0, access: 4 });
    expect(w.notifier.sent).toHaveLength(1);
  });

  it("a caller whose Share is a connection, or a target applied at once: read first", async () => {
    await connect(C, { access: 5 });
    const calls: string[] = [];
    const connections = createConnections({ ...deps(w), store: recordingLookUps(w, calls) });
    await connections.create(w.as(C), CTX, [{ _id: D }]);
    expect(calls).toEqual(["findForCreate"]);
    calls.length = 0;
    const [entry] = await connections.create(w.as(OWNER), AUTO_CTX, [{ _id: B, access: 4, auto: true }]);
    expect(connectionOf(entry).state).toBe(1);
    expect(calls).toEqual(["findForCreate"]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("a failed request writes nothing", () => {
  it.each([
    ["connectionsDisabled", CLOSED_CTX, OWNER, [{ _id: B }]],
    ["unverified creator", CTX, UNVERIFIED, [{ _id: B }]],
    ["no Share", CTX, READER, [{ _id: B }]],
    ["bad target after good ones", CTX, OWNER, [{ _id: B }, { email: "new@example.com" }, { _id: "bad" }]],
    [
      "unknown account after good ones",
      CTX,
      OWNER,
      [{ _id: B }, { email: "n@example.com" }, { _id: unknownId(3) }],
    ],
    ["auto on a requireAccept object", CTX, OWNER, [{ _id: B }, { _id: C, auto: true }]],
    [
      "auto by email",
      AUTO_CTX,
      OWNER,
      [
        { _id: B, auto: true },
        { email: "e@example.com", auto: true },
      ],
    ],
  ] as const)("%s: records, outbox, notices and events unchanged", async (_label, ctx, creator, targets) => {
    await invite(C, { access: 4 }); // something already there
    await connect(D, { context: OTHER_CTX });
    const before = await w.dump();
    const sent = w.notifier.sent.length;
    const events = w.events.events.length;
    await expect(w.connections.create(w.as(creator), ctx, [...targets])).rejects.toBeInstanceOf(
      ConnectionError,
    );
    expect(await w.dump()).toBe(before);
    expect(w.notifier.sent.length).toBe(sent);
    expect(w.events.events.length).toBe(events);
  });

  it("a port failing inside the transaction rolls back every record of the request and its outbox rows", async () => {
    await invite(C);
    const before = await w.dump();
    const events = w.events.events.length;
    const store = overriding(w, "outbox", "enqueue", () => async () => {
      throw new ConnectionError("cortex.error.unspecified", { reason: "outbox down" });
    });
    const connections = createConnections({ ...deps(w), store });
    await expectCode(
      connections.create(w.as(OWNER), CTX, [{ _id: B }, { email: "new@example.com" }, { _id: C, access: 4 }]),
      "cortex.error.unspecified",
    );
    expect(await w.dump()).toBe(before);
    expect(w.events.events.length).toBe(events);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("create (docs/behaviour.md §5)", () => {
  it("an account target: a pending connection shaped as docs/behaviour.md §3, and an invite-existing-user notice", async () => {
    const results = await w.connections.create(w.as(OWNER), CTX, [{ _id: B, access: 4, roles: [ROLE1] }], {
      contextSource: "c_doctor",
    });
    expect(results).toHaveLength(1);
    const view = connectionOf(results[0]);
    expect(view).toEqual({
      _id: expect.stringMatching(/^[0-9a-f]{24}$/),
      object: "connection",
      access: 4,
      roles: [ROLE1],
      context: { _id: CTX._id, object: CTX.object, path: `/c_prescriptions/${CTX._id}` },
      contextSource: "c_doctor",
      created: START,
      creator: { _id: OWNER, object: "account", path: `/accounts/${OWNER}` },
      target: { account: { _id: B, object: "account", path: `/accounts/${B}` } },
      state: 0,
      expiresAt: new Date(START.getTime() + 7 * DAY),
    });
    expect(view).not.toHaveProperty("token");

    expect(w.notifier.sent).toHaveLength(1);
    const notice = w.lastNotice();
    expect(notice).toMatchObject({
      kind: "invite-existing-user",
      org: { code: ORG, name: "Acme Health" },
      recipient: { account: B, email: EMAIL[B], name: { first: "Bob", last: "Doctor" } },
      context: {
        object: CTX.object,
        _id: CTX._id,
        path: `/c_prescriptions/${CTX._id}`,
        label: "prescription",
      },
      connectionId: view._id,
      access: 4,
      creator: { _id: OWNER, name: { first: "Olga", last: "Owner" } },
      expiresAt: new Date(START.getTime() + 7 * DAY),
    });
    expect(notice.token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(notice.acceptUrl).toBe(`https://acme.example/connections/${notice.token}`);

    // The target's own view shows the token; the token opens exactly this connection.
    const mine = await w.targetView(B, view._id);
    expect(mine.token).toBe(notice.token);
    expect((await w.connections.getByToken(w.as(B), notice.token as string))._id).toBe(view._id);
  });

  it("an email with no account: a pending connection to the email and an invite-new-user notice", async () => {
    const [entry] = await w.connections.create(w.as(OWNER), CTX, [
      { email: "  New.Person@Example.COM ", name: { first: "New" }, access: 4 },
    ]);
    const view = connectionOf(entry);
    expect(view.target).toEqual({ email: "new.person@example.com", name: { first: "New" } });
    expect(view.state).toBe(0);
    expect(w.lastNotice()).toMatchObject({
      kind: "invite-new-user",
      recipient: { account: null, email: "new.person@example.com", name: { first: "New" } },
      connectionId: view._id,
    });
    expect(w.records()[0]?.target).toEqual({
      account: null,
      email: "new.person@example.com",
      name: { first: "New" },
    });
  });

  it("an email of an existing account resolves to it; the account stays hidden from the creator", async () => {
    const [entry] = await w.connections.create(w.as(OWNER), CTX, [{ email: "BOB@acme.example" }]);
    const view = connectionOf(entry);
    expect(view.target).toEqual({ email: "bob@acme.example" });
    expect(view.target.account).toBeUndefined();
    expect(w.lastNotice()).toMatchObject({ kind: "invite-existing-user", recipient: { account: B } });
    expect(w.records()[0]?.target.account).toBe(B);
    // Hidden in the creator's list and read by id, shown to the target.
    const creatorList = await w.connections.list(w.as(OWNER), { show: "creator" });
    expect(creatorList.data[0]?.target.account).toBeUndefined();
    expect((await w.connections.get(w.as(OWNER), view._id)).target.account).toBeUndefined();
    expect((await w.connections.get(w.as(SHARER), view._id)).target.account).toBeUndefined();
    const bobs = await w.targetView(B, view._id);
    expect(bobs.target.account?._id).toBe(B);
    // Once active, the account is no secret.
    await w.connections.accept(w.as(B), bobs.token as string);
    expect((await w.connections.get(w.as(OWNER), view._id)).target.account?._id).toBe(B);
  });

  it("duplicates are merged (highest access, union of roles) and results come in request order", async () => {
    const results = await w.connections.create(w.as(OWNER), CTX, [
      { email: "zed@example.com" },
      { _id: C, access: 2, roles: [ROLE1] },
      { _id: B },
      { email: EMAIL[C] as string, access: 4, roles: [ROLE2] },
      { _id: C, roles: [ROLE1, ROLE3] },
      { email: "ZED@example.com", access: 4 },
    ]);
    expect(results).toHaveLength(3);
    const [zed, carol, bob] = results.map(connectionOf);
    expect(zed?.target.email).toBe("zed@example.com");
    expect(zed?.access).toBe(4);
    expect(carol?.target.account?._id).toBe(C);
    expect(carol?.access).toBe(4);
    expect(carol?.roles).toEqual([ROLE1, ROLE2, ROLE3]);
    expect(bob?.target.account?._id).toBe(B);
    expect(bob?.access).toBe(2);
    expect(w.records()).toHaveLength(3);
    expect(w.notifier.sent).toHaveLength(3);
  });

  it("results come back in request order with faults in place", async () => {
    await connect(C);
    const results = await w.connections.create(w.as(OWNER), CTX, [
      { _id: D },
      { _id: C },
      { email: "x@example.com" },
      { _id: B },
    ]);
    expect(results.map((r) => (isFault(r) ? r.errCode : (r.target.account?._id ?? r.target.email)))).toEqual([
      D,
      "cortex.conflict.connectionExists",
      "x@example.com",
      B,
    ]);
    expect((results[1] as TargetFault).target).toEqual({ _id: C });
  });

  it("an email fault names the email as its target", async () => {
    await connect(C);
    const [fault] = await w.connections.create(w.as(OWNER), CTX, [{ email: EMAIL[C] as string }]);
    expect(faultOf(fault, "cortex.conflict.connectionExists").target).toEqual({ email: EMAIL[C] });
  });

  it.each([
    [OWNER, CTX, 7, 5], // Delete caller, default chain: Share
    [OWNER, CTX, 6, 5],
    [OWNER, CTX, 4, 4],
    [OWNER, CTX, undefined, 2],
    [OWNER, CTX, 0, 2],
    [SHARER, CTX, 7, 4], // Share caller: at most Read
    [SHARER, CTX, 5, 4],
    [OWNER, CHAIN_CTX, 7, 6], // chain [6, 4, 2]
    [OWNER, NOCHAIN_CTX, 7, 6], // no chain: below the caller's level
  ] as const)(
    "the granted level is clamped: %s on %o asking %s gets %s",
    async (creator, ctx, asked, expected) => {
      const target: { _id: string; access?: number } = { _id: B };
      if (asked !== undefined) target.access = asked;
      const [entry] = await w.connections.create(w.as(creator), ctx, [target]);
      expect(connectionOf(entry).access).toBe(expected);
    },
  );

  it("a Share holder by connection can share on, one level lower (share chain)", async () => {
    const share = await connect(C, { access: 5 });
    expect(share.access).toBe(5);
    const [entry] = await w.connections.create(w.as(C), CTX, [{ _id: D, access: 7 }]);
    expect(connectionOf(entry).access).toBe(4);
    // C's Share came from a connection; once deleted, C can no longer share.
    await w.connections.delete(w.as(OWNER), share._id);
    await expectCode(w.connections.create(w.as(C), CTX, [{ _id: B }]), "cortex.accessDenied.shareAccess");
  });

  it("a Share by connection deleted after create's first check: refused under the lock, nothing written", async () => {
    const share = await connect(C, { access: 5 });
    const before = await w.dump();
    // The delete lands between the check before the transaction and the look-up under the context's lock (as a racing
    // delete may).
    const store = overriding(w, "connections", "findForCreate", (target) => async (...args) => {
      await target.deleteById(ORG, share._id);
      return target.findForCreate(...args);
    });
    const connections = createConnections({ ...deps(w), store });
    await expectCode(connections.create(w.as(C), CTX, [{ _id: D }]), "cortex.accessDenied.shareAccess");
    // The transaction rolled back: the share connection is still there, and no invitation was made.
    expect(await w.dump()).toBe(before);
  });

  it("re-inviting reuses the caller's pending invitation: access raised, roles merged, expiry reset, fresh token", async () => {
    const first = await invite(B, { access: 4, roles: [ROLE1] });
    w.clock.advance(2 * DAY);
    const results = await w.connections.create(w.as(OWNER), CTX, [
      { _id: B, access: 2, roles: [ROLE2], name: { first: "Robert" } },
    ]);
    const again = connectionOf(results[0]);
    expect(again._id).toBe(first.connection._id);
    expect(again.access).toBe(4); // the higher of the two
    expect(again.roles).toEqual([ROLE1, ROLE2]);
    expect(again.target.name).toEqual({ first: "Robert" });
    expect(again.created).toEqual(START);
    expect(again.expiresAt).toEqual(new Date(START.getTime() + 9 * DAY));
    expect(w.records()).toHaveLength(1);

    // The notice is sent again, with a fresh token; the old one stops working.
    expect(w.notifier.sent).toHaveLength(2);
    const second = w.lastToken();
    expect(second).not.toBe(first.token);
    expect(w.lastNotice()).toMatchObject({
      kind: "invite-existing-user",
      connectionId: again._id,
      access: 4,
    });
    await expectCode(
      w.connections.getByToken(w.as(B), first.token),
      "cortex.invalidArgument.connectionToken",
    );
    await expectCode(w.connections.accept(w.as(B), first.token), "cortex.invalidArgument.connectionToken");
    expect((await w.targetView(B, again._id)).token).toBe(second);
    expect(eventTypes()).toEqual(["connection.created", "connection.reinvited"]);

    // A raise.
    const [raised] = await w.connections.create(w.as(OWNER), CTX, [{ _id: B, access: 5 }]);
    expect(connectionOf(raised).access).toBe(5);
    expect((await w.connections.accept(w.as(B), w.lastToken())).access).toBe(5);
  });

  it("re-inviting an email reuses the invitation too", async () => {
    const [a] = await w.connections.create(w.as(OWNER), CTX, [{ email: "new@example.com" }]);
    const [b] = await w.connections.create(w.as(OWNER), CTX, [{ email: "NEW@example.com", access: 4 }]);
    expect(connectionOf(b)._id).toBe(connectionOf(a)._id);
    expect(connectionOf(b).access).toBe(4);
    expect(w.records()).toHaveLength(1);
    expect(w.notifier.sent.map((n) => n.kind)).toEqual(["invite-new-user", "invite-new-user"]);
  });

  it("another creator's invitation to the same target is a separate invitation", async () => {
    const a = await invite(B, { creator: OWNER });
    const b = await invite(B, { creator: SHARER });
    expect(b.connection._id).not.toBe(a.connection._id);
    expect(w.records()).toHaveLength(2);
  });

  it("an active connection is silently upgraded when the request adds access or roles (no notice)", async () => {
    const active = await connect(B, { access: 2, roles: [ROLE1] });
    const sent = w.notifier.sent.length;
    const [byAccess] = await w.connections.create(w.as(OWNER), CTX, [{ _id: B, access: 4 }]);
    expect(connectionOf(byAccess)).toMatchObject({ _id: active._id, state: 1, access: 4, roles: [ROLE1] });
    const [byRole] = await w.connections.create(w.as(OWNER), CTX, [{ _id: B, access: 2, roles: [ROLE2] }]);
    expect(connectionOf(byRole)).toMatchObject({
      _id: active._id,
      state: 1,
      access: 4,
      roles: [ROLE1, ROLE2],
    });
    expect(connectionOf(byRole)).not.toHaveProperty("token");
    expect(w.notifier.sent.length).toBe(sent);
    expect(w.records()).toHaveLength(1);
    expect(await w.connections.resolveAccess(ORG, B, CTX)).toBe(4);
    const upgrades = w.events.events.filter((e) => e.type === "connection.upgraded");
    expect(upgrades.map((e) => e.previousAccess)).toEqual([2, 4]);
    expect(upgrades.map((e) => e.connection.access)).toEqual([4, 4]);
  });

  it("auto: active at once, no token, a connection-created notice", async () => {
    const [entry] = await w.connections.create(w.as(OWNER), AUTO_CTX, [{ _id: B, access: 4, auto: true }]);
    const view = connectionOf(entry);
    expect(view.state).toBe(1);
    expect(view.access).toBe(4);
    expect(view).not.toHaveProperty("token");
    expect(view).not.toHaveProperty("expiresAt");
    expect(w.lastNotice()).toMatchObject({
      kind: "connection-created",
      recipient: { account: B, email: EMAIL[B] },
      connectionId: view._id,
      access: 4,
      token: null,
      acceptUrl: null,
      expiresAt: null,
    });
    expect(await w.connections.resolveAccess(ORG, B, AUTO_CTX)).toBe(4);
    const record = w.records()[0];
    expect(record).toMatchObject({ state: 1, tokenHash: null, tokenSeal: null, expiresAt: null });
    expect(eventTypes()).toEqual(["connection.created"]);
  });

  it("auto on an object that sends no notifications: active, and no notice", async () => {
    const [entry] = await w.connections.create(w.as(OWNER), QUIET_CTX, [{ _id: B, auto: true }]);
    expect(connectionOf(entry).state).toBe(1);
    expect(w.notifier.sent).toEqual([]);
    expect((await w.store.outbox.counts()).pending).toBe(0);
  });

  it("auto needs requiredAccess on the target account and a verified target; other targets still proceed", async () => {
    const results = await w.connections.create(w.as(OWNER), AUTO_CTX, [
      { _id: B, auto: true },
      { _id: D, auto: true }, // the owner holds nothing on D's account
      { _id: UNVERIFIED_TARGET, auto: true }, // access, but not verified
      { _id: C }, // no auto: a pending invitation
    ]);
    expect(connectionOf(results[0]).state).toBe(1);
    expect(faultOf(results[1], "cortex.accessDenied.autoConnectionRequiresAccess").target).toEqual({
      _id: D,
    });
    expect(faultOf(results[2], "cortex.accessDenied.autoConnectionRequiresAccess").target).toEqual({
      _id: UNVERIFIED_TARGET,
    });
    expect(connectionOf(results[3]).state).toBe(0);
    expect(
      w
        .records()
        .map((r) => r.target.account)
        .sort(),
    ).toEqual([B, C].sort());
    expect(await w.connections.resolveAccess(ORG, D, AUTO_CTX)).toBe(0);
  });

  it("auto with every copy auto; a copy without auto makes it an invitation", async () => {
    const [entry] = await w.connections.create(w.as(OWNER), AUTO_CTX, [
      { _id: B, auto: true },
      { _id: B, access: 4 },
    ]);
    expect(connectionOf(entry)).toMatchObject({ state: 0, access: 4 });
  });

  it("auto removes lesser pending invitations, and upgrades an existing active connection", async () => {
    w.contexts.grant(ORG, SHARER, AUTO_CTX, AccessLevel.Share);
    const { token: own } = await invite(B, { context: AUTO_CTX, access: 4 }); // the owner's, Read
    const { token: other } = await invite(B, { context: AUTO_CTX, creator: SHARER }); // the sharer's, Connected
    const [entry] = await w.connections.create(w.as(OWNER), AUTO_CTX, [{ _id: B, access: 5, auto: true }]);
    const active = connectionOf(entry);
    expect(active).toMatchObject({ state: 1, access: 5 });
    expect(w.records().filter((r) => r.state === 0)).toEqual([]);
    await expectCode(w.connections.accept(w.as(B), own), "cortex.invalidArgument.connectionToken");
    await expectCode(w.connections.accept(w.as(B), other), "cortex.invalidArgument.connectionToken");
    expect(eventTypes().filter((t) => t === "connection.superseded")).toHaveLength(2);

    const [again] = await w.connections.create(w.as(OWNER), AUTO_CTX, [
      { _id: B, roles: [ROLE1], auto: true },
    ]);
    expect(connectionOf(again)).toMatchObject({ _id: active._id, state: 1, access: 5, roles: [ROLE1] });
    expect(w.records()).toHaveLength(1);
    expect(eventTypes().at(-1)).toBe("connection.upgraded");
  });

  it("the accept URL appends the token when the org's URL has no {token} placeholder", async () => {
    await w.connections.create(w.as(OWNER, ORG2), CTX, [{ _id: B }]);
    const notice = w.lastNotice();
    expect(notice.org).toEqual({ code: ORG2, name: "Globex" });
    expect(notice.acceptUrl).toBe(`https://globex.example/invite/${notice.token}`);
  });

  it("parallel creates of one invitation make one pending record", async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        w.connections.create(w.as(OWNER), CTX, [{ _id: B, access: 2 + (i % 3) }]),
      ),
    );
    const ids = new Set(results.map(([entry]) => connectionOf(entry)._id));
    expect(ids.size).toBe(1);
    const records = w.records();
    expect(records).toHaveLength(1);
    expect(records[0]?.access).toBe(4);
    // Only the last token issued works.
    const tokens = w.tokens_();
    expect(tokens).toHaveLength(10);
    const working = [];
    for (const t of tokens) {
      const ok = await w.connections.getByToken(w.as(null), t).then(
        () => true,
        () => false,
      );
      if (ok) working.push(t);
    }
    expect(working).toEqual([tokens.at(-1)]);
  });

  it("unknown org: notFound.unspecified", async () => {
    w.contexts.defineObject("nowhere", { name: "c_prescription", allowConnections: true });
    w.accounts.put("nowhere", { _id: OWNER, email: "o@x.example", name: {}, verified: true });
    await expectCode(
      w.connections.create(w.as(OWNER, "nowhere"), CTX, [{ _id: B }]),
      "cortex.notFound.unspecified",
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("accept (docs/behaviour.md §4, §6)", () => {
  it("makes the connection active: token and expiresAt removed, effective access granted", async () => {
    const { connection, token } = await invite(B, { access: 4, roles: [ROLE1] });
    expect(await w.connections.resolveAccess(ORG, B, CTX)).toBe(0);
    w.clock.advance(DAY);
    const active = await w.connections.accept(w.as(B), token);
    expect(active).toMatchObject({ _id: connection._id, state: 1, access: 4, roles: [ROLE1] });
    expect(active).not.toHaveProperty("token");
    expect(active).not.toHaveProperty("expiresAt");
    expect(w.records()[0]).toMatchObject({ state: 1, tokenHash: null, tokenSeal: null, expiresAt: null });
    expect(await w.connections.resolveAccess(ORG, B, CTX)).toBe(4);
    // The token is spent.
    await expectCode(w.connections.accept(w.as(B), token), "cortex.invalidArgument.connectionToken");
    await expectCode(w.connections.getByToken(w.as(null), token), "cortex.invalidArgument.connectionToken");
    expect((await w.targetView(B, connection._id)).token).toBeUndefined();
  });

  it("upgrades an existing active connection instead: the higher access, the union of roles", async () => {
    const { token: higher } = await invite(B, { creator: OWNER, access: 4, roles: [ROLE1] });
    const existing = await connect(B, { creator: SHARER, access: 2, roles: [ROLE2] });
    expect(w.records()).toHaveLength(2); // the Read invitation is higher, so it survives
    const active = await w.connections.accept(w.as(B), higher);
    expect(active._id).toBe(existing._id);
    expect(active.access).toBe(4);
    expect(new Set(active.roles)).toEqual(new Set([ROLE1, ROLE2]));
    const records = w.records();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ _id: existing._id, state: 1, access: 4 });
    expect(await w.connections.resolveAccess(ORG, B, CTX)).toBe(4);
  });

  it("removes every other pending invitation to the same context and target whose access is not higher", async () => {
    const { token: read } = await invite(B, { creator: OWNER, access: 4 });
    const { connection: lower, token: lowerToken } = await invite(B, { creator: SHARER, access: 2 });
    const { connection: elsewhere } = await invite(B, { creator: OWNER, context: OTHER_CTX });
    await w.connections.accept(w.as(B), read);
    const ids = w.records().map((r) => r._id);
    expect(ids).not.toContain(lower._id);
    expect(ids).toContain(elsewhere._id);
    await expectCode(w.connections.accept(w.as(B), lowerToken), "cortex.invalidArgument.connectionToken");
    const superseded = w.events.events.filter((e) => e.type === "connection.superseded");
    expect(superseded.map((e) => e.connection._id)).toEqual([lower._id]);
  });

  it("refuses an unverified target, and leaves the invitation pending", async () => {
    const { token } = await invite(UNVERIFIED_TARGET);
    await expectCode(
      w.connections.accept(w.as(UNVERIFIED_TARGET), token),
      "cortex.accessDenied.connectionRequiresVerification",
    );
    expect(w.records()[0]?.state).toBe(0);
    // Verified later, it works.
    w.accounts.put(ORG, {
      _id: UNVERIFIED_TARGET,
      email: EMAIL[UNVERIFIED_TARGET] as string,
      name: {},
      verified: true,
    });
    expect((await w.connections.accept(w.as(UNVERIFIED_TARGET), token)).state).toBe(1);
  });

  it("an expired token never works, even before any purge", async () => {
    const { connection, token } = await invite(B);
    w.clock.advance(7 * DAY - 1);
    expect((await w.connections.getByToken(w.as(null), token))._id).toBe(connection._id);
    w.clock.advance(1); // exactly expiresAt
    await expectCode(w.connections.accept(w.as(B), token), "cortex.invalidArgument.connectionToken");
    await expectCode(w.connections.getByToken(w.as(null), token), "cortex.invalidArgument.connectionToken");
    await expectCode(w.connections.reject(w.as(null), token), "cortex.invalidArgument.connectionToken");
    await expectCode(w.connections.get(w.as(OWNER), connection._id), "cortex.notFound.unspecified");
    expect((await w.connections.list(w.as(B))).data).toEqual([]);
    expect((await w.connections.list(w.as(OWNER), { show: "creator" })).data).toEqual([]);
    expect((await w.connections.listForContext(w.as(OWNER), CTX)).data).toEqual([]);
    expect(w.records()).toHaveLength(1); // still stored: no sweep ran
    expect(await w.connections.resolveAccess(ORG, B, CTX)).toBe(0);
  });

  it("20 parallel accepts of one token: exactly one succeeds, the rest get connectionToken, one active record", async () => {
    const { connection, token } = await invite(B, { access: 4 });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, () => w.connections.accept(w.as(B), token)),
    );
    const fulfilled = outcomes.filter((o) => o.status === "fulfilled");
    const rejected = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(19);
    for (const reason of rejected) {
      expect(isConnectionError(reason, "cortex.invalidArgument.connectionToken")).toBe(true);
    }
    const records = w.records();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ _id: connection._id, state: 1, access: 4 });
    expect(eventTypes().filter((t) => t === "connection.accepted")).toHaveLength(1);
  });

  it("parallel accepts of two invitations to one target leave one active connection", async () => {
    const a = await invite(B, { creator: OWNER, access: 4, roles: [ROLE1] });
    const b = await invite(B, { creator: SHARER, access: 4, roles: [ROLE2] });
    const outcomes = await Promise.allSettled([
      w.connections.accept(w.as(B), a.token),
      w.connections.accept(w.as(B), b.token),
    ]);
    const records = w.records();
    expect(records.filter((r) => r.state === 1)).toHaveLength(1);
    const active = records.find((r) => r.state === 1);
    expect(active?.access).toBe(4);
    expect(outcomes.filter((o) => o.status === "fulfilled").length).toBeGreaterThanOrEqual(1);
    expect(await w.connections.resolveAccess(ORG, B, CTX)).toBe(4);
  });

  it("accepts by email before the host bound the account (the email matches)", async () => {
    // Invited while the account did not exist; it registers, and the host has not called bindRegisteredAccount.
    const [entry] = await w.connections.create(w.as(OWNER), CTX, [{ email: "late@example.com" }]);
    const token = w.lastToken();
    w.accounts.put(ORG, { _id: unknownId(7), email: "late@example.com", name: {}, verified: true });
    const active = await w.connections.accept(w.as(unknownId(7)), token);
    expect(active).toMatchObject({ _id: connectionOf(entry)._id, state: 1 });
    expect(active.target.account?._id).toBe(unknownId(7));
    expect(await w.connections.resolveAccess(ORG, unknownId(7), CTX)).toBe(2);
  });

  it("a token of one org opens nothing in another", async () => {
    const { token } = await invite(B);
    await expectCode(w.connections.accept(w.as(B, ORG2), token), "cortex.invalidArgument.connectionToken");
    await expectCode(
      w.connections.getByToken(w.as(null, ORG2), token),
      "cortex.invalidArgument.connectionToken",
    );
    await expectCode(w.connections.reject(w.as(null, ORG2), token), "cortex.invalidArgument.connectionToken");
    expect(w.records()).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("reject and read by token (docs/behaviour.md §6)", () => {
  it("anonymous reject removes the invitation and publishes connection.rejected with no actor", async () => {
    const { connection, token } = await invite(B);
    expect(await w.connections.reject(w.as(null), token)).toBe(true);
    expect(w.records()).toEqual([]);
    const last = w.events.events.at(-1) as ConnectionEvent;
    expect(last).toMatchObject({
      type: "connection.rejected",
      actor: null,
      connection: { _id: connection._id },
    });
    await expectCode(w.connections.reject(w.as(null), token), "cortex.invalidArgument.connectionToken");
  });

  it("the logged-in target may reject; a logged-in other account gets connectionToken", async () => {
    const { token } = await invite(B);
    await expectCode(w.connections.reject(w.as(C), token), "cortex.invalidArgument.connectionToken");
    await expectCode(w.connections.reject(w.as(OWNER), token), "cortex.invalidArgument.connectionToken");
    expect(w.records()).toHaveLength(1);
    expect(await w.connections.reject(w.as(B), token)).toBe(true);
    expect(w.records()).toEqual([]);
    expect((w.events.events.at(-1) as ConnectionEvent).actor).toBe(B);
  });

  it("read by token: anonymous allowed, the target allowed, pending only", async () => {
    const { connection, token } = await invite(B, { access: 4 });
    const anonymous = await w.connections.getByToken(w.as(null), token);
    expect(anonymous).toMatchObject({ _id: connection._id, state: 0, access: 4 });
    const mine = await w.connections.getByToken(w.as(B), token);
    expect(mine.token).toBe(token);
    expect(mine.target.account?._id).toBe(B);
    await expectCode(w.connections.getByToken(w.as(OWNER), token), "cortex.invalidArgument.connectionToken");
    await w.connections.accept(w.as(B), token);
    await expectCode(w.connections.getByToken(w.as(B), token), "cortex.invalidArgument.connectionToken");
  });

  it("read by token hides an email invitation's account from an anonymous reader", async () => {
    await w.connections.create(w.as(OWNER), CTX, [{ email: EMAIL[B] as string }]);
    const view = await w.connections.getByToken(w.as(null), w.lastToken());
    expect(view.target.account).toBeUndefined();
    expect(view.target.email).toBe(EMAIL[B]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("read by id (docs/behaviour.md §7)", () => {
  it("pending: the target (with token), the creator (no token), a Share holder; not Read or Connected holders", async () => {
    const { connection, token } = await invite(B, { access: 4 });
    expect((await w.connections.get(w.as(B), connection._id)).token).toBe(token);
    const creators = await w.connections.get(w.as(OWNER), connection._id);
    expect(creators._id).toBe(connection._id);
    expect(creators).not.toHaveProperty("token");
    const sharers = await w.connections.get(w.as(SHARER), connection._id);
    expect(sharers).not.toHaveProperty("token");
    await expectCode(w.connections.get(w.as(READER), connection._id), "cortex.accessDenied.connection");
    await expectCode(w.connections.get(w.as(CONNECTED), connection._id), "cortex.accessDenied.connection");
    await expectCode(w.connections.get(w.as(STRANGER), connection._id), "cortex.accessDenied.connection");
  });

  it("active: also anyone with Connected on the context, by the host or by a connection", async () => {
    const active = await connect(B, { access: 4 });
    const cView = await connect(C); // C holds Connected through its own connection
    for (const reader of [B, OWNER, SHARER, READER, CONNECTED, C]) {
      expect((await w.connections.get(w.as(reader), active._id))._id).toBe(active._id);
    }
    expect((await w.connections.get(w.as(B), cView._id))._id).toBe(cView._id);
    await expectCode(w.connections.get(w.as(STRANGER), active._id), "cortex.accessDenied.connection");
    await expectCode(w.connections.get(w.as(D), active._id), "cortex.accessDenied.connection");
  });

  it("ids of another org are not found", async () => {
    const { connection } = await invite(B);
    await expectCode(w.connections.get(w.as(OWNER, ORG2), connection._id), "cortex.notFound.unspecified");
    await expectCode(w.connections.delete(w.as(OWNER, ORG2), connection._id), "cortex.notFound.unspecified");
    expect(w.records()).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("a principal that carries the caller's account (loaded by the host to authenticate)", () => {
  it("is taken as the caller with no second look-up, and answers as the looked-up account does", async () => {
    const { connection, token } = await invite(B, { access: 4 });
    const [account] = await w.accounts.findByIds(ORG, [B]);
    if (account === undefined) throw new Error("B is in the directory");
    const lookups = vi.spyOn(w.accounts, "findByIds");
    const view = await w.connections.get({ org: ORG, accountId: B, account }, connection._id);
    expect(lookups).not.toHaveBeenCalled();
    expect(view.token).toBe(token);
    expect(view).toEqual(await w.connections.get(w.as(B), connection._id));
    expect(lookups).toHaveBeenCalledTimes(1);
    lookups.mockRestore();
  });

  it("is refused as malformed when its _id is not the accountId, or it is not an account, or a key is unknown", async () => {
    const [account] = await w.accounts.findByIds(ORG, [B]);
    for (const principal of [
      { org: ORG, accountId: C, account },
      { org: ORG, accountId: null, account },
      { org: ORG, accountId: B, account: { _id: B } },
      { org: ORG, accountId: B, extra: true },
      { org: "bad org", accountId: B },
      { org: ORG, accountId: "no pe" },
      null,
      "principal",
    ]) {
      const error = await expectCode(
        w.connections.list(principal as Principal),
        "cortex.invalidArgument.unspecified",
      );
      expect(error.path, JSON.stringify(principal)).toBe("principal");
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("delete (docs/behaviour.md §7, §9)", () => {
  it("the target may remove itself; its access ends at once", async () => {
    const active = await connect(B, { access: 4 });
    expect(await w.connections.resolveAccess(ORG, B, CTX)).toBe(4);
    expect(await w.connections.delete(w.as(B), active._id)).toBe(true);
    expect(await w.connections.resolveAccess(ORG, B, CTX)).toBe(0);
    expect(w.records()).toEqual([]);
    await expectCode(w.connections.get(w.as(OWNER), active._id), "cortex.notFound.unspecified");
    expect(w.events.events.at(-1)).toMatchObject({ type: "connection.deleted", actor: B });
  });

  it("the creator may remove its own, pending or active", async () => {
    const { connection: pending, token } = await invite(B);
    expect(await w.connections.delete(w.as(OWNER), pending._id)).toBe(true);
    await expectCode(w.connections.accept(w.as(B), token), "cortex.invalidArgument.connectionToken");
    const active = await connect(C, { access: 4 });
    expect(await w.connections.delete(w.as(OWNER), active._id)).toBe(true);
    expect(await w.connections.resolveAccess(ORG, C, CTX)).toBe(0);
  });

  it("others need Share and strictly more access than the target holds", async () => {
    const read = await connect(B, { access: 4 }); // B holds Read
    const share = await connect(C, { access: 5 }); // C holds Share
    // A Share holder (5) may remove B's Read (4) …
    expect(await w.connections.delete(w.as(SHARER), read._id)).toBe(true);
    expect(await w.connections.resolveAccess(ORG, B, CTX)).toBe(0);
    // … but not C's Share (5): not strictly more.
    const error = await expectCode(
      w.connections.delete(w.as(SHARER), share._id),
      "cortex.accessDenied.connection",
    );
    expect(error.reason).toBeDefined();
    // A Read holder sees active connections but has no Share.
    await expectCode(w.connections.delete(w.as(READER), share._id), "cortex.accessDenied.shareAccess");
    // A stranger may not even see it.
    await expectCode(w.connections.delete(w.as(STRANGER), share._id), "cortex.accessDenied.connection");
    expect(await w.connections.resolveAccess(ORG, C, CTX)).toBe(5);
    // The owner (7) may.
    expect(await w.connections.delete(w.as(OWNER), share._id)).toBe(true);
  });

  it("someone else's pending invitation: Share and more access needed", async () => {
    const { connection } = await invite(B, { creator: SHARER });
    await expectCode(w.connections.delete(w.as(READER), connection._id), "cortex.accessDenied.connection");
    await expectCode(w.connections.delete(w.as(C), connection._id), "cortex.accessDenied.connection");
    expect(await w.connections.delete(w.as(OWNER), connection._id)).toBe(true);
    expect(w.records()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("list (docs/behaviour.md §7)", () => {
  /** B invited on `n` contexts by the owner, one second apart; returns the ids newest first. */
  async function manyInvitations(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const ctx = { object: "c_prescription", _id: contextId(100 + i) };
      w.contexts.grant(ORG, OWNER, ctx, AccessLevel.Delete);
      const { connection } = await invite(B, { context: ctx });
      ids.push(connection._id);
      w.clock.advance(1000);
    }
    return ids.reverse();
  }

  it("pages 25 records by 10 with startingAfter and endingBefore, newest first, with hasMore", async () => {
    const all = await manyInvitations(25);
    expect([...all].sort().reverse()).toEqual(all);

    const p1 = await w.connections.list(w.as(B), { limit: 10 });
    expect(p1.object).toBe("list");
    expect(p1.data.map((c) => c._id)).toEqual(all.slice(0, 10));
    expect(p1.hasMore).toBe(true);
    const p2 = await w.connections.list(w.as(B), { limit: 10, startingAfter: p1.data.at(-1)?._id });
    expect(p2.data.map((c) => c._id)).toEqual(all.slice(10, 20));
    expect(p2.hasMore).toBe(true);
    const p3 = await w.connections.list(w.as(B), { limit: 10, startingAfter: p2.data.at(-1)?._id });
    expect(p3.data.map((c) => c._id)).toEqual(all.slice(20));
    expect(p3.hasMore).toBe(false);

    // Back again.
    const b2 = await w.connections.list(w.as(B), { limit: 10, endingBefore: p3.data[0]?._id });
    expect(b2.data.map((c) => c._id)).toEqual(all.slice(10, 20));
    expect(b2.hasMore).toBe(true);
    const b1 = await w.connections.list(w.as(B), { limit: 10, endingBefore: b2.data[0]?._id });
    expect(b1.data.map((c) => c._id)).toEqual(all.slice(0, 10));
    expect(b1.hasMore).toBe(false);

    // The default page holds all 25.
    const whole = await w.connections.list(w.as(B));
    expect(whole.data).toHaveLength(25);
    expect(whole.hasMore).toBe(false);
  });

  it("the token is in the target's view only, never in the creator's", async () => {
    await manyInvitations(3);
    const tokens = w.tokens_();
    const mine = await w.connections.list(w.as(B));
    expect(mine.data.map((c) => c.token).sort()).toEqual([...tokens].sort());
    const creators = await w.connections.list(w.as(OWNER), { show: "creator" });
    expect(creators.data).toHaveLength(3);
    for (const c of creators.data) expect(c).not.toHaveProperty("token");
    expect(JSON.stringify(creators)).not.toMatch(new RegExp(tokens.join("|")));
    // Each token the target sees opens its own connection.
    for (const c of mine.data) {
      expect((await w.connections.getByToken(w.as(B), c.token as string))._id).toBe(c._id);
    }
  });

  it("show: target (default) or creator", async () => {
    const toB = await invite(B);
    w.contexts.grant(ORG, B, NOTE_CTX, AccessLevel.Share);
    const byB = await invite(C, { creator: B, context: NOTE_CTX });
    expect((await w.connections.list(w.as(B))).data.map((c) => c._id)).toEqual([toB.connection._id]);
    expect((await w.connections.list(w.as(B), { show: "target" })).data.map((c) => c._id)).toEqual([
      toB.connection._id,
    ]);
    expect((await w.connections.list(w.as(B), { show: "creator" })).data.map((c) => c._id)).toEqual([
      byB.connection._id,
    ]);
    expect((await w.connections.list(w.as(OWNER), { show: "creator" })).data.map((c) => c._id)).toEqual([
      toB.connection._id,
    ]);
    // The plural path name of the object is used.
    const note = (await w.connections.list(w.as(C))).data[0] as ConnectionView;
    expect(note.context.path).toBe(`/c_notes_plural/${NOTE_CTX._id}`);
  });

  it("filters by state and by context object names", async () => {
    const active = await connect(B, { context: CTX });
    const pending = await invite(B, { context: NOTE_CTX });
    const other = await invite(B, { context: CHAIN_CTX });
    const ids = async (q: Parameters<World["connections"]["list"]>[1]) =>
      (await w.connections.list(w.as(B), q)).data.map((c) => c._id).sort();
    expect(await ids({ state: 1 })).toEqual([active._id]);
    expect(await ids({ state: 0 })).toEqual([pending.connection._id, other.connection._id].sort());
    expect(await ids({ objects: ["c_note"] })).toEqual([pending.connection._id]);
    expect(await ids({ objects: ["c_note", "c_prescription"] })).toEqual(
      [pending.connection._id, active._id].sort(),
    );
    expect(await ids({ objects: ["c_note"], state: 1 })).toEqual([]);
    expect(await ids({ objects: ["c_nothing"] })).toEqual([]);
  });

  it("expired invitations never appear", async () => {
    await invite(B);
    w.clock.advance(3 * DAY);
    const fresh = await invite(B, { context: NOTE_CTX });
    w.clock.advance(4 * DAY);
    expect((await w.connections.list(w.as(B))).data.map((c) => c._id)).toEqual([fresh.connection._id]);
    expect((await w.connections.list(w.as(B), { state: 0 })).data).toHaveLength(1);
  });

  it("an email invitation is listed for the account with that email, with its token", async () => {
    await w.connections.create(w.as(OWNER), CTX, [{ email: "later@example.com" }]);
    const token = w.lastToken();
    w.accounts.put(ORG, { _id: unknownId(8), email: "later@example.com", name: {}, verified: true });
    const list = await w.connections.list(w.as(unknownId(8)));
    expect(list.data).toHaveLength(1);
    expect(list.data[0]?.token).toBe(token);
  });

  it("rejects malformed queries", async () => {
    for (const q of [
      { limit: 0 },
      { limit: 1001 },
      { limit: 2.5 },
      { state: 2 },
      { show: "everyone" },
      { startingAfter: "x" },
      { startingAfter: unknownId(1), endingBefore: unknownId(2) },
      { objects: ["Bad Name"] },
      { unknown: 1 },
    ]) {
      await expectCode(
        w.connections.list(w.as(B), q as Parameters<World["connections"]["list"]>[1]),
        "cortex.invalidArgument.unspecified",
      );
    }
  });

  it("listForContext needs Share: lists every connection on the context, no tokens", async () => {
    const a = await invite(B);
    const b = await connect(C, { creator: SHARER });
    await invite(D, { context: OTHER_CTX });
    const list = await w.connections.listForContext(w.as(OWNER), CTX);
    expect(list.data.map((c) => c._id).sort()).toEqual([a.connection._id, b._id].sort());
    for (const c of list.data) expect(c).not.toHaveProperty("token");
    expect((await w.connections.listForContext(w.as(SHARER), CTX)).data).toHaveLength(2);
    expect(
      (await w.connections.listForContext(w.as(OWNER), CTX, { state: 1 })).data.map((c) => c._id),
    ).toEqual([b._id]);
    await expectCode(w.connections.listForContext(w.as(READER), CTX), "cortex.accessDenied.shareAccess");
    await expectCode(w.connections.listForContext(w.as(C), CTX), "cortex.accessDenied.shareAccess");
    await expectCode(w.connections.listForContext(w.as(STRANGER), CTX), "cortex.accessDenied.shareAccess");
    // Share through a connection is enough.
    await connect(D, { access: 5 });
    expect((await w.connections.listForContext(w.as(D), CTX)).data).toHaveLength(3);
  });

  it("lists never cross orgs", async () => {
    await invite(B);
    expect((await w.connections.list(w.as(B, ORG2))).data).toEqual([]);
    expect((await w.connections.list(w.as(OWNER, ORG2), { show: "creator" })).data).toEqual([]);
    expect((await w.connections.listForContext(w.as(OWNER, ORG2), CTX)).data).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("accounts that register later (docs/behaviour.md §8)", () => {
  const NEW = unknownId(9);

  it("binds pending email invitations to the new account, which can then accept", async () => {
    const [entry] = await w.connections.create(w.as(OWNER), CTX, [
      { email: "Dan@Elsewhere.example", name: { first: "Dan" }, access: 4 },
    ]);
    const invitation = connectionOf(entry);
    await w.connections.create(w.as(OWNER), OTHER_CTX, [{ email: "dan@elsewhere.example" }]);
    await w.connections.create(w.as(OWNER), CTX, [{ email: "someone@elsewhere.example" }]);
    expect(w.notifier.sent.map((n) => n.kind)).toEqual([
      "invite-new-user",
      "invite-new-user",
      "invite-new-user",
    ]);

    w.accounts.put(ORG, { _id: NEW, email: "dan@elsewhere.example", name: { first: "Dan" }, verified: true });
    expect(await w.connections.bindRegisteredAccount(ORG, NEW)).toBe(2);
    const bound = w.events.events.filter((e) => e.type === "connection.bound");
    expect(bound).toHaveLength(2);
    expect(bound.every((e) => e.connection.target.account === NEW && e.actor === NEW)).toBe(true);
    // Binding again binds nothing new.
    expect(await w.connections.bindRegisteredAccount(ORG, NEW)).toBe(0);

    // Still hidden from the creator while pending.
    expect((await w.connections.get(w.as(OWNER), invitation._id)).target.account).toBeUndefined();
    const mine = await w.connections.list(w.as(NEW));
    expect(mine.data).toHaveLength(2);
    const token = mine.data.find((c) => c._id === invitation._id)?.token as string;
    expect(token).toBe(w.notifier.sent[0]?.token);
    const active = await w.connections.accept(w.as(NEW), token);
    expect(active).toMatchObject({ _id: invitation._id, state: 1, access: 4 });
    expect(await w.connections.resolveAccess(ORG, NEW, CTX)).toBe(4);
    // The other invitee's invitation is untouched.
    expect(
      w.records().find((r) => r.target.email === "someone@elsewhere.example")?.target.account,
    ).toBeNull();
  });

  it("an unknown account is notFound.account; a malformed id is unspecified", async () => {
    await expectCode(w.connections.bindRegisteredAccount(ORG, NEW), "cortex.notFound.account");
    await expectCode(w.connections.bindRegisteredAccount(ORG, "no/pe"), "cortex.invalidArgument.unspecified");
    await expectCode(
      w.connections.bindRegisteredAccount("bad org!", NEW),
      "cortex.invalidArgument.unspecified",
    );
  });

  it("never binds another org's invitations", async () => {
    await w.connections.create(w.as(OWNER, ORG2), CTX, [{ email: "dan@elsewhere.example" }]);
    w.accounts.put(ORG, { _id: NEW, email: "dan@elsewhere.example", name: {}, verified: true });
    expect(await w.connections.bindRegisteredAccount(ORG, NEW)).toBe(0);
    expect(w.records()[0]?.target.account).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("resolveAccess (docs/behaviour.md §9)", () => {
  it("is the higher of the host's access and the active connection's", async () => {
    expect(await w.connections.resolveAccess(ORG, READER, CTX)).toBe(4);
    expect(await w.connections.resolveAccess(ORG, STRANGER, CTX)).toBe(0);
    await connect(CONNECTED, { access: 4 }); // host 2, connection 4
    expect(await w.connections.resolveAccess(ORG, CONNECTED, CTX)).toBe(4);
    const low = await connect(READER, { access: 2 }); // host 4, connection 2
    expect(low.access).toBe(2);
    expect(await w.connections.resolveAccess(ORG, READER, CTX)).toBe(4);
    await connect(B, { access: 4 });
    expect(await w.connections.resolveAccess(ORG, B, CTX)).toBe(4);
    expect(await w.connections.resolveAccess(ORG, B, OTHER_CTX)).toBe(0);
    expect(await w.connections.resolveAccess(ORG2, B, CTX)).toBe(0);
  });

  it("a pending invitation gives nothing", async () => {
    await invite(B, { access: 4 });
    expect(await w.connections.resolveAccess(ORG, B, CTX)).toBe(0);
  });

  it("answers a failed look-up (the host's or the store's, or both) as the facade answers every fault", async () => {
    const outage = new DOMException("the store timed out", "TimeoutError");
    const store = vi.spyOn(w.store.connections, "activeAccess").mockRejectedValue(outage);
    const unavailable = await expectCode(
      w.connections.resolveAccess(ORG, B, CTX),
      "cortex.error.unavailable",
    );
    expect(unavailable.cause).toBe(outage);
    const bug = new Error("host bug");
    const host = vi.spyOn(w.contexts, "accessOf").mockRejectedValue(bug);
    // Both fail: the host's failure is the answer, and the store's is handled (no unhandled rejection).
    const unspecified = await expectCode(
      w.connections.resolveAccess(ORG, B, CTX),
      "cortex.error.unspecified",
    );
    expect(unspecified.cause).toBe(bug);
    host.mockImplementation(() => {
      throw bug;
    });
    expect(
      (await expectCode(w.connections.resolveAccess(ORG, B, CTX), "cortex.error.unspecified")).cause,
    ).toBe(bug);
    store.mockRestore();
    host.mockRestore();
    expect(await w.connections.resolveAccess(ORG, READER, CTX)).toBe(4);
  });

  it("answers every failure as a rejected promise, never a throw: bad input, and ports that throw at once", async () => {
    /** Calls resolveAccess, failing the test if the call itself throws instead of returning a promise. */
    const call = (org: string, account: string, context: typeof CTX): Promise<unknown> => {
      let answer: Promise<unknown> | undefined;
      expect(() => {
        answer = w.connections.resolveAccess(org, account, context);
      }).not.toThrow();
      expect(answer).toBeInstanceOf(Promise);
      return answer as Promise<unknown>;
    };
    await expectCode(call(ORG, "not an id!", CTX), "cortex.invalidArgument.unspecified");
    await expectCode(call(ORG, B, { object: "C_bad", _id: "x" }), "cortex.invalidArgument.unspecified");
    const outage = new DOMException("the store timed out", "TimeoutError");
    const store = vi.spyOn(w.store.connections, "activeAccess").mockImplementation(() => {
      throw outage;
    });
    expect((await expectCode(call(ORG, B, CTX), "cortex.error.unavailable")).cause).toBe(outage);
    // The host's look-up was under way (a promise) when the store threw: its rejection is handled, not the answer.
    const bug = new Error("host bug");
    const host = vi.spyOn(w.contexts, "accessOf").mockRejectedValue(bug);
    expect((await expectCode(call(ORG, B, CTX), "cortex.error.unavailable")).cause).toBe(outage);
    host.mockImplementation(() => {
      throw bug;
    });
    expect((await expectCode(call(ORG, B, CTX), "cortex.error.unspecified")).cause).toBe(bug);
    store.mockRestore();
    host.mockRestore();
  });

  it("takes answers at once or as promises, in any mix, and gives the same level", async () => {
    await connect(CONNECTED, { access: 4 }); // host 2, connection 4
    const expected = await w.connections.resolveAccess(ORG, CONNECTED, CTX);
    expect(expected).toBe(4);
    // Spied on as the ports (whose answers may be promises), not as the in-memory classes (which answer at once).
    const host = vi.spyOn(w.contexts as ContextAccess, "accessOf");
    const store = vi.spyOn(w.store.connections as ConnectionRepository, "activeAccess");
    const answer = (level: AccessLevel, async: boolean) => (async ? Promise.resolve(level) : level);
    const mixes: [hostAsync: boolean, storeAsync: boolean][] = [
      [true, false],
      [false, true],
      [true, true],
    ];
    for (const [hostAsync, storeAsync] of mixes) {
      host.mockImplementationOnce(() => answer(AccessLevel.Connected, hostAsync));
      store.mockImplementationOnce(() => answer(AccessLevel.Read, storeAsync));
      expect(await w.connections.resolveAccess(ORG, CONNECTED, CTX)).toBe(expected);
    }
    // The store is handed the clock, not a date: it reads the time only when the grant found has an end.
    expect(store.mock.calls.at(-1)?.[3]).toBe(w.clock);
    host.mockRestore();
    store.mockRestore();
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("expiry and purge (docs/behaviour.md §4, §10)", () => {
  it.each([
    [undefined, 7],
    [30, 30],
    [1, 1],
    [0, 1],
    [-5, 1],
    [90, 90],
    [1000, 90],
  ])("org setting %s gives %s days", async (setting, days) => {
    w = makeWorld(setting === undefined ? {} : { pendingConnectionExpiry: setting });
    const { connection, token } = await invite(B);
    expect(connection.expiresAt).toEqual(new Date(START.getTime() + days * DAY));
    w.clock.advance(days * DAY - 1);
    expect((await w.connections.getByToken(w.as(null), token))._id).toBe(connection._id);
    w.clock.advance(1);
    await expectCode(w.connections.getByToken(w.as(null), token), "cortex.invalidArgument.connectionToken");
  });

  it("re-inviting an expired invitation starts afresh", async () => {
    const first = await invite(B);
    w.clock.advance(8 * DAY);
    const second = await invite(B, { access: 4 });
    expect(second.connection.expiresAt).toEqual(new Date(START.getTime() + 15 * DAY));
    expect(second.connection.access).toBe(4);
    expect(second.token).not.toBe(first.token);
    expect((await w.connections.accept(w.as(B), second.token)).state).toBe(1);
  });

  it("purgeExpired removes expired invitations in bounded batches and publishes connection.expired", async () => {
    for (let i = 0; i < 7; i++) {
      const ctx = { object: "c_prescription", _id: contextId(200 + i) };
      w.contexts.grant(ORG, OWNER, ctx, AccessLevel.Delete);
      await invite(B, { context: ctx });
    }
    const active = await connect(C);
    await w.connections.create(w.as(OWNER, ORG2), CTX, [{ _id: B }]); // another org's
    w.clock.advance(7 * DAY);
    const fresh = await invite(D);
    const eventsBefore = w.events.events.length;

    expect(await w.connections.purgeExpired(ORG, { batchSize: 3, maxBatches: 1 })).toBe(3);
    expect(await w.connections.purgeExpired(ORG, { batchSize: 3 })).toBe(4);
    expect(await w.connections.purgeExpired(ORG, { batchSize: 3 })).toBe(0);

    const expired = w.events.events.slice(eventsBefore);
    expect(expired).toHaveLength(7);
    expect(expired.every((e) => e.type === "connection.expired" && e.actor === null && e.org === ORG)).toBe(
      true,
    );
    const left = w.records();
    expect(left.map((r) => r._id).sort()).toEqual(
      [active._id, fresh.connection._id, ...left.filter((r) => r.org === ORG2).map((r) => r._id)].sort(),
    );
    expect(left.filter((r) => r.org === ORG2)).toHaveLength(1); // untouched: another org
    expect(await w.connections.purgeExpired(ORG2)).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("events (issue 2): typed, after commit, never with token material", () => {
  it("each transition publishes its event", async () => {
    const a = await invite(B, { access: 2 }); // created
    await invite(B, { access: 4 }); // reinvited
    const active = await w.connections.accept(w.as(B), w.lastToken()); // accepted
    await w.connections.create(w.as(OWNER), CTX, [{ _id: B, roles: [ROLE1] }]); // upgraded
    const r = await invite(C);
    await w.connections.reject(w.as(null), r.token); // rejected
    await w.connections.delete(w.as(OWNER), active._id); // deleted
    await w.connections.create(w.as(OWNER), CTX, [{ email: "x@example.com" }]); // created
    w.accounts.put(ORG, { _id: unknownId(3), email: "x@example.com", name: {}, verified: true });
    await w.connections.bindRegisteredAccount(ORG, unknownId(3)); // bound
    w.clock.advance(8 * DAY);
    await w.connections.purgeExpired(ORG); // expired
    expect(eventTypes()).toEqual([
      "connection.created",
      "connection.reinvited",
      "connection.accepted",
      "connection.upgraded",
      "connection.created",
      "connection.rejected",
      "connection.deleted",
      "connection.created",
      "connection.bound",
      "connection.expired",
    ]);
    const [created, reinvited, accepted] = w.events.events;
    expect(created).toMatchObject({
      org: ORG,
      actor: OWNER,
      at: START,
      connection: { _id: a.connection._id },
    });
    expect(reinvited?.connection.access).toBe(4);
    expect(accepted).toMatchObject({ actor: B, connection: { _id: a.connection._id, state: 1 } });
  });

  it("events carry no token, token hash or seal", async () => {
    await invite(B);
    await invite(B, { access: 4 });
    await w.connections.accept(w.as(B), w.lastToken());
    const { token } = await invite(C);
    await w.connections.reject(w.as(null), token);
    await w.connections.create(w.as(OWNER), CTX, [{ email: "x@example.com" }]);
    w.clock.advance(8 * DAY);
    await w.connections.purgeExpired(ORG);
    const json = JSON.stringify(w.events.events);
    expect(w.tokens_().length).toBeGreaterThanOrEqual(4);
    for (const t of w.tokens_()) expect(json).not.toContain(t);
    expect(json).not.toContain("tokenHash");
    expect(json).not.toContain("tokenSeal");
    expect(json).not.toContain('"token"');
  });

  it("events are published only after the transaction commits (the change is visible to the publisher)", async () => {
    const seenAtPublish: { type: string; stored: boolean; state: number | null }[] = [];
    const publisher = new RecordingEventPublisher();
    const connections = createConnections({
      ...deps(w),
      events: {
        publish: async (events) => {
          expect(w.store.state.busy).toBe(false);
          for (const e of events) {
            const stored = await w.store.connections.findById(e.org, e.connection._id, w.clock.now());
            seenAtPublish.push({ type: e.type, stored: stored !== null, state: stored?.state ?? null });
          }
          await publisher.publish(events);
        },
      },
    });
    await connections.create(w.as(OWNER), CTX, [{ _id: B }]);
    const token = w.lastToken();
    const active = await connections.accept(w.as(B), token);
    await connections.delete(w.as(OWNER), active._id);
    expect(seenAtPublish).toEqual([
      { type: "connection.created", stored: true, state: 0 },
      { type: "connection.accepted", stored: true, state: 1 },
      { type: "connection.deleted", stored: false, state: null },
    ]);
  });

  it("a failed request publishes nothing", async () => {
    await expect(w.connections.create(w.as(READER), CTX, [{ _id: B }])).rejects.toThrow();
    await expect(w.connections.accept(w.as(B), "A".repeat(43))).rejects.toThrow();
    expect(w.events.events).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("tokens (docs/behaviour.md §3)", () => {
  it("are at least 32 URL-safe characters, unique, and stored nowhere in the clear", async () => {
    await w.connections.create(w.as(OWNER), CTX, [
      { _id: B },
      { _id: C },
      { email: "x@example.com" },
      { email: EMAIL[D] as string },
    ]);
    await invite(B, { access: 4 }); // re-invite: a fresh token
    const tokens = w.tokens_();
    expect(tokens).toHaveLength(5);
    expect(new Set(tokens).size).toBe(5);
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    const stored = await w.dump();
    expect(stored).toContain("tokenHash"); // the dump really holds the records
    for (const t of tokens) {
      expect(stored).not.toContain(t);
      expect(stored).not.toContain(encodeURIComponent(t));
    }
    // Each stored hash is the hash of a token, not the token.
    for (const r of w.records().filter((x) => x.state === 0)) {
      expect(tokens).not.toContain(r.tokenHash);
      expect(tokens.some((t) => w.tokens.matches(t, r.tokenHash as string))).toBe(true);
    }
  });

  it("undelivered outbox rows hold no usable token; the relay delivers it later", async () => {
    w = makeWorld({ deliverOnCommit: false });
    await w.connections.create(w.as(OWNER), CTX, [{ _id: B }, { email: "new@example.com" }]);
    expect(w.notifier.sent).toEqual([]);
    const rows = await w.store.outbox.rows();
    expect(rows.map((r) => r.status)).toEqual(["pending", "pending"]);
    expect(rows.every((r) => typeof r.notice.tokenSeal === "string")).toBe(true);
    const before = await w.dump();
    expect(await w.relay.drain()).toEqual({ delivered: 2, retried: 0, dead: 0, lost: 0 });
    const tokens = w.tokens_();
    expect(tokens).toHaveLength(2);
    for (const t of tokens) expect(before).not.toContain(t);
    for (const t of tokens) expect(await w.dump()).not.toContain(t);
    const bobs = (await w.connections.list(w.as(B))).data[0];
    expect(tokens).toContain(bobs?.token);
  });

  it("delivered and dead outbox rows drop the token seal", async () => {
    await invite(B);
    const rows = await w.store.outbox.rows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: "delivered", attempts: 0 });
    expect(rows[0]?.notice.tokenSeal).toBeNull();
  });
});
