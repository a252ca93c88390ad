import { SESv2Client } from "@aws-sdk/client-sesv2";
import { AccessLevel, type Notice, type NoticeKind } from "@conn/core";
import { describe, expect, it } from "vitest";
import { IDEMPOTENCY_KEY_HEADER, SesNotifier } from "../src/index.js";
import { emailsTo, emulatorOptions, hrefs, makeNotice, onlyEmailTo, uniqueEmail } from "./helpers.js";

const FROM = "Acme <no-reply@acme.example>";

function notifier(extra: Partial<ConstructorParameters<typeof SesNotifier>[0]> = {}): SesNotifier {
  return new SesNotifier({ from: FROM, ...emulatorOptions(), ...extra });
}

/** The token of an invitation notice (fails the test when there is none). */
function tokenOf(notice: Notice): string {
  if (notice.token === null) throw new Error("notice has no token");
  return notice.token;
}

describe("SesNotifier.send() against the SES emulator", () => {
  it("sends invite-existing-user to the recipient with subject, both bodies, the accept link and the expiry", async () => {
    const notice = makeNotice("invite-existing-user");
    await notifier().send(notice);

    const email = await onlyEmailTo(notice.recipient.email);
    const token = tokenOf(notice);
    expect(email.from).toBe(FROM);
    expect(email.destination).toEqual({ to: [notice.recipient.email], cc: [], bcc: [] });
    expect(email.subject).toBe("Grace Hopper invited you to a shared prescription on Acme Health");

    const text = email.body.text ?? "";
    expect(text).toContain("Hi Ada,");
    expect(text).toContain(
      "Grace Hopper invited you to a shared prescription on Acme Health, with Read access.",
    );
    expect(text).toContain(`https://app.example.com/invite?org=acme&token=${token}`);
    expect(text).toContain("This invitation expires on January 15th, 2030 at 12:00 PM GMT+0.");

    const html = email.body.html ?? "";
    expect(html).toContain("<p>Hi Ada,</p>");
    expect(html).toContain(`https://app.example.com/invite?org=acme&amp;token=${token}`);
    expect(html).not.toMatch(/org=acme&token/);
    const links = hrefs(html);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) {
      const url = new URL(link);
      expect(url.origin + url.pathname).toBe("https://app.example.com/invite");
      expect(url.searchParams.get("token")).toBe(token);
    }
  });

  it("sends invite-new-user with the sign-up wording and the recipient's address", async () => {
    const notice = makeNotice("invite-new-user", {
      recipient: { account: null, email: uniqueEmail("newbie"), name: null },
    });
    await notifier().send(notice);

    const email = await onlyEmailTo(notice.recipient.email);
    expect(email.subject).toBe("Grace Hopper invited you to join Acme Health");
    const text = email.body.text ?? "";
    // No name on the notice: the greeting falls back to the email address.
    expect(text).toContain(`Hi ${notice.recipient.email},`);
    expect(text).toContain(`create your account with this email address (${notice.recipient.email})`);
    expect(text).toContain(`token=${tokenOf(notice)}`);
    expect(email.body.html).toContain("Accept and create your account");
    expect(hrefs(email.body.html ?? "").map((h) => new URL(h).searchParams.get("token"))).toContain(
      tokenOf(notice),
    );
  });

  it("sends connection-created with no link and no expiry", async () => {
    const notice = makeNotice("connection-created", { access: AccessLevel.Update });
    await notifier().send(notice);

    const email = await onlyEmailTo(notice.recipient.email);
    expect(email.subject).toBe("Grace Hopper gave you access to a shared prescription on Acme Health");
    expect(email.body.text).toContain(
      "Grace Hopper gave you Update access to a shared prescription on Acme Health.",
    );
    expect(email.body.text).not.toContain("http");
    expect(email.body.text).not.toContain("expires");
    expect(hrefs(email.body.html ?? "")).toEqual([]);
  });

  it("sends exactly one email per notice", async () => {
    const n = notifier();
    const notices = (["invite-existing-user", "invite-new-user", "connection-created"] as NoticeKind[]).map(
      (k) => makeNotice(k),
    );
    for (const notice of notices) await n.send(notice);
    for (const notice of notices) expect(await emailsTo(notice.recipient.email)).toHaveLength(1);
  });

  it("escapes hostile names in the HTML part and strips CR/LF from the subject and text", async () => {
    const notice = makeNotice("invite-existing-user", {
      recipient: {
        account: null,
        email: uniqueEmail("hostile"),
        name: { first: '<script>alert("x")</script>', last: "Evil" },
      },
      creator: {
        _id: "c".repeat(24),
        name: { first: "Mallory\r\nBcc: victim@example.com", last: `O'Brien "the" <b>` },
      },
      org: { code: "acme", name: "Acme & <i>Co</i>\r\nX-Injected: 1" },
      context: {
        object: "c_prescription",
        _id: "a".repeat(24),
        path: `/c_prescriptions/${"a".repeat(24)}`,
        label: '<img src=x onerror="alert(1)">',
      },
      idempotencyKey: "key\r\nX-Evil: 1",
    });
    await notifier().send(notice);
    const email = await onlyEmailTo(notice.recipient.email);

    expect(email.subject).not.toMatch(/[\r\n]/);
    expect(email.subject).toBe(
      `Mallory Bcc: victim@example.com O'Brien "the" <b> invited you to a shared <img src=x onerror="alert(1)"> on Acme & <i>Co</i> X-Injected: 1`,
    );

    const html = email.body.html ?? "";
    expect(html).not.toContain("<script>");
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<i>Co</i>");
    expect(html).not.toContain("<b>");
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(html).toContain("O&#39;Brien &quot;the&quot; &lt;b&gt;");
    expect(html).toContain("Acme &amp; &lt;i&gt;Co&lt;/i&gt;");
    expect(html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
    expect(html).not.toMatch(/\r/);

    const text = email.body.text ?? "";
    expect(text).not.toMatch(/\r/);
    expect(text.split("\n").some((line) => line.startsWith("Bcc:") || line.startsWith("X-Injected"))).toBe(
      false,
    );
    expect(text).toContain('Hi <script>alert("x")</script>,');

    expect(email.headers).toEqual([{ name: IDEMPOTENCY_KEY_HEADER, value: "key X-Evil: 1" }]);
  });

  it("labels the object from the notice, then the host's map, then the object name", async () => {
    const n = notifier({ objectLabels: { c_lab_result: "lab report" } });
    const fromContext = makeNotice("connection-created");
    fromContext.context = { ...fromContext.context, object: "c_lab_result", label: "blood panel" };
    const fromMap = makeNotice("connection-created");
    fromMap.context = { ...fromMap.context, object: "c_lab_result" };
    const fromName = makeNotice("connection-created");
    fromName.context = { ...fromName.context, object: "c_care_plan" };

    expect((await n.render(fromContext)).subject).toContain("a shared blood panel on");
    expect((await n.render(fromMap)).subject).toContain("a shared lab report on");
    expect((await n.render(fromName)).subject).toContain("a shared care plan on");
  });

  it("formats the expiry date in the configured time zone and locale", async () => {
    const { fr } = await import("date-fns/locale/fr");
    const notice = makeNotice("invite-existing-user");
    const ny = await notifier({ timeZone: "America/New_York" }).render(notice);
    expect(ny.text).toContain("This invitation expires on January 15th, 2030 at 7:00 AM GMT-5.");
    const paris = await notifier({ timeZone: "Europe/Paris", locale: fr }).render(notice);
    expect(paris.text).toContain("This invitation expires on 15 janvier 2030 à 13:00 GMT+1.");
    const custom = await notifier({ timeZone: "Asia/Tokyo", dateFormat: "yyyy-MM-dd HH:mm" }).render(notice);
    expect(custom.text).toContain("This invitation expires on 2030-01-15 21:00.");
  });

  it("passes tags, the configuration set, reply-to and the idempotency key to SES", async () => {
    const client = new SESv2Client(emulatorOptions());
    const inputs: unknown[] = [];
    client.middlewareStack.add(
      (next) => (args) => {
        inputs.push(structuredClone(args.input));
        return next(args);
      },
      { step: "initialize", name: "captureInput" },
    );
    const n = new SesNotifier({
      from: FROM,
      client,
      replyTo: ["help@acme.example", "Support <support@acme.example>"],
      configurationSetName: "connections-prod",
      tags: { app: "acme-health", env: "test" },
    });
    const notice = makeNotice("invite-existing-user", { idempotencyKey: "outbox:42/attempt#1" });
    await n.send(notice);

    expect(inputs).toHaveLength(1);
    expect(inputs[0]).toMatchObject({
      FromEmailAddress: FROM,
      Destination: { ToAddresses: [notice.recipient.email] },
      ConfigurationSetName: "connections-prod",
      ReplyToAddresses: ["help@acme.example", "Support <support@acme.example>"],
      EmailTags: [
        { Name: "app", Value: "acme-health" },
        { Name: "env", Value: "test" },
        { Name: "connection_id", Value: notice.connectionId },
        { Name: "notice_kind", Value: "invite-existing-user" },
        { Name: "idempotency_key", Value: "outbox_42_attempt_1" },
      ],
    });
    for (const tag of (inputs[0] as { EmailTags: Array<{ Name: string; Value: string }> }).EmailTags) {
      expect(tag.Name).toMatch(/^[A-Za-z0-9_-]{1,256}$/);
      expect(tag.Value).toMatch(/^[A-Za-z0-9_-]{1,256}$/);
    }
    const email = await onlyEmailTo(notice.recipient.email);
    expect(email.replyTo).toEqual(["help@acme.example", "Support <support@acme.example>"]);
    expect(email.headers).toEqual([{ name: IDEMPOTENCY_KEY_HEADER, value: "outbox:42/attempt#1" }]);
  });

  it("keeps the token out of an SDK client logger", async () => {
    const lines: unknown[] = [];
    const log = (...args: unknown[]) => {
      lines.push(args);
    };
    const client = new SESv2Client({
      ...emulatorOptions(),
      logger: { trace: log, debug: log, info: log, warn: log, error: log },
    });
    const notice = makeNotice("invite-new-user");
    await new SesNotifier({ from: FROM, client }).send(notice);

    expect(await emailsTo(notice.recipient.email)).toHaveLength(1);
    expect(lines.length).toBeGreaterThan(0);
    const logged = JSON.stringify(lines);
    expect(logged).toContain("SendEmailCommand");
    expect(logged).not.toContain(tokenOf(notice));
  });
});

describe("SesNotifier templates", () => {
  it("uses a host's template for the kind it overrides and the defaults for the others", async () => {
    const seen: unknown[] = [];
    const n = notifier({
      objectLabels: { c_prescription: "e-prescription" },
      templates: {
        "invite-new-user": async (data) => {
          seen.push(data);
          return {
            subject: `[${data.orgName}] ${data.creatorName} → ${data.recipientName}\r\n`,
            html: `<p>Custom ${data.accessName} for ${data.objectLabel}: <a href="${data.acceptUrl}">join</a></p>`,
            text: `Custom ${data.accessName} for ${data.objectLabel}: ${data.acceptUrl}`,
          };
        },
      },
    });
    const custom = makeNotice("invite-new-user");
    const standard = makeNotice("invite-existing-user");
    await n.send(custom);
    await n.send(standard);

    const customEmail = await onlyEmailTo(custom.recipient.email);
    expect(customEmail.subject).toBe("[Acme Health] Grace Hopper → Ada");
    expect(customEmail.body.text).toBe(`Custom Read for e-prescription: ${custom.acceptUrl}`);
    expect(customEmail.body.html).toContain("<p>Custom Read for e-prescription:");
    expect(seen).toEqual([
      expect.objectContaining({
        kind: "invite-new-user",
        recipientName: "Ada",
        recipientEmail: custom.recipient.email,
        creatorName: "Grace Hopper",
        orgName: "Acme Health",
        objectLabel: "e-prescription",
        objectName: "c_prescription",
        access: AccessLevel.Read,
        accessName: "Read",
        acceptUrl: custom.acceptUrl,
        expiresAt: custom.expiresAt,
        expiresAtText: "January 15th, 2030 at 12:00 PM GMT+0",
        connectionId: custom.connectionId,
      }),
    ]);

    const standardEmail = await onlyEmailTo(standard.recipient.email);
    expect(standardEmail.subject).toBe("Grace Hopper invited you to a shared e-prescription on Acme Health");
  });

  it("turns a template that throws into a permanent error without the token", async () => {
    const n = notifier({
      templates: {
        "invite-existing-user": (data) => {
          throw new Error(`cannot render ${data.acceptUrl}`);
        },
      },
    });
    const notice = makeNotice("invite-existing-user");
    const err = await n.send(notice).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name: "ConnectionError", retryable: false, reason: "templateFailed" });
    expect(String((err as Error).message)).toContain("[redacted]");
    expect(String((err as Error).message)).not.toContain(tokenOf(notice));
    expect(await emailsTo(notice.recipient.email)).toHaveLength(0);
  });

  it("refuses a template that returns no subject", async () => {
    const n = notifier({
      templates: { "connection-created": () => ({ subject: "\r\n", html: "<p>x</p>", text: "x" }) },
    });
    await expect(n.send(makeNotice("connection-created"))).rejects.toMatchObject({
      retryable: false,
      reason: "templateFailed",
    });
  });
});

describe("SesNotifier refuses notices it cannot deliver safely", () => {
  it("refuses a recipient address carrying CR/LF, as permanent, without sending", async () => {
    const email = uniqueEmail();
    const notice = makeNotice("connection-created");
    notice.recipient = { ...notice.recipient, email: `${email}\r\nBcc: victim@example.com` };
    await expect(notifier().send(notice)).rejects.toMatchObject({
      code: "cortex.error.unspecified",
      retryable: false,
      reason: "invalidRecipient",
    });
    expect(await emailsTo(email)).toHaveLength(0);
  });

  it("refuses an invitation with no accept URL or a non-http(s) one, as permanent", async () => {
    const n = notifier();
    await expect(n.send(makeNotice("invite-new-user", { acceptUrl: null }))).rejects.toMatchObject({
      retryable: false,
      reason: "missingAcceptUrl",
    });
    const notice = makeNotice("invite-existing-user");
    const evil = { ...notice, acceptUrl: `javascript:alert(1)//${tokenOf(notice)}` };
    const err = await n.send(evil).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toMatchObject({ retryable: false, reason: "invalidAcceptUrl" });
    expect(err?.message).not.toContain(tokenOf(notice));
  });
});
