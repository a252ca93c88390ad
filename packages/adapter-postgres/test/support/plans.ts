import { type BoundStatement, statementsInside } from "../../src/connection-sql.js";

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
