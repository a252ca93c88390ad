import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_FIXTURE, FixtureError, loadFixture, parseFixture } from "../src/fixture.ts";
import { demoConfig, startDemoServer } from "../src/server.ts";
import { A, B, C, client, DIAGNOSIS, FILE, MEMORY_ENV, useDemoServer } from "./support.ts";

const HEX24 = /^[0-9a-f]{24}$/;

describe("the seed's story over HTTP", () => {
  const { call, logged } = useDemoServer();

  it("Alice connects Bob at Read; Bob lists, accepts and reads it; Alice deletes it; Bob's read then fails", async () => {
    const created = await call("POST", `/c_patient_files/${FILE}/connections`, {
      as: A,
      body: { targets: [{ _id: B, access: 4 }] },
    });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ object: "list", hasMore: false });
    expect(created.body.data).toHaveLength(1);
    const invite = created.body.data[0];
    expect(invite).toMatchObject({
      object: "connection",
      access: 4,
      state: 0,
      context: { object: "c_patient_file", _id: FILE, path: `/c_patient_files/${FILE}` },
      creator: { _id: A, object: "account" },
      target: { account: { _id: B, object: "account" } },
    });
    expect(invite._id).toMatch(HEX24);
    expect(invite).not.toHaveProperty("token");
    expect(created.headers.get("cache-control")).toBe("no-store");
    expect(logged).toEqual([
      `[conn] notice invite-existing-user to bob@acme.example about /c_patient_files/${FILE}` +
        ` (connection ${invite._id}, access 4) accept=https://acme.example/connections/<token>`,
    ]);

    const bobs = await call("GET", "/connections?state=0", { as: B });
    expect(bobs.status).toBe(200);
    expect(bobs.body.data).toHaveLength(1);
    expect(bobs.body.data[0]).toMatchObject({ _id: invite._id, state: 0 });
    const token: string = bobs.body.data[0].token;
    expect(token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(logged.join("\n")).not.toContain(token);
    const alices = await call("GET", "/connections?show=creator", { as: A });
    expect(alices.body.data.map((c: { _id: string }) => c._id)).toEqual([invite._id]);
    expect(alices.body.data[0]).not.toHaveProperty("token");

    const landing = await call("GET", `/connections/${token}`);
    expect(landing.status).toBe(200);
    expect(landing.body).toMatchObject({ _id: invite._id, state: 0, access: 4 });

    const accepted = await call("POST", `/connections/${token}`, { as: B });
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatchObject({ _id: invite._id, state: 1, access: 4 });
    expect(accepted.body).not.toHaveProperty("token");
    expect(accepted.body).not.toHaveProperty("expiresAt");

    const read = await call("GET", `/connections/${invite._id}`, { as: B });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({
      _id: invite._id,
      state: 1,
      access: 4,
      target: { account: { _id: B } },
    });

    const deleted = await call("DELETE", `/connections/${invite._id}`, { as: A });
    expect(deleted).toMatchObject({ status: 200, body: { object: "result", data: true } });

    const gone = await call("GET", `/connections/${invite._id}`, { as: B });
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ object: "fault", errCode: "cortex.notFound.unspecified", status: 404 });
    const reused = await call("POST", `/connections/${token}`, { as: B });
    expect(reused.status).toBe(400);
    expect(reused.body.errCode).toBe("cortex.invalidArgument.connectionToken");
  });

  it("the email story: Alice invites dan@…, Dan registers through POST /accounts, lists and accepts", async () => {
    const created = await call("POST", `/c_patient_files/${FILE}/connections`, {
      as: A,
      body: { targets: [{ email: "  Dan@Elsewhere.example ", name: { first: "Dan" }, access: 4 }] },
    });
    expect(created.status).toBe(200);
    const invite = created.body.data[0];
    expect(invite).toMatchObject({ state: 0, access: 4, target: { email: "dan@elsewhere.example" } });
    expect(invite.target).not.toHaveProperty("account");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(
      /^\[conn\] notice invite-new-user to dan@elsewhere\.example about \/c_patient_files\//,
    );

    const registered = await call("POST", "/accounts", {
      body: { email: "Dan@Elsewhere.example", name: { first: "Dan", last: "Newcomer" } },
    });
    expect(registered.status).toBe(201);
    expect(registered.headers.get("cache-control")).toBe("no-store");
    const dan = registered.body;
    expect(dan).toEqual({
      object: "account",
      _id: expect.stringMatching(HEX24),
      email: "dan@elsewhere.example",
      name: { first: "Dan", last: "Newcomer" },
      verified: true,
      invitationsBound: 1,
    });

    const dans = await call("GET", "/connections?state=0", { as: dan._id });
    expect(dans.status).toBe(200);
    expect(dans.body.data).toHaveLength(1);
    expect(dans.body.data[0]).toMatchObject({ _id: invite._id, target: { account: { _id: dan._id } } });
    const token: string = dans.body.data[0].token;
    expect(token).toMatch(/^[A-Za-z0-9_-]{32,}$/);

    const accepted = await call("POST", `/connections/${token}`, { as: dan._id });
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatchObject({
      _id: invite._id,
      state: 1,
      target: { account: { _id: dan._id }, email: "dan@elsewhere.example" },
    });

    const again = await call("POST", "/accounts", { body: { email: "dan@elsewhere.example" } });
    expect(again.status).toBe(400);
    expect(again.body).toMatchObject({ errCode: "cortex.invalidArgument.unspecified", path: "email" });
  });

  it("the auto story: Alice connects Carol to her diagnosis at once, under its irregular plural", async () => {
    const created = await call("POST", `/c_diagnoses/${DIAGNOSIS}/connections`, {
      as: A,
      body: { targets: [{ _id: C, access: 4, auto: true }] },
    });
    expect(created.status).toBe(200);
    expect(created.body.data).toHaveLength(1);
    expect(created.body.data[0]).toMatchObject({
      state: 1,
      access: 4,
      context: { object: "c_diagnosis", _id: DIAGNOSIS, path: `/c_diagnoses/${DIAGNOSIS}` },
      target: { account: { _id: C } },
    });
    expect(created.body.data[0]).not.toHaveProperty("token");
    expect(logged).toEqual([
      `[conn] notice connection-created to carol@acme.example about /c_diagnoses/${DIAGNOSIS}` +
        ` (connection ${created.body.data[0]._id}, access 4)`,
    ]);

    const onContext = await call("GET", `/c_diagnoses/${DIAGNOSIS}/connections`, { as: A });
    expect(onContext.status).toBe(200);
    expect(onContext.body.data.map((c: { _id: string }) => c._id)).toEqual([created.body.data[0]._id]);

    const notAuto = await call("POST", `/c_patient_files/${FILE}/connections`, {
      as: A,
      body: { targets: [{ _id: C, auto: true }] },
    });
    expect(notAuto.status).toBe(400);
    expect(notAuto.body.errCode).toBe("cortex.invalidArgument.requireConnectionAccept");

    const bobCannot = await call("POST", `/c_diagnoses/${DIAGNOSIS}/connections`, {
      as: B,
      body: { targets: [{ _id: C, auto: true }] },
    });
    expect(bobCannot.status).toBe(403);
    expect(bobCannot.body.errCode).toBe("cortex.accessDenied.shareAccess");

    // The plural comes from the fixture: stripping an "s" would give c_diagnose, and the object's own name is no plural.
    for (const plural of ["c_diagnosis", "c_diagnose", "c_unknowns"]) {
      const unknown = await call("GET", `/${plural}/${DIAGNOSIS}/connections`, { as: A });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ errCode: "cortex.notFound.unspecified", path: "objects" });
    }
  });
});

describe("demo authentication: Authorization: Bearer <account _id>", () => {
  const { call } = useDemoServer();

  it("no header is anonymous: listing is refused, reading and rejecting by token are allowed", async () => {
    const list = await call("GET", "/connections");
    expect(list.status).toBe(403);
    expect(list.body).toMatchObject({ errCode: "cortex.accessDenied.notLoggedIn", code: "kAccessDenied" });

    await call("POST", `/c_patient_files/${FILE}/connections`, { as: A, body: { targets: [{ _id: B }] } });
    const token: string = (await call("GET", "/connections?state=0", { as: B })).body.data[0].token;
    const landing = await call("GET", `/connections/${token}`);
    expect(landing).toMatchObject({ status: 200, body: { state: 0, access: 2 } });
    const rejected = await call("DELETE", `/connections/${token}`);
    expect(rejected).toMatchObject({ status: 200, body: { object: "result", data: true } });
    expect((await call("GET", "/connections", { as: B })).body.data).toEqual([]);
  });

  it("a header that names no account of the org is refused with 403 notLoggedIn, never taken as anonymous", async () => {
    for (const authorization of [
      "Bearer 5f0000000000000000000f99", // well-formed, no such account
      "Bearer alice", // not an id
      `Basic ${A}`, // another scheme
      "Bearer", // no id at all
    ]) {
      const answer = await call("GET", "/connections", { headers: { authorization } });
      expect(answer.status, authorization).toBe(403);
      expect(answer.body).toMatchObject({
        errCode: "cortex.accessDenied.notLoggedIn",
        reason: 'demo authentication: the Authorization header must be "Bearer <_id of an account of acme>"',
      });
    }
    // Even where an anonymous caller would be allowed.
    const landing = await call("GET", `/connections/${"x".repeat(43)}`, { as: "5f0000000000000000000f99" });
    expect(landing.status).toBe(403);
    expect(landing.body.errCode).toBe("cortex.accessDenied.notLoggedIn");
  });

  it("the scheme is case-insensitive, and the account is the caller", async () => {
    const answer = await call("GET", "/connections", { headers: { authorization: `bearer ${B}` } });
    expect(answer).toMatchObject({ status: 200, body: { object: "list", data: [], hasMore: false } });
  });
});

describe("POST /{org}/v2/accounts (demo only)", () => {
  const { call, url } = useDemoServer();

  it("registers a verified account that can then call the API; no invitations to bind gives 0", async () => {
    const registered = await call("POST", "/accounts", { body: { email: "erin@acme.example" } });
    expect(registered.status).toBe(201);
    expect(registered.body).toEqual({
      object: "account",
      _id: expect.stringMatching(HEX24),
      email: "erin@acme.example",
      name: {},
      verified: true,
      invitationsBound: 0,
    });
    const list = await call("GET", "/connections", { as: registered.body._id });
    expect(list).toMatchObject({ status: 200, body: { object: "list", data: [] } });
    // Alice can invite her by id now.
    const invited = await call("POST", `/c_patient_files/${FILE}/connections`, {
      as: A,
      body: { targets: [{ _id: registered.body._id }] },
    });
    expect(invited.body.data[0]).toMatchObject({
      state: 0,
      target: { account: { _id: registered.body._id } },
    });
  });

  it("refuses bad bodies, an email the org has, and an unknown org, each with its fault", async () => {
    const cases: [unknown, string, string][] = [
      [{ email: "not an email" }, "email", "cortex.invalidArgument.unspecified"],
      [{ email: "x@acme.example", name: { middle: "Q" } }, "name", "cortex.invalidArgument.unspecified"],
      [{ email: "x@acme.example", admin: true }, "body", "cortex.invalidArgument.unspecified"],
      [{ email: "BOB@acme.example" }, "email", "cortex.invalidArgument.unspecified"],
    ];
    for (const [body, path, errCode] of cases) {
      const answer = await call("POST", "/accounts", { body });
      if (path === "email" && (body as { email: string }).email === "not an email") {
        expect(answer.body.reason).toBe('email: must be an email address, got "not an email"');
      }
      expect(
        { status: answer.status, errCode: answer.body.errCode, path: answer.body.path },
        JSON.stringify(body),
      ).toEqual({ status: 400, errCode, path });
    }
    const notJson = await fetch(`${url()}/acme/v2/accounts`, {
      method: "POST",
      body: "email=x@acme.example",
    });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({
      errCode: "cortex.invalidArgument.unspecified",
      path: "body",
    });

    const oversize = await call("POST", "/accounts", {
      body: { email: "x@acme.example", pad: "x".repeat(200_000) },
    });
    expect(oversize.status).toBe(413);

    const elsewhere = await fetch(`${url()}/nowhere/v2/accounts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "x@acme.example" }),
    });
    expect(elsewhere.status).toBe(404);
    expect(await elsewhere.json()).toMatchObject({ errCode: "cortex.notFound.unspecified", path: "org" });
  });

  it("other methods and paths are no route: a 404 fault", async () => {
    for (const [method, path] of [
      ["GET", "/accounts"],
      ["GET", "/nothing"],
    ] as const) {
      const answer = await call(method, path);
      expect(answer.status).toBe(404);
      expect(answer.body).toMatchObject({ errCode: "cortex.notFound.unspecified", reason: "no such route" });
    }
    const root = await fetch(`${url()}/`);
    expect(root.status).toBe(404);
    expect(await root.json()).toMatchObject({ object: "fault", reason: "no such route" });
  });

  it("serves the OpenAPI document of @conn/http", async () => {
    const doc = await call("GET", "/openapi.json");
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\.1\./);
  });
});

describe("the fixture", () => {
  it("the demo fixture has the seed's people, the patient file, and the auto-accept diagnosis", async () => {
    const demo = await loadFixture(DEFAULT_FIXTURE);
    expect(demo.accounts.map((a) => [a._id, a.email])).toEqual([
      [A, "alice@acme.example"],
      [B, "bob@acme.example"],
      [C, "carol@acme.example"],
    ]);
    expect(demo.objects.map((o) => [o.name, o.plural, o.requireAccept ?? true])).toEqual([
      ["c_patient_file", "c_patient_files", true],
      ["c_diagnosis", "c_diagnoses", false],
    ]);
    expect(demo.instances.map((i) => [i.object, i._id, i.access])).toEqual([
      ["c_patient_file", FILE, { [A]: 7 }],
      ["c_diagnosis", DIAGNOSIS, { [A]: 7 }],
      ["account", C, { [A]: 5 }],
    ]);
  });

  it("a bad fixture is refused with every problem and where it is", async () => {
    const bad = JSON.parse(readFileSync(DEFAULT_FIXTURE, "utf8")) as {
      orgs: Record<string, unknown>[];
      accounts: Record<string, unknown>[];
      objects: Record<string, unknown>[];
      instances: Record<string, unknown>[];
    };
    (bad.accounts[0] as Record<string, unknown>).email = "alice";
    (bad.accounts[1] as Record<string, unknown>)._id = A;
    (bad.accounts[2] as Record<string, unknown>).org = "beta";
    (bad.objects[0] as Record<string, unknown>).allowConnections = "yes";
    (bad.instances[0] as Record<string, unknown>).object = "c_file";
    (bad.instances[1] as Record<string, unknown>).access = { [A]: 9, "5f0000000000000000000f99": 4 };
    bad.instances.push({ org: "acme", object: "account", _id: "5f0000000000000000000f98", access: {} });
    let error: unknown;
    try {
      parseFixture(bad, "bad.json");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FixtureError);
    const problems = (error as FixtureError).problems;
    expect(problems).toEqual([
      'accounts[0].email: must be an email address, got "alice"',
      expect.stringMatching(/^objects\[0\]\.allowConnections: Invalid input: expected boolean/),
      expect.stringMatching(
        /^instances\[1\]\.access\.5f0000000000000000000a01: Too big: expected number to be <=8/,
      ),
    ]);
    expect((error as FixtureError).message).toBe(`Invalid fixture bad.json: ${problems.join("; ")}`);

    // Once each entry is well-formed, the references are checked against each other.
    (bad.accounts[0] as Record<string, unknown>).email = "alice@acme.example";
    (bad.objects[0] as Record<string, unknown>).allowConnections = true;
    (bad.instances[1] as Record<string, unknown>).access = { "5f0000000000000000000f99": 4 };
    expect(() => parseFixture(bad, "bad.json")).toThrow(
      new FixtureError("bad.json", [
        `accounts[1]._id: duplicate account ${A}`,
        'accounts[2].org: unknown org beta (not in "orgs")',
        'instances[0].object: unknown object c_file (not in "objects" of acme)',
        'instances[1].access.5f0000000000000000000f99: unknown account 5f0000000000000000000f99 (not in "accounts" of acme)',
        'instances[2]._id: unknown account 5f0000000000000000000c03 (not in "accounts" of acme)', // Carol moved to beta
        'instances[3]._id: unknown account 5f0000000000000000000f98 (not in "accounts" of acme)',
      ]).message,
    );
  });

  it("a missing file, a file that is not JSON, or a fixture with no orgs is refused before the server listens", async () => {
    const dir = mkdtempSync(join(tmpdir(), "conn-fixture-"));
    try {
      const missing = join(dir, "missing.json");
      await expect(startDemoServer({ fixture: missing, env: MEMORY_ENV })).rejects.toThrow(
        `Invalid fixture ${missing}: no such file`,
      );
      const notJson = join(dir, "not.json");
      writeFileSync(notJson, "{ orgs: [] }");
      await expect(loadFixture(notJson)).rejects.toThrow(/^Invalid fixture .*not\.json: not valid JSON \(/);
      const empty = join(dir, "empty.json");
      writeFileSync(empty, JSON.stringify({ orgs: [], accounts: [], objects: [], instances: [] }));
      await expect(loadFixture(empty)).rejects.toThrow(
        `Invalid fixture ${empty}: orgs: Too small: expected array to have >=1 items`,
      );
      const partial = join(dir, "partial.json");
      writeFileSync(
        partial,
        JSON.stringify({ orgs: [{ code: "acme", name: "Acme" }], accounts: [], objects: [] }),
      );
      await expect(loadFixture(partial)).rejects.toThrow(
        `Invalid fixture ${partial}: instances: Invalid input: expected array, received undefined`,
      );
      writeFileSync(join(dir, "array.json"), "[]");
      await expect(loadFixture(join(dir, "array.json"))).rejects.toThrow(
        /: \(the whole fixture\): Invalid input: expected object, received array$/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("serves any fixture: another org, its expiry setting, its own objects", async () => {
    const fixture = parseFixture({
      orgs: [{ code: "beta", name: "Beta Clinic", pendingConnectionExpiry: 1 }],
      accounts: [
        { org: "beta", _id: A, email: "ann@beta.example", name: { first: "Ann" }, verified: true },
        { org: "beta", _id: B, email: "ben@beta.example", name: { first: "Ben" }, verified: true },
      ],
      objects: [
        { org: "beta", name: "c_chart", plural: "c_charts", allowConnections: true, shareChain: [4, 2] },
      ],
      instances: [{ org: "beta", object: "c_chart", _id: FILE, access: { [A]: 7 } }],
    });
    const server = await startDemoServer({ fixture, env: MEMORY_ENV, log: () => {} });
    try {
      const beta = (path: string) => `${server.url}/beta/v2${path}`;
      const created = await fetch(beta(`/c_charts/${FILE}/connections`), {
        method: "POST",
        headers: { authorization: `Bearer ${A}`, "content-type": "application/json" },
        body: JSON.stringify({ targets: [{ _id: B, access: 6 }] }),
      });
      expect(created.status).toBe(200);
      const [connection] = (
        (await created.json()) as { data: { access: number; created: string; expiresAt: string }[] }
      ).data;
      expect(connection?.access).toBe(4); // the share chain caps Update at Read
      const days =
        (Date.parse(connection?.expiresAt ?? "") - Date.parse(connection?.created ?? "")) / 86_400_000;
      expect(days).toBe(1);
      // acme is not in this world.
      const acme = await client(() => server.url)("GET", "/connections", { as: A });
      expect(acme.status).toBe(403);
    } finally {
      await server.close();
    }
  });
});

describe("configuration", () => {
  it("notices go to the log unless CONN_NOTICES or CONN_SES_FROM say otherwise; the rest is configFromEnv", () => {
    expect(demoConfig({})).toMatchObject({ persistence: { kind: "memory" }, notices: { kind: "log" } });
    expect(demoConfig({ CONN_NOTICES: "memory" }).notices).toEqual({ kind: "memory" });
    expect(demoConfig({ CONN_SES_FROM: "no-reply@acme.example" }).notices).toMatchObject({ kind: "ses" });
    expect(demoConfig({ CONN_DATABASE_URL: "postgres://u@h/db" }).persistence).toMatchObject({
      kind: "postgres",
      url: "postgres://u@h/db",
    });
  });

  it("a bad configuration is refused before the server listens, naming the variable", async () => {
    await expect(startDemoServer({ env: { CONN_DATABASE_URL: "mysql://x" } })).rejects.toThrow(
      /persistence\.url \(CONN_DATABASE_URL\): must be a postgres:\/\/ or postgresql:\/\/ connection string/,
    );
  });
});

const PG_URL = process.env.CONN_PG_URL ?? "";
const IN_CI = process.env.CI === "true" || process.env.CI === "1";

describe.each([
  { engine: "pglite", env: { CONN_PERSISTENCE: "pglite", CONN_TOKEN_KEY: "22".repeat(32) }, enabled: true },
  {
    engine: "postgres",
    env: {
      CONN_DATABASE_URL: PG_URL,
      CONN_TOKEN_KEY: "22".repeat(32),
      CONN_DATABASE_SCHEMA: `conn_http_demo_${process.pid}_${Math.floor(Math.random() * 0xffffff).toString(16)}`,
    },
    enabled: PG_URL !== "" || IN_CI,
  },
])("the story on $engine (relay polling)", ({ engine, env, enabled }) => {
  it.skipIf(!enabled)(`${engine}: invite, the logged notice, list, accept, delete`, async () => {
    if (engine === "postgres") expect(PG_URL, "CI is set but CONN_PG_URL is not").not.toBe("");
    const logged: string[] = [];
    const server = await startDemoServer({
      env: { ...env, CONN_RELAY_INTERVAL_MS: "20" },
      log: (line) => logged.push(line),
    });
    try {
      const call = client(() => server.url);
      expect(server.conn.config.persistence.kind).toBe(engine);
      const created = await call("POST", `/c_patient_files/${FILE}/connections`, {
        as: A,
        body: { targets: [{ _id: B, access: 4 }] },
      });
      expect(created.status).toBe(200);
      const id: string = created.body.data[0]._id;
      await expect
        .poll(() => logged, { timeout: 10_000 })
        .toEqual([expect.stringContaining(`notice invite-existing-user to bob@acme.example`)]);
      const bobs = await call("GET", "/connections?state=0", { as: B });
      const mine = bobs.body.data.find((c: { _id: string }) => c._id === id);
      expect(mine.token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
      expect((await call("POST", `/connections/${mine.token}`, { as: B })).body).toMatchObject({
        _id: id,
        state: 1,
      });
      expect((await call("DELETE", `/connections/${id}`, { as: A })).body).toEqual({
        object: "result",
        data: true,
      });
      expect((await call("GET", `/connections/${id}`, { as: B })).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
