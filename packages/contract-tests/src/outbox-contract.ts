import type { Outbox, OutboxMessage, UnitOfWork } from "@conn/core";
import { describe, expect, it } from "vitest";
import { itNeeds, type OptOuts } from "./capabilities.js";
import {
  activeRecord,
  at,
  DAY,
  HOUR,
  ORG_A,
  ORG_B,
  OTHER_TARGET,
  outboxMessage,
  pendingRecord,
  sealedNotice,
  T0,
  TARGET,
} from "./fixtures.js";

/** What the outbox suite works with: a unit of work whose outbox starts empty, and a way to read notices back. */
export interface OutboxHarness {
  uow: UnitOfWork;
  /** The notice of a message as stored (the back door), or null. */
  outboxNotice(id: string): Promise<{ tokenSeal: string | null; connectionId: string } | null>;
}

const fence = (m: OutboxMessage) => ({ org: m.org, id: m.id, claim: m.claim });

/**
 * The example-based conformance suite of the {@link Outbox}: per-org claims with leases and fencing tokens, settling,
 * retention and dead-letter operations. Registered inside the repository contract (it shares its harness).
 */
export function outboxContract(harness: () => OutboxHarness, skip?: OptOuts<"concurrency">): void {
  const outbox = (): Outbox => harness().uow.outbox;
  /** Enqueues a message of `org` due at `when`, and returns it. */
  const put = async (org = ORG_A, when = T0, notice = sealedNotice()) => {
    const m = { ...outboxMessage(when, notice), org };
    await outbox().enqueue([m]);
    return m;
  };

  describe("Outbox: claims", () => {
    it("enqueue then claim: the due message comes back with no attempts, claim 1 and its lease", async () => {
      const m = await put();
      expect(await outbox().counts()).toEqual({ pending: 1, delivered: 0, dead: 0 });
      expect(await outbox().claim(ORG_A, T0, 10, 60_000)).toEqual([
        { ...m, attempts: 0, lastError: null, claim: 1, leaseUntil: at(60_000) },
      ]);
    });

    it("claim hands out due messages in enqueue order, whatever their ids (ids are random)", async () => {
      const ids = ["ffffffffffffffffffffff01", "000000000000000000000a02", "7777777777777777777777b3"];
      await outbox().enqueue([{ ...outboxMessage(), id: ids[0] as string }]);
      await outbox().enqueue([
        { ...outboxMessage(), id: ids[1] as string },
        { ...outboxMessage(), id: ids[2] as string },
      ]);
      expect((await outbox().claim(ORG_A, T0, 10, 60_000)).map((m) => m.id)).toEqual(ids);
    });

    it("claim leaves messages that are not due yet, and those due after dueBy", async () => {
      const later = await put(ORG_A, at(HOUR));
      expect(await outbox().claim(ORG_A, T0, 10, 60_000)).toEqual([]);
      expect(await outbox().claim(ORG_A, at(HOUR), 10, 60_000, T0)).toEqual([]);
      expect((await outbox().claim(ORG_A, at(HOUR), 10, 60_000)).map((m) => m.id)).toEqual([later.id]);
    });

    it("dueOrgs and claim with since leave the messages due before it", async () => {
      const early = await put(ORG_A, at(-HOUR));
      await put(ORG_B, at(-HOUR));
      const recent = await put(ORG_A, at(-1));
      expect(await outbox().dueOrgs(T0, T0, 10, at(-2))).toEqual([ORG_A]);
      expect(await outbox().dueOrgs(T0, T0, 10, at(1))).toEqual([]);
      expect((await outbox().claim(ORG_A, T0, 10, 60_000, T0, at(-2))).map((m) => m.id)).toEqual([recent.id]);
      expect((await outbox().claim(ORG_A, T0, 10, 60_000, T0)).map((m) => m.id)).toEqual([early.id]);
    });

    it("claim takes at most limit messages; the rest stay claimable", async () => {
      await Promise.all([put(), put(), put()]);
      const first = await outbox().claim(ORG_A, T0, 2, 60_000);
      const second = await outbox().claim(ORG_A, T0, 2, 60_000);
      expect(first).toHaveLength(2);
      expect(second).toHaveLength(1);
      expect(new Set([...first, ...second].map((m) => m.id)).size).toBe(3);
    });

    it("claim serves one org: another org's messages are neither claimed nor touched", async () => {
      const a = await put(ORG_A);
      const b = await put(ORG_B, T0, sealedNotice({ org: { code: ORG_B, name: "B" } }));
      expect((await outbox().claim(ORG_A, T0, 10, 60_000)).map((m) => m.id)).toEqual([a.id]);
      expect((await outbox().claim(ORG_B, T0, 10, 60_000)).map((m) => m.id)).toEqual([b.id]);
    });

    it("dueOrgs lists the orgs with claimable messages, oldest due first, up to the limit", async () => {
      await put(ORG_B, at(-2 * HOUR));
      await put(ORG_A, at(-HOUR));
      await put("contract-org-c", at(HOUR));
      expect(await outbox().dueOrgs(T0, T0, 10)).toEqual([ORG_B, ORG_A]);
      expect(await outbox().dueOrgs(T0, T0, 1)).toEqual([ORG_B]);
      await outbox().claim(ORG_B, T0, 10, 60_000);
      expect(await outbox().dueOrgs(T0, T0, 10)).toEqual([ORG_A]);
      expect(await outbox().dueOrgs(T0, at(60_000), 10)).toEqual([ORG_B, ORG_A]);
    });

    it("a claimed message is not claimed again until its lease lapses; the next claim has the next token", async () => {
      const m = await put();
      expect(await outbox().claim(ORG_A, T0, 10, 1_000)).toHaveLength(1);
      expect(await outbox().claim(ORG_A, at(999), 10, 1_000)).toEqual([]);
      const again = await outbox().claim(ORG_A, at(1_000), 10, 1_000);
      expect(again.map((x) => [x.id, x.attempts, x.claim])).toEqual([[m.id, 0, 2]]);
    });

    it("renew extends a held lease; release gives the message back at once", async () => {
      await put();
      const [m] = await outbox().claim(ORG_A, T0, 10, 1_000);
      expect(await outbox().renew(fence(m as OutboxMessage), at(5_000))).toBe(true);
      expect(await outbox().claim(ORG_A, at(4_999), 10, 1_000)).toEqual([]);
      expect(await outbox().release(fence(m as OutboxMessage))).toBe(true);
      const [again] = await outbox().claim(ORG_A, at(1), 10, 1_000);
      expect(again).toMatchObject({ id: m?.id, attempts: 0, claim: 2 });
    });

    it("a claim taken over after its lease lapsed is fenced: renew, release and settle change nothing", async () => {
      const m = await put();
      const [stale] = (await outbox().claim(ORG_A, T0, 10, 1_000)) as OutboxMessage[];
      const [fresh] = (await outbox().claim(ORG_A, at(1_000), 10, 60_000)) as OutboxMessage[];
      const old = fence(stale as OutboxMessage);
      expect(await outbox().renew(old, at(90_000))).toBe(false);
      expect(await outbox().release(old)).toBe(false);
      expect(await outbox().markDelivered(old, at(1_500))).toBe(false);
      expect(await outbox().markFailed(old, "late", null, at(1_500))).toBe(false);
      expect(await outbox().counts()).toEqual({ pending: 1, delivered: 0, dead: 0 });
      expect(await outbox().claim(ORG_A, at(2_000), 10, 1_000)).toEqual([]);
      expect(await outbox().markDelivered(fence(fresh as OutboxMessage), at(2_000))).toBe(true);
      expect((await outbox().get(m.id, ORG_A))?.status).toBe("delivered");
    });
  });

  describe("Outbox: settling", () => {
    it("markDelivered: counted delivered, never claimed again, token seal dropped", async () => {
      const m = await put();
      const [c] = (await outbox().claim(ORG_A, T0, 10, 1_000)) as OutboxMessage[];
      expect(await outbox().markDelivered(fence(c as OutboxMessage), T0)).toBe(true);
      expect(await outbox().counts()).toEqual({ pending: 0, delivered: 1, dead: 0 });
      expect(await outbox().claim(ORG_A, at(30 * DAY), 10, 1_000)).toEqual([]);
      const notice = await harness().outboxNotice(m.id);
      expect(notice?.tokenSeal).toBeNull();
      expect(notice?.connectionId).toBe(m.notice.connectionId);
    });

    it("markFailed with retryAt: pending again, due at retryAt, attempts and lastError recorded", async () => {
      const m = await put();
      const [c] = (await outbox().claim(ORG_A, T0, 10, 60_000)) as OutboxMessage[];
      expect(await outbox().markFailed(fence(c as OutboxMessage), "smtp: 451", at(5_000), T0)).toBe(true);
      expect(await outbox().counts()).toEqual({ pending: 1, delivered: 0, dead: 0 });
      expect(await outbox().claim(ORG_A, at(4_999), 10, 60_000)).toEqual([]);
      const [retry] = await outbox().claim(ORG_A, at(5_000), 10, 60_000);
      expect(retry).toMatchObject({ id: m.id, attempts: 1, lastError: "smtp: 451", claim: 2 });
      expect(retry?.notice.tokenSeal).toBe(m.notice.tokenSeal);
    });

    it("markFailed with no retryAt dead-letters the message and drops its seal; it is never claimed again", async () => {
      const m = await put();
      const [c] = (await outbox().claim(ORG_A, T0, 10, 60_000)) as OutboxMessage[];
      await outbox().markFailed(fence(c as OutboxMessage), "smtp: 550 no such user", null, T0);
      expect(await outbox().counts()).toEqual({ pending: 0, delivered: 0, dead: 1 });
      expect(await outbox().claim(ORG_A, at(365 * DAY), 10, 60_000)).toEqual([]);
      expect((await harness().outboxNotice(m.id))?.tokenSeal).toBeNull();
    });

    it("stats: pending, dead, and the due backlog with its oldest due time (leased and future ones left out)", async () => {
      await put(ORG_A, at(-3_000));
      await put(ORG_B, at(-2_000), sealedNotice({ org: { code: ORG_B, name: "B" } }));
      await put(ORG_A, at(HOUR));
      await outbox().claim(ORG_A, T0, 1, 60_000);
      const dead = await put(ORG_A, at(-10_000));
      const [d] = (await outbox().claim(ORG_A, T0, 1, 60_000)) as OutboxMessage[];
      expect(d?.id).toBe(dead.id);
      await outbox().markFailed(fence(d as OutboxMessage), "bounced", null, T0);
      expect(await outbox().stats(T0)).toEqual({ pending: 3, dead: 1, due: 1, oldestDueAt: at(-2_000) });
      expect((await outbox().stats(at(60_000))).due).toBe(2);
    });
  });

  describe("Outbox: retention", () => {
    const deliver = async (org: string, when: Date) => {
      const m = await put(org, when, sealedNotice({ org: { code: org, name: org } }));
      const [c] = (await outbox().claim(org, when, 1, 60_000)) as OutboxMessage[];
      await outbox().markDelivered(fence(c as OutboxMessage), when);
      return m;
    };

    it("purges an org's deliveries older than the cut-off, oldest first, in batches; keeps the rest", async () => {
      const old = [await deliver(ORG_A, at(-3 * DAY)), await deliver(ORG_A, at(-2 * DAY))];
      const recent = await deliver(ORG_A, at(-HOUR));
      const other = await deliver(ORG_B, at(-3 * DAY));
      const pending = await put(ORG_A, at(-5 * DAY));
      expect(await outbox().purgeableOrgs(at(-DAY), 10)).toEqual(expect.arrayContaining([ORG_A, ORG_B]));
      expect(await outbox().purgeDelivered(ORG_A, at(-DAY), 1)).toBe(1);
      expect(await outbox().get(old[0]?.id as string)).toBeNull();
      expect(await outbox().purgeDelivered(ORG_A, at(-DAY), 10)).toBe(1);
      expect(await outbox().purgeDelivered(ORG_A, at(-DAY), 10)).toBe(0);
      expect(await outbox().purgeableOrgs(at(-DAY), 10)).toEqual([ORG_B]);
      for (const kept of [recent, other, pending]) expect(await outbox().get(kept.id)).not.toBeNull();
    });

    it("never purges dead letters", async () => {
      const m = await put();
      const [c] = (await outbox().claim(ORG_A, T0, 1, 60_000)) as OutboxMessage[];
      await outbox().markFailed(fence(c as OutboxMessage), "bounced", null, T0);
      expect(await outbox().purgeableOrgs(at(365 * DAY), 10)).toEqual([]);
      expect(await outbox().purgeDelivered(ORG_A, at(365 * DAY), 10)).toBe(0);
      expect((await outbox().get(m.id, ORG_A))?.status).toBe("dead");
    });
  });

  describe("Outbox: dead letters", () => {
    const kill = async (org: string, notice = sealedNotice({ org: { code: org, name: org } })) => {
      const m = await put(org, T0, notice);
      const [c] = (await outbox().claim(org, T0, 1, 60_000)) as OutboxMessage[];
      await outbox().markFailed(fence(c as OutboxMessage), "smtp: 550 mailbox unavailable", null, T0);
      return m;
    };

    it("list: one status, of one org or all, in (org, id) order, a page after a cursor, never a token seal", async () => {
      const a = [await kill(ORG_A), await kill(ORG_A)].sort((x, y) => (x.id < y.id ? -1 : 1));
      const b = await kill(ORG_B);
      await put(ORG_A);
      const all = await outbox().list({ status: "dead", limit: 10 });
      expect(all.map((e) => e.id)).toEqual([...a.map((m) => m.id), b.id]);
      expect(all[0]).toMatchObject({ org: ORG_A, status: "dead", attempts: 1 });
      expect(all[0]?.lastError).toContain("550");
      expect(all[0]?.notice).not.toHaveProperty("tokenSeal");
      const inA = await outbox().list({ status: "dead", org: ORG_A, limit: 1 });
      expect(inA.map((e) => e.id)).toEqual([a[0]?.id]);
      const next = await outbox().list({
        status: "dead",
        org: ORG_A,
        limit: 5,
        after: { org: ORG_A, id: inA[0]?.id as string },
      });
      expect(next.map((e) => e.id)).toEqual([a[1]?.id]);
      const rest = await outbox().list({
        status: "dead",
        limit: 5,
        after: { org: ORG_A, id: a[1]?.id as string },
      });
      expect(rest.map((e) => e.id)).toEqual([b.id]);
      expect((await outbox().list({ status: "pending", limit: 5 })).length).toBe(1);
    });

    it("get: by id, or by org and id; another org's id is not found; no token seal is shown", async () => {
      const m = await put();
      const entry = await outbox().get(m.id);
      expect(entry).toMatchObject({
        id: m.id,
        org: ORG_A,
        status: "pending",
        attempts: 0,
        deliveredAt: null,
      });
      expect(entry?.notice).not.toHaveProperty("tokenSeal");
      expect(JSON.stringify(entry)).not.toContain(m.notice.tokenSeal as string);
      expect(await outbox().get(m.id, ORG_A)).toEqual(entry);
      expect(await outbox().get(m.id, ORG_B)).toBeNull();
    });

    it("requeue a dead notice that carries no token: pending, due now, attempts reset, claimable", async () => {
      const m = await kill(
        ORG_A,
        sealedNotice({ kind: "connection-created", tokenSeal: null, acceptUrlBase: null }),
      );
      expect(await outbox().requeue(ORG_A, m.id, at(HOUR))).toBe("requeued");
      const [c] = await outbox().claim(ORG_A, at(HOUR), 10, 60_000);
      expect(c).toMatchObject({ id: m.id, attempts: 0, availableAt: at(HOUR) });
      expect(c?.lastError).toContain("550");
    });

    it("requeue an invitation: it takes the current seal and expiry of its still-pending connection", async () => {
      const record = pendingRecord({ tokenSeal: "seal-of-the-current-token", expiresAt: at(3 * DAY) });
      await harness().uow.connections.savePending([record], T0);
      const m = await kill(ORG_A, sealedNotice({ connectionId: record._id }));
      expect((await harness().outboxNotice(m.id))?.tokenSeal).toBeNull();
      expect(await outbox().requeue(ORG_A, m.id, at(HOUR))).toBe("requeued");
      const [c] = await outbox().claim(ORG_A, at(HOUR), 10, 60_000);
      expect(c?.notice.tokenSeal).toBe("seal-of-the-current-token");
      expect(c?.notice.expiresAt).toEqual(at(3 * DAY));
    });

    it("requeue refuses an invitation whose connection is gone, expired or in another org", async () => {
      const gone = await kill(ORG_A);
      expect(await outbox().requeue(ORG_A, gone.id, T0)).toBe("invitationClosed");
      const record = pendingRecord({ expiresAt: at(DAY) });
      await harness().uow.connections.savePending([record], T0);
      const expired = await kill(ORG_A, sealedNotice({ connectionId: record._id }));
      expect(await outbox().requeue(ORG_A, expired.id, at(DAY))).toBe("invitationClosed");
      const elsewhere = await kill(ORG_B, sealedNotice({ connectionId: record._id }));
      expect(await outbox().requeue(ORG_B, elsewhere.id, T0)).toBe("invitationClosed");
      expect((await outbox().get(gone.id))?.status).toBe("dead");
    });

    /** A dead access-ending notice of `org` about the grant `record`, naming `endsAt`. */
    const deadEnding = (org: string, record: { _id: string }, endsAt: Date) =>
      kill(
        org,
        sealedNotice({
          kind: "access-ending",
          org: { code: org, name: org },
          connectionId: record._id,
          tokenSeal: null,
          acceptUrlBase: null,
          expiresAt: null,
          accessEnding: { endsAt, audience: "target", target: { account: TARGET, name: null } },
        }),
      );

    it("requeue an access-ending notice whose grant still ends at the instant it names: requeued as it is, no seal added", async () => {
      const grant = activeRecord({ accessExpiresAt: at(2 * DAY) });
      await harness().uow.connections.saveActive([grant]);
      const m = await deadEnding(ORG_A, grant, at(2 * DAY));
      expect(await outbox().requeue(ORG_A, m.id, at(HOUR))).toBe("requeued");
      const [c] = await outbox().claim(ORG_A, at(HOUR), 10, 60_000);
      expect(c).toMatchObject({ id: m.id, attempts: 0, availableAt: at(HOUR) });
      expect(c?.notice).toEqual(m.notice);
      expect(c?.notice.accessEnding?.endsAt).toEqual(at(2 * DAY));
      expect(c?.notice.tokenSeal).toBeNull();
    });

    it("requeue refuses an access-ending notice whose grant ended, moved its end, was deleted, or is another org's: grantChanged", async () => {
      const grant = activeRecord({ accessExpiresAt: at(2 * DAY) });
      await harness().uow.connections.saveActive([grant]);
      const ended = await deadEnding(ORG_A, grant, at(2 * DAY));
      expect(await outbox().requeue(ORG_A, ended.id, at(2 * DAY)), "at the end itself").toBe("grantChanged");
      const elsewhere = await deadEnding(ORG_B, grant, at(2 * DAY));
      expect(await outbox().requeue(ORG_B, elsewhere.id, T0)).toBe("grantChanged");
      const stale = await deadEnding(ORG_A, grant, at(DAY));
      expect(await outbox().requeue(ORG_A, stale.id, T0), "the grant ends at another instant").toBe(
        "grantChanged",
      );
      const pending = pendingRecord({ target: { account: OTHER_TARGET }, accessExpiresAt: at(2 * DAY) });
      await harness().uow.connections.savePending([pending], T0);
      const notActive = await deadEnding(ORG_A, pending, at(2 * DAY));
      expect(await outbox().requeue(ORG_A, notActive.id, T0), "a pending invitation is no grant").toBe(
        "grantChanged",
      );
      const live = await deadEnding(ORG_A, grant, at(2 * DAY));
      await harness().uow.connections.deleteById(ORG_A, grant._id);
      expect(await outbox().requeue(ORG_A, live.id, T0), "deleted").toBe("grantChanged");
      for (const m of [ended, elsewhere, stale, notActive, live])
        expect((await outbox().get(m.id))?.status).toBe("dead");
    });

    it("requeue a connection-created notice whose connection is gone: it carries no link, so it is requeued", async () => {
      const created = activeRecord();
      await harness().uow.connections.saveActive([created]);
      const m = await kill(
        ORG_A,
        sealedNotice({
          kind: "connection-created",
          connectionId: created._id,
          tokenSeal: null,
          acceptUrlBase: null,
        }),
      );
      await harness().uow.connections.deleteById(ORG_A, created._id);
      expect(await outbox().requeue(ORG_A, m.id, T0)).toBe("requeued");
      expect((await harness().outboxNotice(m.id))?.tokenSeal).toBeNull();
    });

    it("requeue: notFound for an unknown id or another org's, notDead for a pending or delivered message", async () => {
      const dead = await kill(ORG_A, sealedNotice({ kind: "connection-created", tokenSeal: null }));
      expect(await outbox().requeue(ORG_B, dead.id, T0)).toBe("notFound");
      expect(await outbox().requeue(ORG_A, "0123456789abcdef01234567", T0)).toBe("notFound");
      const pending = await put();
      expect(await outbox().requeue(ORG_A, pending.id, T0)).toBe("notDead");
    });

    it("purgeDead deletes a dead letter of its org only, and nothing that is not dead", async () => {
      const dead = await kill(ORG_A);
      const pending = await put();
      expect(await outbox().purgeDead(ORG_B, dead.id)).toBe(false);
      expect(await outbox().purgeDead(ORG_A, pending.id)).toBe(false);
      expect(await outbox().purgeDead(ORG_A, dead.id)).toBe(true);
      expect(await outbox().purgeDead(ORG_A, dead.id)).toBe(false);
      expect(await outbox().counts()).toEqual({ pending: 1, delivered: 0, dead: 0 });
    });
  });

  itNeeds(skip, "concurrency", "Outbox: claim raced by 4 relays: each message is claimed once", async () => {
    await outbox().enqueue(Array.from({ length: 6 }, () => outboxMessage()));
    const batches = await Promise.all(Array.from({ length: 4 }, () => outbox().claim(ORG_A, T0, 6, 60_000)));
    const claimed = batches.flat().map((m) => m.id);
    expect(claimed).toHaveLength(6);
    expect(new Set(claimed).size).toBe(6);
  });
}
