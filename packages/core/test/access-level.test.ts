import {
  AccessLevel,
  accessLevelName,
  accessLevelSchema,
  DEFAULT_SHARE_CHAIN,
  grantedLevel,
  MAX_GRANTED_ACCESS,
  MIN_GRANTED_ACCESS,
} from "@conn/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

/** Callers that can create at all hold at least Reserved; Script (8) is the top. */
const callerLevel = fc.integer({ min: 3, max: 8 });
/** Requests are clamped, never refused: anything, including absurd values, or nothing at all. */
const requested = fc.option(fc.integer({ min: -20, max: 40 }), { nil: undefined });
/** A share chain: levels highest first, drawn from the grantable ones. */
const shareChain = fc.subarray([7, 6, 5, 4, 2]);

describe("access levels (docs/behaviour.md §2)", () => {
  it("names every level 0..8", () => {
    expect(AccessLevel).toEqual({
      None: 0,
      Public: 1,
      Connected: 2,
      Reserved: 3,
      Read: 4,
      Share: 5,
      Update: 6,
      Delete: 7,
      Script: 8,
    });
    expect(accessLevelName[5]).toBe("Share");
    expect(accessLevelName[8]).toBe("Script");
    expect(MIN_GRANTED_ACCESS).toBe(2);
    expect(MAX_GRANTED_ACCESS).toBe(7);
    expect(DEFAULT_SHARE_CHAIN).toEqual([5, 4, 2]);
  });

  it("accepts 0..8 integers only", () => {
    expect(accessLevelSchema.parse(0)).toBe(0);
    expect(accessLevelSchema.parse(8)).toBe(8);
    expect(accessLevelSchema.safeParse(9).success).toBe(false);
    expect(accessLevelSchema.safeParse(-1).success).toBe(false);
    expect(accessLevelSchema.safeParse(4.5).success).toBe(false);
    expect(accessLevelSchema.safeParse("4").success).toBe(false);
  });
});

describe("grantedLevel (docs/behaviour.md §5)", () => {
  it.each([
    // [caller, requested, expected] with the default share chain [5, 4, 2]
    [7, 4, 4], // the owner grants Read as asked
    [7, 7, 5], // asking for Delete: capped by the chain at Share
    [7, 6, 5], // Update is above the chain's first entry below Delete
    [7, 5, 5],
    [7, undefined, 2], // no access asked: Connected
    [7, 0, 2], // below the minimum: Connected
    [7, 1, 2],
    [7, -3, 2],
    [7, 99, 5],
    [8, 8, 5], // Script callers are capped by the chain too
    [6, 6, 5], // Update caller: below its level and within the chain
    [5, 7, 4], // a Share holder can grant at most Read
    [5, 5, 4],
    [5, 4, 4],
    [5, 2, 2],
    [4, 7, 2], // Read caller: chain caps at Connected
    [3, 7, 2],
  ] as const)("caller %s asking %s gets %s", (caller, asked, expected) => {
    expect(grantedLevel(caller, asked)).toBe(expected);
  });

  it("follows an object's own share chain", () => {
    expect(grantedLevel(7, 7, [6, 4, 2])).toBe(6);
    expect(grantedLevel(7, 5, [6, 4, 2])).toBe(5);
    expect(grantedLevel(6, 6, [6, 4, 2])).toBe(4);
    expect(grantedLevel(5, 5, [6, 4, 2])).toBe(4);
    expect(grantedLevel(5, 5, [2])).toBe(2);
  });

  it("with no share chain only the caller level and Delete cap the grant", () => {
    expect(grantedLevel(7, 7, [])).toBe(6);
    expect(grantedLevel(8, 8, [])).toBe(7);
    expect(grantedLevel(8, 100, [])).toBe(7);
    expect(grantedLevel(6, 6, [])).toBe(5);
  });

  it("never grants Reserved (3), which docs/behaviour.md §2 says is never granted", () => {
    // With the default chain a Share+ caller asking for 3 would get 3 by the bare formula.
    expect(grantedLevel(7, AccessLevel.Reserved)).not.toBe(AccessLevel.Reserved);
    expect(grantedLevel(4, 7, [])).not.toBe(AccessLevel.Reserved);
    fc.assert(
      fc.property(callerLevel, requested, shareChain, (caller, asked, chain) => {
        expect(grantedLevel(caller, asked, chain)).not.toBe(AccessLevel.Reserved);
      }),
    );
  });

  it("property: never at or above the caller's level (caller ≥ 3)", () => {
    fc.assert(
      fc.property(callerLevel, requested, shareChain, (caller, asked, chain) => {
        expect(grantedLevel(caller, asked, chain)).toBeLessThan(caller);
        expect(grantedLevel(caller, asked)).toBeLessThan(caller);
      }),
    );
  });

  it("property: never above Delete (7), never below Connected (2)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -5, max: 20 }),
        requested,
        fc.array(fc.integer({ min: 0, max: 8 })),
        (caller, asked, chain) => {
          const granted = grantedLevel(caller, asked, chain);
          expect(granted).toBeLessThanOrEqual(7);
          expect(granted).toBeGreaterThanOrEqual(2);
          expect(Number.isInteger(granted)).toBe(true);
        },
      ),
    );
  });

  it("property: capped at the first share-chain entry below the caller's level", () => {
    fc.assert(
      fc.property(callerLevel, requested, shareChain, (caller, asked, chain) => {
        const cap = chain.find((level) => level < caller);
        const granted = grantedLevel(caller, asked, chain);
        if (cap !== undefined) expect(granted).toBeLessThanOrEqual(Math.max(2, cap));
        // The default chain is [5, 4, 2].
        const defaultCap = [5, 4, 2].find((level) => level < caller) as number;
        expect(grantedLevel(caller, asked)).toBeLessThanOrEqual(defaultCap);
      }),
    );
  });

  it("property: never more than asked, unless asked below Connected", () => {
    fc.assert(
      fc.property(callerLevel, fc.integer({ min: -20, max: 40 }), shareChain, (caller, asked, chain) => {
        expect(grantedLevel(caller, asked, chain)).toBeLessThanOrEqual(Math.max(2, asked));
      }),
    );
  });

  it("property: monotone in the requested level", () => {
    fc.assert(
      fc.property(
        callerLevel,
        fc.integer({ min: -20, max: 40 }),
        fc.integer({ min: -20, max: 40 }),
        shareChain,
        (caller, x, y, chain) => {
          const [lo, hi] = x <= y ? [x, y] : [y, x];
          expect(grantedLevel(caller, lo, chain)).toBeLessThanOrEqual(grantedLevel(caller, hi, chain));
        },
      ),
    );
  });

  it("property: an absent request grants Connected", () => {
    fc.assert(
      fc.property(callerLevel, shareChain, (caller, chain) => {
        expect(grantedLevel(caller, undefined, chain)).toBe(2);
      }),
    );
  });
});
