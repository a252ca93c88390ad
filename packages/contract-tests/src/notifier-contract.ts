import { randomBytes } from "node:crypto";
import {
  AccessLevel,
  acceptUrl,
  isInvitationKind,
  NOTICE_KINDS,
  type Notice,
  type NoticeKind,
  type Notifier,
} from "@conn/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { itNeeds, type OptOuts } from "./capabilities.js";

/** One message as the delivery channel received it: its recipients and its readable content. */
export interface DeliveredMessage {
  /** The recipient address(es) the message went to. */
  to: string | readonly string[];
  /** The message as the recipient reads it (plain text, or the whole rendered message). */
  text: string;
  /** The HTML body, when the channel sends one. */
  html?: string | undefined;
}

/** What one notifier test works with: the notifier and a back door to what it delivered. */
export interface NotifierHarness {
  /** The notifier under test. */
  notifier: Notifier;
  /** Every message delivered so far (other tests' messages may appear: the suite filters by its own recipients). */
  delivered(): Promise<DeliveredMessage[]>;
}

/** Optional capabilities of the notifier suite an adapter may opt out of, with a reason. */
export type NotifierCapability = "html";

/** How an adapter runs {@link notifierContract}: a fresh harness per test. */
export interface NotifierContractFactory {
  /** Builds a notifier for one test. */
  setup(): Promise<NotifierHarness>;
  /** Releases what `setup` built. */
  teardown?(harness: NotifierHarness): Promise<void>;
  /** Capabilities opted out of, each with the reason shown in the skipped tests' names. */
  skip?: OptOuts<NotifierCapability>;
}

const KINDS: readonly NoticeKind[] = NOTICE_KINDS;
const HOSTILE_NAME = {
  first: '<script>alert("x")</script>\r\nBcc: ',
  last: "<img src=x onerror=alert(1)> & \"quotes\" 'apostrophes' \u202Eevil",
};

function uniqueAddress(tag: string): string {
  return `${tag}+${randomBytes(6).toString("hex")}@example.com`;
}

/** A notice of `kind` to a fresh recipient address, with a fresh token for invitations. */
function noticeOf(kind: NoticeKind, over: Partial<Notice> = {}): Notice {
  const invitation = isInvitationKind(kind);
  const token = randomBytes(32).toString("base64url");
  const connectionId = randomBytes(12).toString("hex");
  return {
    kind,
    idempotencyKey: `contract:${connectionId}`,
    org: { code: "contract", name: "Contract Health" },
    recipient: {
      account: kind === "invite-new-user" ? null : randomBytes(12).toString("hex"),
      email: uniqueAddress("recipient"),
      name: { first: "Rita", last: "Recipient" },
    },
    context: {
      object: "c_prescription",
      _id: "6f0000000000000000000f01",
      path: "/c_prescriptions/6f0000000000000000000f01",
      label: "prescription",
    },
    connectionId,
    access: AccessLevel.Read,
    creator: { _id: "6c0000000000000000000c01", name: { first: "Cora", last: "Creator" } },
    token: invitation ? token : null,
    acceptUrl: invitation ? acceptUrl("https://app.example.com/connections/{token}", token) : null,
    expiresAt: invitation ? new Date("2026-01-08T00:00:00.000Z") : null,
    ...(kind === "access-ending"
      ? {
          accessEnding: {
            endsAt: new Date("2026-01-03T09:00:00.000Z"),
            audience: "target" as const,
            target: { account: "6d0000000000000000000d01", name: { first: "Rita", last: "Recipient" } },
          },
        }
      : {}),
    ...over,
  };
}

const recipients = (m: DeliveredMessage): readonly string[] => (typeof m.to === "string" ? [m.to] : m.to);
const lower = (s: string) => s.toLowerCase();

/**
 * The conformance suite of {@link Notifier}: every notice kind reaches `recipient.email` and no one else, an
 * invitation carries its token, and a hostile name neither breaks delivery nor injects recipients or markup.
 */
export function notifierContract(name: string, factory: NotifierContractFactory): void {
  describe(`Notifier contract: ${name}`, () => {
    let h: NotifierHarness;
    beforeEach(async () => {
      h = await factory.setup();
    });
    afterEach(async () => {
      await factory.teardown?.(h);
    });

    const deliveredTo = async (address: string) =>
      (await h.delivered()).filter((m) => recipients(m).map(lower).includes(lower(address)));

    for (const kind of KINDS) {
      it(`send(${kind}) delivers one message to recipient.email and to no one else`, async () => {
        const notice = noticeOf(kind);
        await h.notifier.send(notice);
        const messages = await deliveredTo(notice.recipient.email);
        expect(messages).toHaveLength(1);
        expect(recipients(messages[0] as DeliveredMessage).map(lower)).toEqual([
          lower(notice.recipient.email),
        ]);
      });
    }

    for (const kind of ["invite-existing-user", "invite-new-user"] as const) {
      it(`send(${kind}): the accept token reaches the recipient`, async () => {
        const notice = noticeOf(kind);
        await h.notifier.send(notice);
        const [message] = await deliveredTo(notice.recipient.email);
        const body = `${message?.text ?? ""}\n${message?.html ?? ""}`;
        expect(body).toContain(notice.token as string);
      });
    }

    it("send(connection-created) carries no token to leak", async () => {
      const notice = noticeOf("connection-created");
      await h.notifier.send(notice);
      expect(await deliveredTo(notice.recipient.email)).toHaveLength(1);
    });

    for (const audience of ["target", "creator"] as const) {
      it(`send(access-ending) to the ${audience} delivers one message naming no token or accept link`, async () => {
        const notice = noticeOf("access-ending");
        notice.accessEnding = { ...(notice.accessEnding as NonNullable<Notice["accessEnding"]>), audience };
        await h.notifier.send(notice);
        const messages = await deliveredTo(notice.recipient.email);
        expect(messages).toHaveLength(1);
        const body = `${messages[0]?.text ?? ""}\n${messages[0]?.html ?? ""}`;
        expect(body).not.toMatch(/token=|\/connections\/[A-Za-z0-9_-]{20,}/);
      });
    }

    it("two notices to two recipients: each gets exactly its own", async () => {
      const first = noticeOf("invite-existing-user");
      const second = noticeOf("invite-new-user");
      await h.notifier.send(first);
      await h.notifier.send(second);
      const [toFirst] = await deliveredTo(first.recipient.email);
      const [toSecond] = await deliveredTo(second.recipient.email);
      expect(`${toFirst?.text}${toFirst?.html ?? ""}`).toContain(first.token as string);
      expect(`${toFirst?.text}${toFirst?.html ?? ""}`).not.toContain(second.token as string);
      expect(`${toSecond?.text}${toSecond?.html ?? ""}`).toContain(second.token as string);
    });

    for (const kind of KINDS) {
      it(`send(${kind}) with hostile names resolves, and delivers to the recipient only`, async () => {
        const injected = uniqueAddress("injected");
        const notice = noticeOf(kind, {
          recipient: {
            account: null,
            email: uniqueAddress("hostile"),
            name: { first: `${HOSTILE_NAME.first}${injected}`, last: HOSTILE_NAME.last },
          },
          creator: { _id: "6c0000000000000000000c01", name: { ...HOSTILE_NAME } },
          org: { code: "contract", name: `Evil & Co <b>bold</b>\r\nCc: ${injected}` },
        });
        await expect(h.notifier.send(notice)).resolves.toBeUndefined();
        const messages = await deliveredTo(notice.recipient.email);
        expect(messages).toHaveLength(1);
        expect(recipients(messages[0] as DeliveredMessage).map(lower)).toEqual([
          lower(notice.recipient.email),
        ]);
        expect(await deliveredTo(injected)).toEqual([]);
      });
    }

    itNeeds(
      factory.skip,
      "html",
      "a hostile name of the grant's target never reaches the HTML as live markup",
      async () => {
        const notice = noticeOf("access-ending", {
          accessEnding: {
            endsAt: new Date("2026-01-03T09:00:00.000Z"),
            audience: "creator",
            target: { account: "6d0000000000000000000d01", name: { ...HOSTILE_NAME } },
          },
        });
        await h.notifier.send(notice);
        const [message] = await deliveredTo(notice.recipient.email);
        expect(message?.html).toBeTypeOf("string");
        expect(message?.html).not.toContain("<script>");
        expect(message?.html).not.toContain("<img src=x");
        expect(message?.html).toContain("&lt;script&gt;");
      },
    );

    itNeeds(factory.skip, "html", "hostile names never reach the HTML body as live markup", async () => {
      const notice = noticeOf("invite-existing-user", {
        creator: { _id: "6c0000000000000000000c01", name: { ...HOSTILE_NAME } },
      });
      await h.notifier.send(notice);
      const [message] = await deliveredTo(notice.recipient.email);
      expect(
        message?.html,
        "the channel reported no HTML body (opt out of 'html' if it sends none)",
      ).toBeTypeOf("string");
      expect(message?.html).not.toContain("<script>");
      expect(message?.html).not.toContain("<img src=x");
    });
  });
}
