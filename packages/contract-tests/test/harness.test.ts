/**
 * The harness's own tests: the model-based suite must catch a deliberately broken adapter. Each case wraps the
 * in-memory repository so that one rule breaks, runs the model, and asserts that the property fails for the
 * reason the break should cause. The unbroken wrapper passing shows the failures come from the breaks.
 */
import { createInMemoryConnections } from "@conn/adapter-memory";
import { type ConnectionRepository, createConnections, type UnitOfWork } from "@conn/core";
import { describe, expect, it } from "vitest";
import {
  checkAccessEndingModel,
  checkFacadeModel,
  type NoticeWorld,
  type NoticeWorldFactory,
} from "../src/index.js";

type Break = (repo: ConnectionRepository) => Partial<ConnectionRepository>;

/** Every method of `repo`, delegating, with `overrides` in place of some. */
function wrap(repo: ConnectionRepository, overrides: Partial<ConnectionRepository>): ConnectionRepository {
  return {
    lockContext: (...a) => repo.lockContext(...a),
    findById: (...a) => repo.findById(...a),
    findPendingByTokenHash: (...a) => repo.findPendingByTokenHash(...a),
    activeAccess: (...a) => repo.activeAccess(...a),
    findForCreate: (...a) => repo.findForCreate(...a),
    savePending: (...a) => repo.savePending(...a),
    savePendingAsExpected: (...a) => repo.savePendingAsExpected(...a),
    saveActive: (...a) => repo.saveActive(...a),
    claimPending: (...a) => repo.claimPending(...a),
    acceptPending: (...a) => repo.acceptPending(...a),
    deleteSuperseded: (...a) => repo.deleteSuperseded(...a),
    deleteById: (...a) => repo.deleteById(...a),
    list: (...a) => repo.list(...a),
    bindEmail: (...a) => repo.bindEmail(...a),
    purgeExpired: (...a) => repo.purgeExpired(...a),
    purgeExpiredGrants: (...a) => repo.purgeExpiredGrants(...a),
    findEndingGrants: (...a) => repo.findEndingGrants(...a),
    markEndNoticed: (...a) => repo.markEndNoticed(...a),
    ...overrides,
  };
}

/** The in-memory world with its repository (inside and outside units of work) broken by `broken`. */
function worldWith(broken: Break): NoticeWorldFactory {
  return {
    async setup(): Promise<NoticeWorld> {
      const lib = createInMemoryConnections();
      const { store } = lib;
      const breakRepo = (repo: ConnectionRepository) => wrap(repo, broken(repo));
      const brokenStore: UnitOfWork = {
        connections: breakRepo(store.connections),
        outbox: store.outbox,
        shareLinks: store.shareLinks,
        transaction: (work) =>
          store.transaction((tx) => work({ ...tx, connections: breakRepo(tx.connections) })),
      };
      const { accounts, contexts, orgs, tokens, ids, clock } = lib;
      return {
        connections: createConnections({ store: brokenStore, accounts, contexts, orgs, tokens, ids, clock }),
        clock,
        outbox: store.outbox,
        addOrg: (settings) => {
          orgs.put(settings);
        },
        addAccount: (org, account) => {
          accounts.put(org, account);
        },
        defineObject: (org, settings) => {
          contexts.defineObject(org, settings);
        },
        grantHostAccess: (org, account, context, level) => contexts.grant(org, account, context, level),
      };
    },
  };
}

/** Fixed seed so the harness tests are reproducible; no shrinking, the first failure is enough. */
const run = { numRuns: 300, seed: 20260101, endOnFailure: true } as const;

describe("the facade model harness", () => {
  it("passes the unbroken wrapper (so the failures below come from the breaks)", async () => {
    await expect(
      checkFacadeModel(
        worldWith(() => ({})),
        { ...run, numRuns: 40 },
      ),
    ).resolves.toBeUndefined();
  }, 120_000);

  it("fails when activeAccess reports one level more than stored (resolveAccess ≠ model)", async () => {
    const broken = worldWith((repo) => ({
      activeAccess: async (org, context, account) => {
        const level = await repo.activeAccess(org, context, account);
        return level === null ? null : ((level + 1) as typeof level);
      },
    }));
    await expect(checkFacadeModel(broken, run)).rejects.toThrow(/resolveAccess on context/);
  }, 120_000);

  it("fails when saveActive does not merge into the existing active connection", async () => {
    const broken = worldWith((repo) => ({
      saveActive: async (records) => {
        for (const r of records) {
          const snapshot = await repo.findForCreate(
            r.org,
            r.context,
            r.creator,
            { accounts: r.target.account === null ? [] : [r.target.account], emails: [] },
            new Date(0),
          );
          for (const existing of snapshot.active) await repo.deleteById(r.org, existing._id);
        }
        return repo.saveActive(records);
      },
    }));
    await expect(checkFacadeModel(broken, run)).rejects.toThrow(/access|roles|id/);
  }, 120_000);

  it("fails when an expired invitation's token still resolves", async () => {
    const broken = worldWith((repo) => ({
      findPendingByTokenHash: (org, hash) => repo.findPendingByTokenHash(org, hash, new Date(0)),
    }));
    await expect(checkFacadeModel(broken, run)).rejects.toThrow(
      /token of \w+ \(model-org-\w\) is expired or retired/,
    );
  }, 120_000);

  it("fails when a list leaks the other org's connections", async () => {
    const other = (org: string) => (org === "model-org-a" ? "model-org-b" : "model-org-a");
    const broken = worldWith((repo) => ({
      list: async (org, query) => {
        const [mine, theirs] = await Promise.all([repo.list(org, query), repo.list(other(org), query)]);
        return { records: [...mine.records, ...theirs.records], hasMore: mine.hasMore || theirs.hasMore };
      },
    }));
    await expect(checkFacadeModel(broken, run)).rejects.toThrow(/another org's connections listed/);
  }, 120_000);

  it("fails when a create grants the caller's own level (access + 1 on new invitations)", async () => {
    const raised = <T extends { access: number }>(r: T): T => ({ ...r, access: Math.min(8, r.access + 1) });
    const broken = worldWith((repo) => ({
      savePending: (records, now) => repo.savePending(records.map(raised), now),
      // What create stores: the record and what it should become, both raised (so the store's own check passes).
      savePendingAsExpected: (records, expected, now) =>
        repo.savePendingAsExpected(records.map(raised), expected.map(raised), now),
    }));
    await expect(checkFacadeModel(broken, run)).rejects.toThrow(/granted \d, the creator holds|access/);
  }, 120_000);
});

describe("the access-ending model harness", () => {
  it("passes the unbroken wrapper", async () => {
    await expect(
      checkAccessEndingModel(
        worldWith(() => ({})),
        { ...run, numRuns: 60 },
      ),
    ).resolves.toBeUndefined();
  }, 120_000);

  it("fails when marking a grant's end never takes (each sweep tells it again)", async () => {
    const broken = worldWith((repo) => ({
      markEndNoticed: async (org, grants, now) => {
        const found = await Promise.all(grants.map((g) => repo.findById(org, g.id, now)));
        return found.filter((r): r is NonNullable<typeof r> => r !== null && r.state === 1);
      },
    }));
    await expect(checkAccessEndingModel(broken, run)).rejects.toThrow(/no end told twice|grants noticed/);
  }, 120_000);

  it("fails when the sweep reaches grants that have already ended", async () => {
    const broken = worldWith((repo) => ({
      findEndingGrants: (org, query) => repo.findEndingGrants(org, { ...query, now: new Date(0) }),
      markEndNoticed: (org, grants) => repo.markEndNoticed(org, grants, new Date(0)),
    }));
    await expect(checkAccessEndingModel(broken, run)).rejects.toThrow(
      /names its live grant's current end|within the lead time, not past/,
    );
  }, 120_000);
});
