import {
  HOST_ID_PATTERN,
  hostIdSchema,
  isHostId,
  isObjectName,
  isOrg,
  OBJECT_NAME_PATTERN,
  ORG_PATTERN,
  objectNameSchema,
  orgSchema,
} from "@conn/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

/**
 * Characters near every pattern's edges: each class's members and the ones just outside them (`/`, `;`, `@`, `[`,
 * `` ` ``, `{`), line breaks (`$` must not match before one), a space, NUL, non-ASCII look-alikes and lone surrogates.
 */
const EDGE_CHARS = [
  ..."azAZ09._:-_",
  ..."/;@[`{ \t\n\r\u0000",
  "\u00e9",
  "\u0430",
  "\u212a",
  "\ud800",
  "\udc00",
  "\u{1f600}",
];
/** Strings of one alphabet, starting with `a`, of a length at or next to a bound. */
function nearBounds(alphabet: string): fc.Arbitrary<string> {
  return fc
    .constantFrom(0, 1, 63, 64, 65, 127, 128, 129)
    .chain((n) =>
      fc
        .string({ unit: fc.constantFrom(...alphabet), minLength: n, maxLength: n })
        .map((s) => `a${s}`.slice(0, n)),
    );
}

/** Strings mostly made of allowed characters, with lengths around every bound (0, 1, 63..65, 127..129). */
const candidate = fc.oneof(
  fc.string({ unit: fc.constantFrom(...EDGE_CHARS), maxLength: 140 }),
  fc.stringMatching(/^[A-Za-z0-9._:-]{0,130}$/),
  nearBounds("az09_-.:AZ"),
  nearBounds("az09_"),
  fc
    .tuple(fc.stringMatching(/^[A-Za-z0-9._:-]{1,130}$/), fc.constantFrom(...EDGE_CHARS), fc.nat(130))
    .map(([s, c, at]) => s.slice(0, at) + c + s.slice(at)),
  fc.string({ unit: "grapheme", maxLength: 10 }),
);
const NOT_STRINGS = [undefined, null, 1, 0, true, {}, [], ["a"], { toString: () => "a" }];

describe("the fast checks accept exactly what their patterns accept", () => {
  it.each([
    ["isHostId", isHostId, HOST_ID_PATTERN, hostIdSchema],
    ["isOrg", isOrg, ORG_PATTERN, orgSchema],
    ["isObjectName", isObjectName, OBJECT_NAME_PATTERN, objectNameSchema],
  ] as const)(
    "%s(s) is its pattern's test(s) and its schema's verdict, for any string",
    (_, check, pattern, schema) => {
      fc.assert(
        fc.property(candidate, (s) => {
          expect(check(s)).toBe(pattern.test(s));
          expect(check(s)).toBe(schema.safeParse(s).success);
        }),
        { numRuns: 5000 },
      );
    },
  );

  it("the bounds: 128 characters is a host id and 129 is not; 64 is an org or object name and 65 is not", () => {
    expect(isHostId("a".repeat(128))).toBe(true);
    expect(isHostId("a".repeat(129))).toBe(false);
    expect(isHostId("")).toBe(false);
    expect(isOrg("a".repeat(64))).toBe(true);
    expect(isOrg("a".repeat(65))).toBe(false);
    expect(isObjectName("a".repeat(64))).toBe(true);
    expect(isObjectName("a".repeat(65))).toBe(false);
    expect(isObjectName("_a")).toBe(false);
    expect(isHostId("abc\n")).toBe(false);
  });

  it("refuses every value that is not a string", () => {
    for (const v of NOT_STRINGS) {
      expect(isHostId(v)).toBe(false);
      expect(isOrg(v)).toBe(false);
      expect(isObjectName(v)).toBe(false);
    }
  });
});
