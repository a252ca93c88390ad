import type { BenchResults, EngineResult, GoalResult } from "./results.js";

/** ns → a short human string. */
export function formatNs(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns.toFixed(0)} ns`;
}

/** A difference of two medians: positive, or "nothing measurable" when noise made it negative. */
function added(ns: number): string {
  return ns > 0 ? `adds ${formatNs(ns)}` : "adds nothing measurable (within this run's noise)";
}

/** A rate with thousands separators. */
export function formatRate(perSec: number): string {
  return Math.round(perSec).toLocaleString("en-US");
}

/** The fastest casbin model's median for hits, ns (the peer the goals compare against). */
export function bestPeerHit(results: BenchResults): { model: string; medianNs: number } | null {
  const s = results.peer?.scenarios;
  const acl = s?.["casbin.acl.hit"]?.timing.medianNs;
  const rbac = s?.["casbin.rbac.hit"]?.timing.medianNs;
  if (acl === undefined && rbac === undefined) return null;
  if (rbac === undefined || (acl !== undefined && acl <= rbac))
    return { model: "ACL", medianNs: acl as number };
  return { model: "RBAC", medianNs: rbac };
}

function median(engine: EngineResult, id: keyof EngineResult["scenarios"]): number | undefined {
  return engine.scenarios[id]?.timing.medianNs;
}

/** Checks the issue's goals against the figures of this run; a missed goal says why, from the same figures. */
export function evaluateGoals(results: BenchResults): GoalResult[] {
  const goals: GoalResult[] = [];
  for (const engine of results.engines) {
    const name = engine.engine;
    const resolve = median(engine, "resolveAccess.hit");
    const floor = median(engine, "floor.hit");
    const adapter = median(engine, "activeAccess.hit");

    if (name !== "memory" && resolve !== undefined && floor !== undefined) {
      const ratio = resolve / floor;
      const unprepared = median(engine, "floor.unpreparedHit");
      const parts: string[] = [];
      if (adapter !== undefined) {
        parts.push(
          `the facade (input checks, the host's accessOf, promise plumbing) ${added(resolve - adapter)}`,
        );
        parts.push(`the adapter around the driver ${added(adapter - floor)}`);
      }
      parts.push(
        unprepared !== undefined
          ? `sent unnamed (parsed and planned on every call) the same SELECT would cost ${formatNs(unprepared)}, ${(unprepared / floor).toFixed(2)}× the floor: the adapter sends its statements as named prepared statements, which is what keeps it near the floor`
          : "PGlite has no named prepared statements, so the floor and the adapter send the same statement",
      );
      const met = ratio <= 1.25;
      goals.push({
        id: `resolve-vs-floor.${name}`,
        goal: "resolveAccess on PostgreSQL ≤ 1.25× the raw SQL floor",
        engine: name,
        measured: `${ratio.toFixed(2)}× (${formatNs(resolve)} vs ${formatNs(floor)}, medians)`,
        met,
        note: `${met ? "Met" : "Missed"}: of the ${formatNs(resolve - floor)} above the floor, ${parts.join("; ")}.`,
      });
    }

    if (name === "memory" && resolve !== undefined) {
      const t = engine.scenarios["resolveAccess.hit"]?.timing;
      const rate = t?.opsPerSec ?? 0;
      const floorRate = engine.scenarios["floor.hit"]?.timing.opsPerSec;
      const resolveRatio = floor === undefined ? "?" : (resolve / floor).toFixed(1);
      const adapterRatio = floor === undefined || adapter === undefined ? "?" : (adapter / floor).toFixed(1);
      const met = rate >= 1_000_000;
      goals.push({
        id: "memory-rate",
        goal: "resolveAccess on memory ≥ 1,000,000 per second",
        engine: name,
        measured: `${formatRate(rate)}/s (median ${formatNs(resolve)}; bare Map floor ${floor === undefined ? "?" : formatNs(floor)})`,
        met,
        note: met
          ? "Met, on one core, calls awaited one after another."
          : `Missed. ${
              floorRate !== undefined && floorRate < 1_000_000
                ? `On this machine not even the floor gets there: a bare Map look-up in a 100,000-entry Map runs at ${formatRate(floorRate)}/s (cache misses on a shared, loaded 2-core VM), and resolveAccess does two such look-ups (the active index, then the record) besides the host's own. `
                : ""
            }Past the look-ups, each call is two awaited port calls joined by Promise.all plus the facade's guard (.catch): several promises and microtask turns (resolveAccess ${resolveRatio}× the floor; the adapter's activeAccess alone ${adapterRatio}×). Fixes worth having: keep the access (or the record) in the in-memory active index so activeAccess is one look-up, not two (adapter-memory, in-memory-connection-repository.ts activeAccess), and skip the guard's extra promise on the hot path (core, connections.ts resolveAccess).`,
      });
      const peer = bestPeerHit(results);
      if (peer !== null) {
        const ok = resolve <= peer.medianNs;
        goals.push({
          id: "memory-vs-casbin",
          goal: "resolveAccess on memory no slower than casbin",
          engine: name,
          measured: `${(peer.medianNs / resolve).toFixed(1)}× faster than casbin's fastest model (${peer.model}, ${formatNs(peer.medianNs)} vs ${formatNs(resolve)}, medians)`,
          met: ok,
          note: ok
            ? "Met: casbin evaluates its matcher expression per policy line (ACL) or walks its role graph (RBAC) on every check; the adapter does two Map look-ups."
            : "Missed: casbin answered faster on the same grants.",
        });
      }
    }

    const c1 = engine.scenarios["create.1"]?.statements;
    const c10 = engine.scenarios["create.10"]?.statements;
    const c100 = engine.scenarios["create.100"]?.statements;
    if (c1 !== undefined && c10 !== undefined && c100 !== undefined) {
      const met = c1.statements === c10.statements && c10.statements === c100.statements;
      goals.push({
        id: `create-statements.${name}`,
        goal: "statements for create do not grow with the number of targets",
        engine: name,
        measured: `${c1.statements} / ${c10.statements} / ${c100.statements} statements for 1 / 10 / 100 targets`,
        met,
        note: met
          ? "Met: findForCreate, savePending and outbox.enqueue each take the whole batch in one statement (jsonb_to_recordset), plus BEGIN and COMMIT."
          : "Missed: a statement is sent per target somewhere in create.",
      });
    }
    const acc = engine.scenarios.accept?.statements;
    if (acc !== undefined) {
      const met = acc.transactions === 1 && acc.maxInTransaction <= 5;
      goals.push({
        id: `accept-statements.${name}`,
        goal: "accept ≤ 5 statements in one transaction",
        engine: name,
        measured: `${acc.maxInTransaction} statements in ${acc.transactions} transaction${acc.transactions === 1 ? "" : "s"} (${acc.statements} in all, with the token look-up before it)`,
        met,
        note: met
          ? `Met: BEGIN, claimPending, saveActive, deleteSuperseded, COMMIT. The token look-up (findPendingByTokenHash) runs before the transaction, so the call sends ${acc.statements} in all.`
          : "Missed: accept's transaction sends more than five statements.",
      });
    }
    const first = median(engine, "list.first");
    const deep = median(engine, "list.deep");
    if (first !== undefined && deep !== undefined) {
      const ratio = deep / first;
      const met = ratio <= 1.5;
      goals.push({
        id: `list-depth.${name}`,
        goal: `list ${results.size.listDepth.toLocaleString("en-US")} rows deep ≤ 1.5× the first page`,
        engine: name,
        measured: `${ratio.toFixed(2)}× (${formatNs(deep)} vs ${formatNs(first)}, medians)`,
        met,
        note:
          name === "memory"
            ? `${met ? "Met" : "Missed"}, but both pages are slow for a large list: the in-memory list gathers every record of the filter, filters by the cursor and sorts what is left on every page (O(n log n) per page), so the first page (all ${results.size.connections.toLocaleString("en-US")} rows sorted) costs as much as or more than a deep one.`
            : `${met ? "Met" : "Missed"}: the cursor is a keyset condition (id < cursor) on connections_creator_idx (org, creator, id), so a deep page is one index seek, like the first.`,
      });
    }
  }
  return goals;
}
