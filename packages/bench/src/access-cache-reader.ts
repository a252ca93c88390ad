/**
 * The other process of the access cache bench: a facade over PostgreSQL with the cache on. On `watch` it checks an
 * account's access until the answer (a grant) comes from its cache; on `until-gone` it checks again and again,
 * yielding to I/O between checks, and answers with the time of the first check that no longer grants.
 */
import { createInterface } from "node:readline";
import {
  CryptoTokenService,
  InMemoryAccountDirectory,
  InMemoryContextAccess,
  InMemoryOrgDirectory,
  RandomIdGenerator,
  SystemClock,
} from "@conn/adapter-memory";
import { connectPostgres, PostgresUnitOfWork } from "@conn/adapter-postgres";
import { type ContextRef, createConnections } from "@conn/core";

const url = process.env.CONN_PG_URL ?? "";
const schema = process.env.SCHEMA ?? "";
const db = await connectPostgres({ connectionString: url, poolConfig: { max: 2 } });
const uow = new PostgresUnitOfWork(db, { schema, accessCache: { entries: 10_000 } });
const clock = new SystemClock();
const connections = createConnections({
  store: uow,
  accounts: new InMemoryAccountDirectory(),
  contexts: new InMemoryContextAccess(),
  orgs: new InMemoryOrgDirectory(),
  tokens: new CryptoTokenService(),
  ids: new RandomIdGenerator(clock),
  clock,
});
await uow.accessCacheReady();
const say = (m: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(m)}\n`);
const tick = () => new Promise((resolve) => setImmediate(resolve));
say({ t: "ready" });

let watched: { account: string; context: ContextRef } | null = null;
const check = () =>
  watched === null
    ? Promise.resolve(0)
    : connections.resolveAccess("bench-cache", watched.account, watched.context);

createInterface({ input: process.stdin })
  .on("line", (line) => {
    const m = JSON.parse(line) as { t: string; account: string; context: ContextRef };
    void (async () => {
      if (m.t === "watch") {
        watched = { account: m.account, context: m.context };
        for (let n = 0; n < 10_000; n++) {
          const hits = uow.accessCacheStats()?.hits ?? 0;
          const level = await check();
          if (level > 0 && (uow.accessCacheStats()?.hits ?? 0) > hits) return say({ t: "warm" });
          await tick();
        }
        return say({ t: "cold" });
      }
      if (m.t === "until-gone") {
        for (;;) {
          if ((await check()) === 0)
            return say({ t: "gone", at: performance.timeOrigin + performance.now() });
          await tick();
        }
      }
    })();
  })
  .on("close", () => {
    void uow.close().then(() => db.close());
  });
