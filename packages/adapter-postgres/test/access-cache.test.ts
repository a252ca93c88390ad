import { describe, expect, it } from "vitest";
import {
  AccessCache,
  accessChannel,
  accessKey,
  PostgresUnitOfWork,
  parseAccessNotice,
} from "../src/index.js";
import { describeEngines, openEngine } from "./support/engines.js";
import { active, pending, T0 } from "./support/fixtures.js";

/** A cache on a clock the test moves. */
function manualCache(entries = 100, syncWindowMs = 20) {
  let now = 1_000;
  const cache = new AccessCache({ entries, maxAgeMs: 1_000, syncWindowMs }, true, () => now);
  cache.startListening();
  cache.heardSync(now);
  return {
    cache,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

describe("AccessCache (no database)", () => {
  it("serves a stored answer, positive or negative, and counts hits and misses", () => {
    const { cache, now } = manualCache();
    expect(cache.get("a")).toBeUndefined();
    expect(cache.fill("a", cache.ticket(), 5, now())).toBe(true);
    expect(cache.fill("b", cache.ticket(), null, now())).toBe(true);
    expect(cache.get("a")).toBe(5);
    expect(cache.get("b")).toBeNull();
    expect(cache.snapshot()).toMatchObject({ hits: 2, misses: 1, size: 2 });
  });

  it("refuses an answer read before the key was invalidated, and keeps one read after", () => {
    const { cache, now } = manualCache();
    const before = cache.ticket();
    cache.invalidate("a");
    expect(cache.fill("a", before, 5, now())).toBe(false);
    const after = cache.ticket();
    expect(cache.fill("a", after, null, now())).toBe(true);
    expect(cache.get("a")).toBeNull();
  });

  it("an invalidation of another key does not refuse the fill, a clear does", () => {
    const { cache, now } = manualCache();
    const t = cache.ticket();
    cache.invalidate("b");
    expect(cache.fill("a", t, 5, now())).toBe(true);
    const u = cache.ticket();
    cache.clear();
    expect(cache.fill("a", u, 5, now())).toBe(false);
    expect(cache.get("a")).toBeUndefined();
  });

  it("never lets an older read overwrite the answer of a newer one", () => {
    const { cache, now } = manualCache();
    const older = cache.ticket();
    const newer = cache.ticket();
    expect(cache.fill("a", newer, null, now())).toBe(true);
    expect(cache.fill("a", older, 7, now())).toBe(false);
    expect(cache.get("a")).toBeNull();
  });

  it("stores nothing for a fenced key until the fence is lifted, and drops it then", () => {
    const { cache, now } = manualCache();
    cache.fill("a", cache.ticket(), 5, now());
    cache.fence("a");
    expect(cache.get("a")).toBeUndefined();
    const during = cache.ticket();
    expect(cache.fill("a", during, 5, now())).toBe(false);
    cache.unfence("a");
    expect(cache.fill("a", during, 5, now())).toBe(false);
    expect(cache.fill("a", cache.ticket(), null, now())).toBe(true);
  });

  it("when the invalidation log overflows, every fill older than the forgotten entry is refused", () => {
    const { cache, now } = manualCache(10);
    const old = cache.ticket();
    for (let i = 0; i < 5000; i++) cache.invalidate(`k${i}`);
    expect(cache.fill("unrelated", old, 5, now())).toBe(false);
    expect(cache.fill("unrelated", cache.ticket(), 5, now())).toBe(true);
  });

  it("holds at most `entries` answers, dropping the least recently used", () => {
    const { cache, now } = manualCache(3);
    for (const k of ["a", "b", "c"]) cache.fill(k, cache.ticket(), 5, now());
    cache.get("a");
    cache.fill("d", cache.ticket(), 5, now());
    expect(cache.snapshot().size).toBe(3);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(5);
  });

  it("finds by the parts of a key what it holds under the key, and drops it from both with the key", () => {
    const { cache, now } = manualCache(2);
    const lookup = (account: string, askedAt?: Date) =>
      cache.lookup("acme", "c_file", "f1", account, askedAt, cache.clock());
    const key = (account: string) => accessKey("acme", "c_file", "f1", account);
    expect(cache.fill(key("bob"), cache.ticket(), 5, now())).toBe(true);
    expect(cache.fill(key("amy"), cache.ticket(), null, now())).toBe(true);
    expect(lookup("bob")).toBe(5);
    expect(lookup("amy")).toBeNull();
    expect(lookup("eve")).toBeUndefined();
    expect(cache.lookup("acme", "c_file", "f2", "bob", undefined, cache.clock())).toBeUndefined();
    expect(cache.lookup("other", "c_file", "f1", "bob", undefined, cache.clock())).toBeUndefined();
    // A look-up by parts counts as a use: amy is now the least recently used, and goes first.
    expect(lookup("bob")).toBe(5);
    expect(cache.fill(key("cat"), cache.ticket(), 4, now())).toBe(true);
    expect(lookup("amy")).toBeUndefined();
    expect(cache.get(key("bob"))).toBe(5);
    cache.invalidate(key("bob"));
    expect(lookup("bob")).toBeUndefined();
    cache.fence(key("cat"));
    expect(lookup("cat")).toBeUndefined();
    cache.unfence(key("cat"));
    expect(cache.fill(key("cat"), cache.ticket(), 6, now())).toBe(true);
    expect(lookup("cat")).toBe(6);
    cache.clear();
    expect(lookup("cat")).toBeUndefined();
    expect(cache.snapshot().size).toBe(0);
  });

  it("keeps a key whose parts hold its separator out of the look-up by parts (found by the key alone)", () => {
    const { cache, now } = manualCache();
    // accessKey("a\u0000b", "c", "d", "e") has five fields: no parts can name it, so no look-up can serve it.
    const odd = accessKey("a\u0000b", "c", "d", "e");
    expect(cache.fill(odd, cache.ticket(), 5, now())).toBe(true);
    expect(cache.lookup("a\u0000b", "c", "d", "e", undefined, cache.clock())).toBeUndefined();
    expect(cache.lookup("a", "b", "c", "d\u0000e", undefined, cache.clock())).toBeUndefined();
    expect(cache.get(odd)).toBe(5);
  });

  it("serves nothing past an entry's validity bound (maxAgeMs), nor a grant asked about at or after its end", () => {
    const { cache, advance, now } = manualCache();
    const end = Date.parse("2030-01-01T00:00:00.000Z");
    cache.fill("a", cache.ticket(), 5, now());
    cache.fill("b", cache.ticket(), 5, now(), end);
    expect(cache.get("b", new Date(end - 1))).toBe(5);
    expect(cache.get("b", new Date(end))).toBeUndefined();
    // Without a time of its own, a question is asked now: long before 2030 here.
    expect(cache.get("b")).toBe(5);
    cache.fill("c", cache.ticket(), 5, now(), Date.now() - 1);
    expect(cache.get("c")).toBeUndefined();
    advance(1_001);
    cache.heardSync(now());
    expect(cache.get("a")).toBeUndefined();
  });

  it("serves nothing once the watermark is older than the window, and again after a sync", () => {
    const { cache, advance, now } = manualCache(10, 20);
    cache.fill("a", cache.ticket(), 5, now());
    advance(21);
    expect(cache.get("a")).toBeUndefined();
    expect(cache.snapshot().bypasses).toBe(1);
    cache.heardSync(now());
    expect(cache.get("a")).toBe(5);
  });

  it("empties and stores nothing while not listening; after listening again it needs a sync first", () => {
    const { cache, now } = manualCache();
    cache.fill("a", cache.ticket(), 5, now());
    const t = cache.ticket();
    cache.stopListening();
    expect(cache.get("a")).toBeUndefined();
    expect(cache.fill("a", cache.ticket(), 5, now())).toBe(false);
    cache.startListening();
    expect(cache.fill("a", t, 5, now())).toBe(false);
    expect(cache.fill("a", cache.ticket(), 5, now())).toBe(true);
    expect(cache.get("a")).toBeUndefined();
    cache.heardSync(now());
    expect(cache.get("a")).toBe(5);
  });

  it("reads the trigger's payloads; anything it cannot name clears everything", () => {
    expect(parseAccessNotice(JSON.stringify(["acme", "c_file", "f1", "bob"]))).toEqual({
      kind: "key",
      key: "acme\u0000c_file\u0000f1\u0000bob",
    });
    expect(parseAccessNotice("*")).toEqual({ kind: "clear" });
    expect(parseAccessNotice("s:abc:12")).toEqual({ kind: "sync", instance: "abc", n: 12 });
    expect(parseAccessNotice("garbage")).toEqual({ kind: "clear" });
    expect(parseAccessNotice("[1,2]")).toEqual({ kind: "clear" });
    expect(accessChannel("conn")).toMatch(/^conn_access_[0-9a-f]{16}$/);
  });

  it("rejects a bound outside 1..10,000,000", () => {
    expect(() => new AccessCache({ entries: 0 }, true)).toThrow(RangeError);
    expect(() => new AccessCache({ entries: 1.5 }, true)).toThrow(RangeError);
  });
});

/** Polls until `check` holds (notifications arrive asynchronously), failing after `ms`. */
async function eventually(check: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describeEngines("PostgresUnitOfWork with the access cache", "acache", (ctx) => {
  function cachedUow(): PostgresUnitOfWork {
    return new PostgresUnitOfWork(ctx.db, { schema: ctx.schema, accessCache: { entries: 1000 } });
  }

  /** Reads until an answer comes from the cache (the first sync may still be on its way). */
  async function warm(uow: PostgresUnitOfWork, read: () => Promise<unknown>): Promise<void> {
    await uow.accessCacheReady();
    await eventually(async () => {
      const before = uow.accessCacheStats()?.hits ?? 0;
      await read();
      return (uow.accessCacheStats()?.hits ?? 0) > before;
    });
  }

  it("answers a repeated check from the cache, positive and negative", async () => {
    const uow = cachedUow();
    try {
      const grant = active({ access: 5 });
      await ctx.repo.saveActive([grant]);
      const account = grant.target.account ?? "";
      await warm(uow, () => uow.connections.activeAccess("acme", grant.context, account));
      expect(await uow.connections.activeAccess("acme", grant.context, account)).toBe(5);
      await warm(uow, () => uow.connections.activeAccess("acme", grant.context, "nobody"));
      expect(await uow.connections.activeAccess("acme", grant.context, "nobody")).toBeNull();
    } finally {
      await uow.close();
    }
  });

  it("a delete through the same unit of work is seen by the next check, with no wait", async () => {
    const uow = cachedUow();
    try {
      const grant = active({ access: 5 });
      await uow.connections.saveActive([grant]);
      const account = grant.target.account ?? "";
      const check = () => uow.connections.activeAccess("acme", grant.context, account);
      await warm(uow, check);
      await uow.transaction((tx) => tx.connections.deleteById("acme", grant._id));
      expect(await check()).toBeNull();
      // And an autocommit write is tracked the same way.
      await uow.connections.saveActive([{ ...grant, access: 7 }]);
      expect(await check()).toBe(7);
    } finally {
      await uow.close();
    }
  });

  it("a transaction that only locks and writes invitations keeps the other answers and does not wait", async () => {
    const uow = cachedUow();
    try {
      const grant = active({ access: 5 });
      await ctx.repo.saveActive([grant]);
      const account = grant.target.account ?? "";
      const check = () => uow.connections.activeAccess("acme", grant.context, account);
      await warm(uow, check);
      const before = uow.accessCacheStats();
      const invitation = pending({ context: grant.context });
      await uow.transaction(async (tx) => {
        await tx.connections.lockContext("acme", grant.context);
        await tx.connections.savePending([invitation], T0);
      });
      expect(uow.accessCacheStats()?.clears).toBe(before?.clears);
      const hits = uow.accessCacheStats()?.hits ?? 0;
      await eventually(async () => (await check()) === 5 && (uow.accessCacheStats()?.hits ?? 0) > hits);
    } finally {
      await uow.close();
    }
  });

  if (ctx.engine === "postgres") {
    it("a transaction that changed an active connection returns no sooner than syncWindowMs after it ended", async () => {
      const uow = cachedUow();
      try {
        const grant = active({ access: 5 });
        await ctx.repo.saveActive([grant]);
        const window = uow.accessCacheSyncWindowMs() ?? 0;
        expect(window).toBeGreaterThan(0);
        let ended = 0;
        await uow.transaction(async (tx) => {
          await tx.connections.deleteById("acme", grant._id);
          // The work's end is before the commit: the call's return must come at least the window after it.
          ended = performance.now();
        });
        expect(performance.now() - ended).toBeGreaterThanOrEqual(window);
      } finally {
        await uow.close();
      }
    });
  }

  it("marking a grant's end noticed keeps every answer: no notification, no fence, no clear", async () => {
    const uow = cachedUow();
    try {
      const end = new Date(T0.getTime() + 24 * 60 * 60 * 1000);
      const grant = { ...active({ access: 5 }), accessExpiresAt: end };
      await ctx.repo.saveActive([grant]);
      const account = grant.target.account ?? "";
      const check = () => uow.connections.activeAccess("acme", grant.context, account, T0);
      await warm(uow, check);
      const before = uow.accessCacheStats();
      // What the table's trigger sends, heard on a session of the test's own.
      const heard: string[] = [];
      const listening = await ctx.db.listen?.(accessChannel(ctx.schema), {
        onNotification: (payload) => heard.push(payload),
        onEnd: () => {},
      });
      if (listening === undefined) throw new Error("the test database cannot listen");
      const marked = await uow.transaction((tx) =>
        tx.connections.markEndNoticed(
          "acme",
          [{ id: grant._id, accessExpiresAt: end, creator: grant.creator }],
          T0,
        ),
      );
      expect(marked.map((r) => r._id)).toEqual([grant._id]);
      // A change after it is heard; notifications arrive in commit order, so had the mark sent one it came first.
      await ctx.db.query(`UPDATE ${ctx.s}.connections SET access = 6 WHERE id = $1`, [grant._id]);
      await eventually(async () => (await check()) === 6);
      // Once the update's notice is heard, every notice committed before it has been too: the update's is the only
      // one about a key (the caches' own sync pings aside). Counted on the channel, not in the cache's counters: under
      // load the cache may answer 6 from the database (its sync window lapsed) before its listener hears the update.
      const key = accessKey("acme", grant.context.object, grant.context._id, account);
      const keyNotices = () => heard.map(parseAccessNotice).filter((n) => n.kind !== "sync");
      await eventually(() => keyNotices().some((n) => n.kind === "key" && n.key === key));
      expect(keyNotices(), "the update's alone").toEqual([{ kind: "key", key }]);
      await listening.close();
      expect(uow.accessCacheStats()?.clears).toBe(before?.clears);
    } finally {
      await uow.close();
    }
  });

  it("hears a change made by another process's unit of work, or by plain SQL, or a TRUNCATE", async () => {
    const uow = cachedUow();
    try {
      const grant = active({ access: 5 });
      await ctx.repo.saveActive([grant]);
      const account = grant.target.account ?? "";
      const check = () => uow.connections.activeAccess("acme", grant.context, account);
      await warm(uow, check);
      await ctx.db.query(`UPDATE ${ctx.s}.connections SET access = 6 WHERE id = $1`, [grant._id]);
      await eventually(async () => (await check()) === 6);
      await ctx.db.query(`TRUNCATE ${ctx.s}.connections`);
      await eventually(async () => (await check()) === null);
      // The check may have gone to the database before the TRUNCATE's `*` arrived; the `*` empties the cache too.
      await eventually(() => (uow.accessCacheStats()?.clears ?? 0) > 1);
    } finally {
      await uow.close();
    }
  });

  if (ctx.engine === "postgres") {
    it("when its listening connection is terminated it empties, answers from the database, then listens again", async () => {
      const uow = cachedUow();
      const admin = await openEngine("postgres", 1);
      try {
        const grant = active({ access: 5 });
        await ctx.repo.saveActive([grant]);
        const account = grant.target.account ?? "";
        const check = () => uow.connections.activeAccess("acme", grant.context, account);
        await warm(uow, check);
        const { rows } = await admin.query<{ n: number }>(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
           WHERE application_name = 'conn:access-listener' AND datname = current_database()`,
        );
        expect(rows[0]?.n).toBeGreaterThan(0);
        await eventually(() => (uow.accessCacheStats()?.size ?? 1) === 0);
        // While no session listens, a change is read from the database at once.
        await ctx.db.query(`DELETE FROM ${ctx.s}.connections WHERE id = $1`, [grant._id]);
        expect(await check()).toBeNull();
        await uow.accessCacheReady();
        await warm(uow, check);
        expect(await check()).toBeNull();
      } finally {
        await admin.close();
        await uow.close();
      }
    });
  }
});
