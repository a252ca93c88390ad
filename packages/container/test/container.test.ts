import { type InMemoryContextAccess, InMemoryOrgDirectory, RecordingNotifier } from "@conn/adapter-memory";
import { AccessLevel, type AccountDirectory, type Notice, type Notifier } from "@conn/core";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import {
  ConfigurationError,
  configFromEnv,
  createConnectionsContainer,
  LogNotifier,
  TOKENS,
} from "../src/index.js";
import {
  A,
  B,
  FILE,
  ORG,
  POSTGRES_ENABLED,
  requirePgUrl,
  seed,
  story,
  TEST_KEY,
  uniqueSchema,
} from "./support.js";

describe("createConnectionsContainer: the facade from the container, one scenario per combination", () => {
  it("memory + memory: the story runs and the invitation notice is recorded", async () => {
    const conn = await createConnectionsContainer({}, { inMemoryHostPorts: true });
    try {
      seed(conn);
      await story(conn);
      const notifier = conn.resolve(TOKENS.Notifier) as RecordingNotifier;
      expect(notifier).toBeInstanceOf(RecordingNotifier);
      // The commit woke the relay loop; the request did not wait for the delivery.
      await expect
        .poll(() => notifier.sent.map((n) => n.kind), { timeout: 5_000 })
        .toEqual(["invite-existing-user"]);
    } finally {
      await conn.dispose();
    }
  });

  it("pglite + memory: the story runs on embedded PostgreSQL and the relay delivers the notice", async () => {
    const conn = await createConnectionsContainer(
      {
        persistence: { kind: "pglite" },
        tokenKey: TEST_KEY,
        relay: { intervalMs: 20, maxAttempts: 3, batchSize: 10 },
      },
      { inMemoryHostPorts: true },
    );
    try {
      seed(conn);
      await story(conn);
      const notifier = conn.resolve(TOKENS.Notifier) as RecordingNotifier;
      await expect.poll(() => notifier.sent.length, { timeout: 5_000 }).toBe(1);
      expect(notifier.sent[0]?.recipient.email).toBe("bob@acme.example");
    } finally {
      await conn.dispose();
    }
  });

  describe.skipIf(!POSTGRES_ENABLED)(
    "on the PostgreSQL server (set CONN_PG_URL; CI always runs these)",
    () => {
      it("postgres with notices left in memory refuses to start; log, or a Notifier of the host's, is accepted", async () => {
        const config = {
          persistence: { kind: "postgres" as const, url: requirePgUrl() },
          schema: uniqueSchema("refuse"),
          tokenKey: TEST_KEY,
        };
        for (const notices of [undefined, { kind: "memory" as const }]) {
          const error = await createConnectionsContainer(
            notices === undefined ? config : { ...config, notices },
            { inMemoryHostPorts: true },
          ).then(
            () => null,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(ConfigurationError);
          expect((error as ConfigurationError).problems).toEqual([
            expect.stringMatching(
              /^notices\.kind \(CONN_NOTICES\): with PostgreSQL persistence, notices need a destination/,
            ),
          ]);
        }
        for (const conn of [
          await createConnectionsContainer(
            { ...config, notices: { kind: "log" } },
            {
              inMemoryHostPorts: true,
              register: (c) => c.register(TOKENS.Notifier, { useValue: new LogNotifier({ info: () => {} }) }),
            },
          ),
          await createConnectionsContainer(config, {
            inMemoryHostPorts: true,
            register: (c) => c.register(TOKENS.Notifier, { useValue: new RecordingNotifier() }),
          }),
        ]) {
          await conn.dispose();
        }
      });

      it("postgres + ses: the invitation email reaches the SES emulator", async () => {
        const endpoint = inject("sesEndpoint");
        process.env.AWS_ACCESS_KEY_ID = "test";
        process.env.AWS_SECRET_ACCESS_KEY = "test";
        const conn = await createConnectionsContainer(
          {
            persistence: { kind: "postgres", url: requirePgUrl() },
            schema: uniqueSchema("ses"),
            tokenKey: TEST_KEY,
            notices: { kind: "ses", from: "no-reply@acme.example", endpoint },
            relay: { intervalMs: 20, maxAttempts: 3, batchSize: 10 },
          },
          { inMemoryHostPorts: true },
        );
        try {
          seed(conn);
          await story(conn);
          const emails = async () => {
            const store = (await (await fetch(`${endpoint}/store`)).json()) as {
              emails: { destination: { to: string[] }; subject: string }[];
            };
            return store.emails.filter((e) => e.destination.to.includes("bob@acme.example"));
          };
          await expect
            .poll(async () => (await emails()).length, { timeout: 10_000 })
            .toBeGreaterThanOrEqual(1);
        } finally {
          await conn.dispose();
        }
      });

      it("postgres + log: the notice is logged without its token", async () => {
        const lines: string[] = [];
        const schema = uniqueSchema("log");
        const conn = await createConnectionsContainer(
          {
            persistence: { kind: "postgres", url: requirePgUrl() },
            schema,
            tokenKey: TEST_KEY,
            notices: { kind: "log" },
            relay: { intervalMs: 20, maxAttempts: 3, batchSize: 10 },
          },
          {
            inMemoryHostPorts: true,
            register: (c) =>
              c.register(TOKENS.Notifier, { useValue: new LogNotifier({ info: (l) => lines.push(l) }) }),
          },
        );
        try {
          seed(conn);
          const [created] = await conn.connections.create({ org: ORG, accountId: A }, FILE, [{ _id: B }]);
          await expect.poll(() => lines.length, { timeout: 5_000 }).toBe(1);
          expect(lines[0]).toContain("invite-existing-user to bob@acme.example");
          expect(lines[0]).toContain("accept=https://acme.example/c/<token>");
          const list = await conn.connections.list({ org: ORG, accountId: B });
          const token = (list.data[0] as { token: string }).token;
          expect(lines.join("\n")).not.toContain(token);
          expect(created).toMatchObject({ state: 0 });
          // The connection is in the server's table, in the configured schema.
          const client = new pg.Client({ connectionString: requirePgUrl() });
          await client.connect();
          try {
            const { rows } = await client.query(`select count(*)::int as n from "${schema}".connections`);
            expect(rows[0].n).toBe(1);
          } finally {
            await client.end();
          }
        } finally {
          await conn.dispose();
        }
      });

      it("the logger gets what the container catches: an idle pooled connection terminated, a relay drain that failed", async () => {
        const appName = `conn-logger-${process.pid}`;
        const schema = uniqueSchema("logger");
        const errors: { message: string; error: unknown }[] = [];
        const url = new URL(requirePgUrl());
        url.searchParams.set("application_name", appName);
        const conn = await createConnectionsContainer(
          {
            persistence: { kind: "postgres", url: url.toString(), poolSize: 2 },
            schema,
            tokenKey: TEST_KEY,
            relay: { intervalMs: 20, maxAttempts: 3, batchSize: 10 },
          },
          {
            inMemoryHostPorts: true,
            // Notices go nowhere in this test, said explicitly: PostgreSQL refuses the default memory notifier.
            register: (c) => c.register(TOKENS.Notifier, { useValue: new RecordingNotifier() }),
            logger: { warn: () => {}, error: (message, error) => errors.push({ message, error }) },
          },
        );
        const admin = new pg.Client({ connectionString: requirePgUrl() });
        await admin.connect();
        try {
          seed(conn);
          await story(conn);
          expect(errors).toEqual([]);
          // The pool's clients are terminated (again, until one was idle at the time): the pool drops an idle one,
          // and the logger hears why.
          await expect
            .poll(async () => {
              await admin.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                [appName],
              );
              await new Promise((resolve) => setTimeout(resolve, 50));
              return errors.filter((e) => e.message.includes("idle pooled connection")).length;
            })
            .toBeGreaterThan(0);
          const idle = errors.find((e) => e.message.includes("idle pooled connection"));
          expect(idle?.error).toMatchObject({ code: "57P01" });
          // The relay cannot claim from its outbox: each failed drain reaches the logger with the full error.
          const missingTable = () =>
            errors.filter(
              (e) =>
                e.message.includes("outbox relay") &&
                (e.error as { cause?: { code?: string } } | undefined)?.cause?.code === "42P01",
            );
          expect(missingTable()).toEqual([]);
          await admin.query(`ALTER TABLE "${schema}".connection_outbox RENAME TO outbox_away`);
          await expect.poll(() => missingTable().length).toBeGreaterThan(0);
          expect(missingTable()[0]?.error).toMatchObject({ code: "cortex.error.unspecified" });
          await admin.query(`ALTER TABLE "${schema}".outbox_away RENAME TO connection_outbox`);
          // The facade still works afterwards: the pool opened new connections.
          expect(await conn.connections.resolveAccess(ORG, A, FILE)).toBe(AccessLevel.Delete);
        } finally {
          await conn.dispose();
          await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await admin.end();
        }
      });
    },
  );
});

describe("overrides and child containers", () => {
  it("a host-supplied port is the one the facade uses", async () => {
    const calls: string[][] = [];
    const accounts: AccountDirectory = {
      findByIds: async (_org, ids) => {
        calls.push([...ids]);
        return ids.map((id) => ({
          _id: id,
          email: `${id}@host.example`,
          name: { first: "H" },
          verified: true,
        }));
      },
      findByEmails: async () => [],
    };
    const conn = await createConnectionsContainer(
      {},
      {
        inMemoryHostPorts: true,
        register: (c) => c.register(TOKENS.AccountDirectory, { useValue: accounts }),
      },
    );
    try {
      seed(conn);
      await conn.connections.create({ org: ORG, accountId: A }, FILE, [{ _id: B }]);
      expect(calls.flat()).toEqual(expect.arrayContaining([A, B]));
    } finally {
      await conn.dispose();
    }
  });

  it("a child container's override is used by the Connections it resolves; the parent's is unchanged", async () => {
    const conn = await createConnectionsContainer({}, { inMemoryHostPorts: true });
    try {
      seed(conn);
      const sent: Notice[] = [];
      const childNotifier: Notifier = { send: async (n) => void sent.push(n) };
      const contexts = conn.resolve(TOKENS.ContextAccess) as InMemoryContextAccess;
      const denyAll = {
        accessOf: async () => AccessLevel.None,
        objectSettings: contexts.objectSettings.bind(contexts),
      };
      const child = conn.createChild((c) => {
        c.register(TOKENS.ContextAccess, { useValue: denyAll });
        c.register(TOKENS.Notifier, { useValue: childNotifier });
      });
      const scoped = child.resolve(TOKENS.Connections);
      expect(scoped).not.toBe(conn.connections);
      await expect(scoped.create({ org: ORG, accountId: A }, FILE, [{ _id: B }])).rejects.toMatchObject({
        code: "cortex.accessDenied.shareAccess",
      });
      await expect(
        conn.connections.create({ org: ORG, accountId: A }, FILE, [{ _id: B }]),
      ).resolves.toHaveLength(1);
    } finally {
      await conn.dispose();
    }
  });

  it("dispose() is safe to call twice", async () => {
    const conn = await createConnectionsContainer(
      { persistence: { kind: "pglite" }, tokenKey: TEST_KEY },
      { inMemoryHostPorts: true },
    );
    await conn.dispose();
    await expect(conn.dispose()).resolves.toBeUndefined();
  });
});

describe("configuration", () => {
  const bad: [string, Record<string, string>, RegExp][] = [
    ["unknown persistence", { CONN_PERSISTENCE: "mongo" }, /persistence\.kind \(CONN_PERSISTENCE\)/],
    [
      "postgres without a URL",
      { CONN_PERSISTENCE: "postgres", CONN_TOKEN_KEY: TEST_KEY },
      /persistence\.url \(CONN_DATABASE_URL\): is required/,
    ],
    [
      "a URL that is not postgres",
      { CONN_DATABASE_URL: "mysql://x", CONN_TOKEN_KEY: TEST_KEY },
      /CONN_DATABASE_URL\): must be a postgres/,
    ],
    [
      "postgres without a token key",
      { CONN_DATABASE_URL: "postgres://u@h/db" },
      /tokenKey \(CONN_TOKEN_KEY\): is required/,
    ],
    [
      "a short token key",
      { CONN_TOKEN_KEY: "abcd" },
      /tokenKey \(CONN_TOKEN_KEY\): must be at least 32 bytes/,
    ],
    ["ses without a from address", { CONN_NOTICES: "ses" }, /notices\.from \(CONN_SES_FROM\): is required/],
    [
      "a bad SES region",
      { CONN_SES_FROM: "a@b.example", CONN_SES_REGION: "moon" },
      /notices\.region \(CONN_SES_REGION\)/,
    ],
    [
      "a bad SES endpoint",
      { CONN_SES_FROM: "a@b.example", CONN_SES_ENDPOINT: "not a url" },
      /notices\.endpoint \(CONN_SES_ENDPOINT\)/,
    ],
    ["unknown notices", { CONN_NOTICES: "pigeon" }, /notices\.kind \(CONN_NOTICES\)/],
    ["a bad schema name", { CONN_DATABASE_SCHEMA: "Robert'); drop" }, /schema \(CONN_DATABASE_SCHEMA\)/],
    [
      "a relay interval that is not a number",
      { CONN_RELAY_INTERVAL_MS: "soon" },
      /relay\.intervalMs \(CONN_RELAY_INTERVAL_MS\)/,
    ],
    [
      "a send deadline that does not fit in the lease",
      { CONN_RELAY_LEASE_MS: "20000", CONN_RELAY_SEND_TIMEOUT_MS: "20000" },
      /relay\.leaseMs \(CONN_RELAY_LEASE_MS\): must be greater than sendTimeoutMs/,
    ],
  ];
  for (const [name, env, message] of bad) {
    it(`${name}: fails at start with a message naming the setting`, async () => {
      const error = await createConnectionsContainer(configFromEnv(env), { inMemoryHostPorts: true }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(message);
    });
  }

  it("reads the relay's settings from the environment and hands them to the relay", async () => {
    const conn = await createConnectionsContainer(
      configFromEnv({
        CONN_RELAY_CONCURRENCY: "3",
        CONN_RELAY_LEASE_MS: "30000",
        CONN_RELAY_SEND_TIMEOUT_MS: "10000",
        CONN_OUTBOX_RETENTION_HOURS: "24",
      }),
      { inMemoryHostPorts: true },
    );
    try {
      expect(conn.resolve(TOKENS.OutboxRelay).options).toMatchObject({
        concurrency: 3,
        leaseMs: 30_000,
        sendTimeoutMs: 10_000,
        retentionMs: 24 * 3_600_000,
        batchSize: 50,
      });
    } finally {
      await conn.dispose();
    }
  });

  it("a host port nobody registered fails at wiring, naming the port", async () => {
    const error = await createConnectionsContainer(
      {},
      { register: (c) => c.register(TOKENS.OrgDirectory, { useValue: new InMemoryOrgDirectory() }) },
    ).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).problems).toEqual([
      expect.stringMatching(
        /^host port AccountDirectory is not registered: register yours under TOKENS\.AccountDirectory/,
      ),
      expect.stringMatching(/^host port ContextAccess is not registered/),
    ]);
  });

  it("reads the environment: CONN_PGLITE_DIR means pglite, CONN_SES_FROM means ses", () => {
    expect(
      configFromEnv({
        CONN_PGLITE_DIR: "./data",
        CONN_SES_FROM: "a@b.example",
        CONN_SES_REGION: "eu-west-1",
      }),
    ).toEqual({
      persistence: { kind: "pglite", dataDir: "./data" },
      notices: { kind: "ses", from: "a@b.example", region: "eu-west-1" },
    });
    expect(configFromEnv({})).toEqual({ persistence: { kind: "memory" }, notices: { kind: "memory" } });
  });
});
