import { type BoundStatement, statementsInside } from "../../src/connection-sql.js";
import type { Database } from "../../src/database.js";

/** One node of an EXPLAIN (FORMAT JSON) plan. */
export interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  /** What an index scan searches the index for (absent: it walks the whole index). */
  "Index Cond"?: string;
  Plans?: PlanNode[];
}

/** Every node of a plan, depth first. */
export function nodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodes)];
}

/** Every node of the plan in an EXPLAIN (FORMAT JSON) result row's "QUERY PLAN" (text on PGlite, parsed on pg). */
export function planNodes(queryPlan: unknown): PlanNode[] {
  const parsed = (typeof queryPlan === "string" ? JSON.parse(queryPlan) : queryPlan) as { Plan: PlanNode }[];
  return nodes((parsed[0] as { Plan: PlanNode }).Plan);
}

/** The statements a routine call runs inside, for EXPLAIN (see statementsInside); the found invitation by default. */
export function insideRoutine(
  text: string,
  params: unknown[] = [],
  found: [string, string, string] = ["0".repeat(24), "c_doc", "d1"],
): BoundStatement[] {
  return statementsInside(text, params, found);
}

/** A parameter as an SQL literal (a test's own, known values: strings, numbers, dates, arrays of them, null). */
export function literal(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "number") return String(value);
  if (Array.isArray(value))
    return literal(`{${value.map((v) => `"${String(v).replaceAll('"', '\\"')}"`).join(",")}}`);
  const text = value instanceof Date ? value.toISOString() : String(value);
  return `'${text.replaceAll("'", "''")}'`;
}

/** Prepared statements are not undone by a rollback: each probe has a name of its own. */
let probes = 0;

/**
 * The generic plan of `text` with `params` as PostgreSQL makes it for a prepared statement or a routine's statement
 * (`plan_cache_mode = force_generic_plan`, `PREPARE`, `EXPLAIN EXECUTE`), from the tables as they are now.
 */
export async function genericPlanOf(
  db: Database,
  text: string,
  params: readonly unknown[],
): Promise<PlanNode[]> {
  const name = `conn_generic_probe_${process.pid}_${probes++}`;
  let plan: PlanNode[] = [];
  await db.transaction(async (tx) => {
    await tx.query("SET LOCAL plan_cache_mode = force_generic_plan");
    await tx.query(`PREPARE ${name} AS ${text}`);
    const list = params.map(literal).join(", ");
    const { rows } = await tx.query<{ "QUERY PLAN": unknown }>(
      `EXPLAIN (FORMAT JSON) EXECUTE ${name}${list === "" ? "" : `(${list})`}`,
    );
    plan = planNodes(rows[0]?.["QUERY PLAN"]);
    await tx.query(`DEALLOCATE ${name}`);
  });
  return plan;
}
