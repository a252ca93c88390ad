import { isConnectionError } from "@conn/core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../src/cli.js";
import { type Database, MIGRATIONS, migrate, openPglite, PostgresOutbox } from "../src/index.js";
import { migrationLockKeys } from "../src/migrations.js";
import { type EngineName, openEngine, POSTGRES_ENABLED, uniqueSchema } from "./support/engines.js";
import { newId } from "./support/fixtures.js";

const LATEST = Math.max(...MIGRATIONS.map((m) => m.version));

for (const engine of ["pglite", "postgres"] as const satisfies readonly EngineName[]) {
  const enabled = engine === "pglite" || POSTGRES_ENABLED;
  (enabled ? describe : describe.skip)(`migrate [${engine}]`, () => {
    let db: Database;
    const schemas: string[] = [];
    /** A fresh schema name, dropped after the file. */
    const fresh = (): string => {
      const schema = uniqueSchema(`mig_${engine === "pglite" ? "l" : "p"}`);
      schemas.push(schema);
      return schema;
    };

    beforeAll(async () => {
      db = await openEngine(engine);
    }, 60_000);
    afterAll(async () => {
      if (db === undefined) return;
      for (const schema of schemas) await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.close();
    });

    /** The index names of a schema (the back door). */
    async function indexes(schema: string): Promise<string[]> {
      const { rows } = await db.query<{ indexname: string }>(
        "SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname",
        [schema],
      );
      return rows.map((row) => row.indexname);
    }

    it("from empty: creates the schema, the tables and every index, and records the version", async () => {
      const schema = fresh();
      expect(await migrate(db, { schema })).toEqual({
        schema,
        applied: MIGRATIONS.map((m) => m.version),
        version: LATEST,
      });
      expect(await indexes(schema)).toEqual([
        "connection_migrations_pkey",
        "connection_outbox_dead_idx",
        "connection_outbox_delivered_idx",
        "connection_outbox_due_idx",
        "connection_outbox_org_delivered_idx",
        "connection_outbox_org_due_idx",
        "connection_outbox_pkey",
        "connections_access_end_idx",
        "connections_active_uq",
        "connections_context_idx",
        "connections_creator_idx",
        "connections_expiry_idx",
        "connections_pending_uq",
        "connections_pkey",
        "connections_target_account_idx",
        "connections_token_uq",
        "connections_unbound_email_idx",
        "share_links_context_idx",
        "share_links_pkey",
        "share_links_token_uq",
      ]);
      const { rows } = await db.query<{ version: number; name: string }>(
        `SELECT version, name FROM "${schema}".connection_migrations`,
      );
      expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    });

    it("10 (outbox by org) keeps the messages of a schema at version 3, claimable per org with claim 1", async () => {
      const schema = fresh();
      const s = `"${schema}"`;
      await db.query(`CREATE SCHEMA ${s}`);
      await db.query(`CREATE TABLE ${s}.connection_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      for (const m of MIGRATIONS.filter((x) => x.version <= 3)) {
        for (const statement of m.statements(s)) await db.query(statement);
        await db.query(`INSERT INTO ${s}.connection_migrations (version, name) VALUES ($1, $2)`, [
          m.version,
          m.name,
        ]);
      }
      const id = newId();
      await db.query(
        `INSERT INTO ${s}.connection_outbox (id, org, notice, available_at) VALUES ($1, 'acme', $2, now())`,
        [id, JSON.stringify({ kind: "connection-created", expiresAt: null })],
      );
      const result = await migrate(db, { schema });
      expect(result.applied).toContain(10);
      const outbox = new PostgresOutbox(db, { schema });
      const [claimed] = await outbox.claim("acme", new Date(Date.now() + 1_000), 10, 60_000);
      expect(claimed).toMatchObject({ id, org: "acme", attempts: 0, claim: 1 });
      const { rows } = await db.query<{ key: string }>(
        `SELECT pg_get_indexdef(indexrelid) AS key FROM pg_index
         WHERE indrelid = '${s}.connection_outbox'::regclass AND indisprimary`,
      );
      expect(rows[0]?.key).toContain("(org, id)");
    });

    it("re-run: applies nothing and changes nothing", async () => {
      const schema = fresh();
      await migrate(db, { schema });
      const before = await indexes(schema);
      expect(await migrate(db, { schema })).toEqual({ schema, applied: [], version: LATEST });
      expect(await indexes(schema)).toEqual(before);
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${schema}".connection_migrations`,
      );
      expect(rows[0]?.n).toBe(MIGRATIONS.length);
    });

    it("several at once (separate connections on the server): each migration is applied exactly once", async () => {
      const schema = fresh();
      const others =
        engine === "postgres" ? await Promise.all([1, 2, 3, 4].map(() => openEngine(engine, 1))) : [];
      try {
        const dbs = others.length > 0 ? others : [db, db, db, db];
        const results = await Promise.all(dbs.map((d) => migrate(d, { schema })));
        expect(results.map((r) => r.applied).sort()).toEqual([[], [], [], MIGRATIONS.map((m) => m.version)]);
        expect(results.every((r) => r.version === LATEST)).toBe(true);
      } finally {
        await Promise.all(others.map((d) => d.close()));
      }
    });

    it("keeps schemas apart: a row in one is not in the other", async () => {
      const [a, b] = [fresh(), fresh()];
      await migrate(db, { schema: a });
      await migrate(db, { schema: b });
      await db.query(
        `INSERT INTO "${a}".connection_outbox (id, org, notice, available_at) VALUES ($1, 'o', '{}', now())`,
        [newId()],
      );
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${b}".connection_outbox`,
      );
      expect(rows[0]?.n).toBe(0);
    });

    it("refuses a schema name that is not plain, creating nothing", async () => {
      const error = await migrate(db, { schema: 'bad"name' }).catch((e: unknown) => e);
      expect(isConnectionError(error, "cortex.invalidArgument.unspecified")).toBe(true);
    });

    describe("the rules the database holds", () => {
      let schema: string;
      beforeAll(async () => {
        schema = fresh();
        await migrate(db, { schema });
      });

      /** Inserts a connections row from defaults plus `overrides` (the back door); resolves to the SQLSTATE or "ok". */
      async function insert(overrides: Record<string, unknown> = {}): Promise<string> {
        const row: Record<string, unknown> = {
          org: "acme",
          id: newId(),
          access: 2,
          context_object: "c_x",
          context_id: newId(),
          created: new Date(),
          updated: new Date(),
          creator: newId(),
          target_account: newId(),
          target_key: "k",
          state: 0,
          token_hash: `h-${newId()}`,
          expires_at: new Date(),
          ...overrides,
        };
        const columns = Object.keys(row);
        try {
          await db.query(
            `INSERT INTO "${schema}".connections (${columns.join(", ")})
             VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")})`,
            Object.values(row),
          );
          return "ok";
        } catch (error) {
          return (error as { code?: string }).code ?? String(error);
        }
      }

      it("accepts a well-formed pending row", async () => {
        expect(await insert()).toBe("ok");
      });

      it("checks state (0, 1) and access (2..7)", async () => {
        expect(await insert({ state: 2 })).toBe("23514");
        expect(await insert({ access: 1 })).toBe("23514");
        expect(await insert({ access: 8 })).toBe("23514");
        expect(await insert({ access: 7 })).toBe("ok");
      });

      it("requires a token hash and an expiry on a pending row, and neither on an active one", async () => {
        expect(await insert({ token_hash: null })).toBe("23514");
        expect(await insert({ expires_at: null })).toBe("23514");
        expect(await insert({ state: 1 })).toBe("23514");
        expect(await insert({ state: 1, token_hash: null, expires_at: null })).toBe("ok");
        expect(
          await insert({
            state: 1,
            token_hash: null,
            expires_at: null,
            target_account: null,
            target_email: "a@b.co",
          }),
        ).toBe("23514");
      });

      it("requires a 24-hex-digit id", async () => {
        expect(await insert({ id: "not-an-id" })).toBe("23514");
      });

      it("holds at most one active connection per (org, context, account)", async () => {
        const key = {
          context_id: newId(),
          target_account: newId(),
          state: 1,
          token_hash: null,
          expires_at: null,
        };
        expect(await insert(key)).toBe("ok");
        expect(await insert(key)).toBe("23505");
        expect(await insert({ ...key, org: "other" })).toBe("ok");
      });

      it("holds a token hash unique per org", async () => {
        const token_hash = `h-${newId()}`;
        expect(await insert({ token_hash })).toBe("ok");
        expect(await insert({ token_hash })).toBe("23505");
        expect(await insert({ token_hash, org: "other" })).toBe("ok");
      });

      it("holds one pending invitation per (org, context, creator, target key)", async () => {
        const key = { context_id: newId(), creator: newId(), target_key: "email:a@b.co" };
        expect(await insert(key)).toBe("ok");
        expect(await insert(key)).toBe("23505");
      });
    });
  });
}

describe("migrate, default schema", () => {
  it("uses public when no schema is given (PGlite)", async () => {
    const db = await openPglite();
    try {
      expect(await migrate(db)).toEqual({
        schema: "public",
        applied: MIGRATIONS.map((m) => m.version),
        version: LATEST,
      });
      const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM public.connections");
      expect(rows[0]?.n).toBe(0);
    } finally {
      await db.close();
    }
  }, 30_000);

  it("derives a stable advisory lock key per schema", () => {
    expect(migrationLockKeys("a")).toEqual(migrationLockKeys("a"));
    expect(migrationLockKeys("a")).not.toEqual(migrationLockKeys("b"));
    for (const key of migrationLockKeys("some_schema")) {
      expect(Number.isInteger(key) && key >= -(2 ** 31) && key < 2 ** 31).toBe(true);
    }
  });
});

describe("conn-postgres (the bin's command line)", () => {
  /** Runs the command line, capturing what it writes. */
  async function run(args: string[], env: NodeJS.ProcessEnv) {
    let out = "";
    let err = "";
    const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      out += String(chunk);
      return true;
    });
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      err += String(chunk);
      return true;
    });
    try {
      return { code: await main(args, env), out, err };
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
  }

  it("refuses an unknown command, an unknown argument and a missing CONN_DATABASE_URL with exit code 2", async () => {
    expect((await run([], {})).code).toBe(2);
    expect((await run(["migrat"], {})).code).toBe(2);
    expect((await run(["migrate", "--force"], { CONN_DATABASE_URL: "postgres://x" })).code).toBe(2);
    const missing = await run(["migrate"], {});
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("CONN_DATABASE_URL is not set");
    expect((await run(["--help"], {})).code).toBe(0);
  });

  it("exits 1 when the database cannot be reached", async () => {
    const result = await run(["migrate"], { CONN_DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" });
    expect(result.code).toBe(1);
    expect(result.err).toContain("migrate failed");
  });

  (POSTGRES_ENABLED ? it : it.skip)(
    "migrates CONN_DATABASE_URL into --schema, then finds it up to date",
    async () => {
      const url = process.env.CONN_PG_URL ?? "";
      expect(url, "CI is set but CONN_PG_URL is not").not.toBe("");
      const schema = uniqueSchema("cli");
      try {
        const first = await run(["migrate", "--schema", schema], { CONN_DATABASE_URL: url });
        expect(first).toMatchObject({ code: 0, err: "" });
        expect(first.out).toContain(`applied ${MIGRATIONS.map((m) => m.version).join(", ")}`);
        const second = await run(["migrate", `--schema=${schema}`], { CONN_DATABASE_URL: url });
        expect(second.out).toContain("already up to date");
      } finally {
        const db = await openEngine("postgres", 1);
        await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await db.close();
      }
    },
  );
});
