/**
 * Flow throughput as the data grows, with the outbox relay running as `@conn/container` runs it: the bench's HTTP
 * flow (create → read token → accept → resolve, through `@conn/http`, load from a second process) in consecutive
 * chunks on one engine, so the last chunk runs over everything the earlier ones left (connections, outbox rows,
 * delivered notices). Prints each chunk's flows/s and the ratio of the last chunk to the first.
 *
 *   pnpm --filter @conn/bench exec tsx --conditions=@conn/source src/flow-growth.ts [memory|postgres] [chunks] [flows]
 *
 * (postgres needs CONN_PG_URL). In memory a commit that queued a notice wakes the relay (or, on versions whose relay
 * has no `wake`, drains it inside the commit, as the container did).
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
import { createConnections, OutboxRelay, type UnitOfWork } from "@conn/core";
import { OBJECT, ORG } from "./dataset.js";
import type { BenchEngine } from "./engines.js";
import { seedAccounts } from "./engines.js";
import { runHttp } from "./http.js";

const [engineName = "memory", chunksArg = "10", flowsArg = "2000"] = process.argv.slice(2);
const chunks = Number(chunksArg);
const flowsPerChunk = Number(flowsArg);
const accounts = 100;

const clock = new SystemClock();
const tokens = new CryptoTokenService({ key: "conn-bench-token-key-0123456789abcdef" });
const orgs = new InMemoryOrgDirectory();
const people = new InMemoryAccountDirectory();
const contexts = new InMemoryContextAccess();
orgs.put({ code: ORG, name: "Bench Health" });
contexts.defineObject(ORG, { name: OBJECT, allowConnections: true, label: "file" });
seedAccounts(people, { accounts } as Parameters<typeof seedAccounts>[1]);

let relay: OutboxRelay | undefined;
let db: Database | undefined;
let store: UnitOfWork;
const schema = `conn_flows_${process.pid}`;
if (engineName === "memory") {
  store = new InMemoryUnitOfWork({
    afterCommit: async () => {
      const r = relay as OutboxRelay & { wake?: () => void };
      if (typeof r.wake === "function") r.wake();
      else await r.drain();
    },
  });
} else {
  const url = process.env.CONN_PG_URL;
  if (url === undefined) throw new Error("postgres needs CONN_PG_URL");
  db = await connectPostgres({ connectionString: url, poolConfig: { max: 10 } });
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
relay.start((error) => console.error("relay:", error));
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

const rates: number[] = [];
for (let chunk = 0; chunk < chunks; chunk++) {
  const result = await runHttp(engine, {
    flows: flowsPerChunk,
    concurrency: 8,
    contextBase: 2_000_000_000 + chunk * (flowsPerChunk + 1_000),
    accounts,
  });
  if (result.errors > 0)
    throw new Error(`chunk ${chunk + 1}: ${result.errors} errors (${result.firstError})`);
  rates.push(result.flowsPerSec);
  const outbox = await store.outbox.counts();
  console.log(
    `[flows] ${engineName} chunk ${chunk + 1}/${chunks}: ${result.flowsPerSec.toFixed(0)} flows/s ` +
      `(after ${(chunk + 1) * flowsPerChunk} flows; outbox ${JSON.stringify(outbox)})`,
  );
}
const first = rates[0] ?? 0;
const last = rates.at(-1) ?? 0;
console.log(
  `[flows] ${engineName}: first ${first.toFixed(0)} flows/s, last ${last.toFixed(0)} flows/s, ratio ${(last / first).toFixed(2)}`,
);
await relay.stop();
if (db !== undefined) {
  await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await db.close();
}
