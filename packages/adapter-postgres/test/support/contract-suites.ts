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
  type HostIdStyle,
  type KnownFailure,
  linearizabilityContract,
  type NoticeWorld,
  shareLinkContract,
  timeLimitedGrantContract,
} from "@conn/contract-tests";
import { createConnections, type SealedNotice } from "@conn/core";
import { afterAll } from "vitest";
import { PostgresUnitOfWork } from "../../src/index.js";
import { type ConnectionRow, toRecord } from "../../src/rows.js";
import { type EngineContext, type EngineName, emptyTables } from "./engines.js";

/**
 * The shared contract suites on PostgreSQL, split over several test files (`contract-*.test.ts`) so that vitest's two
 * workers share them: one 2-minute file that starts last used to set the wall time of `pnpm test`.
 */

/** `CONN_SOAK=1` (`pnpm test:soak`): the repeated runs at their full multiplicity. */
export const SOAK = process.env.CONN_SOAK === "1";

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
  await emptyTables(ctx.db, ctx.s);
}

/**
 * The repository suite on this engine, once per host-id style in `idStyles` (plain), and with `withCache` once more
 * (ObjectId ids) through a unit of work with the access cache on: its autocommit writes then run in tracked
 * transactions, and activeAccess answers from the cache once it is warm.
 */
export function repositorySuites(
  ctx: EngineContext,
  idStyles: readonly HostIdStyle[],
  withCache: boolean,
): void {
  let cachedRepoUow: PostgresUnitOfWork | undefined;
  afterAll(async () => {
    await cachedRepoUow?.close();
  });
  const runs = [
    ...idStyles.map((idStyle) => ({ idStyle, cache: false })),
    ...(withCache ? [{ idStyle: "objectId" as const, cache: true }] : []),
  ];
  for (const { idStyle, cache } of runs) {
    connectionRepositoryContract(`adapter-postgres [${ctx.engine}]${cache ? " with the access cache" : ""}`, {
      idStyle,
      async setup() {
        await reset(ctx);
        let uow = new PostgresUnitOfWork(ctx.db, { schema: ctx.schema });
        if (cache) {
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
    });
  }
}

/** A fresh world on this engine for the facade suites (facade model, share links, time limits, ending notices). */
function engineWorld(ctx: EngineContext): { setup(): Promise<NoticeWorld> } {
  return {
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
}

/**
 * Model sequences per engine for the facade suites. Each step is several real statements (adapter-memory runs the
 * facade model's 200-sequence default): `pnpm test` runs a modest number here, CONN_SOAK=1 (`pnpm test:soak`) the
 * full counts, and CONN_FC_RUNS or CONN_SLOW=1 more still.
 */
const FACADE_RUNS: Record<EngineName, { model: number; links: number; grants: number; endings: number }> =
  SOAK
    ? {
        pglite: { model: 60, links: 30, grants: 30, endings: 40 },
        postgres: { model: 60, links: 30, grants: 30, endings: 40 },
      }
    : {
        pglite: { model: 20, links: 15, grants: 15, endings: 20 },
        postgres: { model: 30, links: 15, grants: 15, endings: 20 },
      };

/** The facade suites on this engine: the facade model run, share links, time-limited grants, access-ending notices. */
export function facadeSuites(ctx: EngineContext): void {
  const world = engineWorld(ctx);
  const runs = FACADE_RUNS[ctx.engine];
  facadeModelContract(`adapter-postgres [${ctx.engine}]`, world, { numRuns: runs.model });
  shareLinkContract(`adapter-postgres [${ctx.engine}]`, world, { numRuns: runs.links });
  timeLimitedGrantContract(`adapter-postgres [${ctx.engine}]`, world, { numRuns: runs.grants });
  // Each sweep is a few statements, and sweeps run up to three at once.
  accessEndingNoticeContract(`adapter-postgres [${ctx.engine}]`, world, { numRuns: runs.endings });
}

/**
 * The linearizability property on this engine, plain and with the access cache, `numRuns` batches each. On the server
 * a batch runs truly at once (separate pooled clients); on PGlite, which runs one transaction at a time, under
 * fc.scheduler interleavings of every port call. The reference is the in-memory adapter.
 */
export function linearizabilitySuites(ctx: EngineContext, numRuns: number): void {
  const mode = ctx.engine === "postgres" ? "parallel" : "scheduled";
  const knownFailure = LINEARIZABILITY_KNOWN_FAILURE[ctx.engine];
  linearizabilityContract(
    `adapter-postgres [${ctx.engine}]`,
    {
      mode,
      async setup() {
        // DELETE, not TRUNCATE: on a loaded server TRUNCATE took ~0.1 s per batch, DELETE of a few rows ~10 ms.
        await ctx.db.query(`DELETE FROM ${ctx.s}.connections`);
        await ctx.db.query(`DELETE FROM ${ctx.s}.connection_outbox`);
        return new PostgresUnitOfWork(ctx.db, { schema: ctx.schema });
      },
      reference: () => new InMemoryUnitOfWork(),
    },
    { numRuns, knownFailure },
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
      mode,
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
    { numRuns, knownFailure },
  );
}
