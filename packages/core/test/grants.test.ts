import {
  AccessLevel,
  ConnectionError,
  type ConnectionRecord,
  ConnectionState,
  type Grant,
  mergeGrant,
  planTarget,
  type TargetPlanInput,
} from "@conn/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const accounts = fc.constantFrom("alice", "bob", "erin", "frank");
const grantable = fc.constantFrom(2, 4, 5, 6, 7) as fc.Arbitrary<AccessLevel>;
const roles = fc.uniqueArray(fc.constantFrom("r1", "r2", "r3", "r4"), { maxLength: 4 });
const grant: fc.Arbitrary<Grant> = fc.record({ access: grantable, roles, creator: accounts });

/** A stored connection to bob on one context, in a state, from a grant. */
function stored(g: Grant, state: ConnectionState): ConnectionRecord {
  const now = new Date("2026-01-01T00:00:00Z");
  return {
    org: "o",
    _id: state === ConnectionState.Active ? "a".repeat(24) : "b".repeat(24),
    ...g,
    context: { object: "c_doc", _id: "d1" },
    contextSource: null,
    created: now,
    updated: now,
    target: { account: "bob", email: null, name: null },
    viaEmail: false,
    targetKey: "account:bob",
    state,
    tokenHash: state === ConnectionState.Pending ? "h" : null,
    tokenSeal: null,
    expiresAt: state === ConnectionState.Pending ? new Date("2026-01-08T00:00:00Z") : null,
  };
}

/** Any input create can plan for: a caller with at least Share (create refuses below), anything stored. */
const planInput: fc.Arbitrary<TargetPlanInput> = fc.record({
  caller: accounts,
  callerAccess: fc.integer({ min: 5, max: 8 }),
  shareChain: fc.option(fc.subarray([7, 6, 5, 4, 2]), { nil: undefined }),
  request: fc.record({ access: fc.integer({ min: -3, max: 12 }), roles, auto: fc.boolean() }),
  autoFault: fc.option(fc.constant(new ConnectionError("cortex.accessDenied.autoConnectionRequiresAccess")), {
    nil: undefined,
  }),
  active: fc.option(
    grant.map((g) => stored(g, ConnectionState.Active)),
    { nil: undefined },
  ),
  pending: fc.option(
    grant.map((g) => stored(g, ConnectionState.Pending)),
    { nil: undefined },
  ),
});

const sameGrant = (a: Grant, b: Grant) => ({
  access: a.access === b.access,
  roles: [...a.roles].sort().join() === [...b.roles].sort().join(),
});

describe("mergeGrant (accept's merge and create's upgrade)", () => {
  it("property: is idempotent", () => {
    fc.assert(
      fc.property(grant, grant, (a, b) => {
        expect(mergeGrant(a, a)).toEqual(a);
        const once = mergeGrant(a, b);
        expect(mergeGrant(once, b)).toEqual(once);
      }),
    );
  });

  it("property: the access and the role set do not depend on the order grants are merged in", () => {
    const grants = fc.array(grant, { maxLength: 5 });
    const orders = grants.chain((list) =>
      fc.tuple(
        fc.constant(list),
        fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length }),
      ),
    );
    fc.assert(
      fc.property(grant, orders, (base, [incoming, shuffled]) => {
        const a = incoming.reduce(mergeGrant, base);
        const b = shuffled.reduce(mergeGrant, base);
        expect(sameGrant(a, b)).toEqual({ access: true, roles: true });
        const other = incoming[0] ?? base;
        expect(sameGrant(mergeGrant(base, other), mergeGrant(other, base))).toEqual({
          access: true,
          roles: true,
        });
      }),
    );
  });

  it("property: never lowers access nor drops a role", () => {
    fc.assert(
      fc.property(grant, grant, (a, b) => {
        const m = mergeGrant(a, b);
        expect(m.access).toBe(Math.max(a.access, b.access));
        for (const r of [...a.roles, ...b.roles]) expect(m.roles).toContain(r);
      }),
    );
  });

  it("property: the account whose grant raises the access becomes the creator; otherwise the creator stays", () => {
    fc.assert(
      fc.property(grant, grant, (a, b) => {
        expect(mergeGrant(a, b).creator).toBe(b.access > a.access ? b.creator : a.creator);
      }),
    );
  });
});

describe("planTarget (create, per target)", () => {
  it("property: an access the plan raises to never reaches the caller's own level", () => {
    fc.assert(
      fc.property(planInput, (input) => {
        const plan = planTarget(input);
        if (plan.kind === "fault") return;
        const before = plan.kind === "new" ? AccessLevel.None : plan.existing.access;
        if (plan.grant.access > before) expect(plan.grant.access).toBeLessThan(input.callerAccess);
      }),
    );
  });

  it("property: an upgrade or re-invite never lowers access nor drops a role", () => {
    fc.assert(
      fc.property(planInput, (input) => {
        const plan = planTarget(input);
        if (plan.kind !== "upgrade" && plan.kind !== "reinvite") return;
        expect(plan.grant.access).toBeGreaterThanOrEqual(plan.existing.access);
        for (const r of plan.existing.roles) expect(plan.grant.roles).toContain(r);
      }),
    );
  });

  it("property: after an upgrade that raises access the creator is the upgrader; otherwise it stays", () => {
    fc.assert(
      fc.property(planInput, (input) => {
        const plan = planTarget(input);
        if (plan.kind !== "upgrade") return;
        const raised = plan.grant.access > plan.previous;
        expect(plan.grant.creator).toBe(raised ? input.caller : plan.existing.creator);
      }),
    );
  });

  it("property: picks the outcome of docs/behaviour.md §5 (auto fault, upgrade or conflict, auto, re-invite, new)", () => {
    fc.assert(
      fc.property(planInput, (input) => {
        const plan = planTarget(input);
        const expected =
          input.autoFault !== undefined
            ? "fault"
            : input.active !== undefined
              ? "upgrade-or-conflict"
              : input.request.auto
                ? "new-active"
                : input.pending !== undefined
                  ? "reinvite"
                  : "new-pending";
        const actual =
          plan.kind === "fault"
            ? input.autoFault !== undefined
              ? "fault"
              : "upgrade-or-conflict"
            : plan.kind === "upgrade"
              ? "upgrade-or-conflict"
              : plan.kind === "new"
                ? plan.state === ConnectionState.Active
                  ? "new-active"
                  : "new-pending"
                : plan.kind;
        expect(actual).toBe(expected);
        if (plan.kind === "fault" && input.autoFault === undefined) {
          expect(plan.error.code).toBe("cortex.conflict.connectionExists");
        }
      }),
    );
  });

  it("property: an active connection gets a conflict exactly when the request adds neither access nor a role", () => {
    fc.assert(
      fc.property(planInput, (input) => {
        if (input.active === undefined || input.autoFault !== undefined) return;
        const plan = planTarget(input);
        const upgraded = plan.kind === "upgrade";
        const adds =
          upgraded &&
          (plan.grant.access > plan.previous || plan.grant.roles.length > (input.active.roles.length ?? 0));
        expect(upgraded).toBe(adds);
      }),
    );
  });

  it("an owner's re-invite at Share upgrades a Share holder's Connected grant and becomes its creator", () => {
    const active = stored(
      { access: AccessLevel.Connected, roles: [], creator: "erin" },
      ConnectionState.Active,
    );
    const plan = planTarget({
      caller: "alice",
      callerAccess: AccessLevel.Delete,
      request: { access: AccessLevel.Share, roles: [], auto: false },
      active,
    });
    expect(plan).toMatchObject({
      kind: "upgrade",
      previous: AccessLevel.Connected,
      grant: { access: AccessLevel.Share, creator: "alice" },
    });
  });
});
