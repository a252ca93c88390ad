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
  connectionRepositoryContract,
  facadeModelContract,
  HOST_ID_STYLES,
  type KnownFailure,
  linearizabilityContract,
  type World,
} from "@conn/contract-tests";
import { createConnections, type SealedNotice } from "@conn/core";
import { PostgresUnitOfWork } from "../src/index.js";
import { type ConnectionRow, toRecord } from "../src/rows.js";
import { describeEngines, type EngineContext, type EngineName } from "./support/engines.js";

/**
 * TEMPORARY, issue 11: on main the linearizability property fails on both engines, and its cases are registered as
 * KNOWN FAILUREs that must still fail. When the fix lands, set an engine's entry to `undefined` (its normal
 * 200-batch case then runs).
 * - postgres: delete racing accept loses the revocation (accept deletes the pending row and inserts the active one
 *   under the same id; the delete, waiting on the row under READ COMMITTED, finds nothing and answers notFound while
 *   the target keeps its access); also creates racing accepts or creates answer, or leave, what no serial order
 *   gives, and delete checks the strictly-more rule outside its transaction (docs/reliability.md, Linearizability).
 * - pglite: transactions run one at a time, so only the last of these shows: delete checks the strictly-more rule
 *   outside its transaction.
 */
const LINEARIZABILITY_KNOWN_FAILURE: Record<EngineName, KnownFailure | undefined> = {
  postgres: { reason: "issue 11: delete racing accept loses the revocation, and other races", runs: 1000 },
  pglite: {
    reason: "issue 11: delete checks the strictly-more rule outside its transaction",
    seed: 7,
    path: "1814",
    runs: 3000,
  },
};

/** Empties the suite's tables: each contract case (and each model run) starts from nothing. */
async function reset(ctx: EngineContext): Promise<void> {
  await ctx.db.query(`TRUNCATE ${ctx.s}.connections, ${ctx.s}.connection_outbox`);
}

describeEngines("the shared contract suites", "contract", (ctx) => {
  // Host ids are opaque text: the repository suite runs with ObjectId, UUID and integer-string ids.
  for (const idStyle of HOST_ID_STYLES) {
    connectionRepositoryContract(`adapter-postgres [${ctx.engine}]`, {
      idStyle,
      async setup() {
        await reset(ctx);
        const uow = new PostgresUnitOfWork(ctx.db, { schema: ctx.schema });
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

  facadeModelContract(
    `adapter-postgres [${ctx.engine}]`,
    {
      async setup(): Promise<World> {
        await reset(ctx);
        const clock = new ManualClock();
        const orgs = new InMemoryOrgDirectory();
        const accounts = new InMemoryAccountDirectory();
        const contexts = new InMemoryContextAccess();
        const connections = createConnections({
          store: new PostgresUnitOfWork(ctx.db, { schema: ctx.schema }),
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
          addOrg: (settings) => void orgs.put(settings),
          addAccount: (org, account) => void accounts.put(org, account),
          defineObject: (org, settings) => void contexts.defineObject(org, settings),
          grantHostAccess: (org, account, context, level) => contexts.grant(org, account, context, level),
        };
      },
      // 60 sequences per engine by default: each step is several real statements, and the 200-sequence default runs
      // against adapter-memory; CONN_FC_RUNS or CONN_SLOW=1 run more here too.
    },
    { numRuns: 60 },
  );

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
});
