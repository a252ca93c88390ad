import type { StatementCount } from "./counting.js";
import { bestPeerHit, formatNs, formatRate } from "./goals.js";
import type { BenchResults, EngineResult, ScenarioResult } from "./results.js";

const ENGINE_LABEL: Record<string, string> = {
  memory: "memory",
  pglite: "PGlite (in-process)",
  postgres: "PostgreSQL server (loopback)",
};

const SCENARIO_LABEL: Record<string, string> = {
  "resolveAccess.hit": "resolveAccess, hit",
  "resolveAccess.miss": "resolveAccess, miss",
  "activeAccess.hit": "adapter activeAccess alone, hit",
  "floor.hit": "floor, hit",
  "floor.miss": "floor, miss",
  "floor.unpreparedHit": "same SQL unnamed (not prepared), hit",
  "create.1": "create, 1 target",
  "create.10": "create, 10 targets",
  "create.100": "create, 100 targets",
  accept: "accept",
  reject: "reject",
  delete: "delete",
  "list.first": "list, first page",
  "list.deep": "list, deep page",
  "accept.analyzed": "accept, after ANALYZE",
  "reject.analyzed": "reject, after ANALYZE",
};

function statementsCell(s: StatementCount | undefined): string {
  if (s === undefined) return "—";
  if (s.transactions === 0) return `${s.statements}`;
  return `${s.statements} (${s.maxInTransaction} in ${s.transactions} tx)`;
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(" | ")} |`;
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0) return "—";
  const r = a / b;
  return r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(2)}×`;
}

function timingCells(s: ScenarioResult): string[] {
  const t = s.timing;
  return [formatNs(t.medianNs), formatNs(t.p99Ns), formatRate(t.opsPerSec)];
}

/** The look-up table: resolveAccess and the adapter against the floor and the peer, per engine. */
function lookupTable(results: BenchResults): string[] {
  const peer = bestPeerHit(results);
  const lines = [
    row([
      "engine",
      "what",
      "median",
      "p99",
      "ops/s",
      "× floor",
      `× casbin ${peer?.model ?? ""}`.trim(),
      "statements",
      "batch",
    ]),
    row(["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
  ];
  for (const e of results.engines) {
    const floorHit = e.scenarios["floor.hit"]?.timing.medianNs;
    const floorMiss = e.scenarios["floor.miss"]?.timing.medianNs;
    for (const id of [
      "resolveAccess.hit",
      "resolveAccess.miss",
      "activeAccess.hit",
      "floor.unpreparedHit",
      "floor.hit",
      "floor.miss",
    ] as const) {
      const s = e.scenarios[id];
      if (s === undefined) continue;
      const floor = id.endsWith("miss") ? floorMiss : floorHit;
      lines.push(
        row([
          ENGINE_LABEL[e.engine] ?? e.engine,
          SCENARIO_LABEL[id] ?? id,
          ...timingCells(s),
          id.startsWith("floor.") && id !== "floor.unpreparedHit" ? "1" : ratio(s.timing.medianNs, floor),
          id.endsWith("hit") || id.endsWith("Hit") ? ratio(s.timing.medianNs, peer?.medianNs) : "—",
          statementsCell(s.statements),
          `${s.timing.batch}`,
        ]),
      );
    }
  }
  for (const [id, s] of Object.entries(results.peer?.scenarios ?? {})) {
    if (s === undefined) continue;
    lines.push(
      row([
        `casbin ${results.peer?.version ?? ""}`,
        id.replace("casbin.", "").replace(".", " model, ").replace("acl", "ACL").replace("rbac", "RBAC"),
        ...timingCells(s),
        "—",
        id.endsWith("hit") ? ratio(s.timing.medianNs, peer?.medianNs) : "—",
        "—",
        `${s.timing.batch}`,
      ]),
    );
  }
  return lines;
}

/** One table per kind of write, engines side by side. */
function writeTable(results: BenchResults): string[] {
  const engines = results.engines;
  const header = ["operation"];
  const align = ["---"];
  for (const e of engines) {
    header.push(`${e.engine} median`, `${e.engine} p99`, `${e.engine} ops/s`);
    align.push("---:", "---:", "---:");
    if (e.engine !== "memory") {
      header.push(`${e.engine} statements`);
      align.push("---:");
    }
  }
  const lines = [row(header), row(align)];
  for (const id of [
    "create.1",
    "create.10",
    "create.100",
    "accept",
    "reject",
    "delete",
    "list.first",
    "list.deep",
  ] as const) {
    const cells = [SCENARIO_LABEL[id] ?? id];
    for (const e of engines) {
      const s = e.scenarios[id];
      cells.push(...(s === undefined ? ["—", "—", "—"] : timingCells(s)));
      if (e.engine !== "memory") cells.push(statementsCell(s?.statements));
    }
    lines.push(row(cells));
  }
  return lines;
}

function purgeTable(results: BenchResults): string[] {
  const lines = [
    row(["engine", "expired invitations", "time", "rows/s", "statements", "one batch, stale statistics"]),
    row(["---", "---:", "---:", "---:", "---:", "---:"]),
  ];
  for (const e of results.engines) {
    lines.push(
      row([
        ENGINE_LABEL[e.engine] ?? e.engine,
        formatRate(e.purge.removed),
        formatNs(e.purge.ms * 1e6),
        formatRate(e.purge.rowsPerSec),
        statementsCell(e.purge.statements),
        e.purge.staleBatch === undefined
          ? "—"
          : `${formatRate(e.purge.staleBatch.rows)} rows in ${formatNs(e.purge.staleBatch.ms * 1e6)}`,
      ]),
    );
  }
  return lines;
}

function httpTable(results: BenchResults): string[] {
  const withHttp = results.engines.filter(
    (e): e is EngineResult & { http: NonNullable<EngineResult["http"]> } => e.http !== undefined,
  );
  if (withHttp.length === 0) return ["(not run)"];
  const lines = [
    row([
      "engine",
      "flows/s",
      "requests/s",
      "create median / p99",
      "read token",
      "accept",
      "resolve",
      "flows",
      "errors",
    ]),
    row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
  ];
  const ms = (s: { medianMs: number; p99Ms: number }) =>
    `${s.medianMs.toFixed(2)} / ${s.p99Ms.toFixed(2)} ms`;
  for (const e of withHttp) {
    const h = e.http;
    lines.push(
      row([
        ENGINE_LABEL[e.engine] ?? e.engine,
        formatRate(h.flowsPerSec),
        formatRate(h.requestsPerSec),
        ms(h.steps.create),
        ms(h.steps.readToken),
        ms(h.steps.accept),
        ms(h.steps.resolve),
        formatRate(h.flows),
        `${h.errors}`,
      ]),
    );
  }
  return lines;
}

function storageLines(results: BenchResults): string[] {
  const lines: string[] = [];
  for (const e of results.engines) {
    if (e.heapBytesPerConnection !== undefined) {
      lines.push(
        `- **${ENGINE_LABEL[e.engine]}:** ${formatRate(e.heapBytesPerConnection)} bytes of heap per active connection (heap after a full GC, before and after seeding ${formatRate(e.seed.rows)} connections${results.meta.gcExposed ? "" : "; gc switched on at run time"}): the record, its copied context and target, its key strings and its entries in the indexes (by id, active, context, creator, target).`,
      );
    }
    if (e.table !== undefined) {
      lines.push(
        `- **${ENGINE_LABEL[e.engine]}:** ${formatRate(e.table.bytesPerRow)} bytes per row: pg_total_relation_size of \`connections\` (heap, 9 indexes, TOAST) ${formatRate(e.table.bytes)} bytes / ${formatRate(e.table.rows)} rows.`,
      );
    }
    lines.push(`  Seeding ${formatRate(e.seed.rows)} rows took ${formatNs(e.seed.ms * 1e6)}.`);
  }
  return lines;
}

/** Where the time goes, from this run's figures: the slow spots worth fixing, with where they are. */
function slowSpots(results: BenchResults): string[] {
  const out: string[] = [];
  const stale: string[] = [];
  for (const e of results.engines) {
    const a = e.scenarios.accept?.timing.medianNs;
    const aa = e.scenarios["accept.analyzed"]?.timing.medianNs;
    const r = e.scenarios.reject?.timing.medianNs;
    const ra = e.scenarios["reject.analyzed"]?.timing.medianNs;
    if (a !== undefined && aa !== undefined && r !== undefined && ra !== undefined) {
      stale.push(
        `${e.engine}: accept ${formatNs(a)} → ${formatNs(aa)} after ANALYZE, reject ${formatNs(r)} → ${formatNs(ra)}`,
      );
    }
    const batch = e.purge.staleBatch;
    const batches = e.purge.statements?.transactions;
    if (batch !== undefined && batches !== undefined && batches > 0) {
      stale.push(
        `${e.engine}: one purge batch of ${formatRate(batch.rows)} took ${formatNs(batch.ms * 1e6)} on stale statistics, against ${formatNs((e.purge.ms * 1e6) / batches)} per batch after ANALYZE`,
      );
    }
  }
  if (stale.length > 0) {
    out.push(
      `${out.length + 1}. **Plans that collapse on stale statistics (adapter-postgres).** In this run: ${stale.join("; ")}. The statistics were taken when the org had no pending rows; the pending invitations written since (the creates above; a bulk expiry) are unknown to the planner, and every partial index \`WHERE state = 0\` looks empty to it. EXPLAIN on the same data (by hand) shows \`findPendingByTokenHash\` and \`claimPending\` walking every pending row of the org through \`connections_expiry_idx\` (filtering on the token hash or the id) instead of \`connections_token_uq\` / \`connections_pkey\`, \`deleteSuperseded\` hash-joining all of them, and the purge's DELETE matching its batch against the org's rows in a nested loop. By default a server re-analyzes only after ~10% of the table changed; PGlite never does. Done: migration 2 sets \`connections\` to be re-analyzed after 2% + 500 rows changed (which the server's autovacuum then does; this benchmark measures before it can), and a purge batch is now two statements (SELECT the ids … FOR UPDATE SKIP LOCKED, then \`DELETE … WHERE id = ANY($2)\`), which is what brought the stale-statistics purge batch down from seconds. Left: the token look-up on stale statistics; on PGlite (no autovacuum) an ANALYZE after bulk changes, e.g. from the host's purge job.`,
    );
  }
  const mem = results.engines.find((e) => e.engine === "memory");
  const list = mem?.scenarios["list.first"]?.timing.medianNs;
  if (mem !== undefined && list !== undefined) {
    out.push(
      `${out.length + 1}. **In-memory list sorts the whole filter on every page (adapter-memory).** A page of 100 from the owner's ${formatRate(results.size.connections)} connections takes ${formatNs(list)}: \`list\` (\`src/in-memory-connection-repository.ts\`) copies every candidate key of the filter, filters, then sorts all survivors by id before slicing a page. A per-filter index kept in id order (or a bounded top-k selection) would make a page cost its size.`,
    );
    out.push(
      `${out.length + 1}. **In-memory purge rescans every record per batch (adapter-memory).** ${formatRate(mem.purge.removed)} expired invitations took ${formatNs(mem.purge.ms * 1e6)}: \`purgeExpired\` (same file) walks \`state.records\` (all orgs, all states) from the start for every batch of 500, so the ${formatRate(results.size.connections)} active records are passed ${formatRate(Math.ceil(mem.purge.removed / 500))} times. An index of pending records by org and expiry would make it proportional to what it removes.`,
    );
  }
  out.push(
    `${out.length + 1}. **Event snapshots are built even with no one listening (core).** \`purgeExpired\` (\`src/application/registration.ts\`), create and accept build a \`structuredClone\` snapshot per record for their events before \`publish\` checks whether a publisher is configured; 100,000 snapshots cost about 0.8 s on this machine (measured by hand). Building them only when \`deps.events\` is set would take that off every purge batch and create.`,
  );
  return out;
}

/** The doc: every figure from this run's results, so it is regenerated, never edited. */
export function renderMarkdown(results: BenchResults, svgName: string): string {
  const m = results.meta;
  const size = results.size;
  const peer = results.peer;
  const goalsMet = results.goals.filter((g) => g.met).length;
  const out: string[] = [
    "# Benchmarks",
    "",
    `<!-- Generated by \`pnpm bench\` (packages/bench) from packages/bench/results/latest.json. Do not edit: run it again. -->`,
    "",
    `Measured ${m.date.slice(0, 10)} (${m.mode} run, ${(m.durationMs / 1000).toFixed(0)} s) on ${m.cpus} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node} (V8 ${m.v8}), ${m.platform}${m.postgresServer === null ? "" : `, PostgreSQL ${m.postgresServer} on loopback`}; harness ${m.harness}. The machine is shared and was not idle: compare figures **within** this run (the ratios), not across runs.`,
    "",
    `Warm data set: ${formatRate(size.connections)} active connections across ${formatRate(size.contexts)} contexts and ${formatRate(size.accounts)} accounts; ${formatRate(size.expired)} expired invitations for the purge; the deep list page starts ${formatRate(size.listDepth)} rows deep.`,
    "",
    `![resolveAccess against the floor and casbin, and the writes per engine](${svgName})`,
    "",
    `## Goals (${goalsMet} of ${results.goals.length} met)`,
    "",
    row(["goal", "engine", "measured", "met", "why"]),
    row(["---", "---", "---", "---", "---"]),
    ...results.goals.map((g) => row([g.goal, g.engine, g.measured, g.met ? "✅ yes" : "❌ **no**", g.note])),
    "",
    "## resolveAccess: against the floor and the peer",
    "",
    "`resolveAccess(org, account, context)` is the hot path: every request of every host app calls it. The **floor** is the same look-up with nothing of ours around it, through the same driver on the same index: for PostgreSQL the adapter's SELECT as one named prepared statement on the same pg pool; for PGlite the same SELECT straight through `PGlite.query`; for memory a bare `Map` from a composite string key to the level. The **peer** is casbin on the same 100,000 grants (see below). `× floor` and `× casbin` are ratios of medians measured in this run. On the server the table also has the same SELECT sent unnamed (parsed and planned on every call): the adapter sends its statements as named prepared statements, and that row shows what that saves.",
    "",
    ...lookupTable(results),
    "",
    "`statements` counts the SQL statements of one call (BEGIN and COMMIT included). `batch` > 1: that many calls are timed together and divided, since one call is below what the timer resolves; p99 is then the p99 of those per-batch means.",
    "",
    "## Writes and lists",
    "",
    "Each timed call consumes a record set up before it, outside the timing: create runs on a fresh context the creator owns (targets are accounts of the directory, at Read, pending, one notice each); accept and reject take a pending invitation stored just before; delete removes an active connection stored just before. The list is the owner's list as creator of the whole warm data set, 100 per page; the deep page starts at a `startingAfter` cursor.",
    "",
    ...writeTable(results),
    "",
    "`statements`: total (most in one transaction, in how many transactions). Memory sends no SQL.",
    "",
    "## purgeExpired",
    "",
    `One timed call of \`purgeExpired(org)\` over ${formatRate(size.expired)} expired invitations of an org of their own (batches of 500, each batch one transaction); it consumes its data set, so it runs once per engine.`,
    "",
    ...purgeTable(results),
    "",
    "## Through HTTP",
    "",
    `\`@conn/http\` served by \`startServer\` on 127.0.0.1, plus one host route (\`GET /host/access\`) that calls \`resolveAccess\` the way a host's own route would. The load generator is a second Node process (\`src/load-generator.mjs\`, plain \`fetch\`, keep-alive) running ${results.budgets.http === null ? "—" : `${formatRate(results.budgets.http.flows)} flows, ${results.budgets.http.concurrency} at a time`}: create (1 target) → read the connection as the target (its token) → accept → resolve. Latencies are client-side, loopback included. Both processes share the machine's ${m.cpus} cores.`,
    "",
    ...httpTable(results),
    "",
    "## Storage",
    "",
    ...storageLines(results),
    "",
    "## Slow spots worth fixing",
    "",
    ...slowSpots(results),
    "",
    "## The peers",
    "",
    peer === null
      ? "- casbin was not run."
      : `- **casbin ${peer.version}** (node-casbin, installs and runs on Node 20), loaded with the same ${formatRate(peer.grants)} grants in ${formatNs(peer.loadMs * 1e6)}. Two models: casbin's own basic ACL model (\`r.sub == p.sub && r.obj == p.obj && r.act == p.act\`, one policy line per grant: what most users write first), and an RBAC model that stores each grant as a role link \`account → context/level\` (\`g(r.sub, r.obj + "/" + r.act)\`), the fastest shape we found. \`enforce\` answers "does this account hold exactly this level on this context"; \`resolveAccess\` answers "which level", so casbin is given the level to check. The goals compare against the faster of the two.`,
    '- **better-auth** (organization plugin invite + accept) is not measured. Its invite and accept run only through its own API with a signed-in session per user (sign-up, session cookie, then `createInvitation` / `acceptInvitation`), over its own schema (user, session, organization, member, invitation) created by its migrator; its invitation is per organization and role, not per record and access level, so "the same grants" has no faithful mapping. Setting that up would more than double this harness for a comparison of different things, so we left it out rather than publish a misleading figure.',
    "",
    "## How it is measured",
    "",
    `- Harness: ${m.harness}: a warm-up, then samples until both a time budget (${results.budgets.reads.time} ms for look-ups, ${results.budgets.writes.time} ms for writes) and a minimum count (${results.budgets.reads.iterations} / ${results.budgets.writes.iterations}) are met. Median and p99 are of the samples; ops/s is 1 / mean. casbin's ACL model gets 8 samples (a quarter of a second or more per check).`,
    `- The look-ups that are compared (resolveAccess, the adapter alone, the floor) and the two list pages run **interleaved**, in ${results.engines[0]?.scenarios["floor.hit"]?.timing.rounds ?? 1} rounds that each give every task its share of the budget in turn, so load from other processes on this shared machine falls on all of them alike; their samples are merged.`,
    "- One engine at a time, in one Node process; the facade is wired by hand over each engine's unit of work with the host's ports (accounts, contexts, orgs) in memory, no event recorder and no notifier relay, so every engine does the same work (notices stay in the outbox).",
    "- Statements are counted by a counting wrapper around the adapter's `Database` (`src/counting.ts`): every `query` is one statement, every transaction adds its BEGIN and COMMIT. The count comes from one untimed call; timed calls go through the same wrapper (an increment).",
    "- Seeding is bulk: `INSERT … SELECT FROM generate_series` for PostgreSQL and PGlite, `saveActive` in chunks of 1,000 for memory.",
    "- Heap bytes per connection: `process.memoryUsage().heapUsed` after full GCs, before and after seeding.",
    "",
    "Run it: `CONN_PG_URL=postgres://postgres@127.0.0.1:5432/test pnpm bench` (without `CONN_PG_URL` the server engine is left out); `pnpm bench --quick` runs every scenario with tiny counts and writes to a temporary folder. Raw figures: `packages/bench/results/latest.json`.",
    "",
  ];
  return out.join("\n");
}
