import type { ContextRef, Outbox, OutboxEntry, OutboxMessageStatus, Principal } from "@conn/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { World } from "./facade-model-contract.js";

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
/** The default lead time: 48 hours. */
const LEAD = 2 * DAY;
const ORG = "ending-org";
const CTX: ContextRef = { object: "c_ending", _id: "7e0000000000000000000e11" };
const OWNER = "7b0000000000000000000011";
const PEOPLE = [
  "7b0000000000000000000012",
  "7b0000000000000000000013",
  "7b0000000000000000000014",
  "7b0000000000000000000015",
];

/** A world whose outbox the suite can read back (the notices a sweep queued). */
export interface NoticeWorld extends World {
  /** The outbox the facade enqueues into. */
  outbox: Outbox;
}

/** How an adapter runs {@link accessEndingNoticeContract}: a fresh, empty world per case. */
export interface NoticeWorldFactory {
  /** Builds an empty world (no orgs, accounts or connections). */
  setup(): Promise<NoticeWorld>;
  /** Releases what `setup` built. */
  teardown?(world: NoticeWorld): Promise<void>;
}

/** Options of {@link accessEndingNoticeContract}. */
export interface AccessEndingContractOptions {
  /** Sequences of the model-based case (default 40, or `CONN_FC_RUNS`, or 400 with `CONN_SLOW=1`). */
  numRuns?: number;
  /** Test timeout in ms of the model-based case (default 300 000). */
  timeout?: number;
}

const as = (accountId: string): Principal => ({ org: ORG, accountId });

async function noticeWorld(factory: NoticeWorldFactory, lead?: number): Promise<NoticeWorld> {
  const w = await factory.setup();
  await w.addOrg({
    code: ORG,
    name: "Ending",
    ...(lead === undefined ? {} : { accessEndingNoticeHours: lead }),
  });
  await w.defineObject(ORG, {
    name: "c_ending",
    label: "chart",
    allowConnections: true,
    requireAccept: false,
  });
  for (const [i, _id] of [OWNER, ...PEOPLE].entries()) {
    await w.addAccount(ORG, { _id, email: `e${i}@ending.example`, name: { first: `E${i}` }, verified: true });
    if (_id !== OWNER) await w.grantHostAccess(ORG, OWNER, { object: "account", _id }, 5);
  }
  await w.grantHostAccess(ORG, OWNER, CTX, 7);
  return w;
}

function withWorld(
  factory: NoticeWorldFactory,
  body: (w: NoticeWorld) => Promise<void>,
  lead?: number,
): () => Promise<void> {
  return async () => {
    const w = await noticeWorld(factory, lead);
    try {
      await body(w);
    } finally {
      await factory.teardown?.(w);
    }
  };
}

/** Grants `who` Read on CTX at once with `extra`; the connection's id. */
async function grant(
  w: NoticeWorld,
  who: string,
  extra: { accessDays?: number; accessExpiresAt?: string | null } = {},
): Promise<string> {
  const [entry] = await w.connections.create(as(OWNER), CTX, [{ _id: who, access: 4, auto: true, ...extra }]);
  if (entry === undefined || "errCode" in entry) throw new Error(`grant failed: ${JSON.stringify(entry)}`);
  return entry._id;
}

/** Every access-ending notice in the outbox, whatever became of it (a relay may have delivered it already). */
async function queued(w: NoticeWorld): Promise<OutboxEntry[]> {
  const statuses: OutboxMessageStatus[] = ["pending", "delivered", "dead"];
  const all = await Promise.all(statuses.map((status) => w.outbox.list({ status, org: ORG, limit: 1000 })));
  return all.flat().filter((e) => e.notice.kind === "access-ending");
}

/** `connection:end:audience` of a notice, the unit that must never repeat. */
const keyOf = (e: OutboxEntry) =>
  `${e.notice.connectionId}:${e.notice.accessEnding?.endsAt.getTime()}:${e.notice.accessEnding?.audience}`;

const sweep = (w: NoticeWorld) => w.connections.queueAccessEndingNotices(ORG);

/**
 * The access-ending suite, on every adapter with a clock that moves: a grant's end within the org's lead time is
 * told once to its target and once to its creator, through the outbox; a new end is told again; an ended or deleted
 * grant is told nothing; sweeps at once never tell twice. A model-based run checks all of it over random sequences.
 */
export function accessEndingNoticeContract(
  name: string,
  factory: NoticeWorldFactory,
  options: AccessEndingContractOptions = {},
): void {
  describe(`access-ending notices: ${name}`, () => {
    it(
      "exactly 48 hours before the end (not a millisecond sooner) a sweep queues one notice to the target and one to the creator",
      withWorld(factory, async (w) => {
        const start = w.clock.now().getTime();
        const id = await grant(w, PEOPLE[0] as string, { accessDays: 3 });
        await w.clock.advance(DAY - 1);
        expect(await sweep(w)).toBe(0);
        expect(await queued(w)).toEqual([]);
        await w.clock.advance(1);
        expect(await sweep(w)).toBe(1);
        const notices = await queued(w);
        expect(notices.map((e) => e.notice.recipient.email).sort()).toEqual([
          "e0@ending.example",
          "e1@ending.example",
        ]);
        for (const e of notices) {
          expect(e.notice).toMatchObject({
            kind: "access-ending",
            connectionId: id,
            access: 4,
            context: { object: "c_ending", _id: CTX._id, path: `/c_endings/${CTX._id}`, label: "chart" },
            creator: { _id: OWNER },
            acceptUrlBase: null,
            expiresAt: null,
          });
          expect(e.notice.accessEnding?.endsAt).toEqual(new Date(start + 3 * DAY));
          expect(e.notice.accessEnding?.target).toEqual({ account: PEOPLE[0], name: { first: "E1" } });
          expect(e.notice).not.toHaveProperty("tokenSeal");
        }
        expect(notices.map((e) => e.notice.accessEnding?.audience).sort()).toEqual(["creator", "target"]);
      }),
    );

    it(
      "once per end: later sweeps add nothing; an extension or a shortening is told again for the new end",
      withWorld(factory, async (w) => {
        const [x] = PEOPLE as [string];
        await grant(w, x, { accessDays: 1 });
        expect(await sweep(w)).toBe(1);
        expect(await sweep(w)).toBe(0);
        await w.clock.advance(HOUR);
        expect(await sweep(w)).toBe(0);
        await grant(w, x, { accessDays: 2 });
        expect(await sweep(w), "extended, still within the lead time").toBe(1);
        await grant(w, x, { accessDays: 1 });
        expect(await sweep(w), "shortened").toBe(1);
        const keys = (await queued(w)).map(keyOf);
        expect(keys).toHaveLength(6);
        expect(new Set(keys).size).toBe(6);
      }),
    );

    it(
      "a grant that ended before the sweep, or was deleted, or has no end, is told nothing",
      withWorld(factory, async (w) => {
        const [x, y, z] = PEOPLE as [string, string, string];
        await grant(w, x, { accessDays: 1 });
        const deleted = await grant(w, y, { accessDays: 2 });
        await grant(w, z);
        await w.connections.delete(as(OWNER), deleted);
        await w.clock.advance(DAY);
        expect(await sweep(w)).toBe(0);
        await w.clock.advance(500 * DAY);
        expect(await sweep(w)).toBe(0);
        expect(await queued(w)).toEqual([]);
      }),
    );

    it(
      "a lead time of 12 hours is followed",
      withWorld(
        factory,
        async (w) => {
          await grant(w, PEOPLE[0] as string, { accessDays: 1 });
          expect(await sweep(w)).toBe(0);
          await w.clock.advance(12 * HOUR);
          expect(await sweep(w)).toBe(1);
        },
        12,
      ),
    );

    it(
      "a lead time of 0 tells nothing",
      withWorld(
        factory,
        async (w) => {
          await grant(w, PEOPLE[0] as string, { accessDays: 1 });
          await w.clock.advance(DAY - 1);
          expect(await sweep(w)).toBe(0);
          expect(await queued(w)).toEqual([]);
        },
        0,
      ),
    );

    it(
      "4 sweeps at once over 4 grants queue each grant's two notices once, in batches of 1",
      withWorld(factory, async (w) => {
        for (const [i, who] of PEOPLE.entries()) await grant(w, who, { accessDays: 1 + (i % 2) });
        const counts = await Promise.all(
          Array.from({ length: 4 }, () => w.connections.queueAccessEndingNotices(ORG, { batchSize: 1 })),
        );
        // A grant one sweep held locked is skipped by the others; a later sweep finds it.
        const later = await sweep(w);
        expect(counts.reduce((a, b) => a + b, later)).toBe(4);
        const keys = (await queued(w)).map(keyOf);
        expect(keys).toHaveLength(8);
        expect(new Set(keys).size).toBe(8);
      }),
    );

    it(
      `${options.numRuns ?? 40} random sequences of grants, re-grants, deletes, sweeps (some at once) and a moving clock: at most one notice per end and person, and none missed`,
      () => checkAccessEndingModel(factory, { numRuns: options.numRuns ?? 40 }),
      options.timeout ?? 300_000,
    );
  });
}

type Step =
  | { kind: "grant"; who: number; access: 2 | 4; days: number | null | undefined }
  | { kind: "delete"; who: number }
  | { kind: "advance"; ms: number }
  | { kind: "sweep"; copies: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("grant" as const),
    who: fc.nat(PEOPLE.length - 1),
    access: fc.constantFrom(2 as const, 4 as const),
    days: fc.option(fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant("delete" as const), who: fc.nat(PEOPLE.length - 1) }),
  fc.record({ kind: fc.constant("advance" as const), ms: fc.constantFrom(1, HOUR, 12 * HOUR, DAY - 1, DAY) }),
  fc.record({ kind: fc.constant("sweep" as const), copies: fc.integer({ min: 1, max: 3 }) }),
);

/** The number of sequences: CONN_FC_RUNS, else 10 times the default with CONN_SLOW=1, else the default. */
function runsOf(numRuns: number): number {
  const env = Number.parseInt(process.env.CONN_FC_RUNS ?? "", 10);
  if (Number.isFinite(env) && env > 0) return env;
  return process.env.CONN_SLOW === "1" ? numRuns * 10 : numRuns;
}

/** Tuning of {@link checkAccessEndingModel}. */
export interface AccessEndingModelOptions {
  /** Sequences to run (`CONN_FC_RUNS` wins; `CONN_SLOW=1` runs ten times as many). */
  numRuns: number;
  /** Replays a failure: the seed fast-check printed. */
  seed?: number;
  /** Stop at the first failure without shrinking (for the harness's own tests). */
  endOnFailure?: boolean;
}

/**
 * The model-based run of the access-ending suite: random sequences of grants, re-grants, deletes, clock moves and one
 * to three sweeps at once, each on a fresh world, checking the outbox after every step: no end told twice to one
 * person, every notice naming its grant's current end within the lead time, and none missed after a sweep.
 */
export async function checkAccessEndingModel(
  factory: NoticeWorldFactory,
  options: AccessEndingModelOptions,
): Promise<void> {
  const { numRuns, seed, endOnFailure } = options;
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 14 }), async (steps) => {
      const w = await noticeWorld(factory);
      try {
        /** Per person: the live grant's id and end (ms, or null for none). */
        const held = new Map<string, { id: string; end: number | null }>();
        const told = new Set<string>();
        let seen = 0;
        for (const step of steps) {
          const now = w.clock.now().getTime();
          for (const [who, g] of held) if (g.end !== null && g.end <= now) held.delete(who);
          if (step.kind === "advance") await w.clock.advance(step.ms);
          else if (step.kind === "delete") {
            const g = held.get(PEOPLE[step.who] as string);
            if (g !== undefined) await w.connections.delete(as(OWNER), g.id);
            held.delete(PEOPLE[step.who] as string);
          } else if (step.kind === "grant") {
            const who = PEOPLE[step.who] as string;
            const body =
              step.days === undefined
                ? {}
                : step.days === null
                  ? { accessExpiresAt: null }
                  : { accessDays: step.days };
            const [entry] = await w.connections.create(as(OWNER), CTX, [
              { _id: who, access: step.access, auto: true, ...body },
            ]);
            if (entry !== undefined && !("errCode" in entry))
              held.set(who, { id: entry._id, end: entry.accessExpiresAt?.getTime() ?? null });
          } else {
            const counts = await Promise.all(
              Array.from({ length: step.copies }, () => w.connections.queueAccessEndingNotices(ORG)),
            );
            const all = await queued(w);
            const fresh = all.filter((e) => !told.has(keyOf(e)));
            expect(
              counts.reduce((a, b) => a + b, 0),
              "grants noticed = target copies queued",
            ).toBe(fresh.filter((e) => e.notice.accessEnding?.audience === "target").length);
            for (const e of fresh) {
              const end = e.notice.accessEnding?.endsAt.getTime() as number;
              const live = [...held.values()].find((g) => g.id === e.notice.connectionId);
              expect(live?.end, "a notice names its live grant's current end").toBe(end);
              expect(end > now && end - now <= LEAD, "an end within the lead time, not past").toBe(true);
            }
            for (const e of fresh) told.add(keyOf(e));
            // Every live grant whose end is within the lead time has been told (sweeps at once may skip a grant
            // another holds, but together they leave none: the one that held it told it).
            for (const [who, g] of held) {
              if (g.end === null || g.end - now > LEAD) continue;
              expect(told.has(`${g.id}:${g.end}:target`), `${who}'s grant ending within the lead time`).toBe(
                true,
              );
            }
          }
          const all = await queued(w);
          expect(new Set(all.map(keyOf)).size, "no end told twice to one person").toBe(all.length);
          if (step.kind !== "sweep") expect(all.length, "only a sweep queues notices").toBe(seen);
          seen = all.length;
        }
      } finally {
        await factory.teardown?.(w);
      }
    }),
    {
      numRuns: runsOf(numRuns),
      includeErrorInReport: true,
      ...(seed === undefined ? {} : { seed }),
      ...(endOnFailure === true ? { endOnFailure } : {}),
    },
  );
}
