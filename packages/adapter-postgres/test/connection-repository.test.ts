import {
  AccessLevel,
  ConnectionError,
  type ConnectionRecord,
  ConnectionState,
  isConnectionError,
} from "@conn/core";
import { describe, expect, it } from "vitest";
import { activeKeySql } from "../src/connection-sql.js";
import type { Queryable } from "../src/database.js";
import { MAX_TRANSACTION_ATTEMPTS } from "../src/errors.js";
import { CountingQueryable, describeEngines } from "./support/engines.js";
import { active, context, days, newId, pending, T0 } from "./support/fixtures.js";

describeEngines("PostgresConnectionRepository", "repo", (ctx) => {
  describe("acceptPending on its own (a transaction of its own)", () => {
    /** `db` whose accept calls fail with `code` the first `failures` times; counts the accept calls sent. */
    const flaky = <Q extends Queryable>(db: Q, code: string, failures: number) => {
      const calls = { n: 0 };
      const query = async <R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> => {
        if (text.includes("conn_accept_pending") && calls.n++ < failures) {
          throw Object.assign(new Error(`injected ${code}`), { code });
        }
        return db.query<R>(text, params);
      };
      return { calls, db: Object.assign(Object.create(db) as Q, { query }) };
    };
    const claimant = (p: ConnectionRecord) => ({
      account: p.target.account as string,
      email: "t@example.com",
    });

    it("runs again when the server aborted it (deadlock, serialization failure)", async () => {
      for (const code of ["40P01", "40001"]) {
        const p = pending({ org: "acme" });
        await ctx.repo.savePending([p], T0);
        const { calls, db } = flaky(ctx.db, code, 2);
        const accepted = await ctx.repoOn(db).acceptPending("acme", p.tokenHash as string, claimant(p), T0);
        expect(accepted?.claimed._id, code).toBe(p._id);
        expect(calls.n, code).toBe(3);
      }
    });

    it("gives up after MAX_TRANSACTION_ATTEMPTS, and never runs again a failure that is not an abort", async () => {
      const p = pending({ org: "acme" });
      await ctx.repo.savePending([p], T0);
      const aborted = flaky(ctx.db, "40P01", 100);
      await expect(
        ctx.repoOn(aborted.db).acceptPending("acme", p.tokenHash as string, claimant(p), T0),
      ).rejects.toBeInstanceOf(ConnectionError);
      expect(aborted.calls.n).toBe(MAX_TRANSACTION_ATTEMPTS);
      const other = flaky(ctx.db, "42P01", 1);
      await expect(
        ctx.repoOn(other.db).acceptPending("acme", p.tokenHash as string, claimant(p), T0),
      ).rejects.toBeInstanceOf(ConnectionError);
      expect(other.calls.n).toBe(1);
      expect((await ctx.repo.findPendingByTokenHash("acme", p.tokenHash as string, T0))?._id).toBe(p._id);
    });

    it("inside a transaction it leaves the retry to the transaction's owner", async () => {
      const p = pending({ org: "acme" });
      await ctx.repo.savePending([p], T0);
      let sent = 0;
      const outcome = await ctx.db
        .transaction(async (tx) => {
          const { calls, db } = flaky(tx, "40P01", 1);
          try {
            return await ctx.repoOn(db).acceptPending("acme", p.tokenHash as string, claimant(p), T0);
          } finally {
            sent = calls.n;
          }
        })
        .catch((e: unknown) => e);
      expect(outcome).toBeInstanceOf(ConnectionError);
      expect(sent).toBe(1);
    });
  });

  /** Reads every stored row of the connections table (the back door), as id → state. */
  async function storedIds(org?: string): Promise<string[]> {
    const { rows } = await ctx.db.query<{ id: string }>(
      `SELECT id FROM ${ctx.s}.connections ${org === undefined ? "" : "WHERE org = $1"} ORDER BY id`,
      org === undefined ? [] : [org],
    );
    return rows.map((row) => row.id);
  }

  describe("findById", () => {
    it("returns a stored pending record exactly as saved (Dates, nulls, name)", async () => {
      const record = pending({
        name: { first: "Pat", last: "Doe" },
        roles: [newId()],
        contextSource: "c_owner",
      });
      await ctx.repo.savePending([record], T0);
      const found = await ctx.repo.findById("acme", record._id, T0);
      expect(found).toEqual(record);
      expect(found?.created).toBeInstanceOf(Date);
      expect(found?.expiresAt).toBeInstanceOf(Date);
    });

    it("returns a stored active record exactly as saved", async () => {
      const record = active({ access: AccessLevel.Update, roles: [newId(), newId()] });
      await ctx.repo.saveActive([record]);
      expect(await ctx.repo.findById("acme", record._id, T0)).toEqual(record);
    });

    it("returns a copy: mutating it does not change what is stored", async () => {
      const record = active({ roles: [newId()] });
      await ctx.repo.saveActive([record]);
      const first = await ctx.repo.findById("acme", record._id, T0);
      first?.roles.push("mutated");
      expect(await ctx.repo.findById("acme", record._id, T0)).toEqual(record);
    });

    it("returns null for an unknown id", async () => {
      expect(await ctx.repo.findById("acme", newId(), T0)).toBeNull();
    });

    it("never returns a record of another org", async () => {
      const record = active({ org: "org-b" });
      await ctx.repo.saveActive([record]);
      expect(await ctx.repo.findById("org-a", record._id, T0)).toBeNull();
      expect(await ctx.repo.findById("org-b", record._id, T0)).toEqual(record);
    });

    it("returns null for a pending record that expired at or before now, though it is still stored", async () => {
      const record = pending({ expiresAt: days(1) });
      await ctx.repo.savePending([record], T0);
      expect(await ctx.repo.findById("acme", record._id, new Date(days(1).getTime() - 1))).not.toBeNull();
      expect(await ctx.repo.findById("acme", record._id, days(1))).toBeNull();
      expect(await ctx.repo.findById("acme", record._id, days(2))).toBeNull();
      expect(await storedIds()).toEqual([record._id]);
    });
  });

  describe("findPendingByTokenHash", () => {
    it("finds the unexpired pending record with the hash", async () => {
      const record = pending();
      await ctx.repo.savePending([record], T0);
      expect(await ctx.repo.findPendingByTokenHash("acme", record.tokenHash ?? "", T0)).toEqual(record);
    });

    it("returns null for an expired record, another org, or an unknown hash", async () => {
      const record = pending({ expiresAt: days(1) });
      await ctx.repo.savePending([record], T0);
      const hash = record.tokenHash ?? "";
      expect(await ctx.repo.findPendingByTokenHash("acme", hash, days(1))).toBeNull();
      expect(await ctx.repo.findPendingByTokenHash("other", hash, T0)).toBeNull();
      expect(await ctx.repo.findPendingByTokenHash("acme", "no-such-hash", T0)).toBeNull();
    });
  });

  describe("activeAccess", () => {
    it("returns the access of the active connection in one statement", async () => {
      const record = active({ access: AccessLevel.Update });
      await ctx.repo.saveActive([record]);
      const counting = new CountingQueryable(ctx.db);
      const access = await ctx
        .repoOn(counting)
        .activeAccess("acme", record.context, record.target.account ?? "");
      expect(access).toBe(AccessLevel.Update);
      expect(counting.count).toBe(1);
    });

    it("returns null for a pending connection, another account, another context or another org", async () => {
      const pend = pending();
      const act = active();
      await ctx.repo.savePending([pend], T0);
      await ctx.repo.saveActive([act]);
      const account = act.target.account ?? "";
      expect(await ctx.repo.activeAccess("acme", pend.context, pend.target.account ?? "")).toBeNull();
      expect(await ctx.repo.activeAccess("acme", act.context, newId())).toBeNull();
      expect(await ctx.repo.activeAccess("acme", context(), account)).toBeNull();
      expect(await ctx.repo.activeAccess("acme", { ...act.context, object: "c_other" }, account)).toBeNull();
      expect(await ctx.repo.activeAccess("other", act.context, account)).toBeNull();
    });

    it("uses the active unique index (the plan names it)", async () => {
      // Enough rows that a sequential scan is not the cheapest plan.
      await ctx.repo.saveActive(Array.from({ length: 2000 }, () => active()));
      const record = active();
      await ctx.repo.saveActive([record]);
      await ctx.db.query(`ANALYZE ${ctx.s}.connections`);
      const { rows } = await ctx.db.query<{ "QUERY PLAN": string }>(
        `EXPLAIN SELECT access FROM ${ctx.s}.connections
         WHERE ${activeKeySql()}`.replace(
          /\$(\d)/g,
          (_, n: string) =>
            ["'acme'", "'c_prescription'", `'${record.context._id}'`, `'${record.target.account}'`][
              Number(n) - 1
            ] ?? "",
        ),
      );
      expect(rows.map((row) => row["QUERY PLAN"]).join("\n")).toContain("connections_active_uq");
    });
  });

  describe("findForCreate", () => {
    it("loads active connections to the accounts and the creator's unexpired pending ones, in one statement", async () => {
      const ctxRef = context();
      const creator = newId();
      const [a1, a2, a3] = [newId(), newId(), newId()];
      const activeToA1 = active({ context: ctxRef, account: a1 });
      const pendingToA2 = pending({ context: ctxRef, creator, account: a2 });
      const pendingToEmail = pending({ context: ctxRef, creator, email: "sue@example.com" });
      const otherCreator = pending({ context: ctxRef, account: a2 });
      const expired = pending({
        context: ctxRef,
        creator,
        account: a3,
        expiresAt: days(-1),
        created: days(-8),
      });
      const otherContext = active({ account: a1 });
      const otherOrg = active({ org: "other", context: ctxRef, account: a1 });
      const unrelated = pending({ context: ctxRef, creator, email: "zed@example.com" });
      await ctx.repo.saveActive([activeToA1, otherContext, otherOrg]);
      await ctx.repo.savePending([pendingToA2, pendingToEmail, otherCreator, expired, unrelated], T0);

      const counting = new CountingQueryable(ctx.db);
      const snapshot = await ctx
        .repoOn(counting)
        .findForCreate("acme", ctxRef, creator, { accounts: [a1, a2, a3], emails: ["sue@example.com"] }, T0);
      expect(counting.count).toBe(1);
      expect(snapshot.active).toEqual([activeToA1]);
      expect(snapshot.pending.map((r) => r._id).sort()).toEqual([pendingToA2._id, pendingToEmail._id].sort());
    });

    it("finds an email invitation that was bound to an account by the account", async () => {
      const ctxRef = context();
      const creator = newId();
      const account = newId();
      const invite = pending({ context: ctxRef, creator, email: "late@example.com" });
      await ctx.repo.savePending([invite], T0);
      await ctx.repo.bindEmail("acme", "late@example.com", account, T0);
      const snapshot = await ctx.repo.findForCreate(
        "acme",
        ctxRef,
        creator,
        { accounts: [account], emails: [] },
        T0,
      );
      expect(snapshot.pending.map((r) => r._id)).toEqual([invite._id]);
    });

    it("returns empty lists for no targets", async () => {
      expect(
        await ctx.repo.findForCreate("acme", context(), newId(), { accounts: [], emails: [] }, T0),
      ).toEqual({
        active: [],
        pending: [],
      });
    });
  });

  describe("savePending", () => {
    it("inserts N records in one statement and returns them in input order", async () => {
      const ctxRef = context();
      const creator = newId();
      const records = Array.from({ length: 30 }, (_, i) =>
        i % 2 === 0
          ? pending({ context: ctxRef, creator })
          : pending({ context: ctxRef, creator, email: `p${i}@example.com` }),
      );
      const shuffled = [...records].reverse();
      const counting = new CountingQueryable(ctx.db);
      const saved = await ctx.repoOn(counting).savePending(shuffled, T0);
      expect(counting.count).toBe(1);
      expect(saved).toEqual(shuffled);
      expect(await storedIds()).toEqual(records.map((r) => r._id).sort());
    });

    it("merges into the creator's pending invitation: access the higher, roles the union, token, seal, expiry and name replaced, id and created kept", async () => {
      const [r1, r2, r3] = [newId(), newId(), newId()];
      const first = pending({ access: AccessLevel.Share, roles: [r1, r2], name: { first: "Old" } });
      await ctx.repo.savePending([first], T0);
      const again = pending({
        context: first.context,
        creator: first.creator,
        account: first.target.account,
        access: AccessLevel.Read,
        roles: [r2, r3],
        name: { first: "New" },
        created: days(1),
        expiresAt: days(8),
      });
      const [merged] = await ctx.repo.savePending([again], days(1));
      const expected: ConnectionRecord = {
        ...first,
        access: AccessLevel.Share,
        roles: [r1, r2, r3],
        updated: again.updated,
        target: { ...first.target, name: { first: "New" } },
        tokenHash: again.tokenHash,
        tokenSeal: again.tokenSeal,
        expiresAt: days(8),
      };
      expect(merged).toEqual(expected);
      expect(await ctx.repo.findById("acme", first._id, days(1))).toEqual(expected);
      expect(await storedIds()).toEqual([first._id]);
      // The old token no longer resolves; the new one does.
      expect(await ctx.repo.findPendingByTokenHash("acme", first.tokenHash ?? "", days(1))).toBeNull();
      expect(await ctx.repo.findPendingByTokenHash("acme", again.tokenHash ?? "", days(1))).toEqual(expected);
    });

    it("raises access when the new invitation asks for more", async () => {
      const first = pending({ access: AccessLevel.Connected });
      await ctx.repo.savePending([first], T0);
      const [merged] = await ctx.repo.savePending(
        [
          pending({
            context: first.context,
            creator: first.creator,
            account: first.target.account,
            access: 6,
          }),
        ],
        T0,
      );
      expect(merged?.access).toBe(AccessLevel.Update);
    });

    it("replaces an expired matching invitation outright: the new record, its id and created included", async () => {
      const first = pending({
        access: AccessLevel.Update,
        roles: [newId()],
        contextSource: "c_old",
        created: days(-10),
        expiresAt: days(-3),
      });
      await ctx.repo.savePending([first], days(-10));
      const again = pending({
        context: first.context,
        creator: first.creator,
        account: first.target.account,
        access: AccessLevel.Connected,
        roles: [],
        created: T0,
        expiresAt: days(7),
      });
      const [replaced] = await ctx.repo.savePending([again], T0);
      expect(replaced).toEqual(again);
      expect(await ctx.repo.findById("acme", first._id, T0)).toBeNull();
    });

    it("keeps invitations of other creators, other targets and other orgs apart", async () => {
      const first = pending();
      const otherCreator = pending({ context: first.context, account: first.target.account });
      const otherTarget = pending({ context: first.context, creator: first.creator });
      const otherOrg = pending({
        org: "other",
        context: first.context,
        creator: first.creator,
        account: first.target.account,
      });
      await ctx.repo.savePending([first, otherCreator, otherTarget, otherOrg], T0);
      expect((await storedIds()).length).toBe(4);
      expect(await storedIds("other")).toEqual([otherOrg._id]);
    });

    it("keeps an email target bound to an account bound when re-invited", async () => {
      const first = pending({ email: "late@example.com" });
      await ctx.repo.savePending([first], T0);
      const account = newId();
      await ctx.repo.bindEmail("acme", "late@example.com", account, T0);
      const [merged] = await ctx.repo.savePending(
        [pending({ context: first.context, creator: first.creator, email: "late@example.com" })],
        T0,
      );
      expect(merged?.target.account).toBe(account);
      expect(merged?.targetKey).toBe("email:late@example.com");
    });

    it("refuses two records that would merge into one row, writing nothing", async () => {
      const first = pending();
      const twin = pending({ context: first.context, creator: first.creator, account: first.target.account });
      const error = await ctx.repo.savePending([first, twin], T0).catch((e: unknown) => e);
      expect(isConnectionError(error, "cortex.error.unspecified")).toBe(true);
      expect(await storedIds()).toEqual([]);
    });

    it("refuses an active record", async () => {
      await expect(ctx.repo.savePending([active()], T0)).rejects.toBeInstanceOf(ConnectionError);
    });

    it("returns [] for no records", async () => {
      expect(await ctx.repo.savePending([], T0)).toEqual([]);
    });
  });

  describe("saveActive", () => {
    it("inserts N records in one statement and returns them in input order", async () => {
      const ctxRef = context();
      const records = Array.from({ length: 25 }, () => active({ context: ctxRef }));
      const counting = new CountingQueryable(ctx.db);
      const saved = await ctx.repoOn(counting).saveActive(records);
      expect(counting.count).toBe(1);
      expect(saved).toEqual(records);
    });

    it("merges into the active connection of the same (context, account): access the higher, roles the union, stored id wins", async () => {
      const [r1, r2, r3] = [newId(), newId(), newId()];
      const stored = active({ access: AccessLevel.Update, roles: [r1, r2] });
      await ctx.repo.saveActive([stored]);
      const incoming = active({
        context: stored.context,
        account: stored.target.account,
        access: AccessLevel.Read,
        roles: [r3, r1],
        updated: days(1),
      });
      const [merged] = await ctx.repo.saveActive([incoming]);
      const expected = { ...stored, roles: [r1, r2, r3], updated: days(1) };
      expect(merged).toEqual(expected);
      expect(await storedIds()).toEqual([stored._id]);
      expect(await ctx.repo.activeAccess("acme", stored.context, stored.target.account ?? "")).toBe(6);
    });

    it("leaves `updated` alone when the merge adds nothing", async () => {
      const stored = active({ access: AccessLevel.Share, roles: ["r1"] });
      await ctx.repo.saveActive([stored]);
      const [merged] = await ctx.repo.saveActive([
        active({
          context: stored.context,
          account: stored.target.account,
          access: 2,
          roles: ["r1"],
          updated: days(3),
        }),
      ]);
      expect(merged).toEqual(stored);
    });

    it("keeps the same account apart on another context and in another org", async () => {
      const stored = active();
      await ctx.repo.saveActive([
        stored,
        active({ account: stored.target.account }),
        active({ org: "other", context: stored.context, account: stored.target.account }),
      ]);
      expect((await storedIds("acme")).length).toBe(2);
      expect((await storedIds("other")).length).toBe(1);
    });

    it("maps a unique violation that escapes (an id already taken) to cortex.conflict.connectionExists", async () => {
      const invite = pending();
      await ctx.repo.savePending([invite], T0);
      const error = await ctx.repo.saveActive([active({ _id: invite._id })]).catch((e: unknown) => e);
      expect(isConnectionError(error, "cortex.conflict.connectionExists")).toBe(true);
      expect((error as ConnectionError).retryable).toBe(false);
      expect((error as ConnectionError).cause).toMatchObject({ code: "23505" });
    });

    it("refuses a pending record or an active one without an account", async () => {
      await expect(ctx.repo.saveActive([pending()])).rejects.toBeInstanceOf(ConnectionError);
      const noAccount = { ...active(), target: { account: null, email: "x@example.com", name: null } };
      await expect(ctx.repo.saveActive([noAccount])).rejects.toBeInstanceOf(ConnectionError);
    });
  });

  describe("the access-change triggers", () => {
    it("call their function for rows that are or were active only, never for invitations alone", async () => {
      const calls = async (tx: Queryable): Promise<number> => {
        const { rows } = await tx.query<{ n: string | null }>(
          `SELECT pg_stat_get_xact_function_calls('${ctx.s}.connections_notify_access'::regproc) AS n`,
        );
        return Number(rows[0]?.n ?? 0);
      };
      const invite = pending();
      const grant = active();
      const seen: number[] = [];
      await ctx.db.transaction(async (tx) => {
        await tx.query("SET LOCAL track_functions = 'pl'");
        const repo = ctx.repoOn(tx);
        await repo.savePending([invite], T0);
        seen.push(await calls(tx));
        await repo.claimPending(invite.org, invite._id, T0);
        seen.push(await calls(tx));
        await repo.saveActive([grant], T0);
        seen.push(await calls(tx));
        await repo.deleteById(grant.org, grant._id);
        seen.push(await calls(tx));
      });
      // An invitation written and claimed: no call; an active connection written, then deleted: one call each.
      expect(seen).toEqual([0, 0, 1, 2]);
    });
  });

  describe("claimPending", () => {
    it("removes and returns the pending record once (compare-and-set)", async () => {
      const record = pending();
      await ctx.repo.savePending([record], T0);
      expect(await ctx.repo.claimPending("acme", record._id, T0)).toEqual(record);
      expect(await ctx.repo.claimPending("acme", record._id, T0)).toBeNull();
      expect(await storedIds()).toEqual([]);
    });

    it("does not claim an expired record, an active one, or one of another org", async () => {
      const expired = pending({ expiresAt: days(1) });
      const act = active();
      const otherOrg = pending({ org: "other" });
      await ctx.repo.savePending([expired, otherOrg], T0);
      await ctx.repo.saveActive([act]);
      expect(await ctx.repo.claimPending("acme", expired._id, days(1))).toBeNull();
      expect(await ctx.repo.claimPending("acme", act._id, T0)).toBeNull();
      expect(await ctx.repo.claimPending("acme", otherOrg._id, T0)).toBeNull();
      expect((await storedIds()).length).toBe(3);
    });
  });

  describe("deleteSuperseded", () => {
    it("removes the target's pending invitations on the context whose access is at most maxAccess, except exceptId", async () => {
      const ctxRef = context();
      const account = newId();
      const low = pending({ context: ctxRef, account, access: AccessLevel.Connected });
      const equal = pending({ context: ctxRef, account, access: AccessLevel.Read });
      const higher = pending({ context: ctxRef, account, access: AccessLevel.Share });
      const excepted = pending({ context: ctxRef, account, access: AccessLevel.Connected });
      const otherAccount = pending({ context: ctxRef, access: AccessLevel.Connected });
      const otherContext = pending({ account, access: AccessLevel.Connected });
      const otherOrg = pending({ org: "other", context: ctxRef, account, access: AccessLevel.Connected });
      await ctx.repo.savePending([low, equal, higher, excepted, otherAccount, otherContext, otherOrg], T0);
      const removed = await ctx.repo.deleteSuperseded("acme", [
        { context: ctxRef, account, maxAccess: AccessLevel.Read, exceptId: excepted._id },
      ]);
      expect(removed.map((r) => r._id).sort()).toEqual([low._id, equal._id].sort());
      expect(removed.find((r) => r._id === low._id)).toEqual(low);
      expect(await storedIds("acme")).toEqual(
        [higher._id, excepted._id, otherAccount._id, otherContext._id].sort(),
      );
      expect(await storedIds("other")).toEqual([otherOrg._id]);
    });

    it("never removes active connections and handles several items in one statement", async () => {
      const a = active();
      const p1 = pending({ access: 2 });
      const p2 = pending({ access: 2 });
      await ctx.repo.saveActive([a]);
      await ctx.repo.savePending([p1, p2], T0);
      const counting = new CountingQueryable(ctx.db);
      const removed = await ctx.repoOn(counting).deleteSuperseded("acme", [
        { context: a.context, account: a.target.account ?? "", maxAccess: 7 },
        { context: p1.context, account: p1.target.account ?? "", maxAccess: 7 },
        { context: p2.context, account: p2.target.account ?? "", maxAccess: 7 },
      ]);
      expect(counting.count).toBe(1);
      expect(removed.map((r) => r._id).sort()).toEqual([p1._id, p2._id].sort());
      expect(await storedIds()).toEqual([a._id]);
    });
  });

  describe("deleteById", () => {
    it("removes and returns the record; null when there is none or it belongs to another org", async () => {
      const record = active();
      const otherOrg = active({ org: "other" });
      await ctx.repo.saveActive([record, otherOrg]);
      expect(await ctx.repo.deleteById("acme", otherOrg._id)).toBeNull();
      expect(await ctx.repo.deleteById("acme", record._id)).toEqual(record);
      expect(await ctx.repo.deleteById("acme", record._id)).toBeNull();
      expect(await storedIds("other")).toEqual([otherOrg._id]);
    });
  });

  describe("bindEmail", () => {
    it("binds the org's unbound pending invitations to the email, and returns them", async () => {
      const account = newId();
      const a = pending({ email: "late@example.com" });
      const b = pending({ email: "late@example.com" });
      const otherEmail = pending({ email: "else@example.com" });
      const otherOrg = pending({ org: "other", email: "late@example.com" });
      await ctx.repo.savePending([a, b, otherEmail, otherOrg], T0);
      const bound = await ctx.repo.bindEmail("acme", "late@example.com", account, T0);
      expect(bound.map((r) => r._id).sort()).toEqual([a._id, b._id].sort());
      expect(bound.every((r) => r.target.account === account && r.viaEmail)).toBe(true);
      expect((await ctx.repo.findById("acme", a._id, T0))?.target.account).toBe(account);
      expect((await ctx.repo.findById("acme", otherEmail._id, T0))?.target.account).toBeNull();
      expect((await ctx.repo.findById("other", otherOrg._id, T0))?.target.account).toBeNull();
      // Already bound: nothing more to bind.
      expect(await ctx.repo.bindEmail("acme", "late@example.com", newId(), T0)).toEqual([]);
    });

    it("never binds an expired invitation", async () => {
      const expired = pending({ email: "late@example.com", created: days(-10), expiresAt: days(-3) });
      await ctx.repo.savePending([expired], days(-10));
      expect(await ctx.repo.bindEmail("acme", "late@example.com", newId(), T0)).toEqual([]);
    });
  });

  describe("purgeExpired", () => {
    it("removes up to `limit` expired pending records of the org per call", async () => {
      const expired = Array.from({ length: 5 }, (_, i) =>
        pending({ expiresAt: days(-1 - i), created: days(-10) }),
      );
      const live = pending();
      const otherOrg = pending({ org: "other", expiresAt: days(-1), created: days(-10) });
      await ctx.repo.savePending([...expired, live, otherOrg], days(-10));
      await ctx.repo.saveActive([active()]);
      const first = await ctx.repo.purgeExpired("acme", T0, 3);
      expect(first.length).toBe(3);
      const second = await ctx.repo.purgeExpired("acme", T0, 3);
      expect(second.length).toBe(2);
      expect(await ctx.repo.purgeExpired("acme", T0, 3)).toEqual([]);
      expect([...first, ...second].map((r) => r._id).sort()).toEqual(expired.map((r) => r._id).sort());
      expect(first.every((r) => r.state === ConnectionState.Pending)).toBe(true);
      expect(await storedIds("other")).toEqual([otherOrg._id]);
      expect((await storedIds("acme")).length).toBe(2);
    });

    it("removes a record that expires exactly at now, not one a millisecond later", async () => {
      const atNow = pending({ expiresAt: T0, created: days(-7) });
      const later = pending({ expiresAt: new Date(T0.getTime() + 1), created: days(-7) });
      await ctx.repo.savePending([atNow, later], days(-7));
      expect((await ctx.repo.purgeExpired("acme", T0, 10)).map((r) => r._id)).toEqual([atNow._id]);
    });
  });
});
