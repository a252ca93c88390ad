import {
  type ConnectionError,
  type ConnectionListQuery,
  type ConnectionRecord,
  type ConnectionRepository,
  expectedOf,
  isConnectionError,
  type SealedNotice,
  SnapshotNotEmpty,
  savedPending,
  type UnitOfWork,
} from "@conn/core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { itNeeds, type OptOuts } from "./capabilities.js";
import { endingGrantsContract } from "./ending-grants-contract.js";
import {
  activeRecord,
  at,
  byId,
  CREATOR,
  CTX,
  CTX_2,
  CTX_OTHER_OBJECT,
  DAY,
  emailInvite,
  HOUR,
  type HostIdStyle,
  hostId,
  nextId,
  ORG_A,
  ORG_B,
  OTHER_CREATOR,
  OTHER_TARGET,
  outboxMessage,
  pendingRecord,
  ROLE_1,
  ROLE_2,
  T0,
  TARGET,
  THIRD_CREATOR,
  useHostIdStyle,
} from "./fixtures.js";
import { outboxContract } from "./outbox-contract.js";

/** Reads what an adapter really stored, bypassing the port under test (Auth.js style). */
export interface RepositoryBackdoor {
  /** Every stored connection record of the org, in any order, expired ones included. */
  allRecords(org: string): Promise<ConnectionRecord[]>;
  /** The notice of an outbox message as stored, or null when there is no such message. */
  outboxNotice(id: string): Promise<SealedNotice | null>;
}

/** What one repository test works with: fresh, empty stores (no records, an empty outbox). */
export interface RepositoryHarness {
  /** The repository, each call committing on its own. */
  repo: ConnectionRepository;
  /** The unit of work over the same stores. */
  uow: UnitOfWork;
  /** Direct reads of the stored state. */
  backdoor: RepositoryBackdoor;
}

/** Optional capabilities of the repository suite an adapter may opt out of, with a reason. */
/**
 * What a repository may opt out of: `concurrency` (tests that race transactions), `expectNone` (the optional
 * `expectNoneForCreate`; without it create reads first and plans after).
 */
export type RepositoryCapability = "concurrency" | "expectNone";

/** How an adapter runs {@link connectionRepositoryContract}: a fresh harness per test. */
export interface RepositoryContractFactory {
  /** Builds empty stores for one test. */
  setup(): Promise<RepositoryHarness>;
  /** Releases what `setup` built. */
  teardown?(harness: RepositoryHarness): Promise<void>;
  /** Capabilities opted out of, each with the reason shown in the skipped tests' names. */
  skip?: OptOuts<RepositoryCapability>;
  /** The style of the host ids (accounts, contexts, roles) the records carry; ObjectIds by default. */
  idStyle?: HostIdStyle;
}

function query(
  over: Partial<ConnectionListQuery> & Pick<ConnectionListQuery, "filter">,
): ConnectionListQuery {
  return { limit: 100, now: T0, ...over };
}

const ids = (records: readonly { _id: string }[]) => records.map((r) => r._id);

/** Whether `promise` is still unsettled `ms` after this call. */
async function unsettledAfter(promise: Promise<unknown>, ms = 100): Promise<boolean> {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  promise.then(mark, mark);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return !settled;
}

/** A promise (`opened`) and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/**
 * The example-based conformance suite of {@link ConnectionRepository} and `Outbox`: every method and its
 * documented semantics, checked through the adapter's back door.
 */
export function connectionRepositoryContract(name: string, factory: RepositoryContractFactory): void {
  const style = factory.idStyle ?? "objectId";
  describe(`ConnectionRepository contract: ${name} (${style} host ids)`, () => {
    let h: RepositoryHarness;
    beforeAll(() => useHostIdStyle(style));
    afterAll(() => useHostIdStyle("objectId"));
    beforeEach(async () => {
      h = await factory.setup();
    });
    afterEach(async () => {
      await factory.teardown?.(h);
    });

    const stored = async (org: string = ORG_A) => byId(await h.backdoor.allRecords(org));

    /**
     * Starts a transaction that takes CTX's lock, then, once released, stores `records` and commits; resolves when the
     * lock is held.
     */
    const lockHolder = async (records: ConnectionRecord[]) => {
      const locked = gate();
      const held = gate();
      const done = h.uow.transaction(async (tx) => {
        await tx.connections.lockContext(ORG_A, CTX);
        locked.open();
        await held.opened;
        await tx.connections.savePending(records, T0);
      });
      await locked.opened;
      return { release: held.open, done };
    };

    describe("findById", () => {
      it("findById returns the stored record, as saved", async () => {
        const p = pendingRecord({ roles: [ROLE_1], contextSource: "c_owner" });
        const a = activeRecord({ target: { account: OTHER_TARGET } });
        await h.repo.savePending([p], T0);
        await h.repo.saveActive([a]);
        expect(await h.repo.findById(ORG_A, p._id, T0)).toEqual(p);
        expect(await h.repo.findById(ORG_A, a._id, T0)).toEqual(a);
      });

      it("findById with an unknown id resolves to null", async () => {
        expect(await h.repo.findById(ORG_A, nextId(), T0)).toBeNull();
      });

      it("findById of an expired pending record resolves to null, at and after expiresAt", async () => {
        const p = pendingRecord({ expiresAt: at(DAY) });
        await h.repo.savePending([p], T0);
        expect(await h.repo.findById(ORG_A, p._id, at(DAY - 1))).toEqual(p);
        expect(await h.repo.findById(ORG_A, p._id, at(DAY))).toBeNull();
        expect(await h.repo.findById(ORG_A, p._id, at(30 * DAY))).toBeNull();
      });

      it("findById of an active record ignores time", async () => {
        const a = activeRecord();
        await h.repo.saveActive([a]);
        expect(await h.repo.findById(ORG_A, a._id, at(365 * DAY))).toEqual(a);
      });

      it("findById in another org resolves to null", async () => {
        const p = pendingRecord();
        await h.repo.savePending([p], T0);
        expect(await h.repo.findById(ORG_B, p._id, T0)).toBeNull();
      });
    });

    describe("findPendingByTokenHash", () => {
      // It answers the same in a transaction and outside one.
      for (const inTransaction of [false, true]) {
        const locked = inTransaction ? " (in a transaction)" : "";
        /** The look-up, in a transaction of the store's or on its own. */
        const find = (org: string, hash: string, now: Date) =>
          inTransaction
            ? h.uow.transaction((tx) => tx.connections.findPendingByTokenHash(org, hash, now))
            : h.repo.findPendingByTokenHash(org, hash, now);

        it(`findPendingByTokenHash finds the unexpired pending record with that hash${locked}`, async () => {
          const p = pendingRecord();
          await h.repo.savePending([p, pendingRecord({ target: { account: OTHER_TARGET } })], T0);
          expect(await find(ORG_A, p.tokenHash as string, T0)).toEqual(p);
          expect(await h.repo.findPendingByTokenHash(ORG_A, p.tokenHash as string, T0)).toEqual(p);
        });

        it(`findPendingByTokenHash with an unknown hash resolves to null${locked}`, async () => {
          await h.repo.savePending([pendingRecord()], T0);
          expect(await find(ORG_A, "no-such-hash", T0)).toBeNull();
        });

        it(`findPendingByTokenHash of an expired invitation resolves to null (before any purge)${locked}`, async () => {
          const p = pendingRecord({ expiresAt: at(HOUR) });
          await h.repo.savePending([p], T0);
          expect(await find(ORG_A, p.tokenHash as string, at(HOUR))).toBeNull();
          expect(await h.repo.findPendingByTokenHash(ORG_A, p.tokenHash as string, at(2 * HOUR))).toBeNull();
          expect(await stored()).toHaveLength(1);
        });

        it(`findPendingByTokenHash in another org resolves to null${locked}`, async () => {
          const p = pendingRecord();
          await h.repo.savePending([p], T0);
          expect(await find(ORG_B, p.tokenHash as string, T0)).toBeNull();
        });
      }
    });

    describe("activeAccess", () => {
      it("activeAccess returns the access of the active connection of the account to the context", async () => {
        await h.repo.saveActive([activeRecord({ access: 6 })]);
        expect(await h.repo.activeAccess(ORG_A, CTX, TARGET)).toBe(6);
      });

      it("activeAccess is null for a pending invitation, another account, context, object or org", async () => {
        await h.repo.saveActive([activeRecord({ access: 6 })]);
        await h.repo.savePending([pendingRecord({ target: { account: OTHER_TARGET } })], T0);
        expect(await h.repo.activeAccess(ORG_A, CTX, OTHER_TARGET)).toBeNull();
        expect(await h.repo.activeAccess(ORG_A, CTX_2, TARGET)).toBeNull();
        expect(await h.repo.activeAccess(ORG_A, CTX_OTHER_OBJECT, TARGET)).toBeNull();
        expect(await h.repo.activeAccess(ORG_B, CTX, TARGET)).toBeNull();
      });

      it("activeAccess judges a grant's end at `now`, given as a date or as a clock", async () => {
        const end = new Date(T0.getTime() + 60_000);
        await h.repo.saveActive([activeRecord({ access: 5, accessExpiresAt: end })]);
        const clockAt = (at: Date) => ({ now: () => new Date(at) });
        expect(await h.repo.activeAccess(ORG_A, CTX, TARGET, T0)).toBe(5);
        expect(await h.repo.activeAccess(ORG_A, CTX, TARGET, clockAt(T0))).toBe(5);
        expect(await h.repo.activeAccess(ORG_A, CTX, TARGET, end)).toBeNull();
        expect(await h.repo.activeAccess(ORG_A, CTX, TARGET, clockAt(end))).toBeNull();
      });

      it("activeAccess is null once the connection is deleted", async () => {
        const a = activeRecord();
        await h.repo.saveActive([a]);
        await h.repo.deleteById(ORG_A, a._id);
        expect(await h.repo.activeAccess(ORG_A, CTX, TARGET)).toBeNull();
      });
    });

    describe("findForCreate", () => {
      it("findForCreate returns the active connections on the context to the listed accounts only", async () => {
        const mine = activeRecord();
        await h.repo.saveActive([
          mine,
          activeRecord({ target: { account: OTHER_TARGET } }),
          activeRecord({ context: { ...CTX_2 } }),
          activeRecord({ org: ORG_B }),
        ]);
        const snap = await h.repo.findForCreate(ORG_A, CTX, CREATOR, { accounts: [TARGET], emails: [] }, T0);
        expect(snap.active).toEqual([mine]);
        expect(snap.pending).toEqual([]);
      });

      it("findForCreate returns the creator's unexpired pending invitations to the listed accounts or emails", async () => {
        const byAccount = pendingRecord();
        const byEmail = emailInvite("new@example.test");
        await h.repo.savePending(
          [
            byAccount,
            byEmail,
            pendingRecord({ creator: OTHER_CREATOR }),
            pendingRecord({ target: { account: OTHER_TARGET }, expiresAt: at(HOUR) }),
            pendingRecord({ context: { ...CTX_2 } }),
            pendingRecord({ org: ORG_B }),
            emailInvite("other@example.test"),
          ],
          T0,
        );
        const snap = await h.repo.findForCreate(
          ORG_A,
          CTX,
          CREATOR,
          { accounts: [TARGET, OTHER_TARGET], emails: ["new@example.test"] },
          at(HOUR),
        );
        expect(byId(snap.pending)).toEqual(byId([byAccount, byEmail]));
        expect(snap.active).toEqual([]);
      });

      itNeeds(
        factory.skip,
        "concurrency",
        "findForCreate in a transaction takes the context's lock, then reads what the lock's holder wrote",
        async () => {
          const mine = pendingRecord();
          const holder = await lockHolder([mine]);
          // The reader holds the lock in turn until its transaction ends: a second holder waits for it.
          const readerHolds = gate();
          const readerHeld = gate();
          const reader = h.uow.transaction(async (tx) => {
            const snap = await tx.connections.findForCreate(
              ORG_A,
              CTX,
              CREATOR,
              { accounts: [TARGET], emails: [] },
              T0,
            );
            readerHolds.open();
            await readerHeld.opened;
            return snap;
          });
          expect(
            await unsettledAfter(reader),
            "findForCreate returned while another transaction held the context's lock",
          ).toBe(true);
          holder.release();
          await holder.done;
          await readerHolds.opened;
          const second = h.uow.transaction((tx) => tx.connections.lockContext(ORG_A, CTX));
          expect(
            await unsettledAfter(second),
            "the context's lock was free while findForCreate's transaction ran",
          ).toBe(true);
          readerHeld.open();
          await second;
          // The invitation the holder stored under the lock is in the snapshot: the read ran wholly after it.
          expect((await reader).pending).toEqual([mine]);
        },
      );
    });

    describe("expectNoneForCreate", () => {
      /** The optional method, which this suite requires unless the adapter opts out of `expectNone`. */
      const expectNone = () => {
        const method = h.repo.expectNoneForCreate;
        if (method === undefined)
          throw new Error("expectNoneForCreate is missing (opt out of expectNone instead)");
        return method;
      };
      const failure = (work: Promise<unknown>) =>
        work.then(
          () => null,
          (e: unknown) => e,
        );

      itNeeds(
        factory.skip,
        "expectNone",
        "expectNoneForCreate lets its transaction's writes commit when findForCreate would find nothing",
        async () => {
          expect(expectNone()).toBeTypeOf("function");
          // Rows findForCreate leaves out: other accounts, contexts, creators and orgs, and an expired invitation.
          await h.repo.saveActive([
            activeRecord({ target: { account: OTHER_TARGET } }),
            activeRecord({ context: { ...CTX_2 } }),
            activeRecord({ org: ORG_B }),
          ]);
          await h.repo.savePending(
            [
              pendingRecord({ creator: OTHER_CREATOR }),
              pendingRecord({ expiresAt: at(HOUR) }),
              emailInvite("other@example.test"),
            ],
            T0,
          );
          const invite = pendingRecord({ _id: nextId(), context: { ...CTX_2 }, expiresAt: at(9 * DAY) });
          const keys = { accounts: [TARGET, CREATOR], emails: ["new@example.test"] };
          await expect(
            h.repo.expectNoneForCreate?.(ORG_A, CTX, CREATOR, keys, at(2 * HOUR)),
          ).resolves.toBeUndefined();
          await h.uow.transaction(async (tx) => {
            await tx.connections.expectNoneForCreate?.(ORG_A, CTX, CREATOR, keys, at(2 * HOUR));
            await tx.connections.savePending([invite], at(2 * HOUR));
          });
          expect((await stored()).map((r) => r._id)).toContain(invite._id);
        },
      );

      itNeeds(
        factory.skip,
        "expectNone",
        "expectNoneForCreate fails with SnapshotNotEmpty, nothing of its transaction written, when findForCreate would find a row",
        async () => {
          expectNone();
          await h.repo.saveActive([activeRecord()]);
          await h.repo.savePending(
            [pendingRecord({ target: { account: OTHER_TARGET } }), emailInvite("new@example.test")],
            T0,
          );
          const before = await stored();
          for (const keys of [
            { accounts: [TARGET], emails: [] }, // the active connection
            { accounts: [OTHER_TARGET], emails: [] }, // the creator's invitation to an account
            { accounts: [], emails: ["new@example.test"] }, // the creator's invitation to an email
          ]) {
            const outside = await failure(
              Promise.resolve(expectNone().call(h.repo, ORG_A, CTX, CREATOR, keys, T0)),
            );
            expect(outside, `outside a transaction: ${JSON.stringify(keys)}`).toBeInstanceOf(
              SnapshotNotEmpty,
            );
            // In a unit of work, writes before and after it go too (the failure may come at the commit).
            const inside = await failure(
              h.uow.transaction(async (tx) => {
                await tx.connections.saveActive([activeRecord({ _id: nextId(), context: { ...CTX_2 } })]);
                await tx.connections.expectNoneForCreate?.(ORG_A, CTX, CREATOR, keys, T0);
                await tx.connections.savePending(
                  [pendingRecord({ _id: nextId(), context: { ...CTX_2 } })],
                  T0,
                );
              }),
            );
            expect(inside, `in a unit of work: ${JSON.stringify(keys)}`).toBeInstanceOf(SnapshotNotEmpty);
            expect(await stored()).toEqual(before);
          }
        },
      );
    });

    describe("savePendingAsExpected", () => {
      /** Stores `incoming` over `existing` (stored first, when given) as expected, and checks the store holds what the
       * domain's savedPending says: what create reports and notifies from without reading it back. */
      const storesAsTheDomainSays = async (
        existing: ConnectionRecord | undefined,
        incoming: ConnectionRecord,
        now: Date,
      ) => {
        if (existing !== undefined) await h.repo.savePending([existing], T0);
        const want = savedPending(existing, incoming, now);
        await h.uow.transaction((tx) =>
          tx.connections.savePendingAsExpected([incoming], [expectedOf(want)], now),
        );
        expect(await stored()).toEqual([want]);
      };

      it("savePendingAsExpected stores a new invitation to an account as given", async () => {
        await storesAsTheDomainSays(undefined, pendingRecord(), T0);
      });

      it("savePendingAsExpected stores a new invitation to an email as given", async () => {
        await storesAsTheDomainSays(undefined, emailInvite("new@example.test"), T0);
      });

      it("savePendingAsExpected merges into the creator's invitation as savedPending says: access, roles, name, token", async () => {
        const first = pendingRecord({ access: 4, roles: [ROLE_1], target: { name: { first: "Old" } } });
        const again = pendingRecord({
          _id: nextId(),
          access: 5,
          roles: [ROLE_2, ROLE_1],
          target: { name: { first: "New" } },
          expiresAt: at(9 * DAY),
          updated: at(HOUR),
          accessExpiresAt: at(30 * DAY),
        });
        await storesAsTheDomainSays(first, again, at(HOUR));
      });

      it("savePendingAsExpected merging keeps a stored name and sets an unset account, as savedPending says", async () => {
        const first = emailInvite("new@example.test", { access: 4, target: { name: { first: "Nia" } } });
        const again = emailInvite("new@example.test", {
          _id: nextId(),
          access: 2,
          target: { account: TARGET, name: null },
          updated: at(HOUR),
        });
        await storesAsTheDomainSays(first, again, at(HOUR));
      });

      it("savePendingAsExpected replaces an expired invitation outright, as savedPending says", async () => {
        const old = pendingRecord({ access: 6, roles: [ROLE_1], expiresAt: at(DAY) });
        const fresh = pendingRecord({
          access: 2,
          created: at(2 * DAY),
          updated: at(2 * DAY),
          expiresAt: at(9 * DAY),
        });
        await storesAsTheDomainSays(old, fresh, at(2 * DAY));
      });

      it("savePendingAsExpected writes nothing and fails retryably when a record would be stored otherwise", async () => {
        const first = pendingRecord({ access: 4 });
        await h.repo.savePending([first], T0);
        const before = await stored();
        const again = pendingRecord({ _id: nextId(), access: 2, updated: at(HOUR) });
        const right = expectedOf(savedPending(first, again, at(HOUR)));
        const other = activeRecord({ context: { ...CTX_2 } });
        for (const wrong of [
          { ...right, _id: again._id },
          { ...right, access: 2 as const },
          { ...right, account: OTHER_TARGET },
          // Expected to be stored as itself (as a create's new invitation is), where it would merge into `first`.
          expectedOf(again),
        ]) {
          const outside = await h.repo.savePendingAsExpected([again], [wrong], at(HOUR)).then(
            () => null,
            (e: unknown) => e,
          );
          expect(isConnectionError(outside), "outside a transaction").toBe(true);
          expect((outside as ConnectionError).retryable).toBe(true);
          // In a unit of work, the other writes of the transaction go too (the failure may come at its commit).
          const inside = await h.uow
            .transaction(async (tx) => {
              await tx.connections.saveActive([other]);
              await tx.connections.savePendingAsExpected([again], [wrong], at(HOUR));
            })
            .then(
              () => null,
              (e: unknown) => e,
            );
          expect(isConnectionError(inside), "in a unit of work").toBe(true);
          expect((inside as ConnectionError).retryable).toBe(true);
          expect(await stored()).toEqual(before);
        }
      });

      it("savePendingAsExpected of new invitations where one meets an unexpired invitation: nothing written, retryable", async () => {
        const first = pendingRecord({ access: 4 });
        await h.repo.savePending([first], T0);
        const before = await stored();
        const fresh = pendingRecord({ target: { account: OTHER_TARGET }, updated: at(HOUR) });
        const again = pendingRecord({ _id: nextId(), access: 4, updated: at(HOUR) });
        for (const batch of [
          [fresh, again],
          [again, fresh],
        ]) {
          const failure = await h.uow
            .transaction((tx) => tx.connections.savePendingAsExpected(batch, batch.map(expectedOf), at(HOUR)))
            .then(
              () => null,
              (e: unknown) => e,
            );
          expect(isConnectionError(failure)).toBe(true);
          expect((failure as ConnectionError).retryable).toBe(true);
          expect(await stored()).toEqual(before);
        }
        // Once `first` has expired, the same batch is stored as given: `again` replaces it outright.
        const later = at(8 * DAY);
        const batch = [fresh, again].map((r) => ({ ...r, updated: later, expiresAt: at(15 * DAY) }));
        await h.uow.transaction((tx) =>
          tx.connections.savePendingAsExpected(batch, batch.map(expectedOf), later),
        );
        expect(await stored()).toEqual(byId(batch));
      });
    });

    describe("savePending", () => {
      it("savePending inserts new invitations and returns them in input order", async () => {
        const p1 = pendingRecord();
        const p2 = emailInvite("new@example.test");
        const p0 = pendingRecord({ target: { account: OTHER_TARGET } });
        const out = await h.repo.savePending([p1, p2, p0], T0);
        expect(out).toEqual([p1, p2, p0]);
        expect(await stored()).toEqual(byId([p0, p1, p2]));
      });

      it("savePending merges into the creator's invitation to the same target: access higher, roles union, token, seal, expiry and name replaced", async () => {
        const first = pendingRecord({ access: 5, roles: [ROLE_1], target: { name: { first: "Old" } } });
        await h.repo.savePending([first], T0);
        const again = pendingRecord({
          access: 4,
          roles: [ROLE_2],
          target: { name: { first: "New" } },
          expiresAt: at(9 * DAY),
          updated: at(HOUR),
        });
        const [out] = await h.repo.savePending([again], at(HOUR));
        expect(out?._id).toBe(first._id);
        expect(out?.created).toEqual(first.created);
        expect(out?.access).toBe(5);
        expect([...(out?.roles ?? [])].sort()).toEqual([ROLE_1, ROLE_2]);
        expect(out?.tokenHash).toBe(again.tokenHash);
        expect(out?.tokenSeal).toBe(again.tokenSeal);
        expect(out?.expiresAt).toEqual(at(9 * DAY));
        expect(out?.target.name).toEqual({ first: "New" });
        expect(await stored()).toEqual([out]);
        expect(await h.repo.findPendingByTokenHash(ORG_A, first.tokenHash as string, at(HOUR))).toBeNull();
        expect(await h.repo.findPendingByTokenHash(ORG_A, again.tokenHash as string, at(HOUR))).toEqual(out);
      });

      it("savePending merging keeps the stored name when the new one has none, and sets an unset target account", async () => {
        const first = emailInvite("new@example.test", { target: { name: { first: "Nia" } } });
        await h.repo.savePending([first], T0);
        const again = emailInvite("new@example.test", { target: { account: TARGET, name: null } });
        const [out] = await h.repo.savePending([again], T0);
        expect(out?._id).toBe(first._id);
        expect(out?.target).toEqual({ account: TARGET, email: "new@example.test", name: { first: "Nia" } });
        expect(await stored()).toEqual([out]);
      });

      it("savePending raises the access of the creator's invitation when the new one asks more", async () => {
        const first = pendingRecord({ access: 2 });
        await h.repo.savePending([first], T0);
        const [out] = await h.repo.savePending([pendingRecord({ access: 5 })], T0);
        expect(out?._id).toBe(first._id);
        expect(out?.access).toBe(5);
      });

      it("savePending replaces an expired invitation to the same target outright", async () => {
        const old = pendingRecord({ access: 6, roles: [ROLE_1], expiresAt: at(DAY) });
        await h.repo.savePending([old], T0);
        const fresh = pendingRecord({ access: 2, created: at(2 * DAY), expiresAt: at(9 * DAY) });
        const [out] = await h.repo.savePending([fresh], at(2 * DAY));
        expect(out?.access).toBe(2);
        expect(out?.roles).toEqual([]);
        expect(out?.tokenHash).toBe(fresh.tokenHash);
        expect(out?.expiresAt).toEqual(at(9 * DAY));
        expect(await stored()).toEqual([out]);
        expect(await h.repo.findPendingByTokenHash(ORG_A, old.tokenHash as string, T0)).toBeNull();
      });

      it("savePending replacing an expired invitation stores the new record as given: its own _id and created", async () => {
        const old = pendingRecord({ access: 6, roles: [ROLE_1], expiresAt: at(DAY) });
        await h.repo.savePending([old], T0);
        const fresh = pendingRecord({
          access: 2,
          created: at(2 * DAY),
          updated: at(2 * DAY),
          expiresAt: at(9 * DAY),
        });
        expect(await h.repo.savePending([fresh], at(2 * DAY))).toEqual([fresh]);
        expect(await stored()).toEqual([fresh]);
        expect(await h.repo.findById(ORG_A, old._id, T0)).toBeNull();
      });

      it("savePending replacing an expired email invitation bound to an account keeps nothing of the binding", async () => {
        const old = emailInvite("bound@example.test", { expiresAt: at(DAY) });
        await h.repo.savePending([old], T0);
        expect(await h.repo.bindEmail(ORG_A, "bound@example.test", TARGET, at(HOUR))).toHaveLength(1);
        const fresh = emailInvite("bound@example.test", {
          created: at(2 * DAY),
          updated: at(2 * DAY),
          expiresAt: at(9 * DAY),
        });
        expect(await h.repo.savePending([fresh], at(2 * DAY))).toEqual([fresh]);
        expect(await stored()).toEqual([fresh]);
      });

      it("savePending keeps invitations of different creators, targets, contexts and orgs apart", async () => {
        const all = [
          pendingRecord(),
          pendingRecord({ creator: OTHER_CREATOR }),
          pendingRecord({ target: { account: OTHER_TARGET } }),
          pendingRecord({ context: { ...CTX_2 } }),
          pendingRecord({ context: { ...CTX_OTHER_OBJECT } }),
          emailInvite("new@example.test"),
          emailInvite("other@example.test"),
        ];
        await h.repo.savePending(all, T0);
        const b = pendingRecord({ org: ORG_B });
        await h.repo.savePending([b], T0);
        expect(await stored()).toEqual(byId(all));
        expect(await stored(ORG_B)).toEqual([b]);
      });
    });

    describe("saveActive", () => {
      it("saveActive inserts active connections and returns them in input order", async () => {
        const a1 = activeRecord();
        const a0 = activeRecord({ target: { account: OTHER_TARGET } });
        expect(await h.repo.saveActive([a1, a0])).toEqual([a1, a0]);
        expect(await stored()).toEqual(byId([a0, a1]));
      });

      it("saveActive merges into the active connection of the same context and account: access higher, roles union, stored _id wins", async () => {
        const first = activeRecord({ access: 4, roles: [ROLE_1] });
        await h.repo.saveActive([first]);
        const [out] = await h.repo.saveActive([
          activeRecord({ access: 6, roles: [ROLE_2], creator: OTHER_CREATOR }),
        ]);
        expect(out?._id).toBe(first._id);
        expect(out?.access).toBe(6);
        expect([...(out?.roles ?? [])].sort()).toEqual([ROLE_1, ROLE_2]);
        expect(await stored()).toEqual([out]);
        expect(await h.repo.activeAccess(ORG_A, CTX, TARGET)).toBe(6);
      });

      it("saveActive makes the incoming creator the creator when it raises the access, and keeps the stored one otherwise (docs/behaviour.md §7)", async () => {
        await h.repo.saveActive([activeRecord({ access: 4 })]);
        const [same] = await h.repo.saveActive([
          activeRecord({ access: 4, roles: [ROLE_2], creator: OTHER_CREATOR }),
        ]);
        expect(same?.creator).toBe(CREATOR);
        const [raised] = await h.repo.saveActive([activeRecord({ access: 6, creator: OTHER_CREATOR })]);
        expect(raised?.creator).toBe(OTHER_CREATOR);
        expect(await stored()).toEqual([raised]);
        const [lower] = await h.repo.saveActive([activeRecord({ access: 2, creator: CREATOR })]);
        expect(lower?.creator).toBe(OTHER_CREATOR);
      });

      it("saveActive never lowers the access of an active connection", async () => {
        const first = activeRecord({ access: 6 });
        await h.repo.saveActive([first]);
        const [out] = await h.repo.saveActive([activeRecord({ access: 2 })]);
        expect(out?._id).toBe(first._id);
        expect(out?.access).toBe(6);
        expect(await h.repo.activeAccess(ORG_A, CTX, TARGET)).toBe(6);
      });

      it("saveActive keeps one active connection per (org, context, account), and apart across them", async () => {
        await h.repo.saveActive([activeRecord(), activeRecord({ context: { ...CTX_2 } })]);
        await h.repo.saveActive([
          activeRecord({ context: { ...CTX_OTHER_OBJECT } }),
          activeRecord({ org: ORG_B }),
        ]);
        await h.repo.saveActive([activeRecord(), activeRecord({ org: ORG_B, access: 6 })]);
        expect(await stored()).toHaveLength(3);
        expect(await stored(ORG_B)).toHaveLength(1);
        expect(await h.repo.activeAccess(ORG_B, CTX, TARGET)).toBe(6);
        expect(await h.repo.activeAccess(ORG_A, CTX, TARGET)).toBe(4);
      });

      it("saveActive of a claimed invitation turns it active under its own id", async () => {
        const p = pendingRecord();
        await h.repo.savePending([p], T0);
        const claimed = (await h.repo.claimPending(ORG_A, p._id, T0)) as ConnectionRecord;
        const active = { ...claimed, state: 1 as const, tokenHash: null, tokenSeal: null, expiresAt: null };
        const [out] = await h.repo.saveActive([active]);
        expect(out).toEqual(active);
        expect(await stored()).toEqual([active]);
      });
    });

    describe("claimPending", () => {
      it("claimPending removes and returns the pending record", async () => {
        const p = pendingRecord();
        await h.repo.savePending([p], T0);
        expect(await h.repo.claimPending(ORG_A, p._id, T0)).toEqual(p);
        expect(await stored()).toEqual([]);
        expect(await h.repo.findPendingByTokenHash(ORG_A, p.tokenHash as string, T0)).toBeNull();
      });

      it("claimPending twice: the second call gets null", async () => {
        const p = pendingRecord();
        await h.repo.savePending([p], T0);
        expect(await h.repo.claimPending(ORG_A, p._id, T0)).not.toBeNull();
        expect(await h.repo.claimPending(ORG_A, p._id, T0)).toBeNull();
      });

      it("claimPending of an expired invitation resolves to null", async () => {
        const p = pendingRecord({ expiresAt: at(DAY) });
        await h.repo.savePending([p], T0);
        expect(await h.repo.claimPending(ORG_A, p._id, at(DAY))).toBeNull();
      });

      it("claimPending of an active connection resolves to null and leaves it", async () => {
        const a = activeRecord();
        await h.repo.saveActive([a]);
        expect(await h.repo.claimPending(ORG_A, a._id, T0)).toBeNull();
        expect(await stored()).toEqual([a]);
      });

      it("claimPending in another org resolves to null and leaves the record", async () => {
        const p = pendingRecord();
        await h.repo.savePending([p], T0);
        expect(await h.repo.claimPending(ORG_B, p._id, T0)).toBeNull();
        expect(await stored()).toEqual([p]);
      });

      itNeeds(factory.skip, "concurrency", "claimPending raced by 8 callers: exactly one wins", async () => {
        const p = pendingRecord();
        await h.repo.savePending([p], T0);
        const results = await Promise.all(
          Array.from({ length: 8 }, () =>
            h.uow.transaction((tx) => tx.connections.claimPending(ORG_A, p._id, T0)),
          ),
        );
        expect(results.filter((r) => r !== null)).toEqual([p]);
      });
    });

    describe("acceptPending", () => {
      /** The token hash acceptPending is given for the invitation `p`. */
      const ref = (p: ConnectionRecord) => p.tokenHash as string;
      /** TARGET presenting a token, with an email that no invitation of these cases names unless `email` is given. */
      const byTarget = (email = "target@example.test") => ({ account: TARGET, email });
      /** `p` activated for TARGET at `now`, as the domain's `activated` makes it. */
      const activeOf = (p: ConnectionRecord, now: Date): ConnectionRecord => ({
        ...p,
        state: 1,
        tokenHash: null,
        tokenSeal: null,
        expiresAt: null,
        updated: now,
      });

      it("acceptPending claims the invitation and stores it active under its own id, superseding nothing else", async () => {
        const p = pendingRecord({ access: 4, roles: [ROLE_1] });
        await h.repo.savePending([p], T0);
        const accepted = await h.repo.acceptPending(ORG_A, ref(p), byTarget(), at(HOUR));
        expect(accepted).toEqual({ claimed: p, active: activeOf(p, at(HOUR)), superseded: [] });
        expect(await stored()).toEqual([activeOf(p, at(HOUR))]);
        expect(await h.repo.activeAccess(ORG_A, CTX, TARGET)).toBe(4);
        expect(await h.repo.acceptPending(ORG_A, ref(p), byTarget(), at(HOUR)), "a second accept").toBeNull();
      });

      it("acceptPending binds an email invitation to the account presenting its email", async () => {
        const invite = emailInvite("new@example.test");
        await h.repo.savePending([invite], T0);
        expect(await h.repo.acceptPending(ORG_A, ref(invite), byTarget(), T0), "another email").toBeNull();
        const accepted = await h.repo.acceptPending(ORG_A, ref(invite), byTarget("new@example.test"), T0);
        expect(accepted?.active.target.account).toBe(TARGET);
        expect(await h.repo.activeAccess(ORG_A, CTX, TARGET)).toBe(invite.access);
      });

      it("acceptPending claims only a matching live invitation: otherwise null, and nothing written", async () => {
        const p = pendingRecord({ access: 4, expiresAt: at(DAY) });
        const other = pendingRecord({ access: 2, creator: OTHER_CREATOR, target: { account: OTHER_TARGET } });
        await h.repo.savePending([p, other], T0);
        await h.repo.saveActive([activeRecord({ target: { account: OTHER_TARGET } })]);
        const b = pendingRecord({ org: ORG_B });
        await h.repo.savePending([b], T0);
        // An email invitation bound to OTHER_TARGET: its email no longer opens it to anyone else.
        const bound = emailInvite("bound@example.test", { creator: THIRD_CREATOR });
        await h.repo.savePending([bound], T0);
        await h.repo.bindEmail(ORG_A, "bound@example.test", OTHER_TARGET, T0);
        const hash = ref(p);
        const flipped = hash.replace(/[a-z]/, (c) => c.toUpperCase());
        const before = await stored();
        const misses = [
          ["an unknown token hash", ORG_A, "no-such-hash", byTarget(), T0],
          ["the hash in another letter case", ORG_A, flipped, byTarget(), T0],
          ["another account", ORG_A, hash, { account: OTHER_TARGET, email: "target@example.test" }, T0],
          ["another target's token", ORG_A, ref(other), byTarget(), T0],
          [
            "an email invitation bound to another account",
            ORG_A,
            ref(bound),
            byTarget("bound@example.test"),
            T0,
          ],
          ["expired, at expiresAt", ORG_A, hash, byTarget(), at(DAY)],
          ["another org", ORG_B, hash, byTarget(), T0],
        ] as const;
        expect(flipped).not.toBe(hash);
        for (const [why, org, tokenHash, claimant, now] of misses) {
          expect(await h.repo.acceptPending(org, tokenHash, claimant, now), why).toBeNull();
        }
        expect(await stored()).toEqual(before);
        expect(await stored(ORG_B)).toEqual([b]);
      });

      it("acceptPending supersedes the target's pending invitations on the context at or below the stored access, only", async () => {
        const p = pendingRecord({ access: 4 });
        const equal = pendingRecord({ access: 4, creator: OTHER_CREATOR });
        const higher = pendingRecord({ access: 5, creator: THIRD_CREATOR });
        const keep = [
          higher,
          pendingRecord({ access: 2, creator: OTHER_CREATOR, target: { account: OTHER_TARGET } }),
          pendingRecord({ access: 2, creator: OTHER_CREATOR, context: { ...CTX_2 } }),
          emailInvite("new@example.test", { access: 2, creator: OTHER_CREATOR }),
        ];
        await h.repo.savePending([p, equal, ...keep], T0);
        const b = pendingRecord({ org: ORG_B, access: 2, creator: OTHER_CREATOR });
        await h.repo.savePending([b], T0);
        const accepted = await h.repo.acceptPending(ORG_A, ref(p), byTarget(), T0);
        expect(accepted?.superseded).toEqual([equal]);
        expect(await stored()).toEqual(byId([activeOf(p, T0), ...keep]));
        expect(await stored(ORG_B)).toEqual([b]);
      });

      it("acceptPending merges into the target's active connection as saveActive does: access never lowered, roles union, stored _id", async () => {
        const existing = activeRecord({ access: 6, roles: [ROLE_1], creator: OTHER_CREATOR });
        await h.repo.saveActive([existing]);
        const p = pendingRecord({ access: 4, roles: [ROLE_2] });
        const higher = pendingRecord({ access: 5, creator: THIRD_CREATOR });
        await h.repo.savePending([p, higher], T0);
        const accepted = await h.repo.acceptPending(ORG_A, ref(p), byTarget(), at(HOUR));
        expect(accepted?.claimed).toEqual(p);
        const active = accepted?.active as ConnectionRecord;
        expect(active._id).toBe(existing._id);
        expect(active.access).toBe(6);
        expect(active.creator, "the stored creator: the accept did not raise the access").toBe(OTHER_CREATOR);
        expect([...active.roles].sort()).toEqual([ROLE_1, ROLE_2]);
        expect(accepted?.superseded, "at or below the merged access").toEqual([higher]);
        expect(await stored()).toEqual([active]);
      });

      it("acceptPending that raises the access makes the invitation's creator the creator", async () => {
        const existing = activeRecord({ access: 2, creator: OTHER_CREATOR });
        await h.repo.saveActive([existing]);
        const p = pendingRecord({ access: 6 });
        await h.repo.savePending([p], T0);
        const active = (await h.repo.acceptPending(ORG_A, ref(p), byTarget(), T0))?.active;
        expect(active?._id).toBe(existing._id);
        expect(active?.access).toBe(6);
        expect(active?.creator).toBe(CREATOR);
        expect(await stored()).toEqual([active]);
      });

      it("acceptPending replaces an active connection whose access has ended outright, lower access and all", async () => {
        const ended = activeRecord({
          access: 6,
          roles: [ROLE_1],
          accessExpiresAt: at(HOUR),
          creator: OTHER_CREATOR,
        });
        await h.repo.saveActive([ended]);
        const p = pendingRecord({ access: 2 });
        await h.repo.savePending([p], T0);
        const accepted = await h.repo.acceptPending(ORG_A, ref(p), byTarget(), at(HOUR));
        expect(accepted?.active).toEqual(activeOf(p, at(HOUR)));
        expect(await stored()).toEqual([activeOf(p, at(HOUR))]);
        expect(await h.repo.activeAccess(ORG_A, CTX, TARGET)).toBe(2);
      });

      for (const inTransaction of [true, false]) {
        const where = inTransaction
          ? "in transactions holding the context's lock"
          : "outside any transaction";
        itNeeds(
          factory.skip,
          "concurrency",
          `acceptPending raced by 8 callers ${where}: exactly one wins`,
          async () => {
            const p = pendingRecord();
            await h.repo.savePending([p], T0);
            const accept = () =>
              inTransaction
                ? h.uow.transaction(async (tx) => {
                    await tx.connections.lockContext(ORG_A, CTX);
                    return tx.connections.acceptPending(ORG_A, ref(p), byTarget(), T0);
                  })
                : h.repo.acceptPending(ORG_A, ref(p), byTarget(), T0);
            const results = await Promise.all(Array.from({ length: 8 }, accept));
            expect(results.filter((r) => r !== null).map((r) => r?.claimed)).toEqual([p]);
            expect(await stored()).toEqual([activeOf(p, T0)]);
          },
        );
      }

      itNeeds(
        factory.skip,
        "concurrency",
        "acceptPending outside a transaction waits for the context's lock, then decides on what its holder wrote",
        async () => {
          const p = pendingRecord({ access: 4 });
          const lesser = pendingRecord({ access: 2, creator: OTHER_CREATOR });
          await h.repo.savePending([p], T0);
          const holder = await lockHolder([lesser]);
          const accept = h.repo.acceptPending(ORG_A, ref(p), byTarget(), T0);
          expect(
            await unsettledAfter(accept),
            "acceptPending returned while another transaction held the context's lock",
          ).toBe(true);
          holder.release();
          await holder.done;
          // The invitation the holder stored under the lock is superseded: the accept ran wholly after it.
          expect((await accept)?.superseded).toEqual([lesser]);
          expect(await stored()).toEqual([activeOf(p, T0)]);
        },
      );
    });

    describe("deleteSuperseded", () => {
      it("deleteSuperseded removes the target's pending invitations on the context at or below maxAccess, from any creator", async () => {
        const low = pendingRecord({ access: 2 });
        const equal = pendingRecord({ access: 4, creator: OTHER_CREATOR });
        const higher = pendingRecord({ access: 5, creator: THIRD_CREATOR });
        await h.repo.savePending([low, equal, higher], T0);
        const removed = await h.repo.deleteSuperseded(ORG_A, [
          { context: CTX, account: TARGET, maxAccess: 4 },
        ]);
        expect(byId(removed)).toEqual(byId([low, equal]));
        expect(await stored()).toEqual([higher]);
      });

      it("deleteSuperseded keeps exceptId, active connections, other accounts, contexts and orgs", async () => {
        const except = pendingRecord({ access: 2 });
        const keep = [
          except,
          activeRecord({ access: 2, creator: OTHER_CREATOR }),
          pendingRecord({ access: 2, target: { account: OTHER_TARGET } }),
          pendingRecord({ access: 2, context: { ...CTX_2 } }),
          pendingRecord({ access: 2, context: { ...CTX_OTHER_OBJECT } }),
          emailInvite("new@example.test", { access: 2 }),
        ];
        await h.repo.savePending(
          keep.filter((r) => r.state === 0),
          T0,
        );
        await h.repo.saveActive(keep.filter((r) => r.state === 1));
        const b = pendingRecord({ org: ORG_B, access: 2 });
        await h.repo.savePending([b], T0);
        const removed = await h.repo.deleteSuperseded(ORG_A, [
          { context: CTX, account: TARGET, maxAccess: 7, exceptId: except._id },
        ]);
        expect(removed).toEqual([]);
        expect(await stored()).toEqual(byId(keep));
        expect(await stored(ORG_B)).toEqual([b]);
      });

      it("deleteSuperseded removes an email invitation once it is bound to the account", async () => {
        const invite = emailInvite("new@example.test");
        await h.repo.savePending([invite], T0);
        await h.repo.bindEmail(ORG_A, "new@example.test", TARGET, T0);
        const removed = await h.repo.deleteSuperseded(ORG_A, [
          { context: CTX, account: TARGET, maxAccess: 7 },
        ]);
        expect(ids(removed)).toEqual([invite._id]);
        expect(await stored()).toEqual([]);
      });
    });

    describe("deleteById", () => {
      it("deleteById removes and returns a pending or active record; the second call gets null", async () => {
        const p = pendingRecord();
        const a = activeRecord({ target: { account: OTHER_TARGET } });
        await h.repo.savePending([p], T0);
        await h.repo.saveActive([a]);
        expect(await h.repo.deleteById(ORG_A, p._id)).toEqual(p);
        expect(await h.repo.deleteById(ORG_A, a._id)).toEqual(a);
        expect(await h.repo.deleteById(ORG_A, a._id)).toBeNull();
        expect(await stored()).toEqual([]);
      });

      it("deleteById of an expired invitation still removes it", async () => {
        const p = pendingRecord({ expiresAt: at(HOUR) });
        await h.repo.savePending([p], T0);
        expect(await h.repo.deleteById(ORG_A, p._id)).toEqual(p);
        expect(await stored()).toEqual([]);
      });

      it("deleteById in another org resolves to null and leaves the record", async () => {
        const a = activeRecord();
        await h.repo.saveActive([a]);
        expect(await h.repo.deleteById(ORG_B, a._id)).toBeNull();
        expect(await stored()).toEqual([a]);
      });
    });

    describe("list", () => {
      it("list by creator returns the creator's records, _id descending", async () => {
        const r1 = pendingRecord();
        const r2 = activeRecord({ target: { account: OTHER_TARGET } });
        const r3 = emailInvite("new@example.test", { context: { ...CTX_2 } });
        await h.repo.savePending([r1, r3], T0);
        await h.repo.saveActive([r2]);
        await h.repo.savePending([pendingRecord({ creator: OTHER_CREATOR })], T0);
        const page = await h.repo.list(ORG_A, query({ filter: { by: "creator", account: CREATOR } }));
        expect(page).toEqual({ records: [r3, r2, r1], hasMore: false });
      });

      it("list by target returns records to the account and unbound invitations to its email", async () => {
        const toAccount = pendingRecord();
        const toEmail = emailInvite("tara@example.test", { context: { ...CTX_2 } });
        const active = activeRecord({ context: { ...CTX_OTHER_OBJECT }, creator: OTHER_CREATOR });
        const boundElsewhere = emailInvite("tara@example.test", { creator: OTHER_CREATOR });
        await h.repo.savePending([toAccount, toEmail, boundElsewhere], T0);
        await h.repo.bindEmail(ORG_A, "tara@example.test", OTHER_TARGET, T0);
        // a second invitation to the email, after the first ones were bound to someone else: unbound again
        const unbound = emailInvite("tara@example.test", { creator: THIRD_CREATOR });
        await h.repo.savePending([unbound], T0);
        await h.repo.saveActive([active]);
        await h.repo.savePending(
          [pendingRecord({ target: { account: OTHER_TARGET }, creator: OTHER_CREATOR })],
          T0,
        );
        const page = await h.repo.list(
          ORG_A,
          query({ filter: { by: "target", account: TARGET, email: "tara@example.test" } }),
        );
        expect(ids(page.records)).toEqual([unbound._id, active._id, toAccount._id]);
        const noEmail = await h.repo.list(
          ORG_A,
          query({ filter: { by: "target", account: TARGET, email: null } }),
        );
        expect(ids(noEmail.records)).toEqual([active._id, toAccount._id]);
      });

      it("list by context returns every record on that context only", async () => {
        const r1 = pendingRecord();
        const r2 = activeRecord({ target: { account: OTHER_TARGET }, creator: OTHER_CREATOR });
        await h.repo.savePending([r1, pendingRecord({ context: { ...CTX_OTHER_OBJECT } })], T0);
        await h.repo.saveActive([r2, activeRecord({ context: { ...CTX_2 } })]);
        const page = await h.repo.list(ORG_A, query({ filter: { by: "context", context: CTX } }));
        expect(page.records).toEqual([r2, r1]);
      });

      it("list filters by state and by context object names", async () => {
        const p = pendingRecord();
        const a = activeRecord({ context: { ...CTX_OTHER_OBJECT } });
        await h.repo.savePending([p], T0);
        await h.repo.saveActive([a]);
        const f = { by: "creator", account: CREATOR } as const;
        expect(ids((await h.repo.list(ORG_A, query({ filter: f, state: 0 }))).records)).toEqual([p._id]);
        expect(ids((await h.repo.list(ORG_A, query({ filter: f, state: 1 }))).records)).toEqual([a._id]);
        expect(ids((await h.repo.list(ORG_A, query({ filter: f, objects: ["c_note"] }))).records)).toEqual([
          a._id,
        ]);
        expect(
          ids((await h.repo.list(ORG_A, query({ filter: f, objects: ["c_file", "c_note"] }))).records),
        ).toEqual([a._id, p._id]);
        expect((await h.repo.list(ORG_A, query({ filter: f, objects: ["c_other"] }))).records).toEqual([]);
      });

      it("list leaves out pending records expired at or before now, never active ones", async () => {
        const expiring = pendingRecord({ expiresAt: at(DAY) });
        const a = activeRecord({ target: { account: OTHER_TARGET } });
        await h.repo.savePending([expiring], T0);
        await h.repo.saveActive([a]);
        const f = { by: "creator", account: CREATOR } as const;
        expect(ids((await h.repo.list(ORG_A, query({ filter: f, now: at(DAY - 1) }))).records)).toEqual([
          a._id,
          expiring._id,
        ]);
        expect(ids((await h.repo.list(ORG_A, query({ filter: f, now: at(DAY) }))).records)).toEqual([a._id]);
      });

      it("list pages with limit, hasMore and startingAfter, in stable order with no duplicates", async () => {
        const made = Array.from({ length: 7 }, (_, i) =>
          pendingRecord({ target: { account: hostId(style, "6c", 0x100 + i) } }),
        );
        await h.repo.savePending(made, T0);
        const expected = ids(made).reverse();
        const seen: string[] = [];
        let cursor: string | undefined;
        for (;;) {
          const page = await h.repo.list(
            ORG_A,
            query({ filter: { by: "creator", account: CREATOR }, limit: 3, startingAfter: cursor }),
          );
          seen.push(...ids(page.records));
          expect(page.records.length).toBeLessThanOrEqual(3);
          if (!page.hasMore) break;
          cursor = page.records.at(-1)?._id;
        }
        expect(seen).toEqual(expected);
        const first = await h.repo.list(
          ORG_A,
          query({ filter: { by: "creator", account: CREATOR }, limit: 3 }),
        );
        expect(first.hasMore).toBe(true);
        const exact = await h.repo.list(
          ORG_A,
          query({ filter: { by: "creator", account: CREATOR }, limit: 7 }),
        );
        expect(exact.hasMore).toBe(false);
      });

      it("list with endingBefore returns the page just newer than the cursor, still newest first", async () => {
        const made = Array.from({ length: 5 }, (_, i) =>
          pendingRecord({ target: { account: hostId(style, "6c", 0x200 + i) } }),
        );
        await h.repo.savePending(made, T0);
        const [r1, r2, r3, r4, r5] = ids(made);
        const f = { by: "creator", account: CREATOR } as const;
        expect(await h.repo.list(ORG_A, query({ filter: f, limit: 2, endingBefore: r2 }))).toMatchObject({
          hasMore: true,
        });
        expect(
          ids((await h.repo.list(ORG_A, query({ filter: f, limit: 2, endingBefore: r2 }))).records),
        ).toEqual([r4, r3]);
        const last = await h.repo.list(ORG_A, query({ filter: f, limit: 2, endingBefore: r4 }));
        expect(ids(last.records)).toEqual([r5]);
        expect(last.hasMore).toBe(false);
        const none = await h.repo.list(ORG_A, query({ filter: f, limit: 2, endingBefore: r5 }));
        expect(none).toEqual({ records: [], hasMore: false });
        expect(
          ids((await h.repo.list(ORG_A, query({ filter: f, limit: 9, startingAfter: r2 }))).records),
        ).toEqual([r1]);
      });

      it("list never returns another org's records, by creator, target or context", async () => {
        await h.repo.savePending(
          [pendingRecord({ org: ORG_B }), emailInvite("tara@example.test", { org: ORG_B })],
          T0,
        );
        await h.repo.saveActive([activeRecord({ org: ORG_B, context: { ...CTX_2 } })]);
        const filters = [
          { by: "creator", account: CREATOR },
          { by: "target", account: TARGET, email: "tara@example.test" },
          { by: "context", context: CTX },
          { by: "context", context: CTX_2 },
        ] as const;
        for (const filter of filters) {
          expect(await h.repo.list(ORG_A, query({ filter }))).toEqual({ records: [], hasMore: false });
        }
      });
    });

    describe("bindEmail", () => {
      it("bindEmail binds the org's unbound pending invitations to the email and returns them", async () => {
        const i1 = emailInvite("new@example.test");
        const i2 = emailInvite("new@example.test", { creator: OTHER_CREATOR, context: { ...CTX_2 } });
        const other = emailInvite("other@example.test");
        const inB = emailInvite("new@example.test", { org: ORG_B });
        await h.repo.savePending([i1, i2, other], T0);
        await h.repo.savePending([inB], T0);
        const bound = await h.repo.bindEmail(ORG_A, "new@example.test", OTHER_TARGET, T0);
        const expected = [i1, i2].map((r) => ({ ...r, target: { ...r.target, account: OTHER_TARGET } }));
        expect(byId(bound)).toEqual(byId(expected));
        expect(await stored()).toEqual(byId([...expected, other]));
        expect(await stored(ORG_B)).toEqual([inB]);
        const listed = await h.repo.list(
          ORG_A,
          query({ filter: { by: "target", account: OTHER_TARGET, email: null } }),
        );
        expect(byId(listed.records)).toEqual(byId(expected));
      });

      it("bindEmail twice: the second call binds nothing", async () => {
        await h.repo.savePending([emailInvite("new@example.test")], T0);
        expect(await h.repo.bindEmail(ORG_A, "new@example.test", OTHER_TARGET, T0)).toHaveLength(1);
        expect(await h.repo.bindEmail(ORG_A, "new@example.test", TARGET, T0)).toEqual([]);
        expect((await stored())[0]?.target.account).toBe(OTHER_TARGET);
      });

      it("bindEmail leaves expired invitations unbound (an expired invitation is already gone)", async () => {
        const expired = emailInvite("new@example.test", { expiresAt: at(HOUR) });
        const live = emailInvite("new@example.test", { creator: OTHER_CREATOR, expiresAt: at(DAY) });
        await h.repo.savePending([expired, live], T0);
        const bound = await h.repo.bindEmail(ORG_A, "new@example.test", TARGET, at(HOUR));
        expect(ids(bound)).toEqual([live._id]);
        expect(await stored()).toEqual(
          byId([expired, { ...live, target: { ...live.target, account: TARGET }, updated: at(HOUR) }]),
        );
      });

      it("bindEmail leaves invitations already bound to an account alone", async () => {
        const toAccount = pendingRecord({
          target: { account: TARGET, email: "new@example.test" },
          viaEmail: true,
        });
        await h.repo.savePending([toAccount], T0);
        expect(await h.repo.bindEmail(ORG_A, "new@example.test", OTHER_TARGET, T0)).toEqual([]);
        expect(await stored()).toEqual([toAccount]);
      });
    });

    describe("purgeExpired", () => {
      it("purgeExpired removes and returns the org's pending records expired at or before now", async () => {
        const atNow = pendingRecord({ expiresAt: at(DAY) });
        const before = emailInvite("new@example.test", { expiresAt: at(HOUR) });
        const later = pendingRecord({ target: { account: OTHER_TARGET }, expiresAt: at(DAY + 1) });
        const active = activeRecord({ context: { ...CTX_2 } });
        const inB = pendingRecord({ org: ORG_B, expiresAt: at(HOUR) });
        await h.repo.savePending([atNow, before, later], T0);
        await h.repo.savePending([inB], T0);
        await h.repo.saveActive([active]);
        const removed = await h.repo.purgeExpired(ORG_A, at(DAY), 100);
        expect(byId(removed)).toEqual(byId([atNow, before]));
        expect(await stored()).toEqual(byId([later, active]));
        expect(await stored(ORG_B)).toEqual([inB]);
      });

      it("purgeExpired removes at most limit records per call", async () => {
        const expired = Array.from({ length: 3 }, (_, i) =>
          pendingRecord({
            target: { account: `6c00000000000000000003${i.toString(16).padStart(2, "0")}` },
            expiresAt: at(HOUR),
          }),
        );
        await h.repo.savePending(expired, T0);
        expect(await h.repo.purgeExpired(ORG_A, at(DAY), 2)).toHaveLength(2);
        expect(await stored()).toHaveLength(1);
        expect(await h.repo.purgeExpired(ORG_A, at(DAY), 2)).toHaveLength(1);
        expect(await h.repo.purgeExpired(ORG_A, at(DAY), 2)).toEqual([]);
        expect(await stored()).toEqual([]);
      });
    });

    describe("copies in and out", () => {
      it("mutating a returned record never changes what is stored", async () => {
        const p = pendingRecord({ roles: [ROLE_1], target: { name: { first: "Tara" } } });
        const [saved] = await h.repo.savePending([p], T0);
        const found = (await h.repo.findById(ORG_A, p._id, T0)) as ConnectionRecord;
        const listed = (await h.repo.list(ORG_A, query({ filter: { by: "creator", account: CREATOR } })))
          .records[0];
        for (const r of [saved, found, listed]) {
          if (r === undefined) throw new Error("expected a record");
          r.access = 7;
          r.roles.push(ROLE_2);
          r.context._id = CTX_2._id;
          (r.target.name as { first?: string }).first = "Mallory";
          r.target.account = OTHER_TARGET;
          (r.expiresAt as Date).setTime(0);
          r.created.setTime(0);
        }
        expect(await stored()).toEqual([p]);
      });

      it("mutating an input record after saving never changes what is stored", async () => {
        const p = pendingRecord({ roles: [ROLE_1], target: { name: { first: "Tara" } } });
        const a = activeRecord({ target: { account: OTHER_TARGET }, roles: [ROLE_1] });
        const pCopy = structuredClone(p);
        const aCopy = structuredClone(a);
        await h.repo.savePending([p], T0);
        await h.repo.saveActive([a]);
        for (const r of [p, a]) {
          r.access = 7;
          r.roles.push(ROLE_2);
          r.context._id = CTX_2._id;
          if (r.target.name !== null) r.target.name.first = "Mallory";
          r.created.setTime(0);
          r.expiresAt?.setTime(0);
        }
        expect(await stored()).toEqual(byId([pCopy, aCopy]));
      });
    });

    describe("units of work", () => {
      it("a unit of work that throws leaves nothing behind: records and outbox rolled back", async () => {
        const existing = pendingRecord({ access: 2 });
        const doomed = activeRecord({ target: { account: OTHER_TARGET } });
        const other = activeRecord({ context: { ...CTX_2 } });
        await h.repo.savePending([existing], T0);
        await h.repo.saveActive([other]);
        const before = await stored();
        const countsBefore = await h.uow.outbox.counts();
        const boom = new Error("boom: the unit of work fails");
        await expect(
          h.uow.transaction(async (tx) => {
            await tx.connections.savePending([pendingRecord({ access: 6, roles: [ROLE_1] })], T0);
            await tx.connections.savePending([emailInvite("new@example.test")], T0);
            await tx.connections.saveActive([doomed, activeRecord({ context: { ...CTX_2 }, access: 6 })]);
            await tx.connections.deleteById(ORG_A, other._id);
            await tx.connections.bindEmail(ORG_A, "new@example.test", TARGET, T0);
            await tx.outbox.enqueue([outboxMessage()]);
            throw boom;
          }),
        ).rejects.toThrow(boom.message);
        expect(await stored()).toEqual(before);
        expect(await h.uow.outbox.counts()).toEqual(countsBefore);
        expect(await h.uow.outbox.dueOrgs(at(DAY), at(DAY), 10)).toEqual([]);
      });

      it("a unit of work that throws after claimPending leaves the invitation claimable", async () => {
        const p = pendingRecord();
        await h.repo.savePending([p], T0);
        await expect(
          h.uow.transaction(async (tx) => {
            await tx.connections.claimPending(ORG_A, p._id, T0);
            await tx.connections.purgeExpired(ORG_A, at(30 * DAY), 10);
            throw new Error("boom");
          }),
        ).rejects.toThrow("boom");
        expect(await stored()).toEqual([p]);
        expect(await h.repo.claimPending(ORG_A, p._id, T0)).toEqual(p);
      });

      it("a unit of work that resolves commits every write and passes its result through", async () => {
        const p = pendingRecord();
        const message = outboxMessage();
        const result = await h.uow.transaction(async (tx) => {
          await tx.connections.savePending([p], T0);
          expect(await tx.connections.findById(ORG_A, p._id, T0)).toEqual(p);
          await tx.outbox.enqueue([message]);
          return "done";
        });
        expect(result).toBe("done");
        expect(await stored()).toEqual([p]);
        expect(await h.uow.outbox.counts()).toEqual({ pending: 1, delivered: 0, dead: 0 });
      });
    });

    // The outbox stores notices as they are (host ids only inside the payload): once, with the default style.
    if (style === "objectId") {
      outboxContract(() => ({ uow: h.uow, outboxNotice: (id) => h.backdoor.outboxNotice(id) }), factory.skip);
      endingGrantsContract(
        () => ({ uow: h.uow, allRecords: (org) => h.backdoor.allRecords(org) }),
        factory.skip,
      );
    }
  });
}
