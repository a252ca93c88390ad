import type { StatementCount } from "./counting.js";
import { bestPeerHit, formatNs, formatRate, formatRatio } from "./goals.js";
import type { BenchResults, EngineResult, ScenarioResult } from "./results.js";
import type { ScalePoint } from "./scale.js";

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
  "twoLookups.hit": "floor: async fn awaiting two Map.get, hit",
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
  writeFloor: "write floor (with accept, stale statistics)",
  "writeFloor.analyzed": "write floor (with accept, after ANALYZE)",
  "writeFloor.create": "write floor (with create, 1 target)",
  "createSql.1": "create's own SQL alone, replayed raw (1 target)",
  "createSql.paused": "the same SQL, sent 100 µs after the previous answer",
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
      `× ${peer?.model ?? "peer"}`,
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
      "twoLookups.hit",
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
    const p = results.peer;
    lines.push(
      row([
        id.startsWith("casl")
          ? `@casl/ability ${p?.casl.version ?? ""}`
          : `casbin ${p?.casbin.version ?? ""}`,
        id.startsWith("casl")
          ? `can(), ${id.endsWith("hit") ? "hit" : "miss"}`
          : id
              .replace("casbin.", "enforceSync, ")
              .replace(".", " model, ")
              .replace("acl", "ACL")
              .replace("rbac", "RBAC"),
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
    "accept.analyzed",
    "writeFloor",
    "writeFloor.analyzed",
    "writeFloor.create",
    "createSql.1",
    "createSql.paused",
  ] as const) {
    if (engines.every((e) => e.scenarios[id] === undefined)) continue;
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
        `- **${ENGINE_LABEL[e.engine]}:** ${formatRate(e.heapBytesPerConnection)} bytes of heap per active connection (heap after a full GC, before and after seeding ${formatRate(e.seed.rows)} connections${results.meta.gcExposed ? "" : "; gc switched on at run time"}): the record, its copied context and target, its key strings and its entries in the indexes (by id, active and its levels, context, creator, target).`,
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

/** GET by id through `@conn/http` against the two floors. */
function httpGetTable(results: BenchResults): string[] {
  const get = results.engines.find((e) => e.httpGet !== undefined)?.httpGet;
  if (get === undefined) return ["(not run)"];
  const lines = [
    row(["server", "requests/s", "p50", "p99", "× bare Hono requests/s", "× bare Hono p50", "requests"]),
    row(["---", "---:", "---:", "---:", "---:", "---:", "---:"]),
  ];
  for (const [label, t] of [
    ["`@conn/http` (memory)", get.conn],
    ["bare Hono on @hono/node-server", get.hono],
    ["bare node:http", get.node],
  ] as const) {
    lines.push(
      row([
        label,
        formatRate(t.requestsPerSec),
        `${t.p50Ms.toFixed(2)} ms`,
        `${t.p99Ms.toFixed(2)} ms`,
        formatRatio(t.requestsPerSec / get.hono.requestsPerSec),
        formatRatio(t.p50Ms / get.hono.p50Ms),
        formatRate(t.requests),
      ]),
    );
  }
  return lines;
}

/** Flow throughput, fresh and after many flows. */
function flowsTable(results: BenchResults): string[] {
  if ((results.flows ?? []).length === 0) return ["(not run)"];
  const lines = [
    row([
      "engine",
      "fresh: flows/s",
      "after",
      "then: flows/s",
      "ratio",
      "flows through the facade between",
      "outbox after",
    ]),
    row(["---", "---:", "---:", "---:", "---:", "---:", "---"]),
  ];
  for (const f of results.flows) {
    lines.push(
      row([
        ENGINE_LABEL[f.engine] ?? f.engine,
        f.first.flowsPerSec.toFixed(0),
        `${formatRate(f.flowsBefore)} flows`,
        f.last.flowsPerSec.toFixed(0),
        formatRatio(f.ratio),
        `${formatRate(f.middle.flows)} in ${formatNs(f.middle.ms * 1e6)}`,
        Object.entries(f.outbox)
          .map(([k, v]) => `${formatRate(v)} ${k}`)
          .join(", "),
      ]),
    );
  }
  return lines;
}

/** The scale tables: resolve, list and accept per size, per engine. */
function scaleTables(results: BenchResults): string[] {
  const out: string[] = [];
  for (const s of results.scale ?? []) {
    out.push(`**${ENGINE_LABEL[s.engine] ?? s.engine}**`, "");
    out.push(
      row([
        "connections",
        "seeded in",
        "resolveAccess",
        "raw statement",
        "list, first page",
        "list, deep page",
        "accept",
      ]),
      row(["---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
    );
    for (const p of s.points as ScalePoint[]) {
      out.push(
        row([
          formatRate(p.connections),
          formatNs(p.seedMs * 1e6),
          formatNs(p.resolve.medianNs),
          p.floor === undefined ? "—" : formatNs(p.floor.medianNs),
          formatNs(p.listFirst.medianNs),
          `${formatNs(p.listDeep.medianNs)} (${formatRate(p.listDepth)} deep)`,
          formatNs(p.accept.medianNs),
        ]),
      );
    }
    out.push("");
  }
  return out.length === 0 ? ["(not run)"] : out;
}

/** The doc: every figure from this run's results, so it is regenerated, never edited. */
export function renderMarkdown(results: BenchResults, svgName: string): string {
  const m = results.meta;
  const size = results.size;
  const peer = results.peer;
  const goalsMet = results.goals.filter((g) => g.met).length;
  const get = results.budgets.httpGet;
  const flows = results.budgets.flows;
  const out: string[] = [
    "# Benchmarks",
    "",
    `<!-- Generated by \`pnpm bench\` (packages/bench) from packages/bench/results/latest.json. Do not edit: run it again. -->`,
    "",
    `Measured ${m.date.slice(0, 16).replace("T", " ")} UTC (${m.mode} run, ${(m.durationMs / 1000).toFixed(0)} s) on ${m.cpus} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node} (V8 ${m.v8}), ${m.platform}${m.postgresServer === null ? "" : `, PostgreSQL ${m.postgresServer} on loopback`}; harness ${m.harness}. The machine is shared (other work ran on its cores during the run): compare figures **within** this run (the ratios), not across runs.`,
    "",
    `Warm data set: ${formatRate(size.connections)} active connections across ${formatRate(size.contexts)} contexts and ${formatRate(size.accounts)} accounts; ${formatRate(size.expired)} expired invitations for the purge; the deep list page starts ${formatRate(size.listDepth)} rows deep.`,
    "",
    `![resolveAccess against the floors and the peers, and the writes per engine](${svgName})`,
    "",
    `## Goals (${goalsMet} of ${results.goals.length} met)`,
    "",
    "Each goal is a ratio (or a rate) of figures measured in this run; the table is written from the run's JSON (`packages/bench/results/latest.json`) by the bench itself.",
    "",
    row(["goal", "engine", "measured", "met", "how"]),
    row(["---", "---", "---", "---", "---"]),
    ...results.goals.map((g) =>
      row([g.goal, g.engine, g.measured, g.met ? "✅ met" : "❌ **not met**", g.note]),
    ),
    "",
    "## resolveAccess: against the floor and the peers",
    "",
    "`resolveAccess(org, account, context)` is the hot path: every request of every host app calls it. The **floor** is the same look-up with nothing of ours around it: for PostgreSQL the adapter's SELECT as one named prepared statement on the same pg pool; for PGlite the same SELECT straight through `PGlite.query`; for memory a bare synchronous `Map.get` (composite string key), and, for the whole call, an async function awaiting two `Map.get` with keys computed beforehand (the host's access, then the connection's). The **peers** are casbin (through its synchronous `enforceSync`) and `@casl/ability` (`can()`), on the same grants (see below). `× floor` and `× peer` are ratios of medians measured in this run. On the server the table also has the same SELECT sent unnamed (parsed and planned on every call).",
    "",
    ...lookupTable(results),
    "",
    "`statements` counts the SQL statements of one call (BEGIN and COMMIT included). `batch` > 1: that many calls are timed together and divided, since one call is below what the timer resolves; p99 is then the p99 of those per-batch means.",
    "",
    "## Writes and lists",
    "",
    "Each timed call consumes a record set up before it, outside the timing: create runs on a fresh context the creator owns (targets are accounts of the directory, at Read, pending, one notice each); accept and reject take a pending invitation stored just before; delete removes an active connection stored just before. The list is the owner's list as creator of the whole warm data set, 100 per page; the deep page starts at a `startingAfter` cursor. On the server, accept first runs on **stale statistics** (the creates before it wrote thousands of pending invitations since the last ANALYZE; a server with autovacuum off stays there), then after ANALYZE. The **write floor** is `BEGIN`, a one-row `INSERT` into `connections` (a named prepared statement) and `COMMIT` on a client of the same pool, timed interleaved with accept (stale and fresh) and with create (1 target). **Create's own SQL alone** is what one create (1 target) sent, captured on the pool and sent again on a raw client of the same pool with fresh identifiers (context, connection, token hash, notice), interleaved with create and its floor: create's time above it is what the library adds around its statements (its checks and planning, the token's hash and seal, building the statements' text). The same SQL is also sent **after a pause**: before each send (outside the timing) the client stays busy for 100 µs, as a caller doing its own work between two calls does. The floor and the plain replay send each statement as soon as the previous answer is in; on a machine where a waiting server costs more to wake after a pause (a virtual machine's idle vCPU, deep CPU idle states), the paused replay is slower though its statements are the same, and that difference is part of create's time above its SQL alone without being the library's work.",
    "",
    ...writeTable(results),
    "",
    "`statements`: total (most in one transaction, in how many transactions). Memory sends no SQL.",
    "",
    "## Scale",
    "",
    "One engine of its own per table, seeded up to each size in turn (100 connections per context over 10,000 accounts, all created by one owner), statistics refreshed after each seeding; resolveAccess over hits spread over the table (on the server interleaved with the raw prepared statement), the owner's list (first page of 100, and a page up to 10,000 rows deep), and accept of an invitation stored just before.",
    "",
    ...scaleTables(results),
    "## HTTP GET by id, against bare servers",
    "",
    get === undefined || get === null
      ? "(not run)"
      : `\`GET /{org}/v2/connections/{id}\` through \`@conn/http\` on \`startServer\` (memory engine, the owner reading an active connection), against a bare Hono app on \`@hono/node-server\` (\`c.json\` of the same body) and a bare \`node:http\` server (\`JSON.stringify\` of the same body), all in the bench's process. A second Node process sends the requests (keep-alive \`fetch\`, ${get.concurrency} in flight): ${formatRate(get.requests)} per server per round, in ${get.rounds} rounds that take the three servers in turn, after a warm-up; figures merge the rounds.`,
    "",
    ...httpGetTable(results),
    "",
    "## Flow throughput as the data grows",
    "",
    flows === undefined || flows === null
      ? "(not run)"
      : `The HTTP flow (create with 1 target → read the connection as the target, for its token → accept → the host's resolve route), ${flows.concurrency} at a time over ${formatRate(flows.accounts)} target accounts, with the outbox relay running as \`@conn/container\` runs it (in memory each commit that queued a notice wakes it): ${formatRate(flows.chunk)} flows on a fresh engine, then the same flows straight through the facade until ${formatRate(flows.total)} flows are done (only to grow the data quickly), then ${formatRate(flows.chunk)} flows over HTTP again.`,
    "",
    ...flowsTable(results),
    "",
    "## purgeExpired",
    "",
    `One timed call of \`purgeExpired(org)\` over ${formatRate(size.expired)} expired invitations of an org of their own (batches of 500, each batch one transaction); it consumes its data set, so it runs once per engine.`,
    "",
    ...purgeTable(results),
    "",
    "## Through HTTP",
    "",
    `\`@conn/http\` served by \`startServer\` on 127.0.0.1, plus one host route (\`GET /host/access\`) that calls \`resolveAccess\` the way a host's own route would. The load generator is a second Node process (\`src/load-generator.mjs\`, plain \`fetch\`, keep-alive) running ${results.budgets.http === null ? "—" : `${formatRate(results.budgets.http.flows)} flows, ${results.budgets.http.concurrency} at a time`}: create (1 target) → read the connection as the target (its token) → accept → resolve, with no relay (notices stay in the outbox). Latencies are client-side, loopback included. Both processes share the machine's ${m.cpus} cores.`,
    "",
    ...httpTable(results),
    "",
    "## Storage",
    "",
    ...storageLines(results),
    "",
    "## The peers",
    "",
    peer === null
      ? "- The peers were not run."
      : `- **casbin ${peer.casbin.version}** (node-casbin), loaded with the same ${formatRate(peer.grants)} grants in ${formatNs(peer.casbin.loadMs * 1e6)}, checked through \`enforceSync\` (its async \`enforce\` wraps the same check in promises). Two models: casbin's own basic ACL model (\`r.sub == p.sub && r.obj == p.obj && r.act == p.act\`, one policy line per grant), and an RBAC model that stores each grant as a role link \`account → context/level\` (\`g(r.sub, r.obj + "/" + r.act)\`).\n- **@casl/ability ${peer.casl.version}**, loaded with the same grants in ${formatNs(peer.casl.loadMs * 1e6)}: one ability per account (\`createMongoAbility\`), a rule \`{ action: level, subject: "c_file", conditions: { _id: context } }\` per grant; a check is the account's ability, then \`can(level, subject("c_file", { _id }))\` with the subject made beforehand.\n- Both answer "does this account hold exactly this level on this context" synchronously; \`resolveAccess\` answers "which level" and is awaited. The peer goals compare medians of hits.`,
    '- **better-auth** (organization plugin invite + accept) is not measured: its invitation is per organization and role, not per record and access level, so "the same grants" has no faithful mapping.',
    "",
    "## How it is measured",
    "",
    `- Harness: ${m.harness}: a warm-up, then samples until both a time budget (${results.budgets.reads.time} ms for look-ups, ${results.budgets.writes.time} ms for writes) and a minimum count (${results.budgets.reads.iterations} / ${results.budgets.writes.iterations}) are met. Median and p99 are of the samples; ops/s is 1 / mean. casbin's ACL model gets a few samples (a quarter of a second or more per check).`,
    `- The tasks that are compared (resolveAccess, the adapter alone and the floors; the two list pages; accept or create and the write floor) run **interleaved**, in ${results.engines[0]?.scenarios["floor.hit"]?.timing.rounds ?? 1} rounds that each give every task its share of the budget in turn, so load from other processes on this shared machine falls on all of them alike; their samples are merged.`,
    m.library === "built"
      ? "- The library is measured as a host runs it: the packages as built for npm (`dist/`, bundled by tsup), which `pnpm bench` builds first and refuses to measure when older than their sources. Run from the TypeScript sources by tsx instead (as the tests run the bench), every function and closure the library makes at run time would also get its name set by a call tsx adds (esbuild's `keepNames`), which the published bundle does not make (`src/artifact.ts`)."
      : "- The library is measured from its TypeScript sources, run by tsx (not as published: see `src/artifact.ts`).",
    "- One engine at a time, in one Node process; the facade is wired by hand over each engine's unit of work with the host's ports (accounts, contexts, orgs) in memory, no event recorder and, except in the flow-growth runs, no notifier relay.",
    "- Statements are counted by a counting wrapper around the adapter's `Database` (`src/counting.ts`): every `query` is one statement, every transaction adds its BEGIN and COMMIT. The count comes from one untimed call.",
    "- Seeding is bulk: `INSERT … SELECT FROM generate_series` for PostgreSQL and PGlite, `saveActive` in chunks of 1,000 for memory.",
    "- Heap bytes per connection: `process.memoryUsage().heapUsed` after full GCs, before and after seeding.",
    "",
    "## Reproduce",
    "",
    "```sh",
    "createdb -h 127.0.0.1 -U postgres bench_db",
    "CONN_PG_URL=postgres://postgres@127.0.0.1:5432/bench_db pnpm bench   # full run: this page, its chart, results/latest.json",
    "pnpm bench --quick                                                      # every scenario with tiny counts, in a temporary folder",
    "pnpm bench --render                                                     # this page again from results/latest.json",
    "```",
    "",
    "Without `CONN_PG_URL` the server engine, its flows and its scale table are left out. `--scale-max 100000` stops the scale tables at 100,000 connections (the 1M step seeds a million rows per engine); `--no-flows`, `--no-scale`, `--no-http`, `--no-peer` leave those parts out.",
    "",
  ];
  return out.join("\n");
}
