import { AccessLevel, type ConnectionView } from "@conn/core";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import {
  connectionListSchema,
  connectionSchema,
  createResponseSchema,
  type Jsonified,
  resultSchema,
} from "../src/index.ts";
import {
  A,
  B,
  C,
  chart,
  contextPath,
  expectFault,
  ORG,
  patientFile,
  UNKNOWN_TOKEN,
  useServer,
} from "./helpers.ts";

const { call, world } = useServer();

/** Alice invites `target` to the patient file at `access`; returns the new connection's id. */
async function invite(target: string, access: number = AccessLevel.Read): Promise<string> {
  const answer = await call("POST", contextPath(patientFile), {
    as: A,
    body: { targets: [{ _id: target, access }] },
  });
  expect(answer.status).toBe(200);
  return answer.body.data[0]._id;
}

/** The token `target` sees on its pending invitation. */
async function tokenOf(target: string): Promise<string> {
  const answer = await call("GET", `/${ORG}/v2/connections?state=0`, { as: target });
  expect(answer.status).toBe(200);
  return answer.body.data[0].token;
}

describe("the seed's story, as request/response pairs", () => {
  it("A connects B at Read, B sees the token, accepts, reads it, and A deletes it", async () => {
    // 1. Alice creates a connection to Bob at Read.
    const created = await call("POST", contextPath(patientFile), {
      as: A,
      body: { targets: [{ _id: B, access: AccessLevel.Read }] },
    });
    expect(created.status).toBe(200);
    createResponseSchema.parse(created.body);
    expect(created.body).toMatchObject({
      object: "list",
      hasMore: false,
      data: [
        {
          object: "connection",
          access: AccessLevel.Read,
          state: 0,
          context: { ...patientFile, path: `/c_patient_files/${patientFile._id}` },
          creator: { _id: A, object: "account", path: `/accounts/${A}` },
          target: { account: { _id: B, object: "account", path: `/accounts/${B}` } },
          contextSource: null,
        },
      ],
    });
    const id: string = created.body.data[0]._id;
    expect(created.body.data[0]).not.toHaveProperty("token");
    expect(typeof created.body.data[0].created).toBe("string");
    expect(new Date(created.body.data[0].created).toISOString()).toBe(created.body.data[0].created);

    // 2. Bob lists his connections and sees the pending one with its token.
    const listed = await call("GET", `/${ORG}/v2/connections`, { as: B });
    expect(listed.status).toBe(200);
    connectionListSchema.parse(listed.body);
    expect(listed.body).toMatchObject({ object: "list", hasMore: false, data: [{ _id: id, state: 0 }] });
    const token: string = listed.body.data[0].token;
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(typeof listed.body.data[0].expiresAt).toBe("string");

    // 3. Bob accepts with the token.
    const accepted = await call("POST", `/${ORG}/v2/connections/${token}`, { as: B });
    expect(accepted.status).toBe(200);
    connectionSchema.parse(accepted.body);
    expect(accepted.body).toMatchObject({ _id: id, state: 1, access: AccessLevel.Read });
    expect(accepted.body).not.toHaveProperty("token");
    expect(accepted.body).not.toHaveProperty("expiresAt");
    expect(await world().connections.resolveAccess(ORG, B, patientFile)).toBe(AccessLevel.Read);

    // 4. Bob reads it by id.
    const read = await call("GET", `/${ORG}/v2/connections/${id}`, { as: B });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ _id: id, state: 1, object: "connection" });

    // 5. Alice deletes it: the result is true and Bob's access ends at once.
    const deleted = await call("DELETE", `/${ORG}/v2/connections/${id}`, { as: A });
    expect(deleted.status).toBe(200);
    expect(resultSchema.parse(deleted.body)).toEqual({ object: "result", data: true });
    expect(await world().connections.resolveAccess(ORG, B, patientFile)).toBe(AccessLevel.None);
    expectFault(
      await call("GET", `/${ORG}/v2/connections/${id}`, { as: B }),
      404,
      "cortex.notFound.unspecified",
    );
  });
});

describe("the auto-accept story", () => {
  it("A connects C with auto on the chart: active at once, no token, capped by the share chain", async () => {
    const created = await call("POST", contextPath(chart), {
      as: A,
      body: { targets: [{ _id: C, access: AccessLevel.Update, auto: true }] },
    });
    expect(created.status).toBe(200);
    createResponseSchema.parse(created.body);
    expect(created.body.data).toHaveLength(1);
    expect(created.body.data[0]).toMatchObject({
      state: 1,
      access: AccessLevel.Share,
      target: { account: { _id: C } },
    });
    expect(created.body.data[0]).not.toHaveProperty("token");
    expect(created.body.data[0]).not.toHaveProperty("expiresAt");

    const mine = await call("GET", `/${ORG}/v2/connections?state=1`, { as: C });
    expect(mine.body).toMatchObject({ object: "list", data: [{ _id: created.body.data[0]._id, state: 1 }] });
    expect(mine.body.data[0]).not.toHaveProperty("token");
    expect(await world().connections.resolveAccess(ORG, C, chart)).toBe(AccessLevel.Share);
    expect(world().notifier.sent.at(-1)?.kind).toBe("connection-created");
  });
});

describe("POST /{objects}/{id}/connections", () => {
  it("creates one entry per merged target, in request order, and passes contextSource through", async () => {
    const answer = await call("POST", contextPath(patientFile), {
      as: A,
      body: {
        targets: [{ email: "  Dan@Elsewhere.example " }, { _id: B }, { _id: B, access: AccessLevel.Read }],
        contextSource: "c_nurse",
      },
    });
    expect(answer.status).toBe(200);
    createResponseSchema.parse(answer.body);
    expect(answer.body.data).toHaveLength(2);
    expect(answer.body.data[0]).toMatchObject({
      target: { email: "dan@elsewhere.example" },
      contextSource: "c_nurse",
    });
    expect(answer.body.data[1]).toMatchObject({ target: { account: { _id: B } }, access: AccessLevel.Read });
  });
});

describe("GET /{objects}/{id}/connections", () => {
  it("lists the connections on a context for a caller with Share, with a cursor page", async () => {
    const first = await invite(B);
    const second = await invite(C);
    const all = await call("GET", contextPath(patientFile), { as: A });
    expect(all.status).toBe(200);
    connectionListSchema.parse(all.body);
    expect(all.body.data.map((c: { _id: string }) => c._id).sort()).toEqual([first, second].sort());

    const page = await call("GET", `${contextPath(patientFile)}?limit=1`, { as: A });
    expect(page.body).toMatchObject({ object: "list", hasMore: true });
    expect(page.body.data).toHaveLength(1);
    const next = await call(
      "GET",
      `${contextPath(patientFile)}?limit=1&startingAfter=${page.body.data[0]._id}`,
      {
        as: A,
      },
    );
    expect(next.body.hasMore).toBe(false);
    expect(next.body.data).toHaveLength(1);
    expect(next.body.data[0]._id).not.toBe(page.body.data[0]._id);
  });

  it("refuses a caller without Share on the context (403 shareAccess) and a `show` it does not take (400)", async () => {
    expectFault(
      await call("GET", contextPath(patientFile), { as: B }),
      403,
      "cortex.accessDenied.shareAccess",
    );
    const fault = expectFault(
      await call("GET", `${contextPath(patientFile)}?show=creator`, { as: A }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expect(fault.path).toBe("query");
  });
});

describe("GET /connections query", () => {
  it("coerces show, state, objects (comma list or repeated), limit and the cursors", async () => {
    await invite(B);
    await call("POST", contextPath(chart), { as: A, body: { targets: [{ _id: B }] } });

    const asCreator = await call("GET", `/${ORG}/v2/connections?show=creator`, { as: A });
    expect(asCreator.body.data).toHaveLength(2);
    expect((await call("GET", `/${ORG}/v2/connections?show=target`, { as: A })).body.data).toHaveLength(0);

    const pending = await call("GET", `/${ORG}/v2/connections?state=0`, { as: B });
    expect(pending.body.data).toHaveLength(2);
    expect((await call("GET", `/${ORG}/v2/connections?state=1`, { as: B })).body.data).toHaveLength(0);

    const charts = await call("GET", `/${ORG}/v2/connections?objects=c_chart`, { as: B });
    expect(charts.body.data.map((c: { context: { object: string } }) => c.context.object)).toEqual([
      "c_chart",
    ]);
    const comma = await call("GET", `/${ORG}/v2/connections?objects=c_chart,c_patient_file`, { as: B });
    expect(comma.body.data).toHaveLength(2);
    const repeated = await call("GET", `/${ORG}/v2/connections?objects=c_chart&objects=c_patient_file`, {
      as: B,
    });
    expect(repeated.body.data).toHaveLength(2);

    const one = await call("GET", `/${ORG}/v2/connections?limit=1`, { as: B });
    expect(one.body).toMatchObject({ hasMore: true });
    expect(one.body.data).toHaveLength(1);
    const before = await call(
      "GET",
      `/${ORG}/v2/connections?limit=1&endingBefore=${pending.body.data[1]._id}`,
      {
        as: B,
      },
    );
    expect(before.body.data.map((c: { _id: string }) => c._id)).toEqual([pending.body.data[0]._id]);
  });

  it.each([
    ["state=2", "state"],
    ["state=pending", "state"],
    ["limit=0", "limit"],
    ["limit=1001", "limit"],
    ["limit=ten", "limit"],
    ["limit=1&limit=2", "limit"],
    ["show=everyone", "show"],
    ["objects=Bad-Name", "objects.0"],
    ["startingAfter=nope", "startingAfter"],
    [`startingAfter=${A}&endingBefore=${B}`, "endingBefore"],
    ["colour=blue", "query"],
  ])("refuses ?%s with 400 invalidArgument.unspecified at %s", async (query, path) => {
    const fault = expectFault(
      await call("GET", `/${ORG}/v2/connections?${query}`, { as: B }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expect(fault.path).toBe(path);
  });
});

describe("id/token dispatch on /connections/{idOrToken}", () => {
  it("GET: a 24-hex segment reads by id, anything else reads an invitation by token", async () => {
    const id = await invite(B);
    const token = await tokenOf(B);
    const byId = await call("GET", `/${ORG}/v2/connections/${id}`, { as: B });
    expect(byId.status).toBe(200);
    const byToken = await call("GET", `/${ORG}/v2/connections/${token}`, { as: B });
    expect(byToken.status).toBe(200);
    expect(byToken.body).toMatchObject({ _id: id, state: 0, token });
    connectionSchema.parse(byToken.body);
    // Unknown id → the by-id lookup (404); unknown token → the by-token lookup (400 connectionToken).
    expectFault(
      await call("GET", `/${ORG}/v2/connections/${"a".repeat(24)}`, { as: B }),
      404,
      "cortex.notFound.unspecified",
    );
    expectFault(
      await call("GET", `/${ORG}/v2/connections/${UNKNOWN_TOKEN}`, { as: B }),
      400,
      "cortex.invalidArgument.connectionToken",
    );
    // Upper-case hex is not an id: it is a token, and a malformed one (too short).
    const upper = expectFault(
      await call("GET", `/${ORG}/v2/connections/${id.toUpperCase()}`, { as: B }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expect(upper.path).toBe("token");
  });

  it("a token presented by a logged-in account that is not its target opens nothing (no oracle)", async () => {
    await invite(B);
    const token = await tokenOf(B);
    for (const method of ["GET", "POST", "DELETE"]) {
      expectFault(
        await call(method, `/${ORG}/v2/connections/${token}`, { as: C }),
        400,
        "cortex.invalidArgument.connectionToken",
      );
    }
    expect((await call("GET", `/${ORG}/v2/connections/${token}`, { as: B })).status).toBe(200);
  });

  it("DELETE: an id deletes, a token rejects; both answer { object: result, data: true }", async () => {
    const id = await invite(B);
    expect((await call("DELETE", `/${ORG}/v2/connections/${id}`, { as: A })).body).toEqual({
      object: "result",
      data: true,
    });
    await invite(C);
    const token = await tokenOf(C);
    const rejected = await call("DELETE", `/${ORG}/v2/connections/${token}`, { as: C });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toEqual({ object: "result", data: true });
    expect((await call("GET", `/${ORG}/v2/connections`, { as: C })).body.data).toEqual([]);
  });

  it("POST: a token accepts; a connection id is refused as a malformed token (400 unspecified)", async () => {
    const id = await invite(B);
    const fault = expectFault(
      await call("POST", `/${ORG}/v2/connections/${id}`, { as: B }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expect(fault.path).toBe("token");
    const accepted = await call("POST", `/${ORG}/v2/connections/${await tokenOf(B)}`, { as: B });
    expect(accepted.body).toMatchObject({ _id: id, state: 1 });
  });
});

describe("anonymous callers", () => {
  it("may read an invitation by token and reject it (the invitation landing page)", async () => {
    const id = await invite(B);
    const token = await tokenOf(B);
    const read = await call("GET", `/${ORG}/v2/connections/${token}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ _id: id, state: 0 });
    const rejected = await call("DELETE", `/${ORG}/v2/connections/${token}`);
    expect(rejected.body).toEqual({ object: "result", data: true });
    expectFault(
      await call("GET", `/${ORG}/v2/connections/${token}`),
      400,
      "cortex.invalidArgument.connectionToken",
    );
  });

  it("may not create, list, accept, read by id or delete by id (403 notLoggedIn)", async () => {
    const id = await invite(B);
    const token = await tokenOf(B);
    const refused = [
      await call("POST", contextPath(patientFile), { body: { targets: [{ _id: C }] } }),
      await call("GET", contextPath(patientFile)),
      await call("GET", `/${ORG}/v2/connections`),
      await call("POST", `/${ORG}/v2/connections/${token}`),
      await call("GET", `/${ORG}/v2/connections/${id}`),
      await call("DELETE", `/${ORG}/v2/connections/${id}`),
    ];
    for (const answer of refused) expectFault(answer, 403, "cortex.accessDenied.notLoggedIn");
    expect((await call("GET", `/${ORG}/v2/connections/${id}`, { as: B })).body.state).toBe(0);
  });
});

describe("every answer", () => {
  it("documents connections with a schema every view of the facade fits (checked by the type checker)", () => {
    expectTypeOf<Jsonified<ConnectionView>>().toExtend<z.input<typeof connectionSchema>>();
    expectTypeOf<{ _id: number }>().not.toExtend<z.input<typeof connectionSchema>>();
  });

  it("is marked Cache-Control: no-store (answers can carry tokens), faults included", async () => {
    await invite(B);
    expect((await call("GET", `/${ORG}/v2/connections`, { as: B })).headers.get("cache-control")).toBe(
      "no-store",
    );
    expect((await call("GET", `/${ORG}/v2/connections`)).headers.get("cache-control")).toBe("no-store");
  });

  it("refuses a malformed org segment with 400 at org", async () => {
    const fault = expectFault(
      await call("GET", "/ac.me/v2/connections", { as: B }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expect(fault.path).toBe("org");
  });
});

describe("host ids of any style (UUIDs, integers, slugs)", () => {
  it("a UUID-keyed context and integer-keyed accounts go through create → accept → read → delete", async () => {
    const [alice, dana] = ["1001", "1002"];
    const file = { object: "c_patient_file", _id: "f81d4fae-7dec-11d0-a765-00a0c91e6bf6" };
    world().accounts.put(ORG, {
      _id: alice,
      email: "alice2@acme.example",
      name: { first: "A" },
      verified: true,
    });
    world().accounts.put(ORG, {
      _id: dana,
      email: "dana@acme.example",
      name: { first: "D" },
      verified: true,
    });
    world().contexts.grant(ORG, alice, file, AccessLevel.Delete);
    const created = await call("POST", contextPath(file), {
      as: alice,
      body: { targets: [{ _id: dana, access: AccessLevel.Read }] },
    });
    expect(created.status).toBe(200);
    expect(created.body.data[0].context.path).toBe(`/c_patient_files/${file._id}`);
    const token = (await call("GET", `/${ORG}/v2/connections?state=0`, { as: dana })).body.data[0].token;
    const accepted = await call("POST", `/${ORG}/v2/connections/${token}`, { as: dana });
    expect(accepted.body.target.account._id).toBe(dana);
    const listed = await call("GET", contextPath(file), { as: alice });
    expect(listed.body.data.map((v: { _id: string }) => v._id)).toEqual([accepted.body._id]);
    expect(await world().connections.resolveAccess(ORG, dana, file)).toBe(AccessLevel.Read);
    expect((await call("DELETE", `/${ORG}/v2/connections/${accepted.body._id}`, { as: alice })).status).toBe(
      200,
    );
    expect(await world().connections.resolveAccess(ORG, dana, file)).toBe(AccessLevel.None);
  });
});
