import {
  type ConnectionTargetInput,
  type ConnectionView,
  type ContextRef,
  isConnectionError,
  type Principal,
} from "@conn/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { World, WorldFactory } from "./facade-model-contract.js";

const DAY = 24 * 60 * 60 * 1000;
const ORG = "timed-org";
const SHORT_ORG = "timed-org-short";
/** Auto allowed, share chain [6, 4, 2]: the owner (7) may grant Update (6). */
const CTX: ContextRef = { object: "c_timed", _id: "7e0000000000000000000e01" };
/** Requires acceptance. */
const INVITE_CTX: ContextRef = { object: "c_invited", _id: "7e0000000000000000000e02" };

const OWNER = "7b0000000000000000000001";
const X = "7b0000000000000000000002";
const Y1 = "7b0000000000000000000003";
const Y2 = "7b0000000000000000000004";
const Z = "7b0000000000000000000005";
const PEOPLE = [X, Y1, Y2, Z];

const as = (accountId: string | null, org = ORG): Principal => ({ org, accountId });

async function timedWorld(factory: WorldFactory): Promise<World> {
  const w = await factory.setup();
  await w.addOrg({ code: ORG, name: "Timed" });
  await w.addOrg({ code: SHORT_ORG, name: "Timed, short", maxGrantDays: 30 });
  for (const org of [ORG, SHORT_ORG]) {
    await w.defineObject(org, {
      name: "c_timed",
      allowConnections: true,
      requireAccept: false,
      shareChain: [6, 4, 2],
    });
    await w.defineObject(org, { name: "c_invited", allowConnections: true });
    for (const [i, _id] of [OWNER, ...PEOPLE].entries()) {
      await w.addAccount(org, {
        _id,
        email: `p${i}@timed.example`,
        name: { first: `P${i}` },
        verified: true,
      });
      if (_id !== OWNER) await w.grantHostAccess(org, OWNER, { object: "account", _id }, 5);
    }
    await w.grantHostAccess(org, OWNER, CTX, 7);
    await w.grantHostAccess(org, OWNER, INVITE_CTX, 7);
  }
  return w;
}

async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (error) {
    if (isConnectionError(error)) return error.code;
    throw error;
  }
}

function withWorld(factory: WorldFactory, body: (w: World) => Promise<void>): () => Promise<void> {
  return async () => {
    const w = await timedWorld(factory);
    try {
      await body(w);
    } finally {
      await factory.teardown?.(w);
    }
  };
}

/** Grants `target` access on CTX at once (auto), with `extra` (accessDays, accessExpiresAt); the connection. */
async function grant(
  w: World,
  target: string,
  access: number,
  extra: Partial<ConnectionTargetInput> = {},
  org = ORG,
): Promise<ConnectionView> {
  const [entry] = await w.connections.create(as(OWNER, org), CTX, [
    { _id: target, access, auto: true, ...extra },
  ]);
  if (entry === undefined || "errCode" in entry) throw new Error(`grant failed: ${JSON.stringify(entry)}`);
  return entry;
}

/** Options of {@link timeLimitedGrantContract}. */
export interface TimeLimitedGrantContractOptions {
  /** Sequences of the model-based case (default 100, or `CONN_FC_RUNS`). */
  numRuns?: number;
  /** Test timeout in ms of the model-based case (default 300 000). */
  timeout?: number;
}

/**
 * The time-limited grant suite: a grant's end caps, shows, is kept by accept, moved by upgrades, and at that instant
 * the grant counts nowhere (access, reads, lists, delete rules) before any purge; the purge removes ended grants.
 */
export function timeLimitedGrantContract(
  name: string,
  factory: WorldFactory,
  options: TimeLimitedGrantContractOptions = {},
): void {
  describe(`time-limited grants: ${name}`, () => {
    it(
      "at exactly accessExpiresAt the grant counts nowhere: resolveAccess, read by id, every list, delete",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const start = w.clock.now().getTime();
        const view = await grant(w, X, 4, { accessDays: 2 });
        expect(view.accessExpiresAt?.getTime()).toBe(start + 2 * DAY);
        expect((await c.get(as(X), view._id)).accessExpiresAt?.getTime()).toBe(start + 2 * DAY);
        expect((await c.list(as(X))).data[0]?.accessExpiresAt?.getTime()).toBe(start + 2 * DAY);
        await w.clock.advance(2 * DAY - 1);
        expect(await c.resolveAccess(ORG, X, CTX)).toBe(4);
        expect((await c.listForContext(as(OWNER), CTX)).data.map((v) => v._id)).toEqual([view._id]);
        await w.clock.advance(1);
        expect(await c.resolveAccess(ORG, X, CTX)).toBe(0);
        expect(await codeOf(c.get(as(X), view._id))).toBe("cortex.notFound.unspecified");
        expect(await codeOf(c.get(as(OWNER), view._id))).toBe("cortex.notFound.unspecified");
        expect((await c.list(as(X))).data).toEqual([]);
        expect((await c.list(as(OWNER), { show: "creator" })).data).toEqual([]);
        expect((await c.listForContext(as(OWNER), CTX)).data).toEqual([]);
        expect(await codeOf(c.delete(as(OWNER), view._id))).toBe("cortex.notFound.unspecified");
      }),
    );

    it(
      "an ended grant gives no right: its holder may no longer create, make links, or delete others' connections",
      withWorld(factory, async (w) => {
        const c = w.connections;
        await grant(w, X, 6, { accessDays: 1 });
        const y1 = await grant(w, Y1, 4);
        const y2 = await grant(w, Y2, 4);
        expect(await codeOf(c.delete(as(X), y1._id))).toBe("ok");
        await w.clock.advance(DAY);
        expect(await codeOf(c.delete(as(X), y2._id))).toBe("cortex.accessDenied.connection");
        expect(await codeOf(c.create(as(X), CTX, [{ _id: Z }]))).toBe("cortex.accessDenied.shareAccess");
        expect(await codeOf(c.createShareLink(as(X), CTX))).toBe("cortex.accessDenied.shareAccess");
        expect(await c.resolveAccess(ORG, Y2, CTX)).toBe(4);
      }),
    );

    it(
      "the end is capped by the org's maxGrantDays (default 365), never refused for being too far",
      withWorld(factory, async (w) => {
        const start = w.clock.now().getTime();
        expect((await grant(w, X, 4, { accessDays: 1000 })).accessExpiresAt?.getTime()).toBe(
          start + 365 * DAY,
        );
        const far = new Date(start + 3000 * DAY).toISOString();
        expect((await grant(w, Y1, 4, { accessExpiresAt: far })).accessExpiresAt?.getTime()).toBe(
          start + 365 * DAY,
        );
        expect((await grant(w, X, 4, { accessDays: 60 }, SHORT_ORG)).accessExpiresAt?.getTime()).toBe(
          start + 30 * DAY,
        );
        const exact = new Date(start + 10 * DAY + 1234).toISOString();
        expect((await grant(w, Z, 4, { accessExpiresAt: exact })).accessExpiresAt?.toISOString()).toBe(exact);
      }),
    );

    it(
      "a bad end fails the whole request with connectionTarget naming it, and writes nothing",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const now = w.clock.now().toISOString();
        const bad: Partial<ConnectionTargetInput>[] = [
          { accessExpiresAt: now },
          { accessExpiresAt: new Date(w.clock.now().getTime() - 1).toISOString() },
          { accessExpiresAt: "next friday" },
          { accessDays: 0 },
          { accessDays: 1.5 },
          { accessDays: 2, accessExpiresAt: null },
        ];
        for (const extra of bad) {
          const error = await c
            .create(as(OWNER), CTX, [
              { _id: Y1, access: 4, auto: true },
              { _id: X, auto: true, ...extra },
            ])
            .then(
              () => null,
              (e: unknown) => e,
            );
          expect(
            isConnectionError(error, "cortex.invalidArgument.connectionTarget"),
            JSON.stringify(extra),
          ).toBe(true);
          expect((error as { path?: string }).path, JSON.stringify(extra)).toMatch(/^targets\[1\]/);
        }
        expect((await c.listForContext(as(OWNER), CTX)).data).toEqual([]);
      }),
    );

    it(
      "an accepted invitation keeps its end; the pending view shows it too",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const start = w.clock.now().getTime();
        await c.create(as(OWNER), INVITE_CTX, [{ _id: X, access: 4, accessDays: 3 }]);
        const pending = (await c.list(as(X))).data[0] as ConnectionView;
        expect(pending.accessExpiresAt?.getTime()).toBe(start + 3 * DAY);
        await w.clock.advance(DAY);
        const active = await c.accept(as(X), pending.token as string);
        expect(active).toMatchObject({ state: 1, access: 4 });
        expect(active.accessExpiresAt?.getTime()).toBe(start + 3 * DAY);
        await w.clock.advance(2 * DAY);
        expect(await c.resolveAccess(ORG, X, INVITE_CTX)).toBe(0);
      }),
    );

    it(
      "a re-grant may extend, shorten or remove the end; one that changes nothing is a conflict",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const start = w.clock.now().getTime();
        const first = await grant(w, X, 4, { accessDays: 2 });
        const longer = await grant(w, X, 4, { accessDays: 5 });
        expect(longer).toMatchObject({ _id: first._id, access: 4 });
        expect(longer.accessExpiresAt?.getTime()).toBe(start + 5 * DAY);
        const shorter = await grant(w, X, 4, { accessDays: 1 });
        expect(shorter.accessExpiresAt?.getTime()).toBe(start + DAY);
        const higher = await grant(w, X, 6);
        expect(higher.access).toBe(6);
        expect(higher.accessExpiresAt?.getTime()).toBe(start + DAY);
        const [same] = await c.create(as(OWNER), CTX, [{ _id: X, access: 6, auto: true }]);
        expect(same).toMatchObject({ errCode: "cortex.conflict.connectionExists" });
        const forever = await grant(w, X, 6, { accessExpiresAt: null });
        expect(forever.accessExpiresAt).toBeUndefined();
        await w.clock.advance(10 * DAY);
        expect(await c.resolveAccess(ORG, X, CTX)).toBe(6);
      }),
    );

    it(
      "after an end, a new grant is a new connection, before any purge; purge removes ended grants in batches",
      withWorld(factory, async (w) => {
        const c = w.connections;
        const old = await grant(w, X, 6, { accessDays: 1 });
        await grant(w, Y1, 4, { accessDays: 1 });
        await grant(w, Y2, 4, { accessDays: 1 });
        await grant(w, Z, 4, { accessDays: 5 });
        await w.clock.advance(DAY);
        const fresh = await grant(w, X, 2);
        expect(fresh._id).not.toBe(old._id);
        expect(fresh.access).toBe(2);
        expect(fresh.accessExpiresAt).toBeUndefined();
        expect(await c.resolveAccess(ORG, X, CTX)).toBe(2);
        expect(await c.purgeExpired(ORG, { batchSize: 1 })).toBe(2);
        expect(await c.purgeExpired(ORG)).toBe(0);
        expect(
          (await c.listForContext(as(OWNER), CTX)).data.map((v) => v.target.account?._id).sort(),
        ).toEqual([X, Z].sort());
        expect(await c.resolveAccess(ORG, Z, CTX)).toBe(4);
      }),
    );

    it(
      `${options.numRuns ?? 100} random sequences of grants, re-grants, deletes, purges and a moving clock agree with a model`,
      () => checkGrantModel(factory, options.numRuns ?? 100),
      options.timeout ?? 300_000,
    );
  });
}

type Step =
  | { kind: "grant"; who: number; access: 2 | 4 | 6; days: number | null | undefined }
  | { kind: "delete"; who: number }
  | { kind: "purge" }
  | { kind: "advance"; ms: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("grant" as const),
    who: fc.nat(PEOPLE.length - 1),
    access: fc.constantFrom(2 as const, 4 as const, 6 as const),
    days: fc.option(fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant("delete" as const), who: fc.nat(PEOPLE.length - 1) }),
  fc.record({ kind: fc.constant("purge" as const) }),
  fc.record({
    kind: fc.constant("advance" as const),
    ms: fc.constantFrom(1, DAY / 2, DAY - 1, DAY, 2 * DAY),
  }),
);

/** Runs random step sequences, each on a fresh world, checking every answer, access and list after every step. */
async function checkGrantModel(factory: WorldFactory, numRuns: number): Promise<void> {
  const env = Number.parseInt(process.env.CONN_FC_RUNS ?? "", 10);
  const runs = Number.isFinite(env) && env > 0 ? env : numRuns;
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 16 }), async (steps) => {
      const w = await timedWorld(factory);
      try {
        const c = w.connections;
        /** Per person: the live grant's id, access and end (ms, or null for none). */
        const held = new Map<string, { id: string; access: number; end: number | null }>();
        const liveAt = (g: { end: number | null }, t: number) => g.end === null || g.end > t;
        for (const step of steps) {
          const now = w.clock.now().getTime();
          for (const [who, g] of held) if (!liveAt(g, now)) held.delete(who);
          if (step.kind === "advance") await w.clock.advance(step.ms);
          else if (step.kind === "purge") await c.purgeExpired(ORG);
          else if (step.kind === "delete") {
            const who = PEOPLE[step.who] as string;
            const g = held.get(who);
            if (g === undefined) continue;
            expect(await codeOf(c.delete(as(OWNER), g.id))).toBe("ok");
            held.delete(who);
          } else {
            const who = PEOPLE[step.who] as string;
            const extra = step.days === undefined ? {} : { accessDays: step.days ?? undefined };
            const body = step.days === null ? { accessExpiresAt: null } : extra;
            const [entry] = await c.create(as(OWNER), CTX, [
              { _id: who, access: step.access, auto: true, ...body },
            ]);
            const g = held.get(who);
            const requested =
              step.days === undefined ? undefined : step.days === null ? null : now + step.days * DAY;
            const end = requested === undefined ? (g?.end ?? null) : requested;
            const access = Math.max(g?.access ?? 0, step.access);
            if (g !== undefined && access === g.access && end === g.end) {
              expect(entry, "a re-grant that changes nothing").toMatchObject({
                errCode: "cortex.conflict.connectionExists",
              });
              continue;
            }
            if (entry === undefined || "errCode" in entry)
              expect.fail(`grant failed: ${JSON.stringify(entry)}`);
            expect(entry.access, "granted access").toBe(access);
            expect(entry.accessExpiresAt?.getTime() ?? null, "granted end").toBe(end);
            if (g !== undefined) expect(entry._id, "an upgrade keeps the id").toBe(g.id);
            held.set(who, { id: entry._id, access, end });
          }
          const at = w.clock.now().getTime();
          const live = [...held].filter(([, g]) => liveAt(g, at));
          for (const who of PEOPLE) {
            const g = live.find(([p]) => p === who)?.[1];
            expect(await c.resolveAccess(ORG, who, CTX), `access of ${who}`).toBe(g?.access ?? 0);
          }
          const listed = (await c.listForContext(as(OWNER), CTX)).data;
          expect(listed.map((v) => v._id).sort(), "the context's list").toEqual(
            live.map(([, g]) => g.id).sort(),
          );
        }
      } finally {
        await factory.teardown?.(w);
      }
    }),
    { numRuns: runs },
  );
}
