/**
 * Flow throughput as the data grows, with the outbox relay running as `@conn/container` runs it: the HTTP flow
 * (create → read token → accept → resolve, through `@conn/http`, load from a second process) on a fresh engine, then
 * more of the same flows straight through the facade (create → read as the target → accept, 8 at a time: only to
 * grow the data quickly), then the HTTP flow again over everything the earlier ones left (connections, outbox rows,
 * delivered notices). The ratio of the last HTTP chunk's rate to the first is the figure.
 */
import {
  CryptoRandom,
  CryptoTokenService,
  InMemoryAccountDirectory,
  InMemoryContextAccess,
  InMemoryOrgDirectory,
  InMemoryUnitOfWork,
  RandomIdGenerator,
  RecordingNotifier,
  SystemClock,
} from "@conn/adapter-memory";
import { connectPostgres, type Database, migrate, PostgresUnitOfWork } from "@conn/adapter-postgres";
import { AccessLevel, createConnections, OutboxRelay, type UnitOfWork } from "@conn/core";
import { ids, OBJECT, ORG } from "./dataset.js";
import type { BenchEngine } from "./engines.js";
import { seedAccounts } from "./engines.js";
import { type HttpResult, runHttp } from "./http.js";
import type { DataSetSize } from "./options.js";

/** One engine's flow throughput, fresh and after `total` flows. */
export interface FlowGrowthResult {
  engine: "memory" | "postgres";
  /** The HTTP chunk on the fresh engine. */
  first: HttpResult;
  /** The HTTP chunk after `flowsBefore` flows. */
  last: HttpResult;
  /** Flows done before the last chunk (every flow: HTTP, warm-ups, and those through the facade). */
  flowsBefore: number;
  /** Flows run straight through the facade between the two chunks, and how long they took. */
  middle: { flows: number; ms: number };
  /** last.flowsPerSec / first.flowsPerSec. */
  ratio: number;
  /** Outbox rows by status after the last chunk. */
  outbox: Record<string, number>;
}

/** Options of {@link runFlowGrowth}. */
export interface FlowGrowthOptions {
  /** Flows per HTTP chunk (the issue: 2,000). */
  chunk: number;
  /** Flows before the last chunk starts (the issue: 20,000). */
  total: number;
  /** Flows in flight at once. */
  concurrency: number;
  /** Target accounts the flows cycle through. */
  accounts: number;
  log: (line: string) => void;
}

/** Runs the flows on a fresh engine of its own (memory, or a schema of its own on the server) and closes it. */
export async function runFlowGrowth(
  engineName: "memory" | "postgres",
  pgUrl: string | undefined,
  options: FlowGrowthOptions,
): Promise<FlowGrowthResult> {
  const clock = new SystemClock();
  const tokens = new CryptoTokenService({ key: "conn-bench-token-key-0123456789abcdef" });
  const orgs = new InMemoryOrgDirectory();
  const people = new InMemoryAccountDirectory();
  const contexts = new InMemoryContextAccess();
  orgs.put({ code: ORG, name: "Bench Health" });
  contexts.defineObject(ORG, { name: OBJECT, allowConnections: true, label: "file" });
  seedAccounts(people, { accounts: options.accounts } as DataSetSize);

  let relay: OutboxRelay | undefined;
  let db: Database | undefined;
  let store: UnitOfWork;
  const schema = `conn_flows_${process.pid}`;
  if (engineName === "memory") {
    // As the container wires it: a commit that queued a notice wakes the relay.
    store = new InMemoryUnitOfWork({ afterCommit: async () => relay?.wake() });
  } else {
    if (pgUrl === undefined) throw new Error("the postgres flows need CONN_PG_URL");
    db = await connectPostgres({ connectionString: pgUrl, poolConfig: { max: 10 } });
    await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await migrate(db, { schema });
    store = new PostgresUnitOfWork(db, { schema });
  }
  relay = new OutboxRelay({
    outbox: store.outbox,
    notifier: new RecordingNotifier(),
    tokens,
    clock,
    random: new CryptoRandom(),
  });
  relay.start((error) => console.error("bench relay:", error));
  const connections = createConnections({
    store,
    accounts: people,
    contexts,
    orgs,
    tokens,
    ids: new RandomIdGenerator(clock),
    clock,
    events: { publish: async () => {} },
  });
  const engine = { name: engineName, connections, contexts } as unknown as BenchEngine;
  const http = (contextBase: number) =>
    runHttp(engine, {
      flows: options.chunk,
      concurrency: options.concurrency,
      contextBase,
      accounts: options.accounts,
    });
  const check = (chunk: HttpResult, which: string) => {
    if (chunk.errors > 0)
      throw new Error(`${engineName} flows, ${which}: ${chunk.errors} errors (${chunk.firstError})`);
  };
  try {
    const first = await http(3_000_000_000);
    check(first, "first chunk");
    const warmup = (flows: number) => Math.min(50, Math.ceil(flows / 10));
    let done = options.chunk + warmup(options.chunk);
    options.log(`[bench] flows ${engineName}: fresh ${first.flowsPerSec.toFixed(0)} flows/s`);
    const middle = Math.max(0, options.total - done);
    const started = performance.now();
    let next = 0;
    const creator = { org: ORG, accountId: ids.creator };
    const worker = async () => {
      while (next < middle) {
        const k = next++;
        const context = { object: OBJECT, _id: ids.freshContext(3_100_000_000 + k) };
        contexts.grant(ORG, ids.creator, context, AccessLevel.Delete);
        const target = { org: ORG, accountId: ids.account(k % options.accounts) };
        const [made] = await connections.create(creator, context, [{ _id: target.accountId, access: 4 }]);
        if (made === undefined || !("_id" in made))
          throw new Error(`flows: create gave ${JSON.stringify(made)}`);
        const view = await connections.get(target, made._id);
        if (view.token === undefined) throw new Error("flows: the target's view has no token");
        await connections.accept(target, view.token);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    const middleMs = performance.now() - started;
    done += middle;
    options.log(
      `[bench] flows ${engineName}: ${middle} more flows through the facade in ${(middleMs / 1000).toFixed(1)} s`,
    );
    const last = await http(3_200_000_000);
    check(last, "last chunk");
    options.log(`[bench] flows ${engineName}: after ${done} flows ${last.flowsPerSec.toFixed(0)} flows/s`);
    return {
      engine: engineName,
      first,
      last,
      flowsBefore: done,
      middle: { flows: middle, ms: middleMs },
      ratio: last.flowsPerSec / first.flowsPerSec,
      outbox: await store.outbox.counts(),
    };
  } finally {
    await relay.stop();
    if (db !== undefined) {
      await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.close();
    }
  }
}
