import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { copyData } from "../src/copy-data.js";

/** Plain data as notices and outbox rows hold it: objects, arrays, dates, strings, numbers, booleans, null. */
const plain = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.date({ noInvalidDate: false }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie("value"), { maxKeys: 5 }),
  ),
})).value;

/** Every object (array, date, plain object) reachable from a value. */
function objectsIn(value: unknown, out: Set<object> = new Set()): Set<object> {
  if (typeof value !== "object" || value === null) return out;
  out.add(value);
  if (value instanceof Date) return out;
  for (const v of Object.values(value)) objectsIn(v, out);
  return out;
}

describe("copyData", () => {
  it("property: equals structuredClone's copy and shares no object with the original", () => {
    fc.assert(
      fc.property(plain, (value) => {
        const copied = copyData(value);
        expect(copied).toStrictEqual(structuredClone(value));
        const originals = objectsIn(value);
        for (const o of objectsIn(copied)) expect(originals.has(o)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("a change to the copy leaves the original as it was (nested objects, arrays and dates)", () => {
    const original = { a: { b: [1, { c: "x" }] }, at: new Date(0), none: null };
    const copied = copyData(original);
    (copied.a.b[1] as { c: string }).c = "y";
    copied.a.b.push(2);
    copied.at.setTime(5);
    expect(original).toStrictEqual({ a: { b: [1, { c: "x" }] }, at: new Date(0), none: null });
  });

  it("keeps an own __proto__ key a key", () => {
    const original = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    const copied = copyData(original);
    expect(Object.getPrototypeOf(copied)).toBe(Object.prototype);
    expect(Object.keys(copied)).toEqual(["__proto__", "a"]);
    expect(copied).toStrictEqual(structuredClone(original));
  });

  it("copies what is not plain data (a Map, a class instance) as structuredClone does", () => {
    const inner = new Map([["k", { v: 1 }]]);
    const copied = copyData({ inner });
    expect(copied.inner).toBeInstanceOf(Map);
    expect(copied.inner).not.toBe(inner);
    expect(copied.inner.get("k")).toStrictEqual({ v: 1 });
    expect(copied.inner.get("k")).not.toBe(inner.get("k"));
  });
});
