import type { AccessLevel, NoticeKind } from "@conn/core";
import { html } from "./escape.js";

/**
 * What a template receives. Every string is plain text with control characters (CR, LF, …) already stripped;
 * none is HTML-escaped, so escape each value you put in the HTML part (use {@link html} or `escapeHtml`).
 */
export interface TemplateData {
  /** The notice kind being rendered. */
  kind: NoticeKind;
  /** The recipient's first name, or their email address when the notice carries no first name. */
  recipientName: string;
  /** The recipient's email address. */
  recipientEmail: string;
  /** The creator's full name, or "Someone" when the notice carries no name. */
  creatorName: string;
  /** The org's display name (its code when the name is empty). */
  orgName: string;
  /** A human label for the shared object, e.g. "prescription" for `c_prescription`. */
  objectLabel: string;
  /** The object name as the notice carries it, e.g. `c_prescription`. */
  objectName: string;
  /** The access level granted. */
  access: AccessLevel;
  /** The access level's name, e.g. "Read". */
  accessName: string;
  /** The link the recipient accepts with (invitations only; it contains the token, so never log it). */
  acceptUrl: string | null;
  /** When the invitation expires (invitations only). */
  expiresAt: Date | null;
  /** {@link TemplateData.expiresAt} formatted in the configured time zone and locale. */
  expiresAtText: string | null;
  /** The connection's id. */
  connectionId: string;
  /** The shared record's id (the context's `_id`), e.g. `6f0000000000000000000f01`. */
  recordId: string;
  /** `access-ending` only: the instant the grant's access ends. */
  accessEndsAt: Date | null;
  /** {@link TemplateData.accessEndsAt} formatted in the configured time zone and locale. */
  accessEndsAtText: string | null;
  /** `access-ending` only: `target` for the person whose access ends, `creator` for the person who gave it. */
  audience: "target" | "creator" | null;
  /** `access-ending` only: the full name of the person whose access ends, or their email / "someone" without one. */
  targetName: string | null;
}

/** A rendered email: the subject, the HTML part and the plain-text part. */
export interface EmailContent {
  /** The subject line; control characters are stripped again after rendering. */
  subject: string;
  /** The HTML part. */
  html: string;
  /** The plain-text part. */
  text: string;
}

/** Renders one notice kind; may be async. */
export type NoticeTemplate = (data: TemplateData) => EmailContent | Promise<EmailContent>;

/** A template per notice kind; a host may supply any subset to replace the defaults. */
export type NoticeTemplates = Record<NoticeKind, NoticeTemplate>;

/** Wraps body paragraphs (already escaped HTML) in a minimal, email-client-safe HTML document. */
function layout(title: string, bodyHtml: string): string {
  return [
    "<!doctype html>",
    '<html><head><meta charset="utf-8">',
    html`<title>${title}</title>`,
    "</head>",
    '<body style="margin:0;padding:24px;font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;color:#1f2328;">',
    '<div style="max-width:560px;margin:0 auto;">',
    bodyHtml,
    "</div>",
    "</body></html>",
  ].join("\n");
}

/** A call-to-action button and the same link as text, for clients that hide buttons. */
function button(url: string, label: string): string {
  return [
    html`<p><a href="${url}" style="display:inline-block;padding:10px 18px;background:#0b5fff;color:#ffffff;text-decoration:none;border-radius:6px;">${label}</a></p>`,
    html`<p style="font-size:13px;color:#57606a;">Or open this link: <a href="${url}">${url}</a></p>`,
  ].join("\n");
}

/** The expiry sentence, or nothing when the invitation carries no expiry. */
function expiryLine(d: TemplateData): { html: string; text: string } {
  if (d.expiresAtText === null) return { html: "", text: "" };
  return {
    html: html`<p>This invitation expires on ${d.expiresAtText}.</p>`,
    text: `This invitation expires on ${d.expiresAtText}.\n\n`,
  };
}

const IGNORE = "If you did not expect this invitation, you can ignore this email.";

/** The parts in which the two invitation emails differ. */
interface InvitationParts {
  subject: string;
  /** A paragraph before the button (HTML, already escaped), or "". */
  leadHtml: string;
  /** The line before the link in the text part. */
  leadText: string;
  buttonLabel: string;
}

/** An invitation email: greeting, what was shared, the accept link, the expiry, and the "ignore" line. */
function invitationEmail(d: TemplateData, parts: InvitationParts): ReturnType<NoticeTemplate> {
  const url = d.acceptUrl ?? "";
  const expiry = expiryLine(d);
  const shared = html`<p>${d.creatorName} invited you to a shared ${d.objectLabel} on ${d.orgName}, with ${d.accessName} access.</p>`;
  return {
    subject: parts.subject,
    html: layout(
      parts.subject,
      [
        html`<p>Hi ${d.recipientName},</p>`,
        shared,
        ...(parts.leadHtml === "" ? [] : [parts.leadHtml]),
        button(url, parts.buttonLabel),
        expiry.html,
        html`<p style="font-size:13px;color:#57606a;">${IGNORE}</p>`,
      ].join("\n"),
    ),
    text:
      `Hi ${d.recipientName},\n\n` +
      `${d.creatorName} invited you to a shared ${d.objectLabel} on ${d.orgName}, with ${d.accessName} access.\n\n` +
      `${parts.leadText}\n${url}\n\n` +
      expiry.text +
      `${IGNORE}\n`,
  };
}

/** The default invite-existing-user email: the recipient already has an account. */
export const inviteExistingUserTemplate: NoticeTemplate = (d) =>
  invitationEmail(d, {
    subject: `${d.creatorName} invited you to a shared ${d.objectLabel} on ${d.orgName}`,
    leadHtml: "",
    leadText: "Accept the invitation:",
    buttonLabel: "Accept the invitation",
  });

/** The default invite-new-user email: the recipient has no account yet and creates one on accepting. */
export const inviteNewUserTemplate: NoticeTemplate = (d) =>
  invitationEmail(d, {
    subject: `${d.creatorName} invited you to join ${d.orgName}`,
    leadHtml: html`<p>To accept, open the link below and create your account with this email address (${d.recipientEmail}).</p>`,
    leadText: `To accept, open the link below and create your account with this email address (${d.recipientEmail}):`,
    buttonLabel: "Accept and create your account",
  });

/** The default connection-created email: access was granted at once, nothing to accept. */
export const connectionCreatedTemplate: NoticeTemplate = (d) => {
  const subject = `${d.creatorName} gave you access to a shared ${d.objectLabel} on ${d.orgName}`;
  return {
    subject,
    html: layout(
      subject,
      [
        html`<p>Hi ${d.recipientName},</p>`,
        html`<p>${d.creatorName} gave you ${d.accessName} access to a shared ${d.objectLabel} on ${d.orgName}.</p>`,
        html`<p>You will find it the next time you sign in to ${d.orgName}.</p>`,
      ].join("\n"),
    ),
    text:
      `Hi ${d.recipientName},\n\n` +
      `${d.creatorName} gave you ${d.accessName} access to a shared ${d.objectLabel} on ${d.orgName}.\n\n` +
      `You will find it the next time you sign in to ${d.orgName}.\n`,
  };
};

/**
 * The default access-ending email: a time-limited grant ends soon. The target's copy tells them their access ends and
 * who gave it; the creator's copy names whose access ends. Both state the record, the level and the end instant; no
 * link, no token.
 */
export const accessEndingTemplate: NoticeTemplate = (d) => {
  const when = d.accessEndsAtText ?? "soon";
  const who = d.targetName ?? "someone";
  const forCreator = d.audience === "creator";
  const subject = forCreator
    ? `The ${d.accessName} access you gave ${who} to a shared ${d.objectLabel} on ${d.orgName} ends on ${when}`
    : `Your ${d.accessName} access to a shared ${d.objectLabel} on ${d.orgName} ends on ${when}`;
  const lead = forCreator
    ? html`<p>The ${d.accessName} access you gave ${who} to a shared ${d.objectLabel} on ${d.orgName} ends on <strong>${when}</strong>.</p>`
    : html`<p>Your ${d.accessName} access to a shared ${d.objectLabel} on ${d.orgName}, given by ${d.creatorName}, ends on <strong>${when}</strong>.</p>`;
  const leadText = forCreator
    ? `The ${d.accessName} access you gave ${who} to a shared ${d.objectLabel} on ${d.orgName} ends on ${when}.`
    : `Your ${d.accessName} access to a shared ${d.objectLabel} on ${d.orgName}, given by ${d.creatorName}, ends on ${when}.`;
  const next = forCreator
    ? `To keep it, share the ${d.objectLabel} with ${who} again with a later end; to end it sooner, remove the connection.`
    : `After that you will no longer see it. If you still need it, ask ${d.creatorName} to share it again.`;
  return {
    subject,
    html: layout(
      subject,
      [
        html`<p>Hi ${d.recipientName},</p>`,
        lead,
        html`<p style="font-size:13px;color:#57606a;">Record: ${d.objectLabel} ${d.recordId} · Access: ${d.accessName}</p>`,
        html`<p>${next}</p>`,
      ].join("\n"),
    ),
    text:
      `Hi ${d.recipientName},\n\n` +
      `${leadText}\n\n` +
      `Record: ${d.objectLabel} ${d.recordId}\nAccess: ${d.accessName}\nEnds: ${when}\n\n` +
      `${next}\n`,
  };
};

/** The templates that ship with the package, one per notice kind. */
export const defaultTemplates: Readonly<NoticeTemplates> = Object.freeze({
  "invite-existing-user": inviteExistingUserTemplate,
  "invite-new-user": inviteNewUserTemplate,
  "connection-created": connectionCreatedTemplate,
  "access-ending": accessEndingTemplate,
});
