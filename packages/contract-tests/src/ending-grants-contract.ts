import type { ConnectionRecord, EndingGrant, UnitOfWork } from "@conn/core";
import { describe, expect, it } from "vitest";
import { itNeeds, type OptOuts } from "./capabilities.js";
import {
  activeRecord,
  at,
  byId,
  CTX_2,
  DAY,
  HOUR,
  hostId,
  ORG_A,
  ORG_B,
  OTHER_CREATOR,
  OTHER_TARGET,
  outboxMessage,
  pendingRecord,
  T0,
} from "./fixtures.js";

/** What the ending-grants suite works with: the unit of work, and every stored record of an org (the back door). */
export interface EndingGrantsHarness {
  uow: UnitOfWork;
  allRecords(org: string): Promise<ConnectionRecord[]>;
}

/** The grant a sweep would mark for `r`: its id, end and creator as read. */
const wanted = (r: ConnectionRecord): EndingGrant => ({
  id: r._id,
  accessExpiresAt: r.accessExpiresAt as Date,
  creator: r.creator,
});

const ids = (records: readonly { _id: string }[]) => records.map((r) => r._id);

/**
 * The conformance suite of the repository's access-ending bookkeeping (`findEndingGrants`, `markEndNoticed`): which
 * grants are due, in which order, and that marking is a per-end compare-and-set that one sweep wins, even when
 * sweeps race. Registered inside the repository contract (it shares its harness).
 */
export function endingGrantsContract(
  harness: () => EndingGrantsHarness,
  skip?: OptOuts<"concurrency">,
): void {
  const repo = () => harness().uow.connections;
  const window = (now: Date, until: Date, limit = 100) => ({ now, until, limit });
  /** An active grant to the `n`th extra target account, ending at `end`. */
  const grantTo = (n: number, end: Date, over: Parameters<typeof activeRecord>[0] = {}) =>
    activeRecord({ target: { account: hostId("objectId", "6d", n) }, accessExpiresAt: end, ...over });

  describe("access-ending bookkeeping", () => {
    it("findEndingGrants returns the org's active grants ending in (now, until], by end then id", async () => {
      const soon = grantTo(1, at(DAY));
      const sameEnd = grantTo(2, at(DAY));
      const atUntil = grantTo(3, at(2 * DAY));
      const later = grantTo(4, at(2 * DAY + 1));
      const atNow = grantTo(5, at(HOUR));
      const forever = activeRecord({ target: { account: OTHER_TARGET } });
      const inB = grantTo(6, at(DAY), { org: ORG_B });
      await repo().saveActive([soon, sameEnd, atUntil, later, atNow, forever, inB]);
      await repo().savePending([pendingRecord({ accessExpiresAt: at(DAY) })], T0);
      const found = await repo().findEndingGrants(ORG_A, window(at(HOUR), at(2 * DAY)));
      expect(ids(found)).toEqual([...ids(byId([soon, sameEnd])), atUntil._id]);
      expect(found[found.length - 1]).toEqual(atUntil);
      expect(ids(await repo().findEndingGrants(ORG_B, window(at(HOUR), at(2 * DAY))))).toEqual([inB._id]);
    });

    it("findEndingGrants pages with limit and a cursor (end, id), with no grant twice", async () => {
      const grants = [1, 2, 3, 4, 5].map((n) => grantTo(n, at((n % 2) * HOUR + DAY)));
      await repo().saveActive(grants);
      const seen: string[] = [];
      let after: { accessExpiresAt: Date; id: string } | undefined;
      for (let page = 0; page < 5; page++) {
        const batch = await repo().findEndingGrants(ORG_A, { ...window(T0, at(2 * DAY), 2), after });
        seen.push(...ids(batch));
        const last = batch[batch.length - 1];
        if (last === undefined) break;
        after = { accessExpiresAt: last.accessExpiresAt as Date, id: last._id };
      }
      const all = await repo().findEndingGrants(ORG_A, window(T0, at(2 * DAY)));
      expect(seen).toEqual(ids(all));
      expect(new Set(seen).size).toBe(5);
    });

    it("markEndNoticed marks and returns the grant, once: it is then no longer due, and a second mark gets nothing", async () => {
      const g = grantTo(1, at(DAY));
      await repo().saveActive([g]);
      expect(await repo().markEndNoticed(ORG_A, [wanted(g)], T0)).toEqual([g]);
      expect(await repo().findEndingGrants(ORG_A, window(T0, at(2 * DAY)))).toEqual([]);
      expect(await repo().markEndNoticed(ORG_A, [wanted(g)], T0)).toEqual([]);
    });

    it("marking changes no record and no access: the stored records are as before", async () => {
      const g = grantTo(1, at(DAY));
      await repo().saveActive([g]);
      const before = await harness().allRecords(ORG_A);
      await repo().markEndNoticed(ORG_A, [wanted(g)], T0);
      expect(await harness().allRecords(ORG_A)).toEqual(before);
      expect(await repo().activeAccess(ORG_A, g.context, g.target.account as string, T0)).toBe(g.access);
    });

    it("a re-grant that moves the end makes the new end due; the old end's mark no longer takes", async () => {
      const g = grantTo(1, at(DAY));
      await repo().saveActive([g]);
      await repo().markEndNoticed(ORG_A, [wanted(g)], T0);
      const [moved] = await repo().saveActive([{ ...g, accessExpiresAt: at(DAY + HOUR), updated: at(1) }]);
      expect(ids(await repo().findEndingGrants(ORG_A, window(T0, at(2 * DAY))))).toEqual([g._id]);
      expect(await repo().markEndNoticed(ORG_A, [wanted(g)], T0), "the old end").toEqual([]);
      expect(await repo().markEndNoticed(ORG_A, [wanted(moved as ConnectionRecord)], T0)).toEqual([moved]);
      const [back] = await repo().saveActive([{ ...g, updated: at(2) }]);
      expect(
        ids(await repo().findEndingGrants(ORG_A, window(T0, at(2 * DAY)))),
        "back to the first end",
      ).toEqual([g._id]);
      expect(await repo().markEndNoticed(ORG_A, [wanted(back as ConnectionRecord)], T0)).toHaveLength(1);
    });

    it("markEndNoticed takes nothing that changed: another creator, an end past now, a deleted grant, a pending record, another org", async () => {
      const g = grantTo(1, at(DAY));
      const gone = grantTo(2, at(DAY));
      const pending = pendingRecord({ accessExpiresAt: at(DAY) });
      await repo().saveActive([g, gone]);
      await repo().savePending([pending], T0);
      await repo().deleteById(ORG_A, gone._id);
      expect(await repo().markEndNoticed(ORG_A, [{ ...wanted(g), creator: OTHER_CREATOR }], T0)).toEqual([]);
      expect(await repo().markEndNoticed(ORG_A, [wanted(g)], at(DAY)), "at the end itself").toEqual([]);
      expect(await repo().markEndNoticed(ORG_A, [wanted(gone)], T0)).toEqual([]);
      expect(await repo().markEndNoticed(ORG_A, [wanted(pending)], T0)).toEqual([]);
      expect(await repo().markEndNoticed(ORG_B, [wanted(g)], T0)).toEqual([]);
      expect(ids(await repo().findEndingGrants(ORG_A, window(T0, at(2 * DAY))))).toEqual([g._id]);
    });

    it("a grant replaced after its end is a new grant: its end is due", async () => {
      const old = grantTo(1, at(DAY));
      await repo().saveActive([old]);
      await repo().markEndNoticed(ORG_A, [wanted(old)], T0);
      const fresh = grantTo(1, at(2 * DAY), { created: at(DAY), updated: at(DAY) });
      const [stored] = await repo().saveActive([fresh], at(DAY));
      expect(stored?._id).toBe(fresh._id);
      expect(ids(await repo().findEndingGrants(ORG_A, window(at(DAY), at(3 * DAY))))).toEqual([fresh._id]);
    });

    it("an accept replacing a grant after its end is a new grant too: its end is due", async () => {
      const old = grantTo(1, at(DAY));
      await repo().saveActive([old]);
      await repo().markEndNoticed(ORG_A, [wanted(old)], T0);
      const invite = pendingRecord({ target: { account: old.target.account }, accessExpiresAt: at(2 * DAY) });
      await repo().savePending([invite], T0);
      const account = old.target.account as string;
      const claimant = { account, email: "grantee@example.test" };
      const accepted = await repo().acceptPending(ORG_A, invite.tokenHash as string, claimant, at(DAY));
      expect(accepted?.active._id).toBe(invite._id);
      expect(ids(await repo().findEndingGrants(ORG_A, window(at(DAY), at(3 * DAY))))).toEqual([invite._id]);
    });

    it("a unit of work that throws after marking leaves the grant due", async () => {
      const g = grantTo(1, at(DAY));
      await repo().saveActive([g]);
      await expect(
        harness().uow.transaction(async (tx) => {
          expect(await tx.connections.markEndNoticed(ORG_A, [wanted(g)], T0)).toHaveLength(1);
          throw new Error("boom: the sweep's transaction fails");
        }),
      ).rejects.toThrow("boom");
      expect(ids(await repo().findEndingGrants(ORG_A, window(T0, at(2 * DAY))))).toEqual([g._id]);
    });

    itNeeds(
      skip,
      "concurrency",
      "sweeps raced by 6 transactions over 12 grants: each grant is marked, and its notice queued, exactly once",
      async () => {
        const grants = Array.from({ length: 12 }, (_, i) =>
          grantTo(i + 1, at(DAY + i), i % 2 === 0 ? { context: { ...CTX_2 } } : {}),
        );
        await repo().saveActive(grants);
        const sweep = async (): Promise<string[]> => {
          const due = await repo().findEndingGrants(ORG_A, window(T0, at(2 * DAY)));
          return harness().uow.transaction(async (tx) => {
            const marked = await tx.connections.markEndNoticed(ORG_A, due.map(wanted), T0);
            if (marked.length > 0) await tx.outbox.enqueue(marked.map(() => outboxMessage()));
            return ids(marked);
          });
        };
        // Rounds until none is due: a grant skipped because another sweep held it is found by a later round.
        const marked: string[] = [];
        for (let round = 0; round < 5; round++) {
          marked.push(...(await Promise.all(Array.from({ length: 6 }, sweep))).flat());
          if ((await repo().findEndingGrants(ORG_A, window(T0, at(2 * DAY)))).length === 0) break;
        }
        expect([...marked].sort()).toEqual(ids(byId(grants)));
        expect(await harness().uow.outbox.counts()).toEqual({ pending: 12, delivered: 0, dead: 0 });
      },
    );
  });
}
