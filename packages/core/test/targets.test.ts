import {
  type ConnectionError,
  type ConnectionTarget,
  emailSchema,
  isConnectionError,
  MAX_CONNECTION_TARGETS,
  mergeTargets,
  parseTargets,
  unionRoles,
} from "@conn/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const id = (n: number) => `a${n.toString(16).padStart(23, "0")}`;
const role = (n: number) => `e${n.toString(16).padStart(23, "0")}`;

function parseError(raw: unknown): ConnectionError {
  try {
    parseTargets(raw);
  } catch (error) {
    if (isConnectionError(error)) return error;
    throw error;
  }
  throw new Error("parseTargets did not throw");
}

describe("parseTargets (docs/behaviour.md §5, check 4)", () => {
  it("parses account and email targets", () => {
    expect(
      parseTargets([
        { _id: id(1), access: 4, roles: [role(1)] },
        { object: "account", _id: id(2), auto: true },
        { email: "x@example.com", name: { first: "X", last: "Y" } },
      ]),
    ).toEqual([
      { _id: id(1), access: 4, roles: [role(1)] },
      { object: "account", _id: id(2), auto: true },
      { email: "x@example.com", name: { first: "X", last: "Y" } },
    ]);
  });

  it("an empty list is noConnectionTargets", () => {
    const error = parseError([]);
    expect(error.code).toBe("cortex.invalidArgument.noConnectionTargets");
    expect(error.status).toBe(400);
  });

  it("more than 100 targets is tooLarge.connectionTargets (413); exactly 100 is fine", () => {
    expect(MAX_CONNECTION_TARGETS).toBe(100);
    const targets = (n: number) => Array.from({ length: n }, (_, i) => ({ _id: id(i + 1) }));
    expect(parseTargets(targets(100))).toHaveLength(100);
    const error = parseError(targets(101));
    expect(error.code).toBe("cortex.tooLarge.connectionTargets");
    expect(error.status).toBe(413);
  });

  it("a list that is not an array is an invalid argument", () => {
    expect(parseError({ _id: id(1) }).code).toBe("cortex.invalidArgument.unspecified");
    expect(parseError(null).code).toBe("cortex.invalidArgument.unspecified");
  });

  it.each([
    ["an empty id", { _id: "" }],
    ["an id with a space", { _id: "bob smith" }],
    ["an id with a slash", { _id: "a/b" }],
    ["a 129-character id", { _id: "a".repeat(129) }],
    ["a non-string id", { _id: 12 }],
    ["an email with no domain", { email: "bob@" }],
    ["an email with no dot in the domain", { email: "bob@localhost" }],
    ["a plain word", { email: "bob" }],
    ["an email with a space inside", { email: "bo b@example.com" }],
    ["a non-ASCII look-alike email", { email: "bоb@example.com" }], // Cyrillic о
    ["a target that is not an account", { object: "c_patient", _id: id(1) }],
    ["both _id and email", { _id: id(1), email: "bob@example.com" }],
    ["neither _id nor email", { access: 4 }],
    ["an unknown property", { _id: id(1), admin: true }],
    ["a malformed role", { _id: id(1), roles: ["role admin"] }],
    ["a non-integer access", { _id: id(1), access: 4.5 }],
    ["a non-object", "bob@example.com"],
  ])("%s is invalidArgument.connectionTarget naming the entry", (_label, bad) => {
    const error = parseError([{ _id: id(9) }, bad]);
    expect(error.code).toBe("cortex.invalidArgument.connectionTarget");
    expect(error.status).toBe(400);
    expect(error.path).toBe("targets[1]");
  });

  it("normalizes emails: trimmed and lower-cased", () => {
    const [target] = parseTargets([{ email: "  Bob.Smith@Example.COM\t" }]);
    expect(target?.email).toBe("bob.smith@example.com");
    expect(emailSchema.parse(" A@B.CO ")).toBe("a@b.co");
  });

  it("property: any case and surrounding space of a valid email normalizes to the same address", () => {
    fc.assert(
      fc.property(
        fc.emailAddress({ size: "small" }).filter((e) => /^[a-z0-9.@-]+$/.test(e)),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }),
        fc.constantFrom("", " ", "  ", "\t"),
        (email, upper, pad) => {
          const mixed = [...email].map((ch, i) => (upper[i % upper.length] ? ch.toUpperCase() : ch)).join("");
          const parsed = emailSchema.safeParse(`${pad}${mixed}${pad}`);
          if (parsed.success) expect(parsed.data).toBe(email.toLowerCase());
        },
      ),
    );
  });
});

describe("mergeTargets (docs/behaviour.md §5)", () => {
  const none = () => undefined;

  it("merges copies of one account: highest access, union of roles, auto only if all copies", () => {
    const merged = mergeTargets(
      [
        { _id: id(1), access: 2, roles: [role(1)], auto: true },
        { _id: id(2) },
        { _id: id(1), access: 6, roles: [role(2), role(1)], auto: true },
        { _id: id(1), access: 4, roles: [role(3)] },
      ],
      none,
    );
    expect(merged).toHaveLength(2);
    expect(merged[0]).toMatchObject({
      index: 0,
      account: id(1),
      access: 6,
      roles: [role(1), role(2), role(3)],
      auto: false,
      viaEmail: false,
    });
    expect(merged[1]).toMatchObject({ index: 1, account: id(2), access: 2, roles: [], auto: false });
  });

  it("keeps auto when every copy says auto", () => {
    const merged = mergeTargets(
      [
        { _id: id(1), auto: true },
        { _id: id(1), auto: true, access: 4 },
      ],
      none,
    );
    expect(merged).toEqual([expect.objectContaining({ account: id(1), auto: true, access: 4 })]);
  });

  it("merges copies of one email, and an email of an org account with that account's id", () => {
    const merged = mergeTargets(
      [
        { email: "new@example.com", access: 4 },
        { email: "bob@example.com", roles: [role(1)] },
        { _id: id(7), access: 5 },
        { email: "new@example.com", roles: [role(2)] },
      ],
      (email) => (email === "bob@example.com" ? id(7) : undefined),
    );
    expect(merged).toHaveLength(2);
    expect(merged[0]).toMatchObject({
      account: null,
      email: "new@example.com",
      viaEmail: true,
      access: 4,
      roles: [role(2)],
    });
    expect(merged[1]).toMatchObject({
      index: 1,
      account: id(7),
      email: "bob@example.com",
      viaEmail: false, // one copy named the id, so the account is no secret
      access: 5,
      roles: [role(1)],
    });
  });

  it("an email of an org account resolves to it, and stays hidden while only named by email", () => {
    const [merged] = mergeTargets([{ email: "bob@example.com" }], () => id(7));
    expect(merged).toMatchObject({ account: id(7), email: "bob@example.com", viaEmail: true });
  });

  it("returns targets in request order of their first copy", () => {
    const merged = mergeTargets(
      [{ _id: id(3) }, { email: "z@example.com" }, { _id: id(1) }, { _id: id(3) }, { _id: id(2) }],
      none,
    );
    expect(merged.map((t) => t.account ?? t.email)).toEqual([id(3), "z@example.com", id(1), id(2)]);
    expect(merged.map((t) => t.index)).toEqual([0, 1, 2, 4]);
  });

  it("a target with no access asks for Connected", () => {
    expect(mergeTargets([{ _id: id(1) }], none)[0]?.access).toBe(2);
  });

  it("property: one entry per distinct target, merged as the spec says", () => {
    const targetArb: fc.Arbitrary<ConnectionTarget> = fc.record(
      {
        _id: fc.integer({ min: 1, max: 4 }).map(id),
        access: fc.integer({ min: 0, max: 8 }),
        roles: fc.uniqueArray(fc.integer({ min: 1, max: 5 }).map(role), { maxLength: 3 }),
        auto: fc.boolean(),
      },
      { requiredKeys: ["_id"] },
    );
    fc.assert(
      fc.property(fc.array(targetArb, { minLength: 1, maxLength: 20 }), (targets) => {
        const merged = mergeTargets(targets, none);
        const distinct = [...new Set(targets.map((t) => t._id))];
        expect(merged.map((m) => m.account)).toEqual(distinct);
        for (const m of merged) {
          const copies = targets.filter((t) => t._id === m.account);
          expect(m.index).toBe(targets.findIndex((t) => t._id === m.account));
          expect(m.access).toBe(Math.max(...copies.map((t) => t.access ?? 2)));
          expect(new Set(m.roles)).toEqual(new Set(copies.flatMap((t) => t.roles ?? [])));
          expect(m.roles.length).toBe(new Set(m.roles).size);
          expect(m.auto).toBe(copies.every((t) => t.auto === true));
        }
      }),
    );
  });

  it("unionRoles keeps first-seen order without duplicates", () => {
    expect(unionRoles([role(2), role(1)], [role(1), role(3), role(2)])).toEqual([role(2), role(1), role(3)]);
    expect(unionRoles([], [])).toEqual([]);
  });
});
