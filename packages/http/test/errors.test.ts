import { ConnectionError, ERROR_CODES, ERROR_STATUS, type ErrorCode } from "@conn/core";
import { describe, expect, it } from "vitest";
import { createResponseSchema, NO_ROUTE_REASON, targetFaultSchema } from "../src/index.ts";
import {
  A,
  type Answer,
  B,
  C,
  type Call,
  chart,
  contextPath,
  expectFault,
  memo,
  NOBODY,
  ORG,
  patientFile,
  U,
  UNKNOWN_TOKEN,
  useServer,
} from "./helpers.ts";

const { call, world } = useServer();

/** The path of a context's share links. */
const linksPath = (ctx: { object: string; _id: string }) =>
  contextPath(ctx).replace(/connections$/, "share-links");

/** Alice makes a share link on the patient file; returns its id and token. */
async function aliceLink(body: Record<string, unknown>): Promise<{ _id: string; token: string }> {
  const made = await call("POST", linksPath(patientFile), { as: A, body });
  expect(made.status).toBe(200);
  return made.body;
}

/** Redeems a share link's token as `as`. */
const redeem = (as: string, token: string) => call("POST", `/${ORG}/v2/share-links/${token}`, { as });

/** Alice invites Bob to the patient file and Bob accepts; returns the connection id. */
async function activeAliceToBob(): Promise<string> {
  const created = await call("POST", contextPath(patientFile), { as: A, body: { targets: [{ _id: B }] } });
  const token = (await call("GET", `/${ORG}/v2/connections`, { as: B })).body.data[0].token;
  expect((await call("POST", `/${ORG}/v2/connections/${token}`, { as: B })).status).toBe(200);
  return created.body.data[0]._id;
}

const create = (as: string | undefined, ctx: { object: string; _id: string }, targets: unknown[]) =>
  call("POST", contextPath(ctx), { ...(as === undefined ? {} : { as }), body: { targets } });

interface Case {
  code: ErrorCode;
  how: string;
  /** The fault comes back inside a 200 create list, for one target. */
  perTarget?: boolean;
  run: (call: Call) => Promise<Answer>;
}

/** Every code of docs/behaviour.md §12 but the 5xx ones (which need a broken facade; see below), through HTTP. */
const cases: Case[] = [
  {
    code: "cortex.accessDenied.connectionsDisabled",
    how: "creating on an object that allows no connections",
    run: () => create(A, memo, [{ _id: B }]),
  },
  {
    code: "cortex.accessDenied.connectionRequiresVerification",
    how: "an unverified owner creating",
    run: () => create(U, patientFile, [{ _id: B }]),
  },
  {
    code: "cortex.accessDenied.shareAccess",
    how: "a caller without Share creating",
    run: () => create(B, patientFile, [{ _id: C }]),
  },
  {
    code: "cortex.accessDenied.connection",
    how: "a stranger reading someone else's connection by id",
    run: async () => call("GET", `/${ORG}/v2/connections/${await activeAliceToBob()}`, { as: C }),
  },
  {
    code: "cortex.accessDenied.autoConnectionRequiresAccess",
    how: "auto-connecting an account the caller has no access to",
    perTarget: true,
    run: () => create(A, chart, [{ _id: B, auto: true }]),
  },
  {
    code: "cortex.accessDenied.notLoggedIn",
    how: "an anonymous create",
    run: () => create(undefined, patientFile, [{ _id: B }]),
  },
  {
    code: "cortex.invalidArgument.connectionTarget",
    how: "a caller targeting itself",
    run: () => create(A, patientFile, [{ _id: A }]),
  },
  {
    code: "cortex.invalidArgument.noConnectionTargets",
    how: "an empty target list",
    run: () => create(A, patientFile, []),
  },
  {
    code: "cortex.invalidArgument.autoConnectionRequiresId",
    how: "auto with an email target",
    run: () => create(A, chart, [{ email: "dan@elsewhere.example", auto: true }]),
  },
  {
    code: "cortex.invalidArgument.requireConnectionAccept",
    how: "auto on an object that requires acceptance",
    run: () => create(A, patientFile, [{ _id: B, auto: true }]),
  },
  {
    code: "cortex.invalidArgument.connectionToken",
    how: "accepting an unknown token",
    run: () => call("POST", `/${ORG}/v2/connections/${UNKNOWN_TOKEN}`, { as: B }),
  },
  {
    code: "cortex.invalidArgument.unspecified",
    how: "accepting a malformed token",
    run: () => call("POST", `/${ORG}/v2/connections/short-token`, { as: B }),
  },
  {
    code: "cortex.notFound.account",
    how: "targeting an unknown account id",
    run: () => create(A, patientFile, [{ _id: NOBODY }]),
  },
  {
    code: "cortex.notFound.unspecified",
    how: "reading an unknown connection id",
    run: () => call("GET", `/${ORG}/v2/connections/${"0".repeat(24)}`, { as: A }),
  },
  {
    code: "cortex.conflict.connectionExists",
    how: "re-creating an active connection that adds nothing",
    perTarget: true,
    run: async () => {
      await activeAliceToBob();
      return create(A, patientFile, [{ _id: B }]);
    },
  },
  {
    code: "cortex.tooLarge.connectionTargets",
    how: "101 targets",
    run: () =>
      create(
        A,
        patientFile,
        Array.from({ length: 101 }, (_, i) => ({ email: `person${i}@elsewhere.example` })),
      ),
  },
  {
    code: "cortex.accessDenied.shareLinkDomain",
    how: "redeeming a link limited to another email domain",
    run: async () => redeem(B, (await aliceLink({ emailDomain: "elsewhere.example" })).token),
  },
  {
    code: "cortex.invalidArgument.shareLinkRevoked",
    how: "redeeming a revoked link",
    run: async () => {
      const link = await aliceLink({});
      expect((await call("DELETE", `/${ORG}/v2/share-links/${link._id}`, { as: A })).body.status).toBe(
        "revoked",
      );
      return redeem(B, link.token);
    },
  },
  {
    code: "cortex.invalidArgument.shareLinkExpired",
    how: "redeeming a link at its expiry",
    run: async () => {
      const link = await aliceLink({ expiresInDays: 1 });
      world().clock.advance(24 * 60 * 60 * 1000);
      return redeem(B, link.token);
    },
  },
  {
    code: "cortex.conflict.shareLinkUsedUp",
    how: "redeeming a link whose uses are taken",
    run: async () => {
      const link = await aliceLink({ uses: 1 });
      expect((await redeem(B, link.token)).status).toBe(200);
      return redeem(C, link.token);
    },
  },
];

describe("every error code through HTTP", () => {
  it("the table covers every code (the 5xx ones are tested with a broken facade below)", () => {
    const covered = new Set<string>([
      ...cases.map((c) => c.code),
      "cortex.error.unspecified",
      "cortex.error.unavailable",
    ]);
    expect([...covered].sort()).toEqual([...ERROR_CODES].sort());
  });

  it.each(cases.filter((c) => !c.perTarget))("$code ($how)", async ({ code, run }) => {
    const answer = await run(call);
    const fault = expectFault(answer, ERROR_STATUS[code], code);
    expect(fault).toMatchObject({ object: "fault", name: "fault" });
    expect(fault.code).toMatch(/^k[A-Z]/);
  });

  it.each(cases.filter((c) => c.perTarget))(
    "$code ($how) comes back as a per-target fault in a 200 list",
    async ({ code, run }) => {
      const answer = await run(call);
      expect(answer.status).toBe(200);
      createResponseSchema.parse(answer.body);
      expect(answer.body.data).toHaveLength(1);
      const fault = targetFaultSchema.parse(answer.body.data[0]);
      expect(fault).toMatchObject({ errCode: code, status: ERROR_STATUS[code], target: { _id: B } });
    },
  );

  it("a whole-request fault writes nothing", async () => {
    await create(A, patientFile, [{ _id: B }, { _id: NOBODY }]);
    expect((await call("GET", contextPath(patientFile), { as: A })).body.data).toEqual([]);
  });

  it("an unknown route is a 404 fault, told apart from a missing record by its reason", async () => {
    for (const [method, path] of [
      ["GET", "/"],
      ["GET", `/${ORG}/v1/connections`],
      ["PUT", `/${ORG}/v2/connections/${"0".repeat(24)}`],
      ["PATCH", `/${ORG}/v2/connections`],
      ["GET", `/${ORG}/v2/connections/a/b`],
    ] as const) {
      const fault = expectFault(await call(method, path, { as: A }), 404, "cortex.notFound.unspecified");
      expect(fault.reason).toBe(NO_ROUTE_REASON);
    }
    const missing = expectFault(
      await call("GET", `/${ORG}/v2/connections/${"0".repeat(24)}`, { as: A }),
      404,
      "cortex.notFound.unspecified",
    );
    expect(missing.reason).not.toBe(NO_ROUTE_REASON);
  });
});

/** A facade method that fails with a plain error. */
const boom = async (): Promise<never> => {
  throw new Error("boom");
};

describe("an error that is not a ConnectionError, or an outage", () => {
  const seen: unknown[] = [];
  /** What node-postgres throws when the server is down. */
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), {
    code: "ECONNREFUSED",
    address: "127.0.0.1",
    port: 5432,
  });
  const broken = useServer({
    connections: {
      create: async () => {
        throw new Error("connection to db-primary:5432 refused (password=hunter2)");
      },
      list: async () => {
        throw new TypeError("cannot read properties of undefined");
      },
      listForContext: async () => {
        throw "a thrown string";
      },
      get: async () => {
        throw new ConnectionError("cortex.notFound.unspecified");
      },
      getByToken: async () => {
        throw new Error("boom");
      },
      accept: async () => {
        // What the facade answers when its store lost the database: the code, the driver error as cause.
        throw new ConnectionError("cortex.error.unavailable", {
          cause: new ConnectionError("cortex.error.unavailable", { reason: "claimPending", cause: refused }),
        });
      },
      reject: async () => {
        throw new Error("boom");
      },
      delete: async () => {
        throw new Error("boom");
      },
      createShareLink: boom,
      listShareLinks: boom,
      getShareLink: boom,
      revokeShareLink: boom,
      redeemShareLink: boom,
    },
    onUnexpectedError: (error) => seen.push(error),
  });

  it("answers 500 cortex.error.unspecified without leaking its message, and reports it to the host", async () => {
    seen.length = 0;
    const answer = await broken.call("POST", contextPath(patientFile), {
      as: A,
      body: { targets: [{ _id: B }] },
    });
    const fault = expectFault(answer, 500, "cortex.error.unspecified");
    expect(fault).toEqual({
      object: "fault",
      name: "fault",
      errCode: "cortex.error.unspecified",
      code: "kError",
      status: 500,
      message: "An unexpected error occurred.",
      requestId: answer.headers.get("x-request-id"),
    });
    expect(JSON.stringify(answer.body)).not.toMatch(/hunter2|db-primary/);
    expect(seen).toHaveLength(1);
    expect(String(seen[0])).toMatch(/hunter2/);

    expectFault(
      await broken.call("GET", `/${ORG}/v2/connections`, { as: A }),
      500,
      "cortex.error.unspecified",
    );
    expectFault(
      await broken.call("GET", contextPath(patientFile), { as: A }),
      500,
      "cortex.error.unspecified",
    );
    expect(seen).toHaveLength(3);
  });

  it("answers an outage with 503 cortex.error.unavailable and Retry-After, without the driver's words", async () => {
    seen.length = 0;
    const answer = await broken.call("POST", `/${ORG}/v2/connections/${UNKNOWN_TOKEN}`, { as: B });
    const fault = expectFault(answer, 503, "cortex.error.unavailable");
    expect(fault).toEqual({
      object: "fault",
      name: "fault",
      errCode: "cortex.error.unavailable",
      code: "kUnavailable",
      status: 503,
      message: "The service is temporarily unavailable; try again later.",
      requestId: answer.headers.get("x-request-id"),
    });
    expect(answer.headers.get("retry-after")).toBe("1");
    expect(JSON.stringify(answer.body)).not.toMatch(/ECONN|127\.0\.0\.1|5432|claimPending/);
    expect(seen).toHaveLength(1);
  });

  it("a ConnectionError from the same facade still answers with its own fault", async () => {
    expectFault(
      await broken.call("GET", `/${ORG}/v2/connections/${"0".repeat(24)}`, { as: A }),
      404,
      "cortex.notFound.unspecified",
    );
  });
});
