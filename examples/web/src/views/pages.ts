/** The org's home page, a record's page and the demo mailbox. */
import { type AccessLevel, AccessLevel as Level, type Notice } from "@conn/core";
import { html } from "hono/html";
import type { DemoRecord } from "../world.js";
import { type Frame, type Html, levelName, page, when } from "./layout.js";
import { signInForms } from "./sign-in.js";

/** A record the viewer can open, with their level. */
export interface RecordEntry {
  record: DemoRecord;
  access: AccessLevel;
}

/** An invitation waiting for the viewer, behind a handle of this session. */
export interface WaitingInvitation {
  href: string;
  creatorName: string;
  record: DemoRecord | null;
  access: AccessLevel;
}

/** The org's home: the viewer's records and invitations, or the sign-in forms. */
export function homePage(frame: Frame, records: RecordEntry[], waiting: WaitingInvitation[]): Html {
  if (frame.viewer === null) {
    return page(
      { ...frame, title: "Welcome" },
      html`<h1>${frame.org.name}</h1>
<p>Sign in to see the records shared with you and who has access to yours.</p>
${signInForms(frame, frame.path, "")}
<p><a href="/${frame.org.code}/sign-in">The demo's accounts</a></p>`,
    );
  }
  return page(
    { ...frame, title: "Your records" },
    html`<h1>Your records</h1>
${
  records.length === 0
    ? html`<p>No record is shared with you at the moment.</p>`
    : html`<ul>${records.map(
        (r) =>
          html`<li><a href="/${frame.org.code}/${r.record.plural}/${r.record.context._id}">${r.record.title}</a>
  (${r.record.label}): ${levelName(r.access)}</li>`,
      )}</ul>`
}
<h2>Invitations waiting for you</h2>
${
  waiting.length === 0
    ? html`<p>None.</p>`
    : html`<ul>${waiting.map(
        (w) =>
          html`<li><a href="${w.href}">${w.creatorName} invited you to ${w.record?.title ?? "a record"}</a>
  at ${levelName(w.access)}</li>`,
      )}</ul>`
}`,
  );
}

/** A record as its viewer may see it: the summary from Connected, the details from Read. */
export function recordPage(frame: Frame, record: DemoRecord, access: AccessLevel): Html {
  const base = `/${frame.org.code}/${record.plural}/${record.context._id}`;
  return page(
    { ...frame, title: record.title },
    html`<h1>${record.title}</h1>
<p class="muted">A ${record.label}. Your access: ${levelName(access)}.</p>
<p>${record.summary}</p>
${
  access >= Level.Read
    ? html`<dl class="facts">${record.details.map((d) => html`<dt>${d.name}</dt><dd>${d.value}</dd>`)}</dl>`
    : html`<p class="muted">The details need Read access.</p>`
}
${access >= Level.Share ? html`<p><a class="button" href="${base}/access">Who has access</a></p>` : ""}`,
  );
}

/** DEMO ONLY: the notices of the org with their links, so the demo can be tried without an email service. */
export function mailboxPage(frame: Frame, notices: Notice[]): Html {
  return page(
    { ...frame, title: "Demo mailbox" },
    html`<h1>Demo mailbox</h1>
<div class="panel panel-warn"><p><strong>Demo only.</strong> No email service is configured, so the emails the app
would send are kept here, links included, for anyone to open. A real app sends them by email
(<code>CONN_SES_FROM</code>) and never shows one person's link to another.</p></div>
${
  notices.length === 0
    ? html`<p>No email yet. Invite someone from a record's "Who has access" page.</p>`
    : html`<ul>${notices.map(
        (n) => html`<li class="panel">
  <p><strong>To ${n.recipient.email}</strong>: ${n.kind}, from ${[n.creator.name?.first, n.creator.name?.last]
    .filter(Boolean)
    .join(" ")} about ${n.context.path}, ${levelName(n.access)}.</p>
  ${n.acceptUrl === null ? "" : html`<p><a href="${n.acceptUrl}">Open the invitation link</a></p>`}
  ${n.expiresAt === null ? "" : html`<p class="muted">Open until ${when(new Date(n.expiresAt))}.</p>`}
</li>`,
      )}</ul>`
}`,
  );
}
