/**
 * Request ids and the host's error reporter: every answer has an `X-Request-Id`, every fault carries it, and every
 * 5xx answer is reported exactly once, with the full error and the id the client got; nothing of the fault's cause
 * reaches the client, and no token reaches the report.
 */
import { ConnectionError } from "@conn/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ConnectionsApi, UnexpectedErrorReport } from "../src/index.ts";
import {
  A,
  type Answer,
  B,
  bearer,
  contextPath,
  expectFault,
  forwardTo,
  ORG,
  patientFile,
  UNKNOWN_TOKEN,
  useServer,
} from "./helpers.ts";

/** A driver error as node-postgres throws it when its backend was terminated. */
function terminated(): Error {
  return Object.assign(new Error("terminating connection due to administrator command"), {
    code: "57P01",
    severity: "FATAL",
    routine: "ProcessInterrupts",
  });
}

/** What node-postgres throws when nothing listens on the server's port. */
function refused(): Error {
  return Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), {
    code: "ECONNREFUSED",
    errno: -111,
    address: "127.0.0.1",
    port: 5432,
  });
}

/** Everything a client must never see: the driver's words, SQL states, the host, the port, a stack frame. */
const INTERNALS = [
  /administrator command/,
  /ECONN/,
  /57P01/,
  /127\.0\.0\.1/,
  /5432/,
  /\bat .+:\d+:\d+/,
  /node_modules|\.ts\b|\.js\b/,
  /hunter2/,
];

/** The whole answer as a client sees it: status, every header, body. */
function visible(answer: Answer): string {
  return JSON.stringify({ status: answer.status, headers: [...answer.headers], body: answer.body });
}

interface Reported {
  error: unknown;
  request: Request;
  report: UnexpectedErrorReport;
}

/** One way a request fails with a 5xx, from the facade or from the host's authentication. */
interface FailingPath {
  name: string;
  status: 500 | 503;
  error: () => unknown;
  /** Where it is thrown: a facade method, or the host's `authenticate`. */
  from: "accept" | "create" | "list" | "delete" | "authenticate";
}

const paths: FailingPath[] = [
  {
    name: "the facade lost its database (unavailable, driver error as cause)",
    status: 503,
    from: "accept",
    error: () =>
      new ConnectionError("cortex.error.unavailable", {
        cause: new ConnectionError("cortex.error.unavailable", {
          reason: "claimPending",
          cause: terminated(),
        }),
      }),
  },
  {
    name: "a port said it is down the old way (retryable unspecified, driver words in the reason)",
    status: 503,
    from: "create",
    error: () =>
      new ConnectionError("cortex.error.unspecified", {
        retryable: true,
        reason: "activeAccess: [ECONNREFUSED] connect ECONNREFUSED 127.0.0.1:5432",
        cause: refused(),
      }),
  },
  {
    name: "a host port timed out (TimeoutError)",
    status: 503,
    from: "list",
    error: () => new DOMException("The operation timed out: 127.0.0.1:5432", "TimeoutError"),
  },
  {
    name: "a bug (a plain Error with a secret in its message)",
    status: 500,
    from: "delete",
    error: () => new Error("connect to db-primary:5432 failed (password=hunter2)"),
  },
  {
    name: "not even an Error (a thrown string)",
    status: 500,
    from: "create",
    error: () => "password=hunter2 at query (/srv/app/db.ts:12:7)",
  },
  {
    name: "the host's authentication is down (unavailable)",
    status: 503,
    from: "authenticate",
    error: () => new ConnectionError("cortex.error.unavailable", { cause: refused() }),
  },
  {
    name: "the host's authentication has a bug",
    status: 500,
    from: "authenticate",
    error: () => new TypeError("Cannot read properties of undefined (reading 'session') at auth.ts:3:9"),
  },
];

describe("5xx answers: reported once, with the id the client got; the client gets only the code", () => {
  const reported: Reported[] = [];
  let failing: FailingPath | null = null;
  let thrown: unknown;
  const fail = (where: FailingPath["from"]) => {
    if (failing?.from === where) {
      thrown = failing.error();
      throw thrown;
    }
  };
  const { call, world } = useServer({
    onUnexpectedError: (error, request, report) => reported.push({ error, request, report }),
    authenticate: (request) => {
      fail("authenticate");
      return bearer(request);
    },
    connections: forwardTo(() => {
      const real = world().connections;
      const api: ConnectionsApi = {
        ...forwardTo(() => real),
        accept: async (...args) => {
          fail("accept");
          return real.accept(...args);
        },
        create: async (...args) => {
          fail("create");
          return real.create(...args);
        },
        list: async (...args) => {
          fail("list");
          return real.list(...args);
        },
        delete: async (...args) => {
          fail("delete");
          return real.delete(...args);
        },
      };
      return api;
    }),
  });

  afterEach(() => {
    failing = null;
    reported.length = 0;
  });

  /** The request that reaches `path.from`. */
  function requestFor(path: FailingPath): Promise<Answer> {
    switch (path.from) {
      case "accept":
        return call("POST", `/${ORG}/v2/connections/${UNKNOWN_TOKEN}`, { as: B });
      case "create":
        return call("POST", contextPath(patientFile), { as: A, body: { targets: [{ _id: B }] } });
      case "list":
        return call("GET", `/${ORG}/v2/connections`, { as: A });
      case "delete":
        return call("DELETE", `/${ORG}/v2/connections/${"0".repeat(24)}`, { as: A });
      case "authenticate":
        return call("GET", `/${ORG}/v2/connections`, { as: A });
    }
  }

  it.each(paths)("$name: $status, reported exactly once with the same request id", async (path) => {
    failing = path;
    const answer = await requestFor(path);
    const code = path.status === 503 ? "cortex.error.unavailable" : "cortex.error.unspecified";
    const fault = expectFault(answer, path.status, code);
    expect(fault.reason).toBeUndefined();
    expect(fault.path).toBeUndefined();
    expect(answer.headers.get("retry-after")).toBe(path.status === 503 ? "1" : null);
    for (const pattern of INTERNALS) expect(visible(answer)).not.toMatch(pattern);

    expect(reported).toHaveLength(1);
    const [{ error, request, report }] = reported as [Reported];
    expect(error, "the reporter gets the very error, cause chain and all").toBe(thrown);
    expect(report).toEqual({
      requestId: fault.requestId,
      method: request.method,
      route: expect.stringMatching(/^\/:org\/v2\//),
      path: new URL(request.url).pathname.replace(UNKNOWN_TOKEN, "<token>"),
      status: path.status,
      code,
    });
    expect(report.route).not.toContain(UNKNOWN_TOKEN);
    expect(report.path).not.toContain(UNKNOWN_TOKEN);
  });

  it("names the route that matched", async () => {
    failing = paths[0] as FailingPath;
    await requestFor(failing);
    expect(reported[0]?.report.route).toBe("/:org/v2/connections/:idOrToken");
    reported.length = 0;
    failing = paths.find((p) => p.from === "create") as FailingPath;
    await requestFor(failing);
    expect(reported[0]?.report.route).toBe("/:org/v2/:objects/:id/connections");
  });

  it("a 4xx fault carries its request id too, and is not reported", async () => {
    const answer = await call("POST", `/${ORG}/v2/connections/${UNKNOWN_TOKEN}`, { as: B });
    expectFault(answer, 400, "cortex.invalidArgument.connectionToken");
    const missing = await call("GET", `/${ORG}/v2/nothing/here/at/all`, { as: A });
    expectFault(missing, 404, "cortex.notFound.unspecified");
    expect(reported).toEqual([]);
  });

  it("every answer, a 200 included, has its own generated request id; a caller's X-Request-Id is not trusted", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const answer = await call("GET", `/${ORG}/v2/connections`, {
        as: A,
        headers: { "x-request-id": "chosen-by-the-caller" },
      });
      expect(answer.status).toBe(200);
      const id = answer.headers.get("x-request-id") ?? "";
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(20);
    const document = await call("GET", `/${ORG}/v2/openapi.json`);
    expect(document.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("trustRequestId and generateRequestId", () => {
  const reported: UnexpectedErrorReport[] = [];
  let n = 0;
  const { call } = useServer({
    trustRequestId: true,
    generateRequestId: () => `gen-${++n}`,
    retryAfterSeconds: 7,
    onUnexpectedError: (_error, _request, report) => reported.push(report),
    connections: forwardTo(
      () =>
        ({
          list: async () => {
            throw new ConnectionError("cortex.error.unavailable", { cause: terminated() });
          },
        }) as unknown as ConnectionsApi,
    ),
  });

  it("a trusted, well-formed X-Request-Id is the request's id, in the header, the fault and the report", async () => {
    reported.length = 0;
    const answer = await call("GET", `/${ORG}/v2/connections`, {
      as: A,
      headers: { "x-request-id": "lb-7f3a.9:2=x_y" },
    });
    const fault = expectFault(answer, 503, "cortex.error.unavailable");
    expect(fault.requestId).toBe("lb-7f3a.9:2=x_y");
    expect(answer.headers.get("retry-after")).toBe("7");
    expect(reported.map((r) => r.requestId)).toEqual(["lb-7f3a.9:2=x_y"]);
  });

  it.each([
    ["spaces", "a b"],
    ["a forged log line", "x\tlevel=error msg=forged"],
    ["129 characters", "a".repeat(129)],
    ["non-ASCII", "idé"],
  ])("a malformed one (%s) is replaced by a generated id", async (_label, given) => {
    reported.length = 0;
    const answer = await call("GET", `/${ORG}/v2/connections`, { as: A, headers: { "x-request-id": given } });
    const fault = expectFault(answer, 503, "cortex.error.unavailable");
    expect(fault.requestId).toMatch(/^gen-\d+$/);
    expect(reported.map((r) => r.requestId)).toEqual([fault.requestId]);
  });
});

describe("the default reporter", () => {
  const write = vi.spyOn(console, "error").mockImplementation(() => {});
  const lost = terminated();
  const { call } = useServer({
    connections: forwardTo(
      () =>
        ({
          accept: async () => {
            throw new ConnectionError("cortex.error.unavailable", { cause: lost });
          },
        }) as unknown as ConnectionsApi,
    ),
  });

  afterEach(() => {
    write.mockClear();
  });

  it("writes one console.error with the status, code, redacted path and request id, then the full error; never the token", async () => {
    const token = "tok_".padEnd(43, "Z");
    const answer = await call("POST", `/${ORG}/v2/connections/${token}?t=${token}`, { as: B });
    const fault = expectFault(answer, 503, "cortex.error.unavailable");
    expect(write).toHaveBeenCalledTimes(1);
    const [line, error] = write.mock.calls[0] as [string, ConnectionError];
    expect(line).toBe(
      `@conn/http: 503 cortex.error.unavailable on POST /${ORG}/v2/connections/<token> (request ${fault.requestId})`,
    );
    expect(error.cause).toBe(lost);
    expect(JSON.stringify(write.mock.calls)).not.toContain(token);
  });
});
