import {
  CryptoTokenService,
  InMemoryAccountDirectory,
  InMemoryContextAccess,
  InMemoryOrgDirectory,
  InMemoryUnitOfWork,
  ManualClock,
  RandomIdGenerator,
} from "@conn/adapter-memory";
import {
  accessEndingNoticeContract,
  connectionRepositoryContract,
  facadeModelContract,
  HOST_ID_STYLES,
  type KnownFailure,
  linearizabilityContract,
  type NoticeWorld,
  shareLinkContract,
  timeLimitedGrantContract,
} from "@conn/contract-tests";
import { createConnections, type SealedNotice } from "@conn/core";
import { afterAll } from "vitest";
import { PostgresUnitOfWork } from "../src/index.js";
import { type ConnectionRow, toRecord } from "../src/rows.js";
import { describeEngines, type EngineContext, type EngineName } from "./support/engines.js";

/**
 * No known failures: before issue 11's fix the property failed on both engines (postgres seed 1: delete racing accept
 * lost the revocation; pglite seed 7, path 1814: delete checked the strictly-more rule outside its transaction). Set
 * an engine's entry to a {@link KnownFailure} only for a race found and not yet fixed.
 */
const LINEARIZABILITY_KNOWN_FAILURE: Record<EngineName, KnownFailure | undefined> = {
  postgres: undefined,
  pglite: undefined,
};

/** Empties the suite's tables: each contract case (and each model run) starts from nothing. */
async function reset(ctx: EngineContext): Promise<void> {
  await ctx.db.query(`TRUNCATE ${ctx.s}.connections, ${ctx.s}.connection_outbox, ${ctx.s}.share_links`);
}

describeEngines("the shared contract suites", "contract", (ctx) => {
  // The repository suite runs twice: plain, and through a unit of work with the access cache on (its autocommit
  // writes then run in tracked transactions, and activeAccess answers from the cache once it is warm).
  let cachedRepoUow: PostgresUnitOfWork | undefined;
  afterAll(async () => {
    await cachedRepoUow?.close();
  });
  // Host ids are opaque text: the plain suite runs with ObjectId, UUID and integer-string ids; the cached one with one.
  const runs = [
    ...HOST_ID_STYLES.map((idStyle) => ({ idStyle, withCache: false })),
    { idStyle: "objectId" as const, withCache: true },
  ];
  for (const { idStyle, withCache } of runs) {
    connectionRepositoryContract(
      `adapter-postgres [${ctx.engine}]${withCache ? " with the access cache" : ""}`,
      {
        idStyle,
        async setup() {
          await reset(ctx);
          let uow = new PostgresUnitOfWork(ctx.db, { schema: ctx.schema });
          if (withCache) {
            cachedRepoUow ??= new PostgresUnitOfWork(ctx.db, {
              schema: ctx.schema,
              accessCache: { entries: 1000 },
            });
            await cachedRepoUow.accessCacheReady();
            cachedRepoUow.clearAccessCache();
            uow = cachedRepoUow;
          }
          return {
            repo: uow.connections,
            uow,
            // The back door reads the tables directly, so the adapter is not judged only by itself.
            backdoor: {
              async allRecords(org) {
                const { rows } = await ctx.db.query<ConnectionRow>(
                  `SELECT * FROM ${ctx.s}.connections WHERE org = $1 ORDER BY id`,
                  [org],
                );
                return rows.map(toRecord);
              },
              async outboxNotice(id) {
                const { rows } = await ctx.db.query<{ notice: SealedNotice }>(
                  `SELECT notice FROM ${ctx.s}.connection_outbox WHERE id = $1`,
                  [id],
                );
                const notice = rows[0]?.notice;
                return notice === undefined
                  ? null
                  : { ...notice, expiresAt: notice.expiresAt === null ? null : new Date(notice.expiresAt) };
              },
            },
          };
        },
      },
    );
  }

  /** A fresh world on this engine for the facade suites. */
  const engineWorld = {
    async setup(): Promise<NoticeWorld> {
      await reset(ctx);
      const clock = new ManualClock();
      const orgs = new InMemoryOrgDirectory();
      const accounts = new InMemoryAccountDirectory();
      const contexts = new InMemoryContextAccess();
      const store = new PostgresUnitOfWork(ctx.db, { schema: ctx.schema });
      const connections = createConnections({
        store,
        accounts,
        contexts,
        orgs,
        tokens: new CryptoTokenService(),
        ids: new RandomIdGenerator(clock),
        clock,
      });
      return {
        connections,
        clock,
        outbox: store.outbox,
        addOrg: (settings) => void orgs.put(settings),
        addAccount: (org, account) => void accounts.put(org, account),
        defineObject: (org, settings) => void contexts.defineObject(org, settings),
        grantHostAccess: (org, account, context, level) => contexts.grant(org, account, context, level),
      };
    },
  };

  facadeModelContract(
    `adapter-postgres [${ctx.engine}]`,
    engineWorld,
    // 60 sequences per engine by default: each step is several real statements, and the 200-sequence default runs
    // against adapter-memory; CONN_FC_RUNS or CONN_SLOW=1 run more here too.
    { numRuns: 60 },
  );

  // 30 model sequences per engine: each step runs a few dozen statements.
  shareLinkContract(`adapter-postgres [${ctx.engine}]`, engineWorld, { numRuns: 30 });

  timeLimitedGrantContract(`adapter-postgres [${ctx.engine}]`, engineWorld, { numRuns: 30 });

  // 40 model sequences per engine: each sweep is a few statements, and sweeps run up to three at once.
  accessEndingNoticeContract(`adapter-postgres [${ctx.engine}]`, engineWorld, { numRuns: 40 });

  // On the server a batch runs truly at once (separate pooled clients); on PGlite, which runs one transaction at a
  // time, under fc.scheduler interleavings of every port call. The reference is the in-memory adapter.
  linearizabilityContract(
    `adapter-postgres [${ctx.engine}]`,
    {
      mode: ctx.engine === "postgres" ? "parallel" : "scheduled",
      async setup() {
        // DELETE, not TRUNCATE: on a loaded server TRUNCATE took ~0.1 s per batch, DELETE of a few rows ~10 ms.
        await ctx.db.query(`DELETE FROM ${ctx.s}.connections`);
        await ctx.db.query(`DELETE FROM ${ctx.s}.connection_outbox`);
        return new PostgresUnitOfWork(ctx.db, { schema: ctx.schema });
      },
      reference: () => new InMemoryUnitOfWork(),
    },
    { knownFailure: LINEARIZABILITY_KNOWN_FAILURE[ctx.engine] },
  );

  // The same property with the access cache on: one cached unit of work for the whole run (its listening session
  // opened once), emptied after each batch's back-door DELETE. It shares the uncached case's known failures (none
  // since issue 11's fix): the cache must neither hide a race nor add one (a cached answer no serial order gives).
  let cached: PostgresUnitOfWork | undefined;
  afterAll(async () => {
    await cached?.close();
  });
  linearizabilityContract(
    `adapter-postgres [${ctx.engine}] with the access cache`,
    {
      mode: ctx.engine === "postgres" ? "parallel" : "scheduled",
      async setup() {
        await ctx.db.query(`DELETE FROM ${ctx.s}.connections`);
        await ctx.db.query(`DELETE FROM ${ctx.s}.connection_outbox`);
        cached ??= new PostgresUnitOfWork(ctx.db, { schema: ctx.schema, accessCache: { entries: 1000 } });
        await cached.accessCacheReady();
        cached.clearAccessCache();
        return cached;
      },
      reference: () => new InMemoryUnitOfWork(),
    },
    { knownFailure: LINEARIZABILITY_KNOWN_FAILURE[ctx.engine] },
  );
});
