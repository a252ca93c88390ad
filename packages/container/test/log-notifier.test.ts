import { AccessLevel, acceptUrl, NOTICE_KINDS, type Notice, type NoticeKind } from "@conn/core";
import { describe, expect, it } from "vitest";
import { LogNotifier } from "../src/index.js";

const TOKEN = "t0k3n-secret-0123456789abcdefghijklmnopqrstuv";

/** A notice of `kind`, with a token for invitations and the end for access-ending. */
function noticeOf(kind: NoticeKind): Notice {
  const invitation = kind === "invite-existing-user" || kind === "invite-new-user";
  return {
    kind,
    idempotencyKey: `acme:${kind}`,
    org: { code: "acme", name: "Acme Health" },
    recipient: { account: null, email: "rita@acme.example", name: { first: "Rita" } },
    context: {
      object: "c_chart",
      _id: "6f0000000000000000000f01",
      path: "/c_charts/6f0000000000000000000f01",
      label: null,
    },
    connectionId: "5c0000000000000000000c01",
    access: AccessLevel.Read,
    creator: { _id: "6c0000000000000000000c01", name: { first: "Cora" } },
    token: invitation ? TOKEN : null,
    acceptUrl: invitation ? acceptUrl("https://app.acme.example/invite/{token}", TOKEN) : null,
    expiresAt: invitation ? new Date("2026-01-08T00:00:00.000Z") : null,
    ...(kind === "access-ending"
      ? {
          accessEnding: {
            endsAt: new Date("2026-01-03T09:00:00.000Z"),
            audience: "creator" as const,
            target: { account: "6d0000000000000000000d01", name: null },
          },
        }
      : {}),
  };
}

describe("LogNotifier", () => {
  it.each(NOTICE_KINDS)(
    "writes one line for %s naming kind, recipient, record, connection and level, never the token",
    async (kind) => {
      const lines: string[] = [];
      await new LogNotifier({ info: (line) => lines.push(line) }).send(noticeOf(kind));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(
        `[conn] notice ${kind} to rita@acme.example about /c_charts/6f0000000000000000000f01 (connection 5c0000000000000000000c01, access 4)`,
      );
      expect(lines[0]).not.toContain(TOKEN);
    },
  );

  it("an access-ending line states the end instant and whom the copy is for", async () => {
    const lines: string[] = [];
    await new LogNotifier({ info: (line) => lines.push(line) }).send(noticeOf("access-ending"));
    expect(lines[0]).toMatch(/ ends=2026-01-03T09:00:00\.000Z for=creator$/);
  });
});
