import {
  type AccessLevel,
  type ConnectionView,
  type ContextRef,
  isConnectionError,
  type Principal,
  type ShareLinkView,
} from "@conn/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { World, WorldFactory } from "./facade-model-contract.js";

const DAY = 24 * 60 * 60 * 1000;
const ORG = "links-org";
const OTHER_ORG = "links-org-b";
const CTX: ContextRef = { object: "c_file", _id: "7f0000000000000000000f01" };
const CLOSED: ContextRef = { object: "c_closed", _id: "7f0000000000000000000f02" };

/** The owner of the context (Delete, 7, through the host). */
const OWNER = "7c0000000000000000000001";
/** A Share (5) holder through the host. */
const SHARER = "7c0000000000000000000002";
/** Another Share holder, with the same access as {@link SHARER}. */
const PEER = "7c0000000000000000000003";
/** A Read (4) holder through the host. */
const READER = "7c0000000000000000000004";
/** An account that is not verified. */
const UNVERIFIED = "7c0000000000000000000005";
/** An account of another email domain. */
const OUTSIDER = "7c0000000000000000000006";
/** Redeemers r0..r59, verified, at example.org. */
const redeemer = (i: number) => `7d${i.toString(16).padStart(22, "0")}`;
const REDEEMERS = 60;

const as = (accountId: string | null, org = ORG): Principal => ({ org, accountId });

/** Builds a world with the accounts and access the suite needs. */
async function linkWorld(factory: WorldFactory): Promise<World> {
  const w = await factory.setup();
  for (const org of [ORG, OTHER_ORG]) {
    await w.addOrg({ code: org, name: `Org ${org}` });
    await w.defineObject(org, { name: "c_file", allowConnections: true });
    await w.defineObject(org, { name: "c_closed", allowConnections: false });
  }
  const account = (_id: string, email: string, verified = true) => ({
    _id,
    email,
    name: { first: _id.slice(-4) },
    verified,
  });
  await w.addAccount(ORG, account(OWNER, "owner@example.org"));
  await w.addAccount(ORG, account(SHARER, "sharer@example.org"));
  await w.addAccount(ORG, account(PEER, "peer@example.org"));
  await w.addAccount(ORG, account(READER, "reader@example.org"));
  await w.addAccount(ORG, account(UNVERIFIED, "unverified@example.org", false));
  await w.addAccount(ORG, account(OUTSIDER, "outsider@other.org"));
  await w.addAccount(OTHER_ORG, account(redeemer(0), "r0@example.org"));
  for (let i = 0; i < REDEEMERS; i++) await w.addAccount(ORG, account(redeemer(i), `r${i}@example.org`));
  await w.grantHostAccess(ORG, OWNER, CTX, 7);
  await w.grantHostAccess(ORG, SHARER, CTX, 5);
  await w.grantHostAccess(ORG, PEER, CTX, 5);
  await w.grantHostAccess(ORG, READER, CTX, 4);
  await w.grantHostAccess(ORG, OWNER, CLOSED, 7);
  return w;
}

/** The code a call fails with ("ok" when it succeeds); anything but a `ConnectionError` fails the test. */
async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (error) {
    if (isConnectionError(error)) return error.code;
    throw error;
  }
}

/** Runs `body` on a fresh link world, tearing it down after. */
function withWorld(factory: WorldFactory, body: (w: World) => Promise<void>): () => Promise<void> {
  return async () => {
    const w = await linkWorld(factory);
    try {
      await body(w);
    } finally {
      await factory.teardown?.(w);
    }
  };
}

/** Options of {@link shareLinkContract}. */
export interface ShareLinkContractOptions {
  /** Sequences of the model-based case (default 100, or `CONN_FC_RUNS`). */
  numRuns?: number;
  /** Test timeout in ms of the model-based and concurrent cases (default 300 000). */
  timeout?: number;
}

/**
 * The share-link suite: every rule of share links through the facade over the adapter under test, the "50 at once
 * on a 10-use link" race, and a model-based run with a clock that moves.
 */
export function shareLinkContract(
  name: string,
  factory: WorldFactory,
  options: ShareLinkContractOptions = {},
): void {
  const timeout = options.timeout ?? 300_000;
  describe(`share links: ${name}`, () => {
    it(
      "createShareLink clamps the level as any grant and shows the token in its answer only",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const byOwner = await c.createShareLink(as(OWNER), CTX, { access: 7, uses: 3 });
        expect(byOwner).toMatchObject({
          object: "shareLink",
          access: 5,
          usesAllowed: 3,
          usesLeft: 3,
          status: "active",
          emailDomain: null,
          revokedAt: null,
          creator: { _id: OWNER },
          context: { _id: CTX._id, object: "c_file", path: `/c_files/${CTX._id}` },
        });
        expect(byOwner.token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
        expect(byOwner.expiresAt.getTime() - w.clock.now().getTime()).toBe(7 * DAY);
        const bySharer = await c.createShareLink(as(SHARER), CTX, { access: 6, expiresInDays: 2 });
        expect(bySharer).toMatchObject({ access: 4, usesAllowed: 1 });
        expect(bySharer.expiresAt.getTime() - w.clock.now().getTime()).toBe(2 * DAY);
        const defaults = await c.createShareLink(as(SHARER), CTX);
        expect(defaults.access).toBe(2);
        const read = await c.getShareLink(as(OWNER), byOwner._id);
        expect(read.token).toBeUndefined();
        const list = await c.listShareLinks(as(OWNER), CTX);
        expect(list.data.map((l) => l._id)).toEqual(
          [defaults._id, bySharer._id, byOwner._id].sort().reverse(),
        );
        expect(list.data.every((l) => l.token === undefined)).toBe(true);
        expect(JSON.stringify(list)).not.toContain(byOwner.token as string);
      }),
    );

    it(
      "createShareLink refuses bad input with a clear error and writes nothing",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const bad: [unknown, string][] = [
          [{ uses: 0 }, "uses"],
          [{ uses: 1001 }, "uses"],
          [{ uses: 1.5 }, "uses"],
          [{ expiresInDays: 0 }, "expiresInDays"],
          [{ expiresInDays: 91 }, "expiresInDays"],
          [{ emailDomain: "not a domain" }, "emailDomain"],
          [{ emailDomain: "@example.org" }, "emailDomain"],
          [{ access: "5" }, "access"],
          [{ roles: ["x"] }, "link"],
        ];
        for (const [input, path] of bad) {
          const error = await c.createShareLink(as(OWNER), CTX, input as never).then(
            () => null,
            (e: unknown) => e,
          );
          expect(isConnectionError(error, "cortex.invalidArgument.unspecified"), JSON.stringify(input)).toBe(
            true,
          );
          expect((error as { path?: string }).path, JSON.stringify(input)).toBe(path);
        }
        expect(await codeOf(c.createShareLink(as(OWNER), { object: "c_file", _id: "bad id" }))).toBe(
          "cortex.invalidArgument.unspecified",
        );
        expect((await c.listShareLinks(as(OWNER), CTX)).data).toEqual([]);
      }),
    );

    it(
      "createShareLink checks as create does: logged in, connections allowed, verified, Share",
      withWorld(factory, async (w) => {
        const c = w.connections;
        expect(await codeOf(c.createShareLink(as(null), CTX))).toBe("cortex.accessDenied.notLoggedIn");
        expect(await codeOf(c.createShareLink(as(OWNER), CLOSED))).toBe(
          "cortex.accessDenied.connectionsDisabled",
        );
        await w.grantHostAccess(ORG, UNVERIFIED, CTX, 7);
        expect(await codeOf(c.createShareLink(as(UNVERIFIED), CTX))).toBe(
          "cortex.accessDenied.connectionRequiresVerification",
        );
        expect(await codeOf(c.createShareLink(as(READER), CTX))).toBe("cortex.accessDenied.shareAccess");
        expect(await codeOf(c.listShareLinks(as(READER), CTX))).toBe("cortex.accessDenied.shareAccess");
        expect((await c.listShareLinks(as(OWNER), CTX)).data).toEqual([]);
      }),
    );

    it(
      "redeemShareLink gives an active connection at the link's level and takes one use",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const link = await c.createShareLink(as(OWNER), CTX, { access: 4, uses: 2 });
        const conn = await c.redeemShareLink(as(redeemer(1)), link.token as string);
        expect(conn).toMatchObject({
          object: "connection",
          state: 1,
          access: 4,
          creator: { _id: OWNER },
          target: { account: { _id: redeemer(1) } },
        });
        expect(conn.token).toBeUndefined();
        expect(await c.resolveAccess(ORG, redeemer(1), CTX)).toBe(4);
        expect((await c.getShareLink(as(OWNER), link._id)).usesLeft).toBe(1);
        expect((await c.list(as(redeemer(1)))).data.map((v) => v._id)).toEqual([conn._id]);
      }),
    );

    it(
      "redeemShareLink upgrades a lesser connection and never lowers one (a redeemer already holding as much takes no use)",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const low = await c.createShareLink(as(OWNER), CTX, { access: 2, uses: 5 });
        const high = await c.createShareLink(as(OWNER), CTX, { access: 4, uses: 5 });
        const first = await c.redeemShareLink(as(redeemer(2)), low.token as string);
        expect(first.access).toBe(2);
        const up = await c.redeemShareLink(as(redeemer(2)), high.token as string);
        expect(up).toMatchObject({ _id: first._id, access: 4 });
        const again = await c.redeemShareLink(as(redeemer(2)), low.token as string);
        expect(again).toMatchObject({ _id: first._id, access: 4 });
        const twice = await c.redeemShareLink(as(redeemer(2)), high.token as string);
        expect(twice).toMatchObject({ _id: first._id, access: 4 });
        expect(await c.resolveAccess(ORG, redeemer(2), CTX)).toBe(4);
        expect((await c.getShareLink(as(OWNER), low._id)).usesLeft).toBe(4);
        expect((await c.getShareLink(as(OWNER), high._id)).usesLeft).toBe(4);
      }),
    );

    it(
      "a used-up link redeems nothing (conflict.shareLinkUsedUp), shows as usedUp, and its connections stay",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const link = await c.createShareLink(as(OWNER), CTX, { access: 4, uses: 2 });
        await c.redeemShareLink(as(redeemer(3)), link.token as string);
        await c.redeemShareLink(as(redeemer(4)), link.token as string);
        expect(await codeOf(c.redeemShareLink(as(redeemer(5)), link.token as string))).toBe(
          "cortex.conflict.shareLinkUsedUp",
        );
        expect(await c.resolveAccess(ORG, redeemer(5), CTX)).toBe(0);
        expect(await c.getShareLink(as(OWNER), link._id)).toMatchObject({ status: "usedUp", usesLeft: 0 });
        expect((await c.listShareLinks(as(OWNER), CTX)).data[0]).toMatchObject({ status: "usedUp" });
        expect(await c.resolveAccess(ORG, redeemer(3), CTX)).toBe(4);
        expect(await c.resolveAccess(ORG, redeemer(4), CTX)).toBe(4);
      }),
    );

    it(
      "a link expires at exactly expiresAt: shareLinkExpired, status expired, with no sweep",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const link = await c.createShareLink(as(OWNER), CTX, { uses: 5, expiresInDays: 1 });
        await w.clock.advance(DAY - 1);
        expect((await c.redeemShareLink(as(redeemer(6)), link.token as string)).access).toBe(2);
        await w.clock.advance(1);
        expect(await codeOf(c.redeemShareLink(as(redeemer(7)), link.token as string))).toBe(
          "cortex.invalidArgument.shareLinkExpired",
        );
        expect(await c.getShareLink(as(OWNER), link._id)).toMatchObject({ status: "expired", usesLeft: 4 });
        expect((await c.listShareLinks(as(OWNER), CTX)).data[0]).toMatchObject({ status: "expired" });
        expect(await c.resolveAccess(ORG, redeemer(6), CTX)).toBe(2);
      }),
    );

    it(
      "revokeShareLink: the link redeems nothing (shareLinkRevoked), connections made through it stay; revoking again changes nothing",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const link = await c.createShareLink(as(SHARER), CTX, { access: 4, uses: 5 });
        await c.redeemShareLink(as(redeemer(8)), link.token as string);
        const revoked = await c.revokeShareLink(as(SHARER), link._id);
        expect(revoked).toMatchObject({ status: "revoked", usesLeft: 4 });
        expect(revoked.revokedAt).toEqual(w.clock.now());
        await w.clock.advance(1000);
        const again = await c.revokeShareLink(as(SHARER), link._id);
        expect(again.revokedAt).toEqual(revoked.revokedAt);
        expect(await codeOf(c.redeemShareLink(as(redeemer(9)), link.token as string))).toBe(
          "cortex.invalidArgument.shareLinkRevoked",
        );
        expect(await c.resolveAccess(ORG, redeemer(8), CTX)).toBe(4);
        expect(await c.resolveAccess(ORG, redeemer(9), CTX)).toBe(0);
      }),
    );

    it(
      "links are managed by their creator, or by a Share holder with strictly more access than the creator",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const sharers = await c.createShareLink(as(SHARER), CTX);
        const owners = await c.createShareLink(as(OWNER), CTX);
        expect(await codeOf(c.getShareLink(as(PEER), sharers._id))).toBe("cortex.accessDenied.shareAccess");
        expect(await codeOf(c.revokeShareLink(as(PEER), sharers._id))).toBe(
          "cortex.accessDenied.shareAccess",
        );
        expect(await codeOf(c.getShareLink(as(SHARER), owners._id))).toBe("cortex.accessDenied.shareAccess");
        expect(await codeOf(c.getShareLink(as(READER), sharers._id))).toBe("cortex.accessDenied.shareAccess");
        expect(await codeOf(c.getShareLink(as(OWNER), "7a0000000000000000000000"))).toBe(
          "cortex.notFound.unspecified",
        );
        expect(await codeOf(c.getShareLink(as(OWNER), "not-an-id"))).toBe(
          "cortex.invalidArgument.unspecified",
        );
        expect((await c.listShareLinks(as(PEER), CTX)).data).toEqual([]);
        expect((await c.listShareLinks(as(SHARER), CTX)).data.map((l) => l._id)).toEqual([sharers._id]);
        expect((await c.listShareLinks(as(OWNER), CTX)).data.map((l) => l._id).sort()).toEqual(
          [sharers._id, owners._id].sort(),
        );
        expect((await c.revokeShareLink(as(OWNER), sharers._id)).status).toBe("revoked");
        expect(await codeOf(c.getShareLink(as(redeemer(0), OTHER_ORG), owners._id))).toBe(
          "cortex.notFound.unspecified",
        );
      }),
    );

    it(
      "redeemShareLink refuses, writing nothing: anonymous, bad or unknown token, another org, unverified, another domain, the creator",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const link = await c.createShareLink(as(OWNER), CTX, { uses: 10, emailDomain: " EXAMPLE.org " });
        expect(link.emailDomain).toBe("example.org");
        const token = link.token as string;
        expect(await codeOf(c.redeemShareLink(as(null), token))).toBe("cortex.accessDenied.notLoggedIn");
        expect(await codeOf(c.redeemShareLink(as(redeemer(0)), "short"))).toBe(
          "cortex.invalidArgument.unspecified",
        );
        expect(await codeOf(c.redeemShareLink(as(redeemer(0)), "Zz".repeat(22)))).toBe(
          "cortex.invalidArgument.connectionToken",
        );
        expect(await codeOf(c.redeemShareLink(as(redeemer(0), OTHER_ORG), token))).toBe(
          "cortex.invalidArgument.connectionToken",
        );
        expect(await codeOf(c.redeemShareLink(as(UNVERIFIED), token))).toBe(
          "cortex.accessDenied.connectionRequiresVerification",
        );
        expect(await codeOf(c.redeemShareLink(as(OUTSIDER), token))).toBe(
          "cortex.accessDenied.shareLinkDomain",
        );
        expect(await codeOf(c.redeemShareLink(as(OWNER), token))).toBe(
          "cortex.invalidArgument.connectionTarget",
        );
        expect((await c.getShareLink(as(OWNER), link._id)).usesLeft).toBe(10);
        for (const who of [UNVERIFIED, OUTSIDER]) expect(await c.resolveAccess(ORG, who, CTX)).toBe(0);
        // An invitation token is not a link token, and a link token is not an invitation token.
        expect(await codeOf(c.accept(as(redeemer(0)), token))).toBe("cortex.invalidArgument.connectionToken");
      }),
    );

    it(
      "a link whose creator lost Share redeems nothing; one whose creator lost some access grants what the creator could grant now",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const link = await c.createShareLink(as(OWNER), CTX, { access: 5, uses: 5 });
        expect(link.access).toBe(5);
        await w.grantHostAccess(ORG, OWNER, CTX, 5);
        expect((await c.redeemShareLink(as(redeemer(10)), link.token as string)).access).toBe(4);
        await w.grantHostAccess(ORG, OWNER, CTX, 4);
        expect(await codeOf(c.redeemShareLink(as(redeemer(11)), link.token as string))).toBe(
          "cortex.invalidArgument.shareLinkRevoked",
        );
      }),
    );

    it(
      "50 simultaneous redemptions of a 10-use link give exactly 10 connections",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const link = await c.createShareLink(as(OWNER), CTX, { access: 4, uses: 10 });
        const outcomes = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            codeOf(c.redeemShareLink(as(redeemer(i + 10)), link.token as string)),
          ),
        );
        expect(outcomes.filter((o) => o === "ok")).toHaveLength(10);
        expect(outcomes.filter((o) => o === "cortex.conflict.shareLinkUsedUp")).toHaveLength(40);
        expect(await c.getShareLink(as(OWNER), link._id)).toMatchObject({ usesLeft: 0, status: "usedUp" });
        const page = await c.listForContext(as(OWNER), CTX, { state: 1 });
        expect(page.data).toHaveLength(10);
        const granted = await Promise.all(
          Array.from({ length: 50 }, (_, i) => c.resolveAccess(ORG, redeemer(i + 10), CTX)),
        );
        expect(granted.filter((a) => a === 4)).toHaveLength(10);
        expect(granted.filter((a) => a === 0)).toHaveLength(40);
      }),
      timeout,
    );

    it(
      `${options.numRuns ?? 100} random sequences of create, redeem, revoke and a moving clock agree with a model`,
      () => checkShareLinkModel(factory, options.numRuns ?? 100),
      timeout,
    );
  });
}

/** One step of the model-based run. */
type Step =
  | { kind: "create"; creator: 0 | 1; access: number; uses: number; days: number; domain: boolean }
  | { kind: "redeem"; who: number; link: number }
  | { kind: "revoke"; caller: 0 | 1 | 2; link: number }
  | { kind: "advance"; ms: number };

interface ModelLink {
  id: string;
  token: string;
  creator: string;
  access: number;
  usesLeft: number;
  expiresAt: number;
  revoked: boolean;
  domain: boolean;
}

/** Redeemers of the model: r0..r3 at example.org, and the outsider at other.org. */
const M_REDEEMERS = [redeemer(0), redeemer(1), redeemer(2), redeemer(3), OUTSIDER];
const M_CREATORS = [OWNER, SHARER];
const M_CALLERS = [OWNER, SHARER, PEER];

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("create" as const),
    creator: fc.constantFrom(0 as const, 1 as const),
    access: fc.integer({ min: 1, max: 8 }),
    uses: fc.integer({ min: 1, max: 3 }),
    days: fc.integer({ min: 1, max: 3 }),
    domain: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant("redeem" as const),
    who: fc.nat(M_REDEEMERS.length - 1),
    link: fc.nat(7),
  }),
  fc.record({
    kind: fc.constant("revoke" as const),
    caller: fc.constantFrom(0 as const, 1 as const, 2 as const),
    link: fc.nat(7),
  }),
  fc.record({
    kind: fc.constant("advance" as const),
    ms: fc.constantFrom(1, 60_000, DAY / 2, DAY - 1, DAY, 2 * DAY),
  }),
);

/** The level a creator of this host access grants for a request (default chain; the model's creators hold 7 or 5). */
function modelGranted(creatorAccess: number, requested: number): number {
  let g = Math.max(2, Math.min(creatorAccess - 1, requested, 7));
  const cap = [5, 4, 2].find((l) => l < creatorAccess);
  if (cap !== undefined) g = Math.max(2, Math.min(g, cap));
  return g === 3 ? 2 : g;
}

/** Runs `numRuns` random step sequences against a fresh world each, checking every answer and every status. */
async function checkShareLinkModel(factory: WorldFactory, numRuns: number): Promise<void> {
  const env = Number.parseInt(process.env.CONN_FC_RUNS ?? "", 10);
  const runs = Number.isFinite(env) && env > 0 ? env : numRuns;
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 20 }), async (steps) => {
      const w = await linkWorld(factory);
      try {
        const c = w.connections;
        const links: ModelLink[] = [];
        const held = new Map<string, number>();
        const hostAccess: Record<string, number> = { [OWNER]: 7, [SHARER]: 5, [PEER]: 5 };
        for (const step of steps) {
          const now = w.clock.now().getTime();
          const status = (l: ModelLink) =>
            l.revoked ? "revoked" : l.expiresAt <= now ? "expired" : l.usesLeft <= 0 ? "usedUp" : "active";
          if (step.kind === "advance") {
            await w.clock.advance(step.ms);
          } else if (step.kind === "create") {
            const creator = M_CREATORS[step.creator] as string;
            const view = await c.createShareLink(as(creator), CTX, {
              access: step.access,
              uses: step.uses,
              expiresInDays: step.days,
              ...(step.domain ? { emailDomain: "example.org" } : {}),
            });
            const access = modelGranted(hostAccess[creator] as number, step.access);
            expect(view.access, "created level").toBe(access);
            links.push({
              id: view._id,
              token: view.token as string,
              creator,
              access,
              usesLeft: step.uses,
              expiresAt: now + step.days * DAY,
              revoked: false,
              domain: step.domain,
            });
          } else if (step.kind === "redeem") {
            const l = links[step.link];
            if (l === undefined) continue;
            const who = M_REDEEMERS[step.who] as string;
            const got = await codeOf(c.redeemShareLink(as(who), l.token));
            const s = status(l);
            const expected =
              s === "revoked"
                ? "cortex.invalidArgument.shareLinkRevoked"
                : s === "expired"
                  ? "cortex.invalidArgument.shareLinkExpired"
                  : s === "usedUp"
                    ? "cortex.conflict.shareLinkUsedUp"
                    : l.domain && who === OUTSIDER
                      ? "cortex.accessDenied.shareLinkDomain"
                      : "ok";
            expect(got, `redeem by ${who} of a ${s} link`).toBe(expected);
            if (got === "ok" && (held.get(who) ?? 0) < l.access) {
              held.set(who, l.access);
              l.usesLeft -= 1;
            }
          } else {
            const l = links[step.link];
            if (l === undefined) continue;
            const caller = M_CALLERS[step.caller] as string;
            const may =
              caller === l.creator || (hostAccess[caller] as number) > (hostAccess[l.creator] as number);
            const got = await codeOf(c.revokeShareLink(as(caller), l.id));
            expect(got, `revoke by ${caller}`).toBe(may ? "ok" : "cortex.accessDenied.shareAccess");
            if (may) l.revoked = true;
          }
          // After every step: each link's status and uses, seen by its creator, and every redeemer's access.
          const at = w.clock.now().getTime();
          for (const l of links) {
            const view: ShareLinkView = await c.getShareLink(as(l.creator), l.id);
            const want = l.revoked
              ? "revoked"
              : l.expiresAt <= at
                ? "expired"
                : l.usesLeft <= 0
                  ? "usedUp"
                  : "active";
            expect(view.status, `status of ${l.id}`).toBe(want);
            expect(view.usesLeft, `uses left of ${l.id}`).toBe(l.usesLeft);
            expect(view.token).toBeUndefined();
          }
          const listed = await c.listShareLinks(as(OWNER), CTX);
          expect(listed.data.filter((v) => v.status === "active").length, "live links listed").toBe(
            links.filter((l) => !l.revoked && l.expiresAt > at && l.usesLeft > 0).length,
          );
          for (const who of M_REDEEMERS) {
            const access: AccessLevel = await c.resolveAccess(ORG, who, CTX);
            expect(access, `access of ${who}`).toBe(held.get(who) ?? 0);
          }
          const mine: ConnectionView[] = (await c.list(as(M_REDEEMERS[0] as string))).data;
          expect(
            mine.map((v) => v.access),
            "r0's connections",
          ).toEqual(held.has(M_REDEEMERS[0] as string) ? [held.get(M_REDEEMERS[0] as string)] : []);
        }
      } finally {
        await factory.teardown?.(w);
      }
    }),
    { numRuns: runs },
  );
}
