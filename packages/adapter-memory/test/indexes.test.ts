import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NestedIndex } from "../src/nested-index.js";
import { mergeKeys, SortedKeys } from "../src/sorted-keys.js";

/** Keys drawn from a small alphabet so that adds and deletes often meet the same key; up to a few chunks' worth. */
const key = fc.integer({ min: 0, max: 3_000 }).map((n) => `k${n.toString().padStart(5, "0")}`);
const op = fc.oneof(
  fc.record({ add: key }),
  fc.record({ del: key }),
  fc.record({ many: fc.array(key, { maxLength: 800 }) }),
);

describe("SortedKeys, against a sorted array", () => {
  it("holds the same keys in order after any adds and deletes, and reads the same pages from any cursor", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), key, (ops, cursor) => {
        const keys = new SortedKeys();
        const model = new Set<string>();
        for (const o of ops) {
          if ("add" in o) {
            keys.add(o.add);
            model.add(o.add);
          } else if ("del" in o) {
            expect(keys.delete(o.del)).toBe(model.delete(o.del));
          } else {
            for (const k of o.many) {
              keys.add(k);
              model.add(k);
            }
          }
        }
        const sorted = [...model].sort();
        expect([...keys]).toEqual(sorted);
        expect(keys.size).toBe(sorted.length);
        expect(keys.has(cursor)).toBe(model.has(cursor));
        expect([...keys.descendingBelow()]).toEqual([...sorted].reverse());
        expect([...keys.descendingBelow(cursor)]).toEqual(sorted.filter((k) => k < cursor).reverse());
        expect([...keys.ascendingAbove()]).toEqual(sorted);
        expect([...keys.ascendingAbove(cursor)]).toEqual(sorted.filter((k) => k > cursor));
      }),
      { numRuns: 60 },
    );
  });
});

describe("mergeKeys", () => {
  it("reads two ordered streams as one, in order, each key once", () => {
    fc.assert(
      fc.property(fc.uniqueArray(key), fc.uniqueArray(key), fc.boolean(), (a, b, descending) => {
        const order = (xs: string[]) => (descending ? [...xs].sort().reverse() : [...xs].sort());
        const merged = [...mergeKeys(order(a)[Symbol.iterator](), order(b)[Symbol.iterator](), descending)];
        expect(merged).toEqual(order([...new Set([...a, ...b])]));
      }),
    );
  });
});

describe("NestedIndex, against a Map of joined keys", () => {
  it("holds the same entries after any sets and deletes, and keeps no empty level behind", () => {
    const part = fc.constantFrom("a", "b", "c");
    const keyOf = fc.tuple(part, part, part, part);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), keyOf, fc.integer()), { maxLength: 60 }), (ops) => {
        const index = new NestedIndex<number>();
        const model = new Map<string, number>();
        for (const [put, [a, b, c, d], value] of ops) {
          if (put) {
            index.set(a, b, c, d, value);
            model.set([a, b, c, d].join("/"), value);
          } else {
            expect(index.delete(a, b, c, d)).toBe(model.delete([a, b, c, d].join("/")));
          }
        }
        expect(index.size).toBe(model.size);
        for (const [key, value] of model) {
          const [a, b, c, d] = key.split("/") as [string, string, string, string];
          expect(index.get(a, b, c, d)).toBe(value);
        }
        for (const [key] of model) {
          const [a, b, c, d] = key.split("/") as [string, string, string, string];
          index.delete(a, b, c, d);
        }
        // Emptied, it is the same as a new index (a snapshot of the state compares equal).
        expect(index).toEqual(new NestedIndex<number>());
      }),
      { numRuns: 100 },
    );
  });
});
