import { ConnectionError, type Principal } from "@conn/core";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ConnectionsApi,
  createConnectionsApp,
  type RunningServer,
  startServer,
  stripTrailingS,
} from "../src/index.ts";
import {
  A,
  B,
  bearer,
  client,
  expectFault,
  forwardTo,
  makeWorld,
  ORG,
  patientFile,
  useServer,
} from "./helpers.ts";

describe("basePath and objectFromPlural", () => {
  const plurals: Array<[string, string]> = [];
  const { call, world } = useServer({
    basePath: "/api/",
    objectFromPlural: async (org, plural) => {
      plurals.push([org, plural]);
      return plural === "patient-files"
        ? null
        : plural === "files"
          ? "c_patient_file"
          : stripTrailingS(org, plural);
    },
  });

  it("serves every route under the base path, and nothing outside it", async () => {
    const created = await call("POST", `/api/${ORG}/v2/files/${patientFile._id}/connections`, {
      as: A,
      body: { targets: [{ _id: B }] },
    });
    expect(created.status).toBe(200);
    expect(created.body.data[0]).toMatchObject({
      context: { object: "c_patient_file", _id: patientFile._id },
    });
    expect(plurals).toContainEqual([ORG, "files"]);
    expect((await call("GET", `/api/${ORG}/v2/connections`, { as: B })).body.data).toHaveLength(1);
    expectFault(await call("GET", `/${ORG}/v2/connections`, { as: B }), 404, "cortex.notFound.unspecified");
    const document = await call("GET", `/api/${ORG}/v2/openapi.json`);
    expect(document.body.servers).toEqual([{ url: "/api" }]);
    expect(await world().connections.resolveAccess(ORG, B, patientFile)).toBe(0);
  });

  it("answers 404 notFound.unspecified at objects when the host knows no such plural", async () => {
    const fault = expectFault(
      await call("GET", `/api/${ORG}/v2/patient-files/${patientFile._id}/connections`, { as: A }),
      404,
      "cortex.notFound.unspecified",
    );
    expect(fault).toMatchObject({ path: "objects", reason: "unknown object patient-files" });
  });

  it("refuses a plural segment with characters no object name has (400 at objects)", async () => {
    const fault = expectFault(
      await call("GET", `/api/${ORG}/v2/c%20files/${patientFile._id}/connections`, { as: A }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expect(fault.path).toBe("objects");
  });

  it("refuses a malformed context id with 400 at id", async () => {
    const fault = expectFault(
      await call("GET", `/api/${ORG}/v2/c_patient_files/not%20an%20id/connections`, { as: A }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expect(fault.path).toBe("id");
  });
});

describe("the default objectFromPlural", () => {
  it("strips one trailing s and keeps a name without one", () => {
    expect(stripTrailingS(ORG, "c_prescriptions")).toBe("c_prescription");
    expect(stripTrailingS(ORG, "c_data")).toBe("c_data");
    expect(stripTrailingS(ORG, "accounts")).toBe("account");
  });
});

describe("what the facade receives", () => {
  const calls: Array<{ principal: Principal; query: unknown }> = [];
  const empty = { object: "list" as const, data: [], hasMore: false };
  const recording: ConnectionsApi = {
    ...forwardTo(() => makeWorld().connections),
    list: async (principal, query) => {
      calls.push({ principal, query });
      return empty;
    },
    listForContext: async (principal, context, query) => {
      calls.push({ principal, query: { context, ...query } });
      return empty;
    },
  };
  const orgs: string[] = [];
  const loaded = { _id: "loaded", email: "loaded@acme.example", name: { first: "L" }, verified: true };
  const { call } = useServer({
    connections: recording,
    authenticate: async (request, org) => {
      orgs.push(org);
      if (request.headers.get("authorization") === "Bearer broken") throw new Error("session store down");
      if (request.headers.get("authorization") === "Bearer banned") {
        throw new ConnectionError("cortex.accessDenied.notLoggedIn", { reason: "session revoked" });
      }
      if (request.headers.get("authorization") === "Bearer loaded")
        return { accountId: "loaded", account: loaded };
      return bearer(request);
    },
    onUnexpectedError: () => undefined,
  });

  it("gets the org of the URL, the host's account, and the query coerced to the facade's types", async () => {
    calls.length = 0;
    const answer = await call(
      "GET",
      `/${ORG}/v2/connections?state=1&objects=c_a,c_b&objects=c_c&limit=5&startingAfter=${B}`,
      { as: A },
    );
    expect(answer.body).toEqual(empty);
    expect(calls).toEqual([
      {
        principal: { org: ORG, accountId: A },
        query: { show: "target", state: 1, objects: ["c_a", "c_b", "c_c"], limit: 5, startingAfter: B },
      },
    ]);
    expect(orgs.at(-1)).toBe(ORG);
  });

  it("gets the account the host loaded to authenticate, when it returns one, so it is not looked up again", async () => {
    calls.length = 0;
    await call("GET", `/${ORG}/v2/connections`, { as: "loaded" });
    expect(calls.map((c) => c.principal)).toEqual([{ org: ORG, accountId: "loaded", account: loaded }]);
  });

  it("gets an anonymous principal (accountId null) when the host authenticates no one", async () => {
    calls.length = 0;
    await call("GET", `/${ORG}/v2/c_patient_files/${patientFile._id}/connections?show=creator`);
    await call("GET", `/${ORG}/v2/c_patient_files/${patientFile._id}/connections?state=0`);
    expect(calls).toEqual([
      {
        principal: { org: ORG, accountId: null },
        query: { context: { object: "c_patient_file", _id: patientFile._id }, state: 0, limit: 100 },
      },
    ]);
  });

  it("answers a ConnectionError thrown by authenticate with its fault, and any other error with a bare 500", async () => {
    const banned = expectFault(
      await call("GET", `/${ORG}/v2/connections`, { as: "banned" }),
      403,
      "cortex.accessDenied.notLoggedIn",
    );
    expect(banned.reason).toBe("session revoked");
    const broken = expectFault(
      await call("GET", `/${ORG}/v2/connections`, { as: "broken" }),
      500,
      "cortex.error.unspecified",
    );
    expect(broken.message).toBe("An unexpected error occurred.");
  });
});

describe("mounting in a host app", () => {
  let server: RunningServer;
  beforeAll(async () => {
    const world = makeWorld();
    const host = new Hono();
    host.get("/health", (c) => c.text("ok"));
    host.route("/", createConnectionsApp({ connections: world.connections, authenticate: bearer }));
    server = await startServer({ app: host });
  });
  afterAll(() => server.close());

  it("serves the host's own routes and the connections routes side by side", async () => {
    const health = await fetch(`${server.url}/health`);
    expect(await health.text()).toBe("ok");
    expect(health.headers.get("cache-control")).toBeNull();
    const call = client(() => server.url);
    const created = await call("POST", `/${ORG}/v2/c_patient_files/${patientFile._id}/connections`, {
      as: A,
      body: { targets: [{ _id: B }] },
    });
    expect(created.status).toBe(200);
    expect(created.body.data[0].state).toBe(0);
  });
});

describe("startServer", () => {
  it("listens on 127.0.0.1 and a free port by default, reports its URL, and close() stops it", async () => {
    const app = createConnectionsApp({ connections: makeWorld().connections, authenticate: bearer });
    const server = await startServer({ app });
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);
    const answer = await fetch(`${server.url}/${ORG}/v2/connections`);
    expect(answer.status).toBe(403);
    await server.close();
    await expect(fetch(`${server.url}/${ORG}/v2/connections`)).rejects.toThrow();
  });

  it("rejects when the port is taken", async () => {
    const app = createConnectionsApp({ connections: makeWorld().connections, authenticate: bearer });
    const first = await startServer({ app });
    await expect(startServer({ app, port: first.port })).rejects.toThrow(/EADDRINUSE/);
    await first.close();
  });
});
