import type { ContextRef } from "@conn/core";
import { expect, it } from "vitest";
import type { Queryable } from "../src/index.js";
import { describeEngines, type EngineContext } from "./support/engines.js";
import { T0 } from "./support/fixtures.js";
import { genericPlanOf, insideRoutine, type PlanNode, planNodes } from "./support/plans.js";

/**
 * The server here runs with autovacuum off, and a host's may too: statistics go stale and stay so. These cases load
 * a table whose statistics say no pending invitation exists (2,000 active rows, analyzed) and then add 5,000 pending
 * ones without analyzing, and check with EXPLAIN that the statements of the accept path still walk the index they
 * are written for, not the expiry index (which such statistics make look empty) or a join over every pending row.
 */
const ORG = "acme";
const PENDING = 5000;

/** Loads the stale table: active rows analyzed, then pending rows the statistics never saw. */
async function loadStale(ctx: EngineContext): Promise<void> {
  const t = `${ctx.s}.connections`;
  const at = T0.toISOString();
  // From new, empty files: the suite empties tables with DELETE, whose dead rows (autovacuum off) would leave each
  // case's indexes as large as the cases before it made them, and a plan that depends on that would pass or fail with
  // the order the cases run in (the expiry index walked whole by accept's superseding delete passed after others).
  await ctx.db.query(`TRUNCATE ${t}`);
  await ctx.db.query(
    `INSERT INTO ${t} (org, id, access, roles, context_object, context_id, created, updated, creator,
       target_account, target_key, state)
     SELECT $1, lpad(to_hex(g), 24, '0'), 4, '{}', 'c_doc', 'd' || (g % 50), $2::timestamptz, $2::timestamptz,
       'cr' || (g % 5), 'acc' || g, 'account:acc' || g, 1
     FROM generate_series(1, 2000) AS g`,
    [ORG, at],
  );
  await ctx.db.query(`ANALYZE ${t}`);
  await ctx.db.query(
    `INSERT INTO ${t} (org, id, access, roles, context_object, context_id, created, updated, creator,
       target_account, target_key, state, token_hash, token_seal, expires_at)
     SELECT $1, lpad(to_hex(1000000 + g), 24, '0'), 4, '{}', 'c_doc', 'd' || (g % 50), $2::timestamptz,
       $2::timestamptz, 'cr' || (g % 7), 'p' || (g % 900), 'account:p' || g, 0, 'h' || g, 's',
       $2::timestamptz + interval '7 days'
     FROM generate_series(1, $3::int) AS g`,
    [ORG, at, PENDING],
  );
}

/** The invitation accept's routine finds, in the plan of its writes. */
const ACCEPT_ID = (1_000_077).toString(16).padStart(24, "0");

/**
 * The plan of the statements `call` sends through the repository (EXPLAIN only: nothing runs). A routine's statements
 * are planned as the routine plans them, generic, from the tables as they are now; any other statement with its values.
 */
async function planOf(
  ctx: EngineContext,
  call: (repo: ReturnType<EngineContext["repoOn"]>) => Promise<unknown>,
): Promise<PlanNode[]> {
  const plans: PlanNode[] = [];
  const explaining: Queryable = {
    async query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
      const inside = insideRoutine(text, params, [ACCEPT_ID, "c_doc", "d27"]);
      const routine = inside.length !== 1 || inside[0]?.text !== text;
      for (const statement of inside) {
        if (routine) {
          plans.push(...(await genericPlanOf(ctx.db, statement.text, statement.params)));
          continue;
        }
        const { rows } = await ctx.db.query<{ "QUERY PLAN": unknown }>(
          `EXPLAIN (FORMAT JSON) ${statement.text}`,
          statement.params,
        );
        plans.push(...planNodes(rows[0]?.["QUERY PLAN"]));
      }
      return { rows: [] };
    },
  };
  await call(ctx.repoOn(explaining));
  expect(plans.length).toBeGreaterThan(0);
  return plans;
}

/** The indexes of the connections table a plan walks, and whether it scans the table whole or hash-joins. */
function shape(plan: PlanNode[]): { indexes: string[]; seqScan: boolean; bigJoin: boolean } {
  return {
    indexes: [
      ...new Set(plan.flatMap((n) => (n["Index Name"] === undefined ? [] : [n["Index Name"]]))),
    ].sort(),
    seqScan: plan.some((n) => n["Node Type"] === "Seq Scan" && n["Relation Name"] === "connections"),
    bigJoin: plan.some((n) => n["Node Type"] === "Hash Join" || n["Node Type"] === "Merge Join"),
  };
}

const CTX: ContextRef = { object: "c_doc", _id: "d7" };

describeEngines("statements keep their index on stale statistics", "stale", (ctx) => {
  it("the token look-up walks the token index", async () => {
    await loadStale(ctx);
    const plan = await planOf(ctx, (repo) => repo.findPendingByTokenHash(ORG, "h77", T0));
    expect(shape(plan)).toEqual({ indexes: ["connections_token_uq"], seqScan: false, bigJoin: false });
    // Searched by the token, not walked whole with the token as a filter.
    const scan = plan.find((n) => n["Index Name"] === "connections_token_uq");
    expect(scan?.["Index Cond"]).toMatch(/token_hash = /);
  }, 60_000);

  it("claimPending walks the primary key, with the context's lock and without", async () => {
    await loadStale(ctx);
    const id = (1_000_077).toString(16).padStart(24, "0");
    for (const lock of [undefined, CTX]) {
      const plan = await planOf(ctx, (repo) => repo.claimPending(ORG, id, T0, lock));
      expect(shape(plan)).toEqual({ indexes: ["connections_pkey"], seqScan: false, bigJoin: false });
    }
  }, 60_000);

  it("acceptPending finds and claims by the token index and deletes the superseded on the pending index", async () => {
    await loadStale(ctx);
    const plan = await planOf(ctx, (repo) =>
      repo.acceptPending(ORG, "h77", { account: "p77", email: "p77@example.com" }, T0),
    );
    const { indexes, seqScan, bigJoin } = shape(plan);
    expect({ seqScan, bigJoin }).toEqual({ seqScan: false, bigJoin: false });
    // The look-up and the claim: the token's index, searched by the token; the superseding delete: the pending
    // index, searched by the context.
    expect(indexes).toEqual(["connections_pending_uq", "connections_token_uq"]);
    expect(plan.find((n) => n["Index Name"] === "connections_token_uq")?.["Index Cond"]).toMatch(
      /token_hash = /,
    );
    expect(plan.find((n) => n["Index Name"] === "connections_pending_uq")?.["Index Cond"]).toMatch(
      /context_id = /,
    );
  }, 60_000);

  it("create's look-up and create's check walk the active and pending indexes by the context", async () => {
    await loadStale(ctx);
    const targets = { accounts: ["p77", "p78"], emails: ["p77@example.com"] };
    const calls = [
      (repo: ReturnType<EngineContext["repoOn"]>) => repo.findForCreate(ORG, CTX, "cr2", targets, T0),
      (repo: ReturnType<EngineContext["repoOn"]>) => repo.expectNoneForCreate(ORG, CTX, "cr2", targets, T0),
    ];
    for (const call of calls) {
      const plan = await planOf(ctx, call);
      const { indexes, seqScan, bigJoin } = shape(plan);
      expect({ seqScan, bigJoin }).toEqual({ seqScan: false, bigJoin: false });
      // Each part on the unique index of its state, searched by the context: never the expiry index, led by org
      // alone (every pending row of the org).
      expect(indexes).toEqual(["connections_active_uq", "connections_pending_uq"]);
      for (const index of indexes) {
        expect(plan.find((n) => n["Index Name"] === index)?.["Index Cond"]).toMatch(/context_id = /);
      }
    }
  }, 60_000);

  it("deleteSuperseded walks an index per item, with no join over every pending row", async () => {
    await loadStale(ctx);
    const plan = await planOf(ctx, (repo) =>
      repo.deleteSuperseded(ORG, [
        { context: CTX, account: "p7", maxAccess: 4, exceptId: "0".repeat(24) },
        { context: { ...CTX, _id: "d8" }, account: "p8", maxAccess: 5 },
      ]),
    );
    const { indexes, seqScan, bigJoin } = shape(plan);
    expect({ seqScan, bigJoin }).toEqual({ seqScan: false, bigJoin: false });
    expect(indexes).not.toContain("connections_expiry_idx");
    // Per item, the target account's or the context's index; then the picked ids by primary key.
    expect(indexes).toContain("connections_pkey");
    expect(indexes.filter((i) => i !== "connections_pkey")).toSatisfy(
      (rest: string[]) =>
        rest.length === 1 &&
        ["connections_target_account_idx", "connections_context_idx"].includes(rest[0] as string),
    );
  }, 60_000);

  it("the access-ending sweep walks the access-end index, and marking walks the primary key", async () => {
    await loadStale(ctx);
    // 3,000 time-limited grants the statistics never saw (they say no row has an end).
    await ctx.db.query(
      `INSERT INTO ${ctx.s}.connections (org, id, access, roles, context_object, context_id, created, updated,
         creator, target_account, target_key, state, access_expires_at)
       SELECT $1, lpad(to_hex(2000000 + g), 24, '0'), 4, '{}', 'c_doc', 'e' || (g % 50), $2::timestamptz,
         $2::timestamptz, 'cr' || (g % 5), 'g' || g, 'account:g' || g, 1, $2::timestamptz + g * interval '1 minute'
       FROM generate_series(1, 3000) AS g`,
      [ORG, T0.toISOString()],
    );
    const day = 24 * 60 * 60 * 1000;
    const sweep = await planOf(ctx, (repo) =>
      repo.findEndingGrants(ORG, { now: T0, until: new Date(T0.getTime() + 2 * day), limit: 200 }),
    );
    expect(shape(sweep)).toEqual({ indexes: ["connections_access_end_idx"], seqScan: false, bigJoin: false });
    const id = (2_000_077).toString(16).padStart(24, "0");
    const end = new Date(T0.getTime() + 77 * 60_000);
    const mark = await planOf(ctx, (repo) =>
      repo.markEndNoticed(ORG, [{ id, accessExpiresAt: end, creator: "cr2" }], T0),
    );
    expect(shape(mark)).toEqual({ indexes: ["connections_pkey"], seqScan: false, bigJoin: false });
  }, 60_000);
});
