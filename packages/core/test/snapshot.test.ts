import { type ConnectionRecord, ConnectionState, snapshotOf } from "@conn/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const date = fc.date({
  min: new Date("2020-01-01T00:00:00Z"),
  max: new Date("2030-01-01T00:00:00Z"),
  noInvalidDate: true,
});
const text = fc.string({ minLength: 1, maxLength: 8 });
const name = fc.option(fc.record({ first: text, last: text }, { requiredKeys: [] }), { nil: null });

/** Any connection record, pending or active, with or without a grant end. */
const record: fc.Arbitrary<ConnectionRecord> = fc
  .record(
    {
      org: text,
      _id: fc.stringMatching(/^[0-9a-f]{24}$/),
      access: fc.constantFrom(2, 4, 5, 6, 7),
      roles: fc.array(text, { maxLength: 3 }),
      context: fc.record({ object: text, _id: text }),
      contextSource: fc.option(text, { nil: null }),
      created: date,
      updated: date,
      creator: text,
      target: fc.record({
        account: fc.option(text, { nil: null }),
        email: fc.option(text, { nil: null }),
        name,
      }),
      viaEmail: fc.boolean(),
      targetKey: text,
      state: fc.constantFrom(ConnectionState.Pending, ConnectionState.Active),
      tokenHash: fc.option(text, { nil: null }),
      tokenSeal: fc.option(text, { nil: null }),
      expiresAt: fc.option(date, { nil: null }),
      accessExpiresAt: fc.option(date, { nil: null }),
    },
    {
      requiredKeys: [
        "org",
        "_id",
        "access",
        "roles",
        "context",
        "contextSource",
        "created",
        "updated",
        "creator",
        "target",
        "viaEmail",
        "targetKey",
        "state",
        "tokenHash",
        "tokenSeal",
        "expiresAt",
      ],
    },
  )
  .map((r) => r as ConnectionRecord);

describe("snapshotOf", () => {
  it("is the record without its token material, sharing nothing with it", () => {
    fc.assert(
      fc.property(record, (generated) => {
        // A copy of its own: the case changes it below, and fast-check may reuse what it generated.
        const r = structuredClone(generated);
        const { tokenHash: _h, tokenSeal: _s, ...expected } = structuredClone(r);
        const snapshot = snapshotOf(r);
        expect(snapshot).toStrictEqual(expected);
        expect("tokenHash" in snapshot || "tokenSeal" in snapshot).toBe(false);
        // Changing the record afterwards changes nothing the snapshot holds.
        r.roles.push("changed");
        r.context._id = "changed";
        r.created.setTime(0);
        r.target.account = "changed";
        if (r.target.name !== null) r.target.name.first = "changed";
        r.expiresAt?.setTime(0);
        r.accessExpiresAt?.setTime(0);
        expect(snapshot).toStrictEqual(expected);
      }),
      { endOnFailure: true },
    );
  });
});
