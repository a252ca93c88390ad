import { request as httpRequest } from "node:http";
import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_BODY_BYTES } from "../src/index.ts";
import { A, type Answer, B, contextPath, expectFault, ORG, patientFile, useServer } from "./helpers.ts";

const MAX = 2048;
const { call, url, world } = useServer({ maxBodyBytes: MAX });
const path = contextPath(patientFile);

/** Bob has no invitation: the refused request wrote nothing. */
async function expectNothingWritten(): Promise<void> {
  expect((await world().connections.list({ org: ORG, accountId: B })).data).toEqual([]);
}

/**
 * Streams a chunked body (no Content-Length) through node:http: first `chunks`, then, when `keepStreaming`, 512-byte
 * chunks one at a time until the server answers (at most 400, 200 kB) — the body is never ended by the client.
 */
function sendChunked(chunks: string[], keepStreaming = false): Promise<Answer & { ended: boolean }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let ended = false;
    const req = httpRequest(
      new URL(path, url()),
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${A}`,
          "transfer-encoding": "chunked",
        },
      },
      (res) => {
        answered = true;
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          text += d;
        });
        res.on("end", () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: new Headers(res.headers as Record<string, string>),
            body: JSON.parse(text),
            ended,
          });
          if (!ended) req.destroy();
        });
      },
    );
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    for (const chunk of chunks) req.write(chunk);
    if (!keepStreaming) {
      ended = true;
      req.end();
      return;
    }
    let sent = 0;
    const more = () => {
      if (answered || req.destroyed) return;
      if (sent++ >= 400) {
        ended = true;
        req.end();
        return;
      }
      req.write("y".repeat(512), () => setTimeout(more, 1));
    };
    more();
  });
}

describe("request bodies", () => {
  it("defaults the limit to 100 kB", () => {
    expect(DEFAULT_MAX_BODY_BYTES).toBe(102_400);
  });

  it("refuses a declared Content-Length over the limit with 413 before reading it", async () => {
    const body = JSON.stringify({ targets: [{ _id: B }], padding: "x".repeat(MAX) });
    const fault = expectFault(
      await call("POST", path, { as: A, raw: body, headers: { "content-type": "application/json" } }),
      413,
      "cortex.tooLarge.connectionTargets",
    );
    expect(fault).toMatchObject({ path: "body", reason: `the request body exceeds ${MAX} bytes` });
    await expectNothingWritten();
  });

  it("counts the bytes of a streamed body and refuses it with 413 once it passes the limit", async () => {
    const answer = await sendChunked([`{"targets":[{"_id":"${B}"}],"contextSource":"`], true);
    expectFault(answer, 413, "cortex.tooLarge.connectionTargets");
    // The server answered while the body was still streaming: it never waited for (or buffered) the rest.
    expect(answer.ended).toBe(false);
    await expectNothingWritten();
  });

  it("accepts a streamed body under the limit", async () => {
    const answer = await sendChunked([`{"targets":[{"_id":`, `"${B}"}]}`]);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ object: "list", hasMore: false, data: [{ state: 0 }] });
  });

  it("accepts a body of exactly the limit", async () => {
    const base = JSON.stringify({ targets: [{ _id: B }], contextSource: "" });
    const body = JSON.stringify({ targets: [{ _id: B }], contextSource: " ".repeat(MAX - base.length) });
    expect(body.length).toBe(MAX);
    const answer = await call("POST", path, {
      as: A,
      raw: body,
      headers: { "content-type": "application/json" },
    });
    // contextSource is limited to 256 characters: the body was read and parsed, then refused by its schema.
    expectFault(answer, 400, "cortex.invalidArgument.unspecified");
    expect(answer.body.path).toBe("contextSource");
  });

  it.each([
    ["not JSON at all", "{targets: nope"],
    ["truncated JSON", `{"targets":[{"_id":"${B}"}`],
    ["an empty body", ""],
  ])("refuses %s with 400 invalidArgument.unspecified", async (_label, raw) => {
    const fault = expectFault(
      await call("POST", path, { as: A, raw, headers: { "content-type": "application/json" } }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expect(fault.path).toBe("body");
  });

  it("refuses a body that is not declared JSON (an HTML form cannot send application/json)", async () => {
    const fault = expectFault(
      await call("POST", path, {
        as: A,
        raw: JSON.stringify({ targets: [{ _id: B }] }),
        headers: { "content-type": "text/plain" },
      }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expect(fault.reason).toMatch(/application\/json/);
    const typed = await call("POST", path, {
      as: A,
      raw: JSON.stringify({ targets: [{ _id: B }] }),
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    expect(typed.status).toBe(200);
  });

  it("refuses bytes that are not UTF-8", async () => {
    const fault = expectFault(
      await call("POST", path, {
        as: A,
        raw: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
        headers: { "content-type": "application/json" },
      }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expect(fault.reason).toMatch(/UTF-8/);
  });

  it.each([
    ["a list", [{ _id: B }], "body"],
    ["targets that are not a list", { targets: { _id: B } }, "targets"],
    ["no targets", { contextSource: "c_x" }, "targets"],
    ["an unknown key", { targets: [{ _id: B }], target: [] }, "body"],
    ["a contextSource that is not a string", { targets: [{ _id: B }], contextSource: 7 }, "contextSource"],
  ])("refuses a body with %s (400 at %s)", async (_label, body, at) => {
    const fault = expectFault(
      await call("POST", path, { as: A, body }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expect(fault.path).toBe(at);
  });
});
