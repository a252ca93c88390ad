/** The invitation ledger: what became of each emailed link, kept by a hash and never by the token. */
import { AccessLevel, type Notice } from "@conn/core";
import { describe, expect, it } from "vitest";
import { InvitationLedger, RememberingNotifier } from "../src/invitation-ledger.ts";

const DAY = 24 * 60 * 60 * 1000;

function notice(
  connectionId: string,
  token: string,
  expiresAt: Date | null = new Date("2026-01-08T00:00:00Z"),
): Notice {
  return {
    kind: "invite-new-user",
    idempotencyKey: `${connectionId}:${token}`,
    org: { code: "acme", name: "Acme Health" },
    recipient: { account: null, email: "dan@elsewhere.example", name: null },
    context: { object: "c_patient_file", _id: "f1", path: "/c_patient_files/f1", label: null },
    connectionId,
    access: AccessLevel.Read,
    creator: { _id: "alice", name: { first: "Alice" } },
    token,
    acceptUrl: `https://app.example/acme/connections/${token}`,
    expiresAt,
  };
}

function ledgerAt(time: string, max?: number) {
  let now = new Date(time);
  const ledger = new InvitationLedger(() => now, max);
  return { ledger, move: (ms: number) => (now = new Date(now.getTime() + ms)) };
}

const T1 = "t".repeat(43);
const T2 = "u".repeat(43);

describe("InvitationLedger", () => {
  it("knows a sent link by org and token only, and expires it by the clock it is given", () => {
    const { ledger, move } = ledgerAt("2026-01-01T00:00:00Z");
    ledger.sent(notice("c1", T1));
    const link = ledger.find("acme", T1);
    expect(link).toMatchObject({ connectionId: "c1", creator: "alice", fate: "sent", by: null });
    expect(ledger.find("other", T1)).toBeNull();
    expect(ledger.find("acme", T2)).toBeNull();
    expect(ledger.isExpired(link!)).toBe(false);
    move(7 * DAY);
    expect(ledger.isExpired(ledger.find("acme", T1)!)).toBe(true); // at exactly expiresAt it has expired
  });

  it("keeps no token: nothing it holds contains one", () => {
    const { ledger } = ledgerAt("2026-01-01T00:00:00Z");
    ledger.sent(notice("c1", T1));
    ledger.accepted("acme", T1, "bob");
    expect(JSON.stringify([...(ledger as unknown as { links: Map<string, unknown> }).links])).not.toContain(
      T1,
    );
  });

  it("a second link to the same connection (a re-invite) marks the first replaced; a repeated delivery changes nothing", () => {
    const { ledger } = ledgerAt("2026-01-01T00:00:00Z");
    ledger.sent(notice("c1", T1));
    ledger.accepted("acme", T1, "bob");
    ledger.sent(notice("c1", T1)); // delivered twice: the first record stands
    expect(ledger.find("acme", T1)?.fate).toBe("accepted");

    const other = ledgerAt("2026-01-01T00:00:00Z").ledger;
    other.sent(notice("c1", T1));
    other.sent(notice("c1", T2));
    expect(other.find("acme", T1)?.fate).toBe("replaced");
    expect(other.find("acme", T2)?.fate).toBe("sent");
  });

  it("records accepted (by whom), declined and withdrawn; a withdrawal leaves settled links alone", () => {
    const { ledger } = ledgerAt("2026-01-01T00:00:00Z");
    ledger.sent(notice("c1", T1));
    ledger.sent(notice("c2", T2));
    ledger.accepted("acme", T1, "bob");
    ledger.withdrawn("acme", "c1");
    ledger.withdrawn("acme", "c2");
    expect(ledger.find("acme", T1)).toMatchObject({ fate: "accepted", by: "bob" });
    expect(ledger.find("acme", T2)?.fate).toBe("withdrawn");
    ledger.declined("acme", "v".repeat(43)); // never sent: nothing to record
    expect(ledger.find("acme", "v".repeat(43))).toBeNull();
  });

  it("keeps at most `max` links, forgetting the oldest", () => {
    const { ledger } = ledgerAt("2026-01-01T00:00:00Z", 2);
    for (const [i, t] of ["a", "b", "c"].entries()) ledger.sent(notice(`c${i}`, t.repeat(43)));
    expect(ledger.find("acme", "a".repeat(43))).toBeNull();
    expect(ledger.find("acme", "b".repeat(43))?.fate).toBe("sent");
    expect(ledger.find("acme", "c".repeat(43))?.fate).toBe("sent");
  });

  it("RememberingNotifier records a link only once the inner notifier delivered it", async () => {
    const { ledger } = ledgerAt("2026-01-01T00:00:00Z");
    const failing = new RememberingNotifier({ send: () => Promise.reject(new Error("SES down")) }, ledger);
    await expect(failing.send(notice("c1", T1))).rejects.toThrow("SES down");
    expect(ledger.find("acme", T1)).toBeNull();
    const sent: Notice[] = [];
    await new RememberingNotifier({ send: async (n) => void sent.push(n) }, ledger).send(notice("c1", T1));
    expect(sent).toHaveLength(1);
    expect(ledger.find("acme", T1)?.fate).toBe("sent");
  });
});
