import type { OutboxMessage, SealedNotice } from "@conn/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InMemoryUnitOfWork } from "../src/index.js";
import { type IndexEntry, SortedIndex } from "../src/outbox-rows.js";

const T0 = new Date("2026-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0.getTime() + ms);

function notice(id: string): SealedNotice {
  return {
    kind: "connection-created",
    idempotencyKey: `acme:${id}`,
    org: { code: "acme", name: "Acme" },
    recipient: { account: null, email: "bob@example.com", name: null },
    context: { object: "c_file", _id: "c1", path: "/c_files/c1", label: null },
    connectionId: id,
    access: 4,
    creator: { _id: "a1", name: null },
    tokenSeal: null,
    acceptUrlBase: null,
    expiresAt: null,
  };
}

/** Counts the rows the outbox looks up by id while `work` runs. */
async function rowsLookedUp(store: InMemoryUnitOfWork, work: () => Promise<unknown>): Promise<number> {
  const rows = store.state.outbox;
  const get = rows.get.bind(rows);
  let looked = 0;
  rows.get = (id: string) => {
    looked++;
    return get(id);
  };
  try {
    await work();
  } finally {
    rows.get = get;
  }
  return looked;
}

describe("InMemoryOutbox: indexed, so history costs nothing", () => {
  it("a claim looks at the due messages only, however many were delivered before", async () => {
    const store = new InMemoryUnitOfWork();
    const ids = Array.from({ length: 5_000 }, (_, i) => `m${String(i).padStart(5, "0")}`);
    await store.outbox.enqueue(ids.map((id) => ({ id, org: "acme", notice: notice(id), availableAt: T0 })));
    for (;;) {
      const batch = await store.outbox.claim("acme", T0, 500, 60_000);
      if (batch.length === 0) break;
      for (const m of batch) await store.outbox.markDelivered({ org: m.org, id: m.id, claim: m.claim }, T0);
    }
    await store.outbox.enqueue([{ id: "fresh", org: "acme", notice: notice("fresh"), availableAt: at(1) }]);
    let claimed: OutboxMessage[] = [];
    const looked = await rowsLookedUp(store, async () => {
      expect(await store.outbox.dueOrgs(at(1), at(1), 10)).toEqual(["acme"]);
      claimed = await store.outbox.claim("acme", at(1), 10, 60_000);
    });
    expect(claimed.map((m) => m.id)).toEqual(["fresh"]);
    expect(looked).toBeLessThanOrEqual(4);
    expect(await store.outbox.counts()).toEqual({ pending: 1, delivered: 5_000, dead: 0 });
  });

  it("retention removes delivered rows from memory, in bounded batches, oldest first", async () => {
    const store = new InMemoryUnitOfWork();
    const ids = Array.from({ length: 30 }, (_, i) => `d${i}`);
    await store.outbox.enqueue(ids.map((id) => ({ id, org: "acme", notice: notice(id), availableAt: T0 })));
    const batch = await store.outbox.claim("acme", T0, 30, 60_000);
    for (const [i, m] of batch.entries())
      await store.outbox.markDelivered({ org: m.org, id: m.id, claim: m.claim }, at(i));
    expect(await store.outbox.purgeDelivered("acme", at(20), 8)).toBe(8);
    expect(store.state.outbox.has("d0")).toBe(false);
    expect(store.state.outbox.has("d8")).toBe(true);
    expect(await store.outbox.purgeDelivered("acme", at(20), 100)).toBe(12);
    expect(store.state.outbox.size).toBe(10);
    expect(await store.outbox.purgeableOrgs(at(20), 10)).toEqual([]);
  });

  it("a unit of work that fails takes its enqueued messages out of every index", async () => {
    const store = new InMemoryUnitOfWork();
    await expect(
      store.transaction(async (tx) => {
        await tx.outbox.enqueue([{ id: "x", org: "acme", notice: notice("x"), availableAt: T0 }]);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await store.outbox.dueOrgs(T0, T0, 10)).toEqual([]);
    expect(await store.outbox.stats(T0)).toEqual({ pending: 0, dead: 0, due: 0, oldestDueAt: null });
  });
});

describe("SortedIndex", () => {
  it("property: after any inserts and removes it holds the live entries in (t, seq) order", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant("insert" as const), t: fc.integer({ min: 0, max: 20 }) }),
            fc.record({ op: fc.constant("remove" as const), pick: fc.nat() }),
          ),
          { maxLength: 200 },
        ),
        (ops) => {
          const index = new SortedIndex();
          let model: IndexEntry[] = [];
          let seq = 0;
          for (const o of ops) {
            if (o.op === "insert") {
              const entry = { t: o.t, seq: ++seq, id: `i${seq}` };
              index.insert(entry);
              model.push(entry);
            } else if (model.length > 0) {
              // Remove the first entry most of the time (the O(1) path), else any.
              const sorted = [...model].sort((a, b) => a.t - b.t || a.seq - b.seq);
              const victim = (o.pick % 3 === 0 ? sorted[o.pick % sorted.length] : sorted[0]) as IndexEntry;
              index.remove(victim.t, victim.seq);
              model = model.filter((e) => e !== victim);
            }
          }
          const expected = [...model].sort((a, b) => a.t - b.t || a.seq - b.seq);
          expect([...index.inOrder()]).toEqual(expected);
          expect(index.size).toBe(expected.length);
          expect(index.first()).toEqual(expected[0]);
        },
      ),
    );
  });

  it("compacts after many removals from the front", () => {
    const index = new SortedIndex();
    for (let i = 0; i < 5_000; i++) index.insert({ t: i, seq: i, id: `e${i}` });
    for (let i = 0; i < 4_000; i++) index.remove(i, i);
    expect(index.size).toBe(1_000);
    expect(index.first()?.id).toBe("e4000");
    index.remove(4_500, 4_500);
    expect([...index.inOrder()].length).toBe(999);
  });
});
