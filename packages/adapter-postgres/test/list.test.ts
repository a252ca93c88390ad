import { type ConnectionListQuery, type ConnectionRecord, isConnectionError } from "@conn/core";
import { describe, expect, it } from "vitest";
import { CountingQueryable, describeEngines } from "./support/engines.js";
import { active, context, days, newId, pending, T0 } from "./support/fixtures.js";

/** Ids in list order (descending). */
function desc(records: readonly ConnectionRecord[]): string[] {
  return records.map((r) => r._id).sort((a, b) => (a < b ? 1 : -1));
}

describeEngines("PostgresConnectionRepository.list", "list", (ctx) => {
  /** Lists with defaults for the query fields a test does not care about. */
  function list(query: Partial<ConnectionListQuery> & Pick<ConnectionListQuery, "filter">, org = "acme") {
    return ctx.repo.list(org, { limit: 100, now: T0, ...query });
  }

  describe("filters", () => {
    it("by creator: the creator's records, newest id first, expired pending left out, in one statement", async () => {
      const creator = newId();
      const mine = [pending({ creator }), active({ creator }), pending({ creator, email: "x@example.com" })];
      const expired = pending({ creator, expiresAt: days(-1), created: days(-8) });
      const others = [pending(), active()];
      const otherOrg = active({ org: "other", creator });
      await ctx.repo.savePending([mine[0]!, mine[2]!, expired, others[0]!], days(-8));
      await ctx.repo.saveActive([mine[1]!, others[1]!, otherOrg]);
      const counting = new CountingQueryable(ctx.db);
      const page = await ctx
        .repoOn(counting)
        .list("acme", { filter: { by: "creator", account: creator }, limit: 10, now: T0 });
      expect(counting.count).toBe(1);
      expect(page.records.map((r) => r._id)).toEqual(desc(mine));
      expect(page.records.find((r) => r._id === mine[1]!._id)).toEqual(mine[1]);
      expect(page.hasMore).toBe(false);
    });

    it("by target: records to the account, and unbound pending invitations to the email", async () => {
      const account = newId();
      const email = "me@example.com";
      const toAccount = active({ account });
      const pendingToAccount = pending({ account });
      const toEmail = pending({ email });
      const boundToMe = pending({ email: "old@example.com" });
      const boundToOther = pending({ email });
      await ctx.repo.saveActive([toAccount]);
      await ctx.repo.savePending([pendingToAccount, toEmail, boundToMe, boundToOther], T0);
      await ctx.repo.bindEmail("acme", "old@example.com", account, T0);
      // An invitation to my email that was bound to another account is not mine.
      await ctx.db.query(`UPDATE ${ctx.s}.connections SET target_account = $1 WHERE id = $2`, [
        newId(),
        boundToOther._id,
      ]);
      const page = await list({ filter: { by: "target", account, email } });
      expect(page.records.map((r) => r._id)).toEqual(desc([toAccount, pendingToAccount, toEmail, boundToMe]));
      const byAccountOnly = await list({ filter: { by: "target", account, email: null } });
      expect(byAccountOnly.records.map((r) => r._id)).toEqual(desc([toAccount, pendingToAccount, boundToMe]));
    });

    it("by context: every record on the context", async () => {
      const ctxRef = context();
      const on = [active({ context: ctxRef }), pending({ context: ctxRef }), pending({ context: ctxRef })];
      const sameIdOtherObject = active({ context: { object: "c_other", _id: ctxRef._id } });
      await ctx.repo.saveActive([on[0]!, sameIdOtherObject, active({ org: "other", context: ctxRef })]);
      await ctx.repo.savePending([on[1]!, on[2]!], T0);
      const page = await list({ filter: { by: "context", context: ctxRef } });
      expect(page.records.map((r) => r._id)).toEqual(desc(on));
    });

    it("by state and by object names", async () => {
      const creator = newId();
      const a1 = active({ creator, context: context("c_a") });
      const a2 = active({ creator, context: context("c_b") });
      const p1 = pending({ creator, context: context("c_a") });
      const p2 = pending({ creator, context: context("c_c") });
      await ctx.repo.saveActive([a1, a2]);
      await ctx.repo.savePending([p1, p2], T0);
      const filter = { by: "creator", account: creator } as const;
      expect((await list({ filter, state: 1 })).records.map((r) => r._id)).toEqual(desc([a1, a2]));
      expect((await list({ filter, state: 0 })).records.map((r) => r._id)).toEqual(desc([p1, p2]));
      expect((await list({ filter, objects: ["c_a", "c_c"] })).records.map((r) => r._id)).toEqual(
        desc([a1, p1, p2]),
      );
      expect((await list({ filter, state: 0, objects: ["c_a"] })).records.map((r) => r._id)).toEqual([
        p1._id,
      ]);
      expect((await list({ filter, objects: [] })).records).toEqual([]);
    });

    it("leaves out a pending record exactly at its expiry", async () => {
      const creator = newId();
      const record = pending({ creator, expiresAt: T0, created: days(-7) });
      await ctx.repo.savePending([record], days(-7));
      expect((await list({ filter: { by: "creator", account: creator }, now: T0 })).records).toEqual([]);
      const before = new Date(T0.getTime() - 1);
      expect((await list({ filter: { by: "creator", account: creator }, now: before })).records).toEqual([
        record,
      ]);
    });

    it("never returns another org's records", async () => {
      const creator = newId();
      await ctx.repo.saveActive([active({ org: "org-b", creator })]);
      expect((await list({ filter: { by: "creator", account: creator } }, "org-a")).records).toEqual([]);
    });
  });

  describe("pagination", () => {
    /** Seeds `n` active records of one creator; returns their ids in list order. */
    async function seed(n: number): Promise<{ creator: string; ids: string[] }> {
      const creator = newId();
      const records = Array.from({ length: n }, () => active({ creator }));
      await ctx.repo.saveActive(records);
      return { creator, ids: desc(records) };
    }

    it("walks forward with startingAfter; hasMore is false on the last page", async () => {
      const { creator, ids } = await seed(7);
      const filter = { by: "creator", account: creator } as const;
      const p1 = await list({ filter, limit: 3 });
      expect(p1.records.map((r) => r._id)).toEqual(ids.slice(0, 3));
      expect(p1.hasMore).toBe(true);
      const p2 = await list({ filter, limit: 3, startingAfter: ids[2] });
      expect(p2.records.map((r) => r._id)).toEqual(ids.slice(3, 6));
      expect(p2.hasMore).toBe(true);
      const p3 = await list({ filter, limit: 3, startingAfter: ids[5] });
      expect(p3.records.map((r) => r._id)).toEqual(ids.slice(6));
      expect(p3.hasMore).toBe(false);
    });

    it("walks back with endingBefore, still in list order; hasMore tells whether newer records remain", async () => {
      const { creator, ids } = await seed(7);
      const filter = { by: "creator", account: creator } as const;
      const back1 = await list({ filter, limit: 3, endingBefore: ids[6] });
      expect(back1.records.map((r) => r._id)).toEqual(ids.slice(3, 6));
      expect(back1.hasMore).toBe(true);
      const back2 = await list({ filter, limit: 3, endingBefore: ids[3] });
      expect(back2.records.map((r) => r._id)).toEqual(ids.slice(0, 3));
      expect(back2.hasMore).toBe(false);
    });

    it("takes a cursor that no longer exists (its record was deleted)", async () => {
      const { creator, ids } = await seed(4);
      await ctx.repo.deleteById("acme", ids[1]!);
      const page = await list({
        filter: { by: "creator", account: creator },
        limit: 10,
        startingAfter: ids[1],
      });
      expect(page.records.map((r) => r._id)).toEqual(ids.slice(2));
    });

    it("refuses a limit outside 1..1000", async () => {
      const filter = { by: "creator", account: newId() } as const;
      for (const limit of [0, 1001, 1.5]) {
        const error = await list({ filter, limit }).catch((e: unknown) => e);
        expect(isConnectionError(error, "cortex.invalidArgument.unspecified")).toBe(true);
      }
    });

    it("stays consistent while newer records are inserted: every earlier record once, no duplicates", async () => {
      const { creator, ids } = await seed(40);
      const filter = { by: "creator", account: creator } as const;
      let inserting = true;
      const inserter = (async () => {
        for (let i = 0; i < 30 && inserting; i++) {
          await ctx.repo.saveActive([active({ creator })]);
        }
      })();
      const seen: string[] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await list({
          filter,
          limit: 4,
          ...(cursor === undefined ? {} : { startingAfter: cursor }),
        });
        seen.push(...page.records.map((r) => r._id));
        const last = page.records.at(-1);
        if (!page.hasMore || last === undefined) break;
        cursor = last._id;
      }
      inserting = false;
      await inserter;
      expect(new Set(seen).size).toBe(seen.length);
      const firstSeenIndex = seen.indexOf(ids[0]!);
      expect(seen.slice(firstSeenIndex)).toEqual(ids);
      // Whatever came before the first seeded id was inserted during the walk and is newer.
      expect(seen.slice(0, firstSeenIndex).every((id) => id > ids[0]!)).toBe(true);
    });
  });
});
