import { expect, it } from "vitest";
import { isPlannedEachCall, type Queryable } from "../src/database.js";
import { preparedOnceStatements } from "../src/schema-name.js";
import { describeEngines, type EngineContext, outboxOn } from "./support/engines.js";
import { active, pending, sealedNotice, T0 } from "./support/fixtures.js";
import { genericPlanOf, insideRoutine, type PlanNode } from "./support/plans.js";

/**
 * On the server every statement with parameters is a named prepared statement, and PostgreSQL gives it a generic
 * plan on a connection's sixth call. On a new schema the tables are empty then: every index is one page and every
 * estimate one row, so the generic plan may pick any index led by org, and with autovacuum off nothing replans it for
 * as long as the connection lives (PostgreSQL flows slowed to 0.36× after 20,000 in `pnpm bench` that way). These
 * cases make the generic plan of each such statement on the empty tables (`plan_cache_mode = force_generic_plan`,
 * `PREPARE`, `EXPLAIN EXECUTE`) and check it walks the index it is written for, or that the statement is never
 * prepared at all (planned on every call).
 */
const ORG = "acme";
/** Every statement text probed in this file. */
const probed = new Set<string>();

/** What one statement sent through `call` would run as a generic plan: its plan's nodes, or "planned each call". */
async function genericPlans(
  ctx: EngineContext,
  call: (q: Queryable) => Promise<unknown>,
): Promise<(PlanNode[] | "planned each call")[]> {
  const out: (PlanNode[] | "planned each call")[] = [];
  const explaining: Queryable = {
    async query<R>(call: string, params?: unknown[]): Promise<{ rows: R[] }> {
      probed.add(call);
      // A routine's statements are planned as the routine plans them: generic, with the routine's parameters.
      const inside = insideRoutine(call, params);
      if (inside.length === 1 && inside[0]?.text === call && isPlannedEachCall(call)) {
        out.push("planned each call");
        return { rows: [] };
      }
      for (const { text, params: args } of inside) out.push(await genericPlanOf(ctx.db, text, args));
      return { rows: [] };
    },
  };
  await call(explaining);
  expect(out.length).toBeGreaterThan(0);
  return out;
}

/** The indexes a plan walks, sorted, and whether it scans a table whole. */
function shape(plan: PlanNode[] | "planned each call") {
  if (plan === "planned each call") return plan;
  return {
    indexes: [
      ...new Set(plan.flatMap((n) => (n["Index Name"] === undefined ? [] : [n["Index Name"]]))),
    ].sort(),
    seqScan: plan.some((n) => n["Node Type"] === "Seq Scan"),
  };
}

/** What a probe expects: the statement planned on every call, or its generic plan's indexes (sorted), no seq scan. */
type Expected = "planned each call" | { indexes: string[]; seqScan: false };

const ID = "0".repeat(24);

/**
 * Loads 90 active connections and 90 pending invitations of one org, unanalyzed, with long target accounts and token
 * hashes: the active and token indexes then have two levels while the primary key and the other indexes led by org
 * still have one, and those look cheaper walked by org alone.
 */
async function loadUneven(ctx: EngineContext): Promise<void> {
  const t = `${ctx.s}.connections`;
  const at = T0.toISOString();
  await ctx.db.query(
    `INSERT INTO ${t} (org, id, access, roles, context_object, context_id, created, updated, creator,
       target_account, target_key, state)
     SELECT $1, lpad(to_hex(g), 24, '0'), 4, '{}', 'c_doc', 'd' || g, $2::timestamptz, $2::timestamptz, 'cr',
       repeat('a', 150) || g, 'account:a' || g, 1
     FROM generate_series(1, 90) AS g`,
    [ORG, at],
  );
  await ctx.db.query(
    `INSERT INTO ${t} (org, id, access, roles, context_object, context_id, created, updated, creator,
       target_account, target_key, state, token_hash, token_seal, expires_at)
     SELECT $1, lpad(to_hex(100000 + g), 24, '0'), 4, '{}', 'c_doc', 'p' || g, $2::timestamptz, $2::timestamptz,
       'cr', 'b' || g, 'account:b' || g, 0, repeat('h', 150) || g, 's', $2::timestamptz + interval '7 days'
     FROM generate_series(1, 90) AS g`,
    [ORG, at],
  );
}
const CTX = { object: "c_doc", _id: "d1" };
const at = (indexes: string[]): Expected => ({ indexes, seqScan: false });

describeEngines("generic plans made on empty tables keep their index", "generic", (ctx) => {
  /** Probes one call's statements against what each should be. */
  async function check(call: (q: Queryable) => Promise<unknown>, expected: Expected[]): Promise<void> {
    const plans = await genericPlans(ctx, call);
    expect(plans.map(shape)).toEqual(expected);
  }

  /** The hot look-ups and the routines of create and accept, with the index each of their statements must walk. */
  async function checkHotLookups(): Promise<void> {
    await check(
      async (q) => {
        const repo = ctx.repoOn(q);
        await repo.activeAccess(ORG, CTX, "a1", T0);
        await repo.activeGrant(ORG, CTX, "a1", T0);
        await repo.findPendingByTokenHash(ORG, "h1", T0);
        // Create's routine: the context's lock (no table), then the look-up: its active part on the active index, its
        // pending part on the pending index.
        await repo.findForCreate(ORG, CTX, "cr", { accounts: ["a1"], emails: ["x@example.com"] }, T0);
        // Create's check (migration 46): the lock, then the same two parts as EXISTS, on the same indexes.
        await repo.expectNoneForCreate(ORG, CTX, "cr", { accounts: ["a1"], emails: ["x@example.com"] }, T0);
        // Accept's routine: the look-up by token (unique), then the claim by token (unique) and the superseding
        // delete on the pending index.
        await repo.acceptPending(ORG, "h1", { account: "a1", email: "a1@example.com" }, T0);
      },
      [
        at(["connections_active_uq"]),
        at(["connections_active_uq"]),
        at(["connections_token_uq"]),
        at([]),
        at(["connections_active_uq", "connections_pending_uq"]),
        at([]),
        at(["connections_active_uq", "connections_pending_uq"]),
        at(["connections_token_uq"]),
        at(["connections_pending_uq", "connections_token_uq"]),
      ],
    );
  }

  it("the repository's prepared statements: the hot reads and the create path", async () => {
    await checkHotLookups();
  });

  it("on small tables whose indexes split unevenly, the hot look-ups keep their unique index", async () => {
    // A generic plan is made on a connection's sixth call of a statement (a routine's, on its first call), from the
    // tables as they are then, and kept for as long as the connection lives when nothing analyzes them. Here the
    // unique indexes have split into a second level while the primary key and the context's index have not: each
    // index led by org then looks cheaper walked by org alone than the unique index walked by its whole key, and a
    // plan made so reads every row of the org on every call (PostgreSQL flows slowed to 0.73× after 20,000 in
    // `pnpm bench`: resolveAccess on the primary key, accept's look-up on the context's index). Before migration 43
    // the look-ups here walked the primary key or the context's index by org alone.
    await loadUneven(ctx);
    await checkHotLookups();
  });

  it("the statements whose generic plan walked a whole org are planned on every call", async () => {
    await check(
      async (q) => {
        const repo = ctx.repoOn(q);
        await repo.findById(ORG, ID, T0);
        await repo.claimPending(ORG, ID, T0, CTX);
        await repo.claimPending(ORG, ID, T0);
        await repo.deleteById(ORG, ID);
        await repo.bindEmail(ORG, "x@example.com", "a1", T0);
        await repo.purgeExpired(ORG, T0, 10);
        await repo.deleteSuperseded(ORG, [{ context: CTX, account: "a1", maxAccess: 4 }]);
      },
      // purgeExpired: the pick (the delete by ids follows only when it picked some).
      Array.from({ length: 7 }, (): Expected => "planned each call"),
    );
  });

  it("the writes prepared once insert by value: savePending, saveActive, the outbox's enqueue", async () => {
    await check(
      async (q) => {
        // The probe returns no rows, which these two then refuse (no stored row for an input): only the plan counts.
        await expect(ctx.repoOn(q).savePending([pending({ org: ORG })], T0)).rejects.toThrow();
        await expect(ctx.repoOn(q).saveActive([active({ org: ORG })], T0)).rejects.toThrow();
        await outboxOn(ctx, q).enqueue([{ id: ID, org: ORG, notice: sealedNotice(), availableAt: T0 }]);
        // savePendingAsExpected's routine runs savePending's statement (on a generic plan).
        const invite = pending({ org: ORG });
        await ctx
          .repoOn(q)
          .savePendingAsExpected([invite], [{ _id: invite._id, access: invite.access, account: null }], T0);
      },
      Array.from({ length: 4 }, () => at([])),
    );
  });

  it("the outbox's renew, release, markDelivered and markFailed walk the primary key only", async () => {
    const claim = { org: ORG, id: ID, claim: 1 };
    await check(
      async (q) => {
        const outbox = outboxOn(ctx, q);
        await outbox.renew(claim, T0);
        await outbox.release(claim);
        await outbox.markDelivered(claim, T0);
        await outbox.markFailed(claim, "boom", T0, T0);
      },
      Array.from({ length: 4 }, () => at(["connection_outbox_pkey"])),
    );
  });

  it("the outbox's claim picks its batch from the due index and updates by primary key; dueOrgs reads the due index", async () => {
    await check(
      async (q) => {
        const outbox = outboxOn(ctx, q);
        await outbox.claim(ORG, T0, 10, 60_000);
        await outbox.dueOrgs(T0, T0, 10);
      },
      [at(["connection_outbox_org_due_idx", "connection_outbox_pkey"]), at(["connection_outbox_due_idx"])],
    );
  });

  it("accept's routine keeps its generic plan and leaves the session's plan_cache_mode as it was", async () => {
    const p = pending({ org: ORG, context: CTX });
    await ctx.repo.savePending([p], T0);
    const { rows: config } = await ctx.db.query<{ config: string[] | null }>(
      "SELECT proconfig AS config FROM pg_proc WHERE oid = $1::regprocedure",
      [`${ctx.s}.conn_accept_pending(text, text, timestamptz, text, text)`],
    );
    expect(config[0]?.config).toEqual(["plan_cache_mode=force_generic_plan"]);
    await ctx.db.transaction(async (tx) => {
      await tx.query("SET LOCAL plan_cache_mode = force_custom_plan");
      const target = p.target.account as string;
      const accepted = await ctx
        .repoOn(tx)
        .acceptPending(ORG, p.tokenHash as string, { account: target, email: "t@example.com" }, T0);
      expect(accepted?.claimed._id).toBe(p._id);
      const { rows } = await tx.query<{ mode: string }>("SELECT current_setting('plan_cache_mode') AS mode");
      expect(rows[0]?.mode).toBe("force_custom_plan");
    });
  });

  it("every statement prepared once is checked above (a new one needs its own case)", () => {
    const mine = preparedOnceStatements().filter((text) => text.includes(ctx.s));
    expect(mine.length).toBeGreaterThan(10);
    expect(mine.filter((text) => !probed.has(text))).toEqual([]);
  });
});
