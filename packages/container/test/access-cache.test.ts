import type { PostgresUnitOfWork } from "@conn/adapter-postgres";
import { AccessLevel } from "@conn/core";
import { describe, expect, it } from "vitest";
import { ConfigurationError, configFromEnv, createConnectionsContainer, TOKENS } from "../src/index.js";
import {
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

describe("the container's access cache switch", () => {
  it("off by default: the unit of work keeps no cache", async () => {
    const conn = await createConnectionsContainer(
      { persistence: { kind: "pglite" }, tokenKey: TEST_KEY, notices: { kind: "log" } },
      { inMemoryHostPorts: true },
    );
    try {
      expect(conn.config.accessCache).toBe(0);
      const uow = conn.resolve(TOKENS.UnitOfWork) as PostgresUnitOfWork;
      expect(uow.accessCacheStats()).toBeUndefined();
    } finally {
      await conn.dispose();
    }
  });

  it("CONN_ACCESS_CACHE=1000 turns it on: the story runs, and repeated checks are answered from the cache", async () => {
    expect(configFromEnv({ CONN_ACCESS_CACHE: "1000" })).toMatchObject({ accessCache: 1000 });
    const conn = await createConnectionsContainer(
      { ...configFromEnv({ CONN_ACCESS_CACHE: "1000", CONN_PERSISTENCE: "pglite" }), tokenKey: TEST_KEY },
      { inMemoryHostPorts: true },
    );
    try {
      seed(conn);
      const uow = conn.resolve(TOKENS.UnitOfWork) as PostgresUnitOfWork;
      await uow.accessCacheReady();
      await story(conn);
      for (let i = 0; i < 5; i++)
        expect(await conn.connections.resolveAccess(ORG, B, FILE)).toBe(AccessLevel.None);
      expect(uow.accessCacheStats()?.hits).toBeGreaterThan(0);
    } finally {
      await conn.dispose();
    }
  });

  it.skipIf(!POSTGRES_ENABLED)(
    "on the server too, and dispose() closes its listening connection",
    async () => {
      const conn = await createConnectionsContainer(
        {
          persistence: { kind: "postgres", url: requirePgUrl(), poolSize: 2 },
          schema: uniqueSchema("acache"),
          tokenKey: TEST_KEY,
          notices: { kind: "log" },
          accessCache: 1000,
        },
        { inMemoryHostPorts: true },
      );
      const uow = conn.resolve(TOKENS.UnitOfWork) as PostgresUnitOfWork;
      try {
        seed(conn);
        await uow.accessCacheReady();
        await story(conn);
      } finally {
        await conn.dispose();
      }
      expect(uow.accessCacheStats()?.size).toBe(0);
    },
  );

  it.each([["-1"], ["lots"], ["1.5"], ["20000000"]])(
    "CONN_ACCESS_CACHE=%s fails at start naming the setting",
    async (value) => {
      const error = await createConnectionsContainer(configFromEnv({ CONN_ACCESS_CACHE: value })).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(/accessCache \(CONN_ACCESS_CACHE\)/);
    },
  );
});
