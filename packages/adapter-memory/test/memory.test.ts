import { createHash, createHmac } from "node:crypto";
import type { ConnectionRecord, SealedNotice } from "@conn/core";
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import {
  CryptoRandom,
  CryptoTokenService,
  InMemoryAccountDirectory,
  InMemoryContextAccess,
  InMemoryOrgDirectory,
  InMemoryUnitOfWork,
  ManualClock,
  RandomIdGenerator,
  RecordingEventPublisher,
  RecordingNotifier,
  SystemClock,
} from "../src/index.js";

const ORG = "acme";
const NOW = new Date("2026-01-01T00:00:00.000Z");
const hex = (prefix: string, n: number) => `${prefix}${n.toString(16).padStart(23, "0")}`;

function pending(n: number, overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
  const target = hex("a", 100 + n);
  return {
    org: ORG,
    _id: hex("b", n),
    access: 4,
    roles: [hex("e", 1)],
    context: { object: "c_file", _id: hex("c", 1) },
    contextSource: null,
    created: new Date(NOW),
    updated: new Date(NOW),
    creator: hex("a", 1),
    target: { account: target, email: null, name: { first: "Bob" } },
    viaEmail: false,
    targetKey: `account:${target}`,
    state: 0,
    tokenHash: `hash-${n}`,
    tokenSeal: `seal-${n}`,
    expiresAt: new Date(NOW.getTime() + 7 * 86_400_000),
    ...overrides,
  };
}

function notice(id: string): SealedNotice {
  return {
    kind: "invite-existing-user",
    idempotencyKey: `${ORG}:${id}`,
    org: { code: ORG, name: "Acme" },
    recipient: { account: null, email: "bob@example.com", name: { first: "Bob" } },
    context: { object: "c_file", _id: hex("c", 1), path: `/c_files/${hex("c", 1)}`, label: null },
    connectionId: hex("b", 1),
    access: 4,
    creator: { _id: hex("a", 1), name: null },
    tokenSeal: "seal",
    acceptUrlBase: null,
    expiresAt: null,
  };
}

let store: InMemoryUnitOfWork;
beforeEach(() => {
  store = new InMemoryUnitOfWork();
});

describe("activeAccess, the hot path", () => {
  const active = (n: number, overrides: Partial<ConnectionRecord> = {}) =>
    pending(n, { state: 1, tokenHash: null, tokenSeal: null, expiresAt: null, ...overrides });
  /** A clock that counts its reads. */
  const countingClock = (at: Date) => {
    const clock = {
      reads: 0,
      now: () => {
        clock.reads++;
        return new Date(at);
      },
    };
    return clock;
  };

  it("answers at once, without a promise, while no unit of work runs; with a promise while one does", async () => {
    const grant = active(1);
    await store.connections.saveActive([grant]);
    const account = grant.target.account as string;
    expect(store.connections.activeAccess(ORG, grant.context, account)).toBe(4);
    expect(store.connections.activeAccess(ORG, grant.context, hex("a", 999))).toBeNull();
    let release!: () => void;
    const held = store.transaction(() => new Promise<void>((resolve) => (release = resolve)));
    await Promise.resolve();
    const waiting = store.connections.activeAccess(ORG, grant.context, account);
    expect(waiting).toBeInstanceOf(Promise);
    release();
    await held;
    expect(await waiting).toBe(4);
  });

  it("reads the clock it is given only for a grant with an end, and judges that end at its time", async () => {
    const end = new Date(NOW.getTime() + 60_000);
    const open = active(1);
    const timed = active(2, { accessExpiresAt: end });
    await store.connections.saveActive([open, timed]);
    const before = countingClock(NOW);
    expect(store.connections.activeAccess(ORG, open.context, open.target.account as string, before)).toBe(4);
    expect(store.connections.activeAccess(ORG, open.context, hex("a", 999), before)).toBeNull();
    expect(before.reads).toBe(0);
    expect(store.connections.activeAccess(ORG, timed.context, timed.target.account as string, before)).toBe(
      4,
    );
    expect(before.reads).toBe(1);
    const at = countingClock(end);
    expect(store.connections.activeAccess(ORG, timed.context, timed.target.account as string, at)).toBeNull();
    expect(at.reads).toBe(1);
  });
});

describe("copies in and out: nothing a caller holds is what is stored", () => {
  it("mutating a record passed to savePending or saveActive changes nothing stored", async () => {
    const input = pending(1);
    await store.connections.savePending([input], NOW);
    input.access = 7;
    input.roles.push(hex("e", 9));
    input.context._id = hex("c", 9);
    input.created.setTime(0);
    (input.target.name as { first?: string }).first = "Mallory";
    input.expiresAt?.setTime(0);
    expect(await store.connections.findById(ORG, hex("b", 1), NOW)).toEqual(pending(1));

    const active = pending(2, { state: 1, tokenHash: null, tokenSeal: null, expiresAt: null });
    await store.connections.saveActive([active]);
    active.roles.length = 0;
    active.target.account = hex("a", 999);
    expect((await store.connections.findById(ORG, hex("b", 2), NOW))?.roles).toEqual([hex("e", 1)]);
    expect(await store.connections.activeAccess(ORG, active.context, hex("a", 102))).toBe(4);
  });

  it("mutating a returned record changes nothing stored", async () => {
    const [saved] = await store.connections.savePending([pending(1)], NOW);
    (saved as ConnectionRecord).roles.push("x");
    const found = (await store.connections.findById(ORG, hex("b", 1), NOW)) as ConnectionRecord;
    found.access = 7;
    found.roles.push("y");
    (found.target.name as { first?: string }).first = "Mallory";
    found.expiresAt?.setTime(0);
    found.created.setTime(0);
    const page = await store.connections.list(ORG, {
      filter: { by: "creator", account: hex("a", 1) },
      limit: 10,
      now: NOW,
    });
    (page.records[0] as ConnectionRecord).access = 2;
    expect(await store.connections.findById(ORG, hex("b", 1), NOW)).toEqual(pending(1));
    expect(await store.connections.findPendingByTokenHash(ORG, "hash-1", NOW)).toEqual(pending(1));
  });

  it("outbox rows and claimed messages are copies", async () => {
    const n = notice("m1");
    await store.outbox.enqueue([{ id: "m1", org: ORG, notice: n, availableAt: NOW }]);
    n.recipient.email = "mallory@example.com";
    const [claimed] = await store.outbox.claim(ORG, NOW, 10, 1000);
    (claimed as { notice: SealedNotice }).notice.recipient.email = "eve@example.com";
    const rows = await store.outbox.rows();
    (rows[0] as { notice: SealedNotice }).notice.access = 7;
    const [row] = await store.outbox.rows();
    expect(row?.notice.recipient.email).toBe("bob@example.com");
    expect(row?.notice.access).toBe(4);
  });

  it("host adapters copy too", async () => {
    const accounts = new InMemoryAccountDirectory();
    const account = { _id: hex("a", 1), email: " Bob@Example.com ", name: { first: "Bob" }, verified: true };
    const put = accounts.put(ORG, account);
    expect(put.email).toBe("bob@example.com");
    account.name.first = "Mallory";
    put.verified = false;
    const [found] = await accounts.findByIds(ORG, [hex("a", 1)]);
    expect(found).toEqual({
      _id: hex("a", 1),
      email: "bob@example.com",
      name: { first: "Bob" },
      verified: true,
    });
    (found as { name: { first?: string } }).name.first = "Eve";
    expect((await accounts.findByEmails(ORG, ["bob@example.com"]))[0]?.name).toEqual({ first: "Bob" });
    expect(await accounts.findByIds("other", [hex("a", 1)])).toEqual([]);
    expect(() => accounts.put(ORG, { ...account, _id: hex("a", 2), email: "bob@example.com" })).toThrow();

    const contexts = new InMemoryContextAccess();
    contexts.defineObject(ORG, { name: "c_file", allowConnections: true });
    const settings = await contexts.objectSettings(ORG, "c_file");
    expect(settings).toMatchObject({
      allowConnections: true,
      requireAccept: true,
      requiredAccess: 5,
      sendNotifications: true,
      shareChain: [5, 4, 2],
    });
    settings?.shareChain.push(7);
    expect((await contexts.objectSettings(ORG, "c_file"))?.shareChain).toEqual([5, 4, 2]);
    expect(await contexts.objectSettings(ORG, "c_other")).toBeNull();

    const orgs = new InMemoryOrgDirectory();
    orgs.put({ code: ORG, name: "Acme" });
    const org = await orgs.get(ORG);
    expect(org?.pendingConnectionExpiry).toBe(7);
    (org as { name: string }).name = "Evil";
    expect((await orgs.get(ORG))?.name).toBe("Acme");
  });

  it("the recording notifier and event publisher keep copies", async () => {
    const notifier = new RecordingNotifier();
    const n = { ...notice("m1"), token: "t".repeat(43), acceptUrl: null } as unknown as Parameters<
      RecordingNotifier["send"]
    >[0];
    await notifier.send(n);
    n.recipient.email = "eve@example.com";
    expect(notifier.sent[0]?.recipient.email).toBe("bob@example.com");
    notifier.clear();
    expect(notifier.sent).toEqual([]);

    const events = new RecordingEventPublisher();
    const record = pending(1);
    const { tokenHash: _h, tokenSeal: _s, ...snapshot } = record;
    const event = {
      type: "connection.created" as const,
      org: ORG,
      at: NOW,
      actor: null,
      connection: snapshot,
    };
    await events.publish([event]);
    event.connection.access = 7;
    expect(events.events[0]?.connection.access).toBe(4);
  });
});

describe("units of work", () => {
  it("a failed unit of work leaves nothing behind: records, indexes and outbox", async () => {
    const existing = pending(9, { state: 1, tokenHash: null, tokenSeal: null, expiresAt: null });
    await store.connections.saveActive([existing]);
    const before = JSON.stringify({ r: [...store.state.records.values()], o: await store.outbox.rows() });

    await expect(
      store.transaction(async (tx) => {
        await tx.connections.savePending([pending(1), pending(2)], NOW);
        await tx.outbox.enqueue([{ id: "m1", org: ORG, notice: notice("m1"), availableAt: NOW }]);
        await tx.connections.deleteById(ORG, existing._id);
        await tx.connections.saveActive([
          pending(3, { state: 1, tokenHash: null, tokenSeal: null, expiresAt: null }),
        ]);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");

    expect(JSON.stringify({ r: [...store.state.records.values()], o: await store.outbox.rows() })).toBe(
      before,
    );
    expect(await store.outbox.counts()).toEqual({ pending: 0, delivered: 0, dead: 0 });
    expect(await store.connections.findPendingByTokenHash(ORG, "hash-1", NOW)).toBeNull();
    expect(await store.connections.findById(ORG, existing._id, NOW)).toEqual(existing);
    expect(
      await store.connections.activeAccess(ORG, existing.context, existing.target.account as string),
    ).toBe(4);
    expect(store.state.pending.size).toBe(0);
    expect(store.state.tokens.size).toBe(0);
    expect(store.state.active.size).toBe(1);
    expect(store.state.activeLevels.size).toBe(1);

    // The same writes succeed afterwards: no unique index was left behind.
    await store.transaction(async (tx) => {
      await tx.connections.savePending([pending(1)], NOW);
      await tx.outbox.enqueue([{ id: "m1", org: ORG, notice: notice("m1"), availableAt: NOW }]);
    });
    expect(await store.connections.findPendingByTokenHash(ORG, "hash-1", NOW)).toEqual(pending(1));
    expect(await store.outbox.counts()).toEqual({ pending: 1, delivered: 0, dead: 0 });
  });

  it("a unit of work that commits keeps everything, and afterCommit runs once it enqueued", async () => {
    let after = 0;
    const uow = new InMemoryUnitOfWork({
      afterCommit: async () => {
        after++;
      },
    });
    await uow.transaction((tx) => tx.connections.savePending([pending(1)], NOW));
    expect(after).toBe(0);
    await uow.transaction((tx) =>
      tx.outbox.enqueue([{ id: "m1", org: ORG, notice: notice("m1"), availableAt: NOW }]),
    );
    expect(after).toBe(1);
    await expect(
      uow.transaction(async (tx) => {
        await tx.outbox.enqueue([{ id: "m2", org: ORG, notice: notice("m2"), availableAt: NOW }]);
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    expect(after).toBe(1);
  });

  it("units of work run one at a time; readers never see uncommitted writes", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const running = store.transaction(async (tx) => {
      await tx.connections.savePending([pending(1)], NOW);
      await gate;
    });
    await new Promise((resolve) => setTimeout(resolve, 0));
    let read: ConnectionRecord | null | undefined;
    const reader = store.connections.findById(ORG, hex("b", 1), NOW).then((r) => {
      read = r;
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(read).toBeUndefined(); // waiting for the unit of work
    release();
    await running;
    await reader;
    expect(read?._id).toBe(hex("b", 1));
  });

  it("unique indexes: one active connection per context and account, one token hash", async () => {
    const active = (n: number) =>
      pending(n, {
        state: 1,
        tokenHash: null,
        tokenSeal: null,
        expiresAt: null,
        target: { account: hex("a", 500), email: null, name: null },
      });
    await store.connections.saveActive([active(1)]);
    const [merged] = await store.connections.saveActive([{ ...active(2), access: 6, roles: [hex("e", 2)] }]);
    expect(merged?._id).toBe(hex("b", 1)); // merged into the stored one
    expect(merged?.access).toBe(6);
    expect(merged?.roles).toEqual([hex("e", 1), hex("e", 2)]);
    expect(store.state.records.size).toBe(1);
  });

  it("expired pending records are invisible to reads and claims", async () => {
    await store.connections.savePending([pending(1)], NOW);
    const later = new Date(NOW.getTime() + 7 * 86_400_000);
    expect(await store.connections.findById(ORG, hex("b", 1), later)).toBeNull();
    expect(await store.connections.findPendingByTokenHash(ORG, "hash-1", later)).toBeNull();
    expect(await store.connections.claimPending(ORG, hex("b", 1), later)).toBeNull();
    expect(store.state.records.size).toBe(1);
    expect(await store.connections.purgeExpired(ORG, later, 10)).toHaveLength(1);
    expect(store.state.records.size).toBe(0);
  });
});

describe("CryptoTokenService", () => {
  it("issues tokens of at least 32 URL-safe characters, stored only as a hash", () => {
    const service = new CryptoTokenService();
    const { token, hash, seal } = service.issue();
    expect(token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(hash).not.toBe(token);
    expect(seal).not.toBe(token);
    expect(hash).not.toContain(token);
    expect(service.hash(token)).toBe(hash);
    expect(service.matches(token, hash)).toBe(true);
    expect(service.matches(`${token}x`, hash)).toBe(false);
    expect(service.matches(token.slice(1), hash)).toBe(false);
    expect(service.matches(token, `${hash}x`)).toBe(false);
    expect(service.matches(token, "")).toBe(false);
    expect(service.reveal(seal)).toBe(token);
  });

  it("hashes are SHA-256 of the token's UTF-8, in base64url (stored hashes stay valid)", () => {
    const service = new CryptoTokenService();
    // FIPS 180-2's vector for "abc".
    expect(service.hash("abc")).toBe("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (text) => {
        expect(service.hash(text)).toBe(createHash("sha256").update(text, "utf8").digest("base64url"));
      }),
      { numRuns: 200 },
    );
  });

  it("tokens and seals are unique, across refills of the seals' pool (256 a draw)", () => {
    const service = new CryptoTokenService();
    const issued = Array.from({ length: 600 }, () => service.issue());
    expect(new Set(issued.map((i) => i.token)).size).toBe(600);
    expect(new Set(issued.map((i) => i.seal)).size).toBe(600);
    for (const { seal } of issued) expect(seal).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it("the key decides the token: the same key reveals it, a different key does not", () => {
    const key = "k".repeat(32);
    const a = new CryptoTokenService({ key });
    const b = new CryptoTokenService({ key });
    const other = new CryptoTokenService({ key: "z".repeat(32) });
    const random = new CryptoTokenService();
    const { token, seal } = a.issue();
    expect(b.reveal(seal)).toBe(token);
    expect(other.reveal(seal)).not.toBe(token);
    expect(random.reveal(seal)).not.toBe(token);
    // Hashes need no key.
    expect(other.hash(token)).toBe(a.hash(token));
  });

  it("a token is HMAC-SHA256(key, 'conn-token:' + seal) in base64url, whatever the key's and the seal's length", () => {
    // node:crypto's createHmac is the reference. RFC 4231's case 6 key (131 bytes of 0xaa, longer than SHA-256's
    // block, so hashed first), then keys of 32 to 200 bytes (around the 64-byte block) and seals short and long
    // (past the reusable buffer's room), with characters of 1 to 4 UTF-8 bytes.
    const case6Key = Buffer.alloc(131, 0xaa);
    const case6 = new CryptoTokenService({ key: case6Key });
    expect(case6.reveal("x")).toBe(
      createHmac("sha256", case6Key).update("conn-token:x", "utf8").digest("base64url"),
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 200 }),
        fc.oneof(fc.string({ unit: "binary", maxLength: 40 }), fc.string({ unit: "binary", maxLength: 400 })),
        (key, seal) => {
          const expected = createHmac("sha256", Buffer.from(key))
            .update(`conn-token:${seal}`, "utf8")
            .digest("base64url");
          expect(new CryptoTokenService({ key }).reveal(seal)).toBe(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reveals the same token for a seal however many others it revealed in between (no state left behind)", () => {
    const key = "k".repeat(40);
    const service = new CryptoTokenService({ key });
    const { token, seal } = service.issue();
    // Long seals (past the reusable buffer's room: the slower path), one of 2-byte characters, in between.
    for (const long of ["é".repeat(300), "a".repeat(1000), "a".repeat(437), "a".repeat(438)]) {
      expect(service.reveal(long)).toBe(
        createHmac("sha256", key).update(`conn-token:${long}`, "utf8").digest("base64url"),
      );
    }
    expect(service.reveal(seal)).toBe(token);
  });

  it("refuses a key shorter than 32 bytes", () => {
    expect(() => new CryptoTokenService({ key: "short" })).toThrow();
    expect(() => new CryptoTokenService({ key: new Uint8Array(31) })).toThrow();
    expect(() => new CryptoTokenService({ key: new Uint8Array(32) })).not.toThrow();
  });

  it("property: matches is true exactly for the issued token", () => {
    const service = new CryptoTokenService();
    const { token, hash } = service.issue();
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (guess) => {
        expect(service.matches(guess, hash)).toBe(guess === token);
      }),
    );
  });
});

describe("CryptoRandom", () => {
  it("returns numbers in [0, 1)", () => {
    const random = new CryptoRandom();
    const values = Array.from({ length: 1000 }, () => random.next());
    for (const v of values) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
    }
    expect(new Set(values).size).toBeGreaterThan(990);
  });
});

describe("RandomIdGenerator", () => {
  it("makes 24-hex-digit ids with the clock's seconds in front, sorting by second", () => {
    const clock = new ManualClock("2026-01-01T00:00:00.000Z");
    const ids = new RandomIdGenerator(clock);
    const made = Array.from({ length: 2000 }, (_, i) => {
      if (i % 100 === 0) clock.advance(1500);
      return ids.next();
    });
    for (const id of made) expect(id).toMatch(/^[0-9a-f]{24}$/);
    for (let i = 100; i < made.length; i += 100)
      expect((made[i] as string) > (made[i - 1] as string)).toBe(true);
    const seconds = Math.floor(clock.now().getTime() / 1000);
    expect(Number.parseInt((made.at(-1) as string).slice(0, 8), 16)).toBe(seconds);
  });

  it("ids of a later call never sort under an earlier second when the clock is set back", () => {
    const clock = new ManualClock("2026-01-01T00:00:00.000Z");
    const ids = new RandomIdGenerator(clock);
    const a = ids.next();
    clock.set("2025-01-01T00:00:00.000Z");
    expect(ids.next().slice(0, 8)).toBe(a.slice(0, 8));
  });

  it("cannot be walked: ids made in one second share nothing past the time, and every random bit varies", () => {
    const ids = new RandomIdGenerator(new ManualClock());
    const made = Array.from({ length: 4096 }, () => ids.next());
    expect(new Set(made).size).toBe(made.length);
    const tails = made.map((id) => BigInt(`0x${id.slice(8)}`));
    // Each of the 64 bits after the time is 1 in about half of the ids (a counter or a fixed part would not be).
    for (let bit = 0n; bit < 64n; bit++) {
      const ones = tails.filter((t) => (t >> bit) & 1n).length;
      expect(ones).toBeGreaterThan(4096 * 0.4);
      expect(ones).toBeLessThan(4096 * 0.6);
    }
    // Neighbours differ by far more than a counter step: counting down from one id finds nothing.
    const gaps = tails
      .slice(1)
      .map((t, i) => (t > (tails[i] as bigint) ? t - (tails[i] as bigint) : (tails[i] as bigint) - t));
    expect(gaps.filter((g) => g < 1n << 32n)).toEqual([]);
  });

  it("two generators make different ids", () => {
    const clock = new ManualClock();
    const a = new RandomIdGenerator(clock);
    const b = new RandomIdGenerator(clock);
    const all = new Set([
      ...Array.from({ length: 100 }, () => a.next()),
      ...Array.from({ length: 100 }, () => b.next()),
    ]);
    expect(all.size).toBe(200);
  });
});

describe("ManualClock", () => {
  const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

  it("starts at the given time and moves only when told", () => {
    const clock = new ManualClock("2026-03-04T05:06:07.000Z");
    expect(clock.now().toISOString()).toBe("2026-03-04T05:06:07.000Z");
    clock.advance(1000);
    expect(clock.now().toISOString()).toBe("2026-03-04T05:06:08.000Z");
    clock.set(new Date("2020-01-01T00:00:00.000Z"));
    expect(clock.now().toISOString()).toBe("2020-01-01T00:00:00.000Z");
    const now = clock.now();
    now.setTime(0);
    expect(clock.now().getTime()).not.toBe(0);
  });

  it("sleep wakes when the time is advanced past its deadline, not before", async () => {
    const clock = new ManualClock();
    let woke = false;
    const sleeping = clock.sleep(1000).then(() => {
      woke = true;
    });
    await flush();
    expect(woke).toBe(false);
    clock.advance(999);
    await flush();
    expect(woke).toBe(false);
    clock.advance(1);
    await sleeping;
    expect(woke).toBe(true);
  });

  it("sleep wakes on set, and at once when aborted", async () => {
    const clock = new ManualClock("2026-01-01T00:00:00.000Z");
    const a = clock.sleep(60_000);
    clock.set("2026-01-02T00:00:00.000Z");
    await a;
    const controller = new AbortController();
    const b = clock.sleep(60_000, controller.signal);
    controller.abort();
    await b;
    await clock.sleep(1000, controller.signal); // already aborted: at once
  });

  it("SystemClock sleeps for real and stops early on abort", async () => {
    const clock = new SystemClock();
    const start = Date.now();
    await clock.sleep(5);
    expect(Date.now() - start).toBeGreaterThanOrEqual(4);
    const controller = new AbortController();
    const long = clock.sleep(60_000, controller.signal);
    controller.abort();
    await long;
    expect(Date.now() - start).toBeLessThan(5_000);
    expect(Math.abs(clock.now().getTime() - Date.now())).toBeLessThan(1000);
  });
});
