import { formatNs } from "./goals.js";
import type { BenchResults } from "./results.js";

const WIDTH = 900;
const LABEL_W = 300;
const BAR_MAX = WIDTH - LABEL_W - 110;
const BAR_H = 16;
const GAP = 6;
const COLORS: Record<string, string> = {
  memory: "#2b8a3e",
  pglite: "#1c7ed6",
  postgres: "#5f3dc4",
  casbin: "#e8590c",
  floor: "#868e96",
};

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A log scale from [lo, hi] ns onto [0, BAR_MAX] px. */
function logScale(lo: number, hi: number): (ns: number) => number {
  const a = Math.log10(lo);
  const b = Math.log10(hi);
  return (ns) => Math.max(2, ((Math.log10(Math.max(ns, lo)) - a) / Math.max(1e-9, b - a)) * BAR_MAX);
}

interface Bar {
  label: string;
  ns: number;
  color: string;
  hatch?: boolean;
}

/** One panel of horizontal bars on a log axis; returns its SVG and height. */
function panel(title: string, bars: Bar[], top: number): { svg: string; height: number } {
  if (bars.length === 0) return { svg: "", height: 0 };
  const values = bars.map((b) => b.ns);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const x = logScale(lo, hi);
  const parts: string[] = [];
  parts.push(`<text x="16" y="${top + 18}" class="title">${esc(title)}</text>`);
  const axisTop = top + 30;
  const plotH = bars.length * (BAR_H + GAP);
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    const px = LABEL_W + x(d);
    parts.push(
      `<line x1="${px.toFixed(1)}" y1="${axisTop}" x2="${px.toFixed(1)}" y2="${axisTop + plotH}" class="grid"/>`,
    );
    parts.push(
      `<text x="${px.toFixed(1)}" y="${axisTop + plotH + 14}" class="tick">${esc(formatNs(d))}</text>`,
    );
  }
  bars.forEach((b, i) => {
    const y = axisTop + i * (BAR_H + GAP);
    const w = x(b.ns);
    parts.push(`<text x="${LABEL_W - 8}" y="${y + BAR_H - 4}" class="label">${esc(b.label)}</text>`);
    parts.push(
      `<rect x="${LABEL_W}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${b.color}"${b.hatch === true ? ' fill-opacity="0.45"' : ""}/>`,
    );
    parts.push(
      `<text x="${(LABEL_W + w + 6).toFixed(1)}" y="${y + BAR_H - 4}" class="value">${esc(formatNs(b.ns))}</text>`,
    );
  });
  return { svg: parts.join("\n  "), height: 30 + plotH + 26 };
}

/** The chart the doc shows: medians on log axes, look-ups against floor and peer, then the writes per engine. */
export function renderSvg(results: BenchResults): string {
  const lookups: Bar[] = [];
  for (const e of results.engines) {
    const s = e.scenarios;
    const add = (label: string, ns: number | undefined, color: string, hatch = false) => {
      if (ns !== undefined) lookups.push({ label: `${e.engine}: ${label}`, ns, color, hatch });
    };
    add("floor (raw look-up)", s["floor.hit"]?.timing.medianNs, COLORS.floor as string);
    add("floor: async, two Map.get", s["twoLookups.hit"]?.timing.medianNs, COLORS.floor as string, true);
    add("same SQL, unnamed", s["floor.unpreparedHit"]?.timing.medianNs, COLORS.floor as string, true);
    add("adapter activeAccess", s["activeAccess.hit"]?.timing.medianNs, COLORS[e.engine] as string, true);
    add("resolveAccess", s["resolveAccess.hit"]?.timing.medianNs, COLORS[e.engine] as string);
  }
  const peer = results.peer?.scenarios;
  if (peer?.["casbin.rbac.hit"] !== undefined)
    lookups.push({
      label: "casbin: RBAC enforceSync",
      ns: peer["casbin.rbac.hit"].timing.medianNs,
      color: COLORS.casbin as string,
    });
  if (peer?.["casbin.acl.hit"] !== undefined)
    lookups.push({
      label: "casbin: ACL enforceSync",
      ns: peer["casbin.acl.hit"].timing.medianNs,
      color: COLORS.casbin as string,
      hatch: true,
    });
  if (peer?.["casl.hit"] !== undefined)
    lookups.push({
      label: "CASL: can()",
      ns: peer["casl.hit"].timing.medianNs,
      color: COLORS.casbin as string,
    });

  const writes: Bar[] = [];
  for (const id of [
    "create.1",
    "create.100",
    "accept",
    "reject",
    "delete",
    "list.first",
    "list.deep",
  ] as const) {
    for (const e of results.engines) {
      const t = e.scenarios[id]?.timing;
      if (t !== undefined)
        writes.push({ label: `${id} · ${e.engine}`, ns: t.medianNs, color: COLORS[e.engine] as string });
    }
  }

  const head = 44;
  const a = panel("resolveAccess, hit: median latency (log scale; shorter is faster)", lookups, head);
  const b = panel("writes and lists: median latency per call (log scale)", writes, head + a.height + 10);
  const height = head + a.height + 10 + b.height + 10;
  const m = results.meta;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
  <style>
    .title { font-size: 14px; font-weight: 600; fill: #212529; }
    .sub { font-size: 11px; fill: #495057; }
    .label { font-size: 11px; fill: #212529; text-anchor: end; }
    .value { font-size: 11px; fill: #212529; }
    .tick { font-size: 10px; fill: #868e96; text-anchor: middle; }
    .grid { stroke: #dee2e6; stroke-width: 1; }
  </style>
  <rect width="100%" height="100%" fill="#ffffff"/>
  <text x="16" y="22" class="title">@conn benchmarks (${esc(m.mode)} run, ${esc(m.date.slice(0, 10))})</text>
  <text x="16" y="38" class="sub">${esc(`${m.cpus} cores, ${m.cpuModel}, Node ${m.node}${m.postgresServer === null ? "" : `, PostgreSQL ${m.postgresServer}`}; ${results.size.connections.toLocaleString("en-US")} connections, medians`)}</text>
  ${a.svg}
  ${b.svg}
</svg>
`;
}
