import { ConnectionState } from "@conn/core";
import { type AccessQuery, ids, OBJECT, ORG, random, rowOf } from "./dataset.js";
import { type BenchEngine, openEngine, seedAccounts } from "./engines.js";
import { measure, measureGroup, type Timing } from "./harness.js";
import type { Budget, DataSetSize, EngineName } from "./options.js";
import { type Staged, stager } from "./staging.js";

/** resolve, list and accept on one engine at one size of the data set. */
export interface ScalePoint {
  /** Active connections in the table (all of one org, one creator). */
  connections: number;
  /** How long seeding up to this size took (from the previous size), ms. */
  seedMs: number;
  /** resolveAccess, hits spread over the data set. */
  resolve: Timing;
  /** The raw prepared statement of the same look-up, interleaved with resolve (Postgres engines). */
  floor?: Timing;
  /** The creator's list: the first page of 100. */
  listFirst: Timing;
  /** The same list, `listDepth` rows deep. */
  listDeep: Timing;
  listDepth: number;
  /** accept of a pending invitation stored just before (fresh statistics: ANALYZE after seeding). */
  accept: Timing;
}

/** One engine's scale table. */
export interface ScaleResult {
  engine: EngineName;
  points: ScalePoint[];
}

/** The layout of the largest size: 100 connections per context over 10,000 accounts; smaller sizes are its prefix. */
export function scaleLayout(largest: number, accounts: number): DataSetSize {
  return {
    connections: largest,
    contexts: Math.max(1, Math.ceil(largest / 100)),
    accounts,
    expired: 0,
    listDepth: 0,
  };
}

/** `n` hits among the first `rows` rows of the layout. */
function hitsAmong(layout: DataSetSize, rows: number, n: number): AccessQuery[] {
  const next = random(11);
  return Array.from({ length: n }, () => {
    const row = rowOf(Math.floor(next() * rows), layout);
    return {
      account: ids.account(row.account),
      context: { object: OBJECT, _id: ids.context(row.context) },
      expected: row.access,
    };
  });
}

/**
 * Seeds one engine of its own up to each size in turn (a prefix of the largest size's layout, so each step only adds
 * rows), refreshes the statistics, and times resolve (against the raw statement on Postgres), the first and a deep
 * list page, and accept at that size.
 */
export async function runScale(
  name: EngineName,
  pgUrl: string | undefined,
  sizes: readonly number[],
  budgets: { reads: Budget; writes: Budget; accounts: number; rounds: number },
  log: (line: string) => void,
): Promise<ScaleResult> {
  const largest = Math.max(...sizes);
  const layout = scaleLayout(largest, budgets.accounts);
  const engine: BenchEngine = await openEngine(name, pgUrl);
  try {
    seedAccounts(engine.accounts, layout);
    const seedAt = new Date(Date.now() - 86_400_000);
    const staging = stager(engine, layout.accounts);
    const points: ScalePoint[] = [];
    let seeded = 0;
    for (const size of [...sizes].sort((a, b) => a - b)) {
      log(`[bench] scale ${name}: seeding up to ${size.toLocaleString("en-US")} connections`);
      const started = performance.now();
      await engine.seedActive(layout, seeded, size, seedAt);
      const seedMs = performance.now() - started;
      seeded = size;
      await engine.analyze();
      const queries = hitsAmong(layout, size, 5_000);
      let n = 0;
      const resolve = () => {
        const q = queries[n++ % queries.length] as AccessQuery;
        return engine.connections.resolveAccess(ORG, q.account, q.context);
      };
      const raw = engine.raw;
      let m = 0;
      const lookups = await measureGroup(
        [
          // In memory one call is below what the timer resolves: batches of calls, as in the main run.
          { name: `${name}@${size} resolve`, fn: resolve, batch: raw === null ? budgets.reads.batch : 1 },
          ...(raw === null
            ? []
            : [
                {
                  name: `${name}@${size} floor`,
                  fn: () => {
                    const q = queries[m++ % queries.length] as AccessQuery;
                    return raw.prepared([ORG, q.context.object, q.context._id, q.account]);
                  },
                },
              ]),
        ],
        budgets.reads,
        budgets.rounds,
      );
      const owner = { org: ORG, accountId: ids.owner };
      const listDepth = Math.min(10_000, Math.floor(size / 2));
      const deepQuery = { show: "creator" as const, startingAfter: ids.seeded(size - listDepth) };
      const deep = await engine.connections.list(owner, deepQuery);
      if (deep.data[0]?._id !== ids.seeded(size - listDepth - 1))
        throw new Error(`scale ${name}@${size}: the deep page does not start where the data set says`);
      const [listFirst, listDeep] = await measureGroup(
        [
          {
            name: `${name}@${size} list.first`,
            fn: () => engine.connections.list(owner, { show: "creator" }),
          },
          { name: `${name}@${size} list.deep`, fn: () => engine.connections.list(owner, deepQuery) },
        ],
        budgets.writes,
        budgets.rounds,
      );
      let staged: Staged = { id: "", account: "", token: "" };
      const accept = await measure(
        {
          name: `${name}@${size} accept`,
          fn: async () => {
            const view = await engine.connections.accept(
              { org: ORG, accountId: staged.account },
              staged.token,
            );
            if (view.state !== ConnectionState.Active) throw new Error("scale: accept did not activate");
          },
          beforeEach: async () => {
            staged = await staging.stage(ConnectionState.Pending);
          },
        },
        budgets.writes,
      );
      const point: ScalePoint = {
        connections: size,
        seedMs,
        resolve: lookups[0] as Timing,
        ...(lookups[1] === undefined ? {} : { floor: lookups[1] }),
        listFirst: listFirst as Timing,
        listDeep: listDeep as Timing,
        listDepth,
        accept,
      };
      points.push(point);
      const us = (t: Timing) => `${(t.medianNs / 1000).toFixed(1)} µs`;
      log(
        `[bench] scale ${name}@${size}: resolve ${us(point.resolve)}, list ${us(point.listFirst)} / deep ${us(point.listDeep)}, accept ${us(point.accept)}`,
      );
    }
    return { engine: name, points };
  } finally {
    await engine.close();
  }
}
