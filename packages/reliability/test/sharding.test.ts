/**
 * Ready to shard by org (docs/scaling.md): on a distributed PostgreSQL such as Citus, a table distributed by `org`
 * needs every primary key and unique index to contain `org`, and a statement that names one org runs on one shard.
 * (a) The catalog after migrating: every primary key and unique index of the tenant tables leads with `org`.
 * (b) Every statement the repository and the outbox send, through the facade and the relay with its retention and
 *     dead-letter operations: each one that writes or locks binds exactly one org (`org = $n`, all bound to the
 *     same value, or an INSERT whose rows all carry one org). The only statements that read across orgs are the
 *     listed discovery and operator reads: SELECTs with no lock. Every outbox statement is seen at least once.
 */
import { ManualClock } from "@conn/adapter-memory";
import { PostgresOutbox } from "@conn/adapter-postgres";
import { type ConnectionError, type ContextRef, OutboxRelay } from "@conn/core";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  buildWorld,
  type CapturedStatement,
  CapturingDatabase,
  CountingNotifier,
  contextLockKeyOf,
  describeServer,
  openServerDb,
  seededRandom,
  type TestDb,
  writeResult,
} from "./support/pg.js";

/** The statements that may read more than one org: read-only, lock-free, org codes, counts or operator views. */
const CROSS_ORG_READS: readonly [RegExp, string][] = [
  [/^SELECT org FROM \( SELECT org, available_at, seq FROM \S+ WHERE status = 'pending'/, "outbox.dueOrgs"],
  [
    /^SELECT org FROM \( SELECT org, delivered_at FROM \S+ WHERE status = 'delivered'/,
    "outbox.purgeableOrgs",
  ],
  [/^SELECT status, count\(\*\)::int AS n FROM \S+ GROUP BY status$/, "outbox.counts"],
  [/^SELECT count\(\*\)::int AS pending,/, "outbox.stats (pending)"],
  [/^SELECT count\(\*\)::int AS dead FROM/, "outbox.stats (dead)"],
  [/WHERE status = \$1 AND \(org, id\) > \(\$2::text, \$3::text\)/, "outbox.list (every org)"],
  [/WHERE id = \$1 ORDER BY org LIMIT 1$/, "outbox.get (by id alone)"],
];

/** What is wrong with one statement, or null when it is fit for a table sharded by org. */
export function shardingProblem(st: CapturedStatement, schema: string): string | null {
  const sql = st.text.split(`"${schema}"`).join("<schema>").replace(/\s+/g, " ").trim();
  const key = /^SELECT pg_advisory_xact_lock\(/.test(sql) ? contextLockKeyOf(sql, st.params) : undefined;
  if (key !== undefined) {
    // A context's lock is keyed by a hash of [org, object, id]: one org's key, taken in that org's transaction.
    return typeof key[0] === "string" && key.length === 3 ? null : `a lock key that names no org: ${sql}`;
  }
  if (!/<schema>\.(connections|connection_outbox|share_links)\b/.test(sql))
    return `touches no tenant table: ${sql.slice(0, 120)}`;
  if (/^INSERT INTO/.test(sql)) {
    const rows = JSON.parse(String(st.params[0])) as { org?: unknown }[];
    const orgs = new Set(rows.map((r) => r.org));
    return orgs.size === 1 && !orgs.has(undefined) ? null : `an INSERT carries ${orgs.size} orgs`;
  }
  const bound = [...sql.matchAll(/\b(?:[a-z]\.)?org = \$(\d+)/g)].map((m) => st.params[Number(m[1]) - 1]);
  if (bound.length > 0) {
    const orgs = new Set(bound);
    return orgs.size === 1 && typeof bound[0] === "string"
      ? null
      : `binds ${orgs.size} orgs: ${sql.slice(0, 120)}`;
  }
  const read = CROSS_ORG_READS.find(([re]) => re.test(sql));
  if (read === undefined) return `no org predicate: ${sql.slice(0, 160)}`;
  if (!/^SELECT /.test(sql) || /\bFOR (UPDATE|SHARE|NO KEY UPDATE|KEY SHARE)\b/.test(sql))
    return `${read[1]} reads across orgs but writes or locks`;
  if (/\b(UPDATE|DELETE|INSERT)\b/.test(sql)) return `${read[1]} reads across orgs but writes`;
  return null;
}

const ORGS = ["shard-a", "shard-b"] as const;
const [ANN, BEN, CY] = ["5a0000000000000000000a01", "5a0000000000000000000a02", "5a0000000000000000000a03"];
const FILE: ContextRef = { object: "c_file", _id: "5f0000000000000000000f01" };
const NOTE: ContextRef = { object: "c_file", _id: "5f0000000000000000000f02" };

describeServer("sharding by org", () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openServerDb("sharding", 4);
  });
  afterAll(async () => {
    await t?.drop();
  });

  it("every primary key and unique index of the tenant tables leads with org; every tenant table has org NOT NULL", async () => {
    const { rows } = await t.db.query<{ tbl: string; idx: string; first: string; is_primary: boolean }>(
      `SELECT c.relname AS tbl, i.relname AS idx, a.attname AS first, ix.indisprimary AS is_primary
       FROM pg_index ix
       JOIN pg_class i ON i.oid = ix.indexrelid
       JOIN pg_class c ON c.oid = ix.indrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ix.indkey[0]
       WHERE n.nspname = $1 AND (ix.indisprimary OR ix.indisunique)
       ORDER BY 1, 2`,
      [t.schema],
    );
    // connection_migrations holds the schema's version, no tenant data: on Citus it stays a local table.
    const tenant = rows.filter((r) => r.tbl !== "connection_migrations");
    expect(tenant.map((r) => r.idx)).toEqual(
      expect.arrayContaining([
        "connection_outbox_pkey",
        "connections_active_uq",
        "connections_pending_uq",
        "connections_pkey",
        "connections_token_uq",
        "share_links_pkey",
        "share_links_token_uq",
      ]),
    );
    expect(tenant.filter((r) => r.first !== "org").map((r) => `${r.idx} leads with ${r.first}`)).toEqual([]);
    expect(
      tenant
        .filter((r) => r.is_primary)
        .map((r) => r.tbl)
        .sort(),
    ).toEqual(["connection_outbox", "connections", "share_links"]);
    const { rows: tables } = await t.db.query<{ tbl: string; org_not_null: boolean | null }>(
      `SELECT c.relname AS tbl, (SELECT a.attnotnull FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org')
         AS org_not_null
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname <> 'connection_migrations' ORDER BY 1`,
      [t.schema],
    );
    expect(tables).toEqual([
      { tbl: "connection_outbox", org_not_null: true },
      { tbl: "connections", org_not_null: true },
      { tbl: "share_links", org_not_null: true },
    ]);
  });

  it("no statement of the repository or the outbox writes or locks more than one org", async () => {
    const db = new CapturingDatabase(t.db);
    const clock = new ManualClock("2026-06-01T00:00:00.000Z");
    const world = buildWorld(db, t.schema, clock);
    const outbox = new PostgresOutbox(db, { schema: t.schema });
    const notifier = new CountingNotifier();
    notifier.behaviour = (n) =>
      n.recipient.email.startsWith("bounce")
        ? (Object.assign(new Error("mailbox unavailable"), {
            retryable: false,
          }) as unknown as ConnectionError)
        : null;
    const relay = new OutboxRelay(
      { outbox, notifier, tokens: world.tokens, clock, random: seededRandom(3) },
      { retentionMs: 60_000, maxAttempts: 1 },
    );
    for (const org of ORGS) {
      world.orgs.put({ code: org, name: org, connectionUrl: "https://app.shard.test/{token}" });
      world.contexts.defineObject(org, { name: "c_file", allowConnections: true, requireAccept: false });
      for (const [i, id] of [ANN, BEN, CY].entries())
        world.accounts.put(org, { _id: id, email: `u${i}@shard.test`, name: {}, verified: true });
      world.contexts.grant(org, ANN, FILE, 7);
      world.contexts.grant(org, ANN, NOTE, 7);
      world.contexts.grant(org, ANN, { object: "account", _id: CY }, 5);
      const owner = { org, accountId: ANN };
      await world.connections.create(owner, FILE, [{ _id: BEN, access: 4 }, { email: "bounce@shard.test" }]);
      await world.connections.create(owner, NOTE, [
        { _id: BEN },
        { _id: CY, auto: true },
        { email: "new@shard.test" },
      ]);
    }
    // The relay: claims, settles (one notice bounces and is dead-lettered), retention, dead letters.
    expect((await relay.drain()).dead).toBe(2);
    const [org] = ORGS;
    const asBen = { org, accountId: BEN };
    const mine = await world.connections.list(asBen);
    const token = mine.data.find((v) => typeof v.token === "string")?.token as string;
    await world.connections.getByToken(asBen, token);
    const accepted = await world.connections.accept(asBen, token);
    await world.connections.get(asBen, accepted._id);
    await world.connections.list({ org, accountId: ANN }, { show: "creator", state: 0, limit: 1 });
    await world.connections.listForContext({ org, accountId: ANN }, NOTE);
    await world.connections.resolveAccess(org, BEN, FILE);
    const other = (await world.connections.list(asBen)).data.find((v) => typeof v.token === "string");
    if (other?.token) await world.connections.reject(asBen, other.token);
    await world.connections.delete({ org, accountId: ANN }, accepted._id);
    world.accounts.put(org, {
      _id: "5a0000000000000000000a09",
      email: "new@shard.test",
      name: {},
      verified: true,
    });
    await world.connections.bindRegisteredAccount(org, "5a0000000000000000000a09");
    clock.advance(30 * 86_400_000);
    await world.connections.purgeExpired(org);
    const [dead] = await relay.deadLetters({ org });
    await relay.deadLetters();
    await relay.message(dead?.id as string);
    await relay.message(dead?.id as string, org);
    await relay.requeue(org, dead?.id as string);
    await outbox.list({ status: "dead", org: ORGS[1], limit: 5 });
    const [deadB] = await outbox.list({ status: "dead", org: ORGS[1], limit: 1 });
    await relay.purgeDeadLetter(ORGS[1], deadB?.id as string);
    await relay.stats();
    await outbox.counts();
    expect(await relay.purgeDelivered()).toBeGreaterThan(0);
    // Renew and release, which the relay sends only when a lease runs short or when it stops.
    await outbox.enqueue([
      {
        id: "5e0000000000000000000e01",
        org,
        notice: mine.data[0] ? noticeOf(org) : noticeOf(org),
        availableAt: clock.now(),
      },
    ]);
    const [claimed] = await outbox.claim(org, clock.now(), 1, 60_000);
    const fence = { org, id: claimed?.id as string, claim: claimed?.claim as number };
    await outbox.renew(fence, new Date(clock.now().getTime() + 120_000));
    await outbox.release(fence);

    const problems = db.statements
      .map((st) => shardingProblem(st, t.schema))
      .filter((p): p is string => p !== null);
    // The statement texts (a routine's call, built per call, is captured as the statements it runs).
    const outboxTexts = Object.values((outbox as unknown as { sql: Record<string, unknown> }).sql)
      .filter((text): text is string => typeof text === "string")
      .map((text) => text.replace(/\s+/g, " ").trim());
    const sent = new Set(db.statements.map((st) => st.text.replace(/\s+/g, " ").trim()));
    const unseen = outboxTexts.filter((text) => !sent.has(text));
    writeResult("sharding", {
      statements: db.statements.length,
      distinct: sent.size,
      outboxStatements: outboxTexts.length,
      problems,
      crossOrgReads: CROSS_ORG_READS.map(([, name]) => name),
    });
    expect(problems).toEqual([]);
    expect(unseen, "every outbox statement was exercised").toEqual([]);
  });

  it("the check has teeth: a statement that loses its org predicate, or binds two orgs, is reported", () => {
    const claim = `UPDATE "${t.schema}".connection_outbox AS o SET lease_until = $4 WHERE o.id = $1`;
    expect(
      shardingProblem({ text: claim, params: ["x"], tag: undefined, inTransaction: false }, t.schema),
    ).toMatch(/no org predicate/);
    const two = `DELETE FROM "${t.schema}".connections WHERE org = $1 OR org = $2`;
    expect(
      shardingProblem({ text: two, params: ["a", "b"], tag: undefined, inTransaction: false }, t.schema),
    ).toMatch(/binds 2 orgs/);
    const locking = `SELECT org FROM ( SELECT org, available_at, seq FROM "${t.schema}".connection_outbox WHERE status = 'pending' FOR UPDATE) x`;
    expect(
      shardingProblem({ text: locking, params: [], tag: undefined, inTransaction: false }, t.schema),
    ).toMatch(/locks/);
    const insert = `INSERT INTO "${t.schema}".connection_outbox (id, org) SELECT 1`;
    const rows = JSON.stringify([{ org: "a" }, { org: "b" }]);
    expect(
      shardingProblem({ text: insert, params: [rows], tag: undefined, inTransaction: false }, t.schema),
    ).toMatch(/2 orgs/);
  });
});

function noticeOf(org: string) {
  return {
    kind: "connection-created" as const,
    idempotencyKey: `${org}:extra`,
    org: { code: org, name: org },
    recipient: { account: null, email: "x@shard.test", name: null },
    context: { ...FILE, path: "/c_files/f", label: null },
    connectionId: "5c0000000000000000000c01",
    access: 4 as const,
    creator: { _id: ANN, name: null },
    tokenSeal: null,
    acceptUrlBase: null,
    expiresAt: null,
  };
}
