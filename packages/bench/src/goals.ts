import type { BenchResults, EngineResult, GoalResult } from "./results.js";
import type { ScalePoint } from "./scale.js";

/** ns → a short human string. */
export function formatNs(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns.toFixed(0)} ns`;
}

/** A rate with thousands separators. */
export function formatRate(perSec: number): string {
  return Math.round(perSec).toLocaleString("en-US");
}

/** A ratio as the goals print it. */
export function formatRatio(r: number): string {
  return `${r.toFixed(2)}×`;
}

/** The fastest peer's median for hits, ns, with its name (the peer the goals compare against). */
export function bestPeerHit(results: BenchResults): { model: string; medianNs: number } | null {
  const s = results.peer?.scenarios;
  const candidates = [
    { model: "casbin ACL", medianNs: s?.["casbin.acl.hit"]?.timing.medianNs },
    { model: "casbin RBAC", medianNs: s?.["casbin.rbac.hit"]?.timing.medianNs },
    { model: "CASL", medianNs: s?.["casl.hit"]?.timing.medianNs },
  ].filter((c): c is { model: string; medianNs: number } => c.medianNs !== undefined);
  if (candidates.length === 0) return null;
  return candidates.reduce((a, b) => (b.medianNs < a.medianNs ? b : a));
}

function median(engine: EngineResult | undefined, id: keyof EngineResult["scenarios"]): number | undefined {
  return engine?.scenarios[id]?.timing.medianNs;
}

/** The slower of a scale point's two list pages, ns. */
function worstPage(p: ScalePoint): number {
  return Math.max(p.listFirst.medianNs, p.listDeep.medianNs);
}

/**
 * Checks the issue's goals against the figures of this run, each a ratio (or a rate) measured in this run; a goal
 * whose figures were not measured (an engine or a part left out) is not listed.
 */
export function evaluateGoals(results: BenchResults): GoalResult[] {
  const goals: GoalResult[] = [];
  const push = (g: GoalResult) => goals.push(g);
  const memory = results.engines.find((e) => e.engine === "memory");
  const server = results.engines.find((e) => e.engine === "postgres");

  // --- HTTP GET by id against a bare Hono app --------------------------------------------------------------------
  const get = memory?.httpGet;
  if (get !== undefined) {
    const rate = get.conn.requestsPerSec / get.hono.requestsPerSec;
    push({
      id: "http-get-rate",
      goal: "HTTP GET by id (memory) ≥ 0.5× a bare Hono app's requests/s, same JSON body",
      engine: "memory",
      value: rate,
      measured: `${formatRatio(rate)} (${formatRate(get.conn.requestsPerSec)} vs ${formatRate(get.hono.requestsPerSec)} requests/s; bare node:http ${formatRate(get.node.requestsPerSec)})`,
      met: rate >= 0.5,
      note: "Both served by @hono/node-server in this process, loaded from a second process with the same keep-alive fetch loop, in turn, in rounds.",
    });
    const p50 = get.conn.p50Ms / get.hono.p50Ms;
    push({
      id: "http-get-p50",
      goal: "HTTP GET by id (memory): p50 ≤ 2× the bare Hono app's",
      engine: "memory",
      value: p50,
      measured: `${formatRatio(p50)} (${get.conn.p50Ms.toFixed(2)} ms vs ${get.hono.p50Ms.toFixed(2)} ms; bare node:http ${get.node.p50Ms.toFixed(2)} ms)`,
      met: p50 <= 2,
      note: `${get.concurrency} requests in flight; latencies client-side, loopback included.`,
    });
  }

  // --- flow throughput as the data grows -----------------------------------------------------------------------
  for (const f of results.flows ?? []) {
    push({
      id: `flows.${f.engine}`,
      goal: `flow throughput after ${formatRate(f.flowsBefore)} flows ≥ 0.9× its first ${formatRate(f.first.flows)}`,
      engine: f.engine,
      value: f.ratio,
      measured: `${formatRatio(f.ratio)} (${f.last.flowsPerSec.toFixed(0)} vs ${f.first.flowsPerSec.toFixed(0)} flows/s)`,
      met: f.ratio >= 0.9,
      note: `create → read token → accept → resolve over HTTP, ${f.first.concurrency} at a time, with the outbox relay running (outbox after: ${Object.entries(
        f.outbox,
      )
        .map(([k, v]) => `${formatRate(v)} ${k}`)
        .join(
          ", ",
        )}). The two chunks run minutes apart on a shared machine, so a change in its load between them moves this ratio either way.`,
    });
  }

  // --- in-memory resolveAccess ------------------------------------------------------------------------------------
  const resolve = memory?.scenarios["resolveAccess.hit"]?.timing;
  const two = memory?.scenarios["twoLookups.hit"]?.timing;
  if (resolve !== undefined && two !== undefined) {
    const r = resolve.opsPerSec / two.opsPerSec;
    push({
      id: "memory-resolve-vs-floor",
      goal: "resolveAccess (memory) ≥ 0.8× an async function awaiting two Map.get with precomputed keys",
      engine: "memory",
      value: r,
      measured: `${formatRatio(r)} (${formatRate(resolve.opsPerSec)}/s vs ${formatRate(two.opsPerSec)}/s)`,
      met: r >= 0.8,
      note: "Rates are 1 / mean of batches of sequential awaited calls. Beyond the floor's work, resolveAccess checks its four inputs and probes two nested indexes (up to four Map.get each) with the caller's strings instead of one Map.get with a key made beforehand; both in-memory ports answer at once, so it awaits nothing of its own (the floor awaits twice).",
    });
  }
  if (resolve !== undefined) {
    push({
      id: "memory-resolve-rate",
      goal: "resolveAccess (memory) ≥ 500,000 per second",
      engine: "memory",
      value: resolve.opsPerSec,
      measured: `${formatRate(resolve.opsPerSec)}/s (median ${formatNs(resolve.medianNs)})`,
      met: resolve.opsPerSec >= 500_000,
      note: "One core, calls awaited one after another.",
    });
  }

  // --- in-memory list ---------------------------------------------------------------------------------------------
  const first = median(memory, "list.first");
  const deep = median(memory, "list.deep");
  if (first !== undefined && deep !== undefined) {
    const worst = Math.max(first, deep);
    push({
      id: "memory-list-page",
      goal: `in-memory list: a page ≤ 2 ms at ${formatRate(results.size.connections)} connections`,
      engine: "memory",
      value: worst / 1e6,
      measured: `first ${formatNs(first)}, ${formatRate(results.size.listDepth)} rows deep ${formatNs(deep)}`,
      met: worst <= 2e6,
      note: "The owner's list as creator of the whole data set, 100 per page.",
    });
    const r = deep / first;
    push({
      id: "memory-list-deep",
      goal: "in-memory list: a deep page ≤ 1.5× the first",
      engine: "memory",
      value: r,
      measured: `${formatRatio(r)} (${formatNs(deep)} vs ${formatNs(first)})`,
      met: r <= 1.5,
      note: "Pages are read from a sorted index from the cursor on.",
    });
  }
  const memScale = results.scale?.find((s) => s.engine === "memory")?.points ?? [];
  const small = memScale[0];
  const large = memScale.at(-1);
  if (small !== undefined && large !== undefined && large !== small) {
    const r = worstPage(large) / worstPage(small);
    push({
      id: "memory-list-flat",
      goal: `in-memory list flat to ${formatRate(large.connections)}: the slower page ≤ 1.5× at ${formatRate(large.connections)} than at ${formatRate(small.connections)}`,
      engine: "memory",
      value: r,
      measured: `${formatRatio(r)} (${formatNs(worstPage(large))} vs ${formatNs(worstPage(small))})`,
      met: r <= 1.5,
      note: "From the memory scale table (first and deep page at each size).",
    });
  }

  // --- PostgreSQL server: against the floors ------------------------------------------------------------------------
  const acceptStale = median(server, "accept");
  const acceptFresh = median(server, "accept.analyzed");
  const floorStale = median(server, "writeFloor");
  const floorFresh = median(server, "writeFloor.analyzed");
  if (acceptFresh !== undefined && floorFresh !== undefined) {
    const r = acceptFresh / floorFresh;
    push({
      id: "pg-accept-fresh",
      goal: "accept (server) ≤ 1.6× the write floor (BEGIN + one-row INSERT + COMMIT), fresh statistics",
      engine: "postgres",
      value: r,
      measured: `${formatRatio(r)} (${formatNs(acceptFresh)} vs ${formatNs(floorFresh)})`,
      met: r <= 1.6,
      note: "Interleaved with the floor, after ANALYZE.",
    });
  }
  if (acceptStale !== undefined && acceptFresh !== undefined && floorStale !== undefined) {
    const r = acceptStale / acceptFresh;
    push({
      id: "pg-accept-stale",
      goal: "accept (server) on stale statistics ≤ 1.25× accept on fresh ones",
      engine: "postgres",
      value: r,
      measured: `${formatRatio(r)} (${formatNs(acceptStale)} vs ${formatNs(acceptFresh)}; ${formatRatio(acceptStale / floorStale)} its own floor)`,
      met: r <= 1.25,
      note: "Stale: thousands of pending invitations written since the last ANALYZE (a server with autovacuum off stays there). Accept is one call of a routine whose statements keep their generic plans, written so that each keeps its index whatever the statistics.",
    });
  }
  const create1 = median(server, "create.1");
  const floorCreate = median(server, "writeFloor.create");
  const createSql = median(server, "createSql.1");
  const createSqlPaused = median(server, "createSql.paused");
  if (create1 !== undefined && floorCreate !== undefined) {
    const r = create1 / floorCreate;
    const paused =
      createSqlPaused === undefined
        ? ""
        : `, ${formatRatio(createSqlPaused / floorCreate)} (${formatNs(createSqlPaused)}) when sent 100 µs after the previous answer`;
    const sqlAlone =
      createSql === undefined
        ? ""
        : `; its own SQL alone ${formatRatio(createSql / floorCreate)} the floor (${formatNs(createSql)})${paused}`;
    push({
      id: "pg-create-floor",
      goal: "create with one target (server) ≤ 2× the write floor",
      engine: "postgres",
      value: r,
      measured: `${formatRatio(r)} (${formatNs(create1)} vs ${formatNs(floorCreate)}${sqlAlone})`,
      met: r <= 2,
      note: "Interleaved with the floor and with create's own round trips replayed raw (captured from one create, fresh identifiers): the SQL's share and the library's. The same replay sent after the client was busy for 100 µs shows what a pause between two calls costs the round trip on this machine, with no library in it (see the method below). Create locks the context, reads it, and writes the connection and its notice in one transaction.",
    });
  }
  const pgResolve = median(server, "resolveAccess.hit");
  const pgFloor = median(server, "floor.hit");
  if (pgResolve !== undefined && pgFloor !== undefined) {
    const r = pgResolve / pgFloor;
    push({
      id: "pg-resolve-floor",
      goal: "resolveAccess (server) ≤ 1.15× the raw prepared statement",
      engine: "postgres",
      value: r,
      measured: `${formatRatio(r)} (${formatNs(pgResolve)} vs ${formatNs(pgFloor)})`,
      met: r <= 1.15,
      note: "The same SELECT as one named prepared statement on the same pool, interleaved.",
    });
  }

  // --- structure: statements ------------------------------------------------------------------------------------
  for (const engine of results.engines) {
    const name = engine.engine;
    const c1 = engine.scenarios["create.1"]?.statements;
    const c10 = engine.scenarios["create.10"]?.statements;
    const c100 = engine.scenarios["create.100"]?.statements;
    if (c1 !== undefined && c10 !== undefined && c100 !== undefined) {
      const met = c1.statements === c10.statements && c10.statements === c100.statements;
      push({
        id: `create-statements.${name}`,
        goal: "create's statements constant in the number of targets",
        engine: name,
        value: null,
        measured: `${c1.statements} / ${c10.statements} / ${c100.statements} statements for 1 / 10 / 100 targets`,
        met,
        note: met
          ? name === "postgres"
            ? "Each statement takes the whole batch. On the server the look-up, the invitations and the notices go as one call of the routine conn_run (migration 45), counted as one statement: inside it, the look-up's check, the invitations' insert and the notices' insert, each on the whole batch (migration 46)."
            : "Each statement takes the whole batch."
          : "A statement is sent per target somewhere in create.",
      });
    }
  }

  // --- peers ----------------------------------------------------------------------------------------------------
  const peers = results.peer?.scenarios;
  const memResolve = median(memory, "resolveAccess.hit");
  if (memResolve !== undefined && peers !== undefined) {
    for (const [id, label] of [
      ["casbin.rbac.hit", "casbin enforceSync (RBAC, its fastest model here)"],
      ["casl.hit", "@casl/ability can()"],
    ] as const) {
      const peer = peers[id]?.timing.medianNs;
      if (peer === undefined) continue;
      const r = memResolve / peer;
      push({
        id: `peer.${id.split(".")[0]}`,
        goal: `resolveAccess (memory) faster per check than ${label}, same grants`,
        engine: "memory",
        value: r,
        measured: `${formatRatio(r)} its time (${formatNs(memResolve)} vs ${formatNs(peer)}, medians)`,
        met: r < 1,
        note: "The peer's check is synchronous and answers yes/no for a given level; resolveAccess is awaited and answers the level.",
      });
    }
  }

  // --- the scale table on the server ----------------------------------------------------------------------------
  const serverScale = results.scale?.find((s) => s.engine === "postgres")?.points ?? [];
  if (serverScale.length > 0) {
    const a = serverScale[0] as ScalePoint;
    const b = serverScale.at(-1) as ScalePoint;
    const sizes = serverScale.map((p) => formatRate(p.connections)).join(", ");
    const want = results.meta.mode === "full" ? [10_000, 100_000, 1_000_000] : [];
    const met = want.every((n) => serverScale.some((p) => p.connections === n));
    push({
      id: "pg-scale",
      goal: "a scale table on the server: resolve, list and accept at 10k, 100k and 1M connections",
      engine: "postgres",
      value: null,
      measured: `at ${sizes}: ${formatRate(b.connections)} vs ${formatRate(a.connections)}: resolve ${formatRatio(b.resolve.medianNs / a.resolve.medianNs)}, list ${formatRatio(worstPage(b) / worstPage(a))}, accept ${formatRatio(b.accept.medianNs / a.accept.medianNs)}`,
      met,
      note: met ? "See the scale table." : "Not every size was measured in this run.",
    });
  }
  return goals;
}
