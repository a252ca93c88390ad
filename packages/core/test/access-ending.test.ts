/**
 * The access-ending notice through the facade on the in-memory adapters: when a time-limited grant's end comes within
 * the org's lead time, one notice to its target and one to its creator, once per end, whatever the sweeps, re-grants
 * and deletes around it (the contract suite runs the same on PGlite and the PostgreSQL server).
 */
import {
  type AccessLevel,
  ConnectionError,
  type ConnectionView,
  createConnections,
  type Notice,
  type OrgSettings,
} from "@conn/core";
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import {
  AUTO_CTX,
  B,
  C,
  CTX,
  DAY,
  EMAIL,
  makeWorld,
  ORG,
  ORG2,
  OWNER,
  portsOf,
  START,
  type World,
} from "./support/world.js";

const HOUR = 60 * 60 * 1000;
/** The default lead time: 2 days of 24 hours. */
const LEAD = 48 * HOUR;

let w: World;
beforeEach(() => {
  w = makeWorld();
});

/** Grants `target` access on AUTO_CTX at once, with `extra` (accessDays, accessExpiresAt); the connection. */
async function grant(
  target: string,
  extra: { accessDays?: number; accessExpiresAt?: string | null; access?: number } = {},
  world: World = w,
): Promise<ConnectionView> {
  const [entry] = await world.connections.create(world.as(OWNER), AUTO_CTX, [
    { _id: target, access: 4, auto: true, ...extra },
  ]);
  if (entry === undefined || "errCode" in entry) throw new Error(`grant failed: ${JSON.stringify(entry)}`);
  return entry;
}

/** The access-ending notices delivered so far, in order. */
function endings(world: World = w): Notice[] {
  return world.notifier.sent.filter((n) => n.kind === "access-ending");
}

/** What a caller may act on: the error's code and path, or "ok". */
async function failure(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (error) {
    if (error instanceof ConnectionError) return `${error.code} ${error.path ?? ""}`.trim();
    throw error;
  }
}

const sweep = (world: World = w) => world.connections.queueAccessEndingNotices(ORG);

describe("the access-ending notice", () => {
  it("is queued once the end is within 48 hours: one to the target, one to the creator, naming record, level and end", async () => {
    const view = await grant(B, { accessDays: 5 });
    const end = new Date(START.getTime() + 5 * DAY);
    expect(await sweep()).toBe(0);
    await w.clock.advance(3 * DAY - 1);
    expect(await sweep(), "one millisecond before the lead time").toBe(0);
    await w.clock.advance(1);
    expect(await sweep()).toBe(1);
    const [toTarget, toCreator] = endings();
    expect(endings()).toHaveLength(2);
    const common = {
      kind: "access-ending",
      org: { code: ORG, name: "Acme Health" },
      context: { object: "c_auto", _id: AUTO_CTX._id, path: `/c_autos/${AUTO_CTX._id}`, label: null },
      connectionId: view._id,
      access: 4,
      creator: { _id: OWNER, name: { first: "Olga", last: "Owner" } },
      token: null,
      acceptUrl: null,
      expiresAt: null,
    };
    expect(toTarget).toEqual({
      ...common,
      idempotencyKey: `${ORG}:${view._id}:access-ending:${end.toISOString()}:target`,
      recipient: { account: B, email: EMAIL[B], name: { first: "Bob", last: "Doctor" } },
      accessEnding: {
        endsAt: end,
        audience: "target",
        target: { account: B, name: { first: "Bob", last: "Doctor" } },
      },
    });
    expect(toCreator).toEqual({
      ...common,
      idempotencyKey: `${ORG}:${view._id}:access-ending:${end.toISOString()}:creator`,
      recipient: { account: OWNER, email: EMAIL[OWNER], name: { first: "Olga", last: "Owner" } },
      accessEnding: {
        endsAt: end,
        audience: "creator",
        target: { account: B, name: { first: "Bob", last: "Doctor" } },
      },
    });
  });

  it("is queued once per end: later sweeps queue nothing, and the outbox holds exactly two", async () => {
    await grant(B, { accessDays: 1 });
    expect(await sweep()).toBe(1);
    expect(await sweep()).toBe(0);
    await w.clock.advance(HOUR);
    expect(await sweep()).toBe(0);
    expect(endings()).toHaveLength(2);
    const rows = (await w.store.outbox.rows()).filter((r) => r.notice.kind === "access-ending");
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.notice.tokenSeal === null && r.notice.acceptUrlBase === null)).toBe(true);
  });

  it("a re-grant that extends or shortens the end gets a notice of its own for the new end", async () => {
    await grant(B, { accessDays: 1 });
    expect(await sweep()).toBe(1);
    await grant(B, { accessDays: 10 });
    expect(await sweep(), "the new end is 10 days away").toBe(0);
    await w.clock.advance(8 * DAY);
    expect(await sweep()).toBe(1);
    await grant(B, { accessDays: 1 });
    expect(await sweep(), "shortened into the lead time").toBe(1);
    const ends = endings()
      .filter((n) => n.accessEnding?.audience === "target")
      .map((n) => n.accessEnding?.endsAt.getTime());
    expect(ends).toEqual([START.getTime() + DAY, START.getTime() + 10 * DAY, START.getTime() + 9 * DAY]);
  });

  it("a re-grant that keeps the end (a higher level, say) queues nothing new", async () => {
    const first = await grant(B, { accessDays: 1 });
    expect(await sweep()).toBe(1);
    const upgraded = await grant(B, { access: 5 });
    expect(upgraded.accessExpiresAt).toEqual(first.accessExpiresAt);
    expect(await sweep()).toBe(0);
    expect(endings()).toHaveLength(2);
  });

  it("a grant that ends before the sweep runs, or was deleted, or has no end, gets nothing", async () => {
    await grant(B, { accessDays: 1 });
    const deleted = await grant(C, { accessDays: 1 });
    await w.connections.delete(w.as(OWNER), deleted._id);
    await w.clock.advance(DAY);
    expect(await sweep()).toBe(0);
    await grant(C);
    await w.clock.advance(400 * DAY);
    expect(await sweep()).toBe(0);
    expect(endings()).toEqual([]);
  });

  it("a pending invitation with an end gets no access-ending notice (only active grants do)", async () => {
    await w.connections.create(w.as(OWNER), CTX, [{ _id: B, access: 4, accessDays: 1 }]);
    expect(await sweep()).toBe(0);
    expect(endings()).toEqual([]);
  });

  it("follows the org's accessEndingNoticeHours; 0 sends none", async () => {
    w.orgs.put({ code: ORG, name: "Acme Health", accessEndingNoticeHours: 24 });
    await grant(B, { accessDays: 3 });
    await w.clock.advance(DAY);
    expect(await sweep(), "48 hours before: not yet with a 24-hour lead").toBe(0);
    await w.clock.advance(DAY);
    expect(await sweep()).toBe(1);
    w.orgs.put({ code: ORG, name: "Acme Health", accessEndingNoticeHours: 0 });
    await grant(C, { accessDays: 1 });
    expect(await sweep()).toBe(0);
    expect(endings().map((n) => n.recipient.account)).toEqual([B, OWNER]);
  });

  it("a bad lead time is refused with a spec code naming it, and nothing is stored", async () => {
    for (const bad of [-1, 1.5, 8761, Number.NaN, "48"]) {
      const error = (() => {
        try {
          w.orgs.put({ code: ORG, name: "Changed", accessEndingNoticeHours: bad as number });
          return null;
        } catch (e) {
          return e;
        }
      })();
      expect(error, String(bad)).toBeInstanceOf(ConnectionError);
      expect(error).toMatchObject({
        code: "cortex.invalidArgument.unspecified",
        path: "accessEndingNoticeHours",
        status: 400,
      });
    }
    expect((await w.orgs.get(ORG))?.name).toBe("Acme Health");
    expect((await w.orgs.get(ORG))?.accessEndingNoticeHours).toBe(48);
  });

  it("a bad lead time from a host's own org directory fails the sweep with a spec code, writing nothing", async () => {
    await grant(B, { accessDays: 1 });
    const settings = (await w.orgs.get(ORG)) as OrgSettings;
    const connections = createConnections({
      ...portsOf(w),
      orgs: { get: async () => ({ ...settings, accessEndingNoticeHours: -3 }) },
    });
    const before = await w.dump();
    expect(await failure(connections.queueAccessEndingNotices(ORG))).toBe(
      "cortex.invalidArgument.unspecified orgSettings.accessEndingNoticeHours",
    );
    expect(await w.dump()).toBe(before);
    const lax = createConnections({
      ...portsOf(w),
      orgs: { get: async () => ({ code: ORG, name: "Acme Health" }) as OrgSettings },
    });
    expect(await lax.queueAccessEndingNotices(ORG), "absent: the default, 48 hours").toBe(1);
  });

  it("bad arguments fail with a spec code and write nothing; an unknown org is not found", async () => {
    await grant(B, { accessDays: 1 });
    const before = await w.dump();
    const c = w.connections;
    expect(await failure(c.queueAccessEndingNotices("bad org!"))).toBe(
      "cortex.invalidArgument.unspecified org",
    );
    expect(await failure(c.queueAccessEndingNotices(ORG, { batchSize: 0 }))).toBe(
      "cortex.invalidArgument.unspecified batchSize",
    );
    expect(await failure(c.queueAccessEndingNotices(ORG, { batchSize: 1001 }))).toBe(
      "cortex.invalidArgument.unspecified batchSize",
    );
    expect(await failure(c.queueAccessEndingNotices(ORG, { maxBatches: 0.5 }))).toBe(
      "cortex.invalidArgument.unspecified maxBatches",
    );
    expect(
      await failure(c.queueAccessEndingNotices(ORG, { leadHours: 2 } as unknown as { batchSize: number })),
    ).toBe("cortex.invalidArgument.unspecified options");
    expect(await failure(c.queueAccessEndingNotices("nowhere"))).toBe("cortex.notFound.unspecified");
    expect(await w.dump()).toBe(before);
  });

  it("works in bounded batches: maxBatches stops early, the next sweep goes on where it stopped", async () => {
    const other = { ...AUTO_CTX, _id: "c00000000000000000000099" };
    w.contexts.grant(ORG, OWNER, other, 7);
    await grant(B, { accessDays: 1 });
    await grant(C, { accessDays: 2 });
    await w.connections.create(w.as(OWNER), other, [{ _id: B, access: 4, auto: true, accessDays: 1 }]);
    expect(await w.connections.queueAccessEndingNotices(ORG, { batchSize: 1, maxBatches: 2 })).toBe(2);
    expect(await w.connections.queueAccessEndingNotices(ORG, { batchSize: 1 })).toBe(1);
    expect(await sweep()).toBe(0);
    const targets = endings().filter((n) => n.accessEnding?.audience === "target");
    expect(targets.map((n) => n.accessEnding?.endsAt.getTime())).toEqual([
      START.getTime() + DAY,
      START.getTime() + DAY,
      START.getTime() + 2 * DAY,
    ]);
    expect(new Set(targets.map((n) => n.connectionId)).size).toBe(3);
  });

  it("serves one org: a sweep of one org never notices another's grants", async () => {
    w.contexts.grant(ORG2, OWNER, { object: "account", _id: B }, 5);
    await w.connections.create(w.as(OWNER, ORG2), AUTO_CTX, [
      { _id: B, access: 4, auto: true, accessDays: 1 },
    ]);
    expect(await sweep()).toBe(0);
    expect(await w.connections.queueAccessEndingNotices(ORG2)).toBe(1);
    expect(endings().map((n) => n.org.code)).toEqual([ORG2, ORG2]);
  });

  it("two sweeps at once queue each notice once", async () => {
    await grant(B, { accessDays: 1 });
    await grant(C, { accessDays: 2 });
    const counts = await Promise.all([sweep(), sweep(), sweep()]);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(2);
    expect(endings()).toHaveLength(4);
  });

  it("a copy whose person the host no longer knows is left out; the grant is still noticed once", async () => {
    await grant(B, { accessDays: 1 });
    const accounts = {
      findByIds: async (org: string, ids: readonly string[]) =>
        (await w.accounts.findByIds(org, ids)).filter((a) => a._id !== OWNER),
      findByEmails: (org: string, emails: readonly string[]) => w.accounts.findByEmails(org, emails),
    };
    const connections = createConnections({ ...portsOf(w), accounts });
    expect(await connections.queueAccessEndingNotices(ORG)).toBe(1);
    await w.relay.drain();
    expect(endings().map((n) => n.accessEnding?.audience)).toEqual(["target"]);
    expect(await sweep()).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The property: at most one notice per grant, end and person, whatever the interleaving of sweeps, re-grants,
// deletes and clock moves; and after every sweep, every live grant ending within the lead time has been noticed.

type Step =
  | { kind: "grant"; who: 0 | 1; access: 2 | 4; days: number | null | undefined }
  | { kind: "delete"; who: 0 | 1 }
  | { kind: "advance"; ms: number }
  | { kind: "sweep"; copies: 1 | 2 | 3 };

const PEOPLE = [B, C] as const;

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("grant" as const),
    who: fc.constantFrom(0 as const, 1 as const),
    access: fc.constantFrom(2 as const, 4 as const),
    days: fc.option(fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant("delete" as const), who: fc.constantFrom(0 as const, 1 as const) }),
  fc.record({
    kind: fc.constant("advance" as const),
    ms: fc.constantFrom(1, HOUR, 12 * HOUR, DAY - 1, DAY, 2 * DAY),
  }),
  fc.record({
    kind: fc.constant("sweep" as const),
    copies: fc.constantFrom(1 as const, 2 as const, 3 as const),
  }),
);

/** Sequences of the property: modest by default; CONN_FC_RUNS, or CONN_SLOW=1 for 1,000. */
function runs(): number {
  const env = Number.parseInt(process.env.CONN_FC_RUNS ?? "", 10);
  if (Number.isFinite(env) && env > 0) return env;
  return process.env.CONN_SLOW === "1" ? 1000 : 80;
}

describe("the access-ending notice, as a property", () => {
  it("a grant gets at most one notice per end and person, and every grant ending within the lead time gets one after a sweep", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 20 }), async (steps) => {
        const world = makeWorld();
        /** Per person: the live grant (id, access, end in ms or null). */
        const held = new Map<string, { id: string; access: number; end: number | null }>();
        const seen = new Set<string>();
        for (const step of steps) {
          const now = world.clock.now().getTime();
          for (const [who, g] of held) if (g.end !== null && g.end <= now) held.delete(who);
          const before = endings(world).length;
          if (step.kind === "advance") await world.clock.advance(step.ms);
          else if (step.kind === "delete") {
            const g = held.get(PEOPLE[step.who]);
            if (g !== undefined) await world.connections.delete(world.as(OWNER), g.id);
            held.delete(PEOPLE[step.who]);
          } else if (step.kind === "grant") {
            const who = PEOPLE[step.who];
            const body =
              step.days === undefined
                ? {}
                : step.days === null
                  ? { accessExpiresAt: null }
                  : { accessDays: step.days };
            const [entry] = await world.connections.create(world.as(OWNER), AUTO_CTX, [
              { _id: who, access: step.access as AccessLevel, auto: true, ...body },
            ]);
            if (entry !== undefined && !("errCode" in entry)) {
              held.set(who, {
                id: entry._id,
                access: entry.access,
                end: entry.accessExpiresAt?.getTime() ?? null,
              });
            }
          } else {
            const counts = await Promise.all(
              Array.from({ length: step.copies }, () => world.connections.queueAccessEndingNotices(ORG)),
            );
            const fresh = endings(world).slice(before);
            expect(
              counts.reduce((a, b) => a + b, 0),
              "grants noticed = target copies queued",
            ).toBe(fresh.filter((n) => n.accessEnding?.audience === "target").length);
            for (const n of fresh) {
              const end = n.accessEnding?.endsAt.getTime() as number;
              const live = [...held.values()].find((g) => g.id === n.connectionId);
              expect(live?.end, "a notice names the live grant's current end").toBe(end);
              expect(end > now && end - now <= LEAD, "within the lead time, not past").toBe(true);
            }
            for (const [who, g] of held) {
              if (g.end === null || g.end <= now || g.end - now > LEAD) continue;
              const noticed =
                seen.has(`${g.id}:${g.end}:target`) ||
                fresh.some((n) => n.connectionId === g.id && n.accessEnding?.endsAt.getTime() === g.end);
              expect(noticed, `${who}'s grant ending within the lead time was noticed`).toBe(true);
            }
          }
          const after = endings(world);
          if (step.kind !== "sweep") expect(after.length, "only a sweep queues notices").toBe(before);
          for (const n of after.slice(before)) {
            const key = `${n.connectionId}:${n.accessEnding?.endsAt.getTime()}:${n.accessEnding?.audience}`;
            expect(seen.has(key), `a second notice for ${key}`).toBe(false);
            seen.add(key);
          }
        }
      }),
      { numRuns: runs() },
    );
  }, 120_000);
});
