/** The invitation page, one view per state of {@link InvitationState}. No state ever shows the token. */
import { html } from "hono/html";
import type { InvitationState, InvitationSummary } from "../invitation-state.js";
import type { DemoRecord } from "../world.js";
import { faultText } from "./faults.js";
import { csrfField, type Frame, type Html, levelWithHelp, page, when, whenText } from "./layout.js";
import { signInForms } from "./sign-in.js";

function recordName(record: DemoRecord | null): string {
  return record === null ? "a shared record" : `${record.title} (${record.label})`;
}

function recordLink(org: string, record: DemoRecord | null): Html {
  if (record === null) return html``;
  return html`<p><a class="button" href="/${org}/${record.plural}/${record.context._id}">Open ${record.title}</a></p>`;
}

function facts(invitation: InvitationSummary): Html {
  return html`<dl class="facts">
  <dt>Invited by</dt><dd>${invitation.creatorName}</dd>
  <dt>Record</dt><dd>${recordName(invitation.record)}</dd>
  <dt>Access</dt><dd>${levelWithHelp(invitation.access)}</dd>
  ${invitation.targetEmail === null ? "" : html`<dt>Sent to</dt><dd>${invitation.targetEmail}</dd>`}
  <dt>Open until</dt><dd>${invitation.expiresAt === null ? "no end date" : when(invitation.expiresAt)}</dd>
</dl>`;
}

/** A POST button to this invitation's accept or decline route. */
function actionButton(frame: Frame, base: string, action: "accept" | "decline", label: string): Html {
  return html`<form method="post" action="${base}/${action}">
  ${csrfField(frame.csrf)}
  <button type="submit"${action === "decline" ? html` class="secondary"` : ""}>${label}</button>
</form>`;
}

function openView(frame: Frame, state: Extract<InvitationState, { kind: "open" }>, base: string): Html {
  const { invitation } = state;
  const org = frame.org.code;
  const failure =
    state.failure === null
      ? ""
      : html`<div class="panel panel-bad" role="alert"><p>${faultText(state.failure)}</p></div>`;
  const decline = actionButton(frame, base, "decline", "Decline");
  let next: Html;
  if (state.as === "target") {
    next = html`<div class="actions">${actionButton(frame, base, "accept", "Accept invitation")}${decline}</div>`;
  } else if (state.as === "unverified") {
    next = html`<div class="panel panel-warn">
  <h2>Verify your email address first</h2>
  <p>Your account ${frame.viewer?.email ?? ""} is not verified yet, and only verified accounts can accept an
  invitation. Open the link in the verification email we sent you, then come back to this page.</p>
  <form method="post" action="/${org}/verify">
    ${csrfField(frame.csrf)}
    <input type="hidden" name="next" value="${frame.path}">
    <button type="submit" class="secondary">Verify my email address (demo)</button>
  </form>
</div>
<div class="actions">${decline}</div>`;
  } else {
    next = html`<h2>Sign in to accept</h2>
<p>Sign in as the person it was sent to, or create an account with that email address.</p>
${signInForms(frame, frame.path, invitation.targetEmail ?? "", 3)}
<h2>Not for you?</h2>
<p>You can decline without signing in: the link then stops working.</p>
<div class="actions">${decline}</div>`;
  }
  return html`<h1>${invitation.creatorName} invited you to a ${invitation.record?.label ?? "record"}</h1>
${failure}
${facts(invitation)}
${next}`;
}

/** A page about a link that cannot be used: a heading, what happened, and what to do. */
function problem(title: string, ...paragraphs: (string | Html)[]): { title: string; body: Html } {
  return {
    title,
    body: html`<h1>${title}</h1>
<div class="panel panel-bad">${paragraphs.map((p) => html`<p>${p}</p>`)}</div>`,
  };
}

function stateView(frame: Frame, state: InvitationState, base: string): { title: string; body: Html } {
  const org = frame.org.code;
  switch (state.kind) {
    case "open":
      return { title: "Invitation", body: openView(frame, state, base) };
    case "accepted-here":
      return {
        title: "Invitation accepted",
        body: html`<h1>You accepted the invitation</h1>
<div class="panel panel-ok"><p>You now have ${levelWithHelp(state.outcome.access)} access to
${recordName(state.record)}, shared by ${state.outcome.creatorName}.</p></div>
${recordLink(org, state.record)}`,
      };
    case "declined-here":
      return {
        title: "Invitation declined",
        body: html`<h1>You declined the invitation</h1>
<div class="panel panel-ok"><p>${state.outcome.creatorName}'s invitation is removed and its link no longer works.
If this was a mistake, ask them to invite you again.</p></div>`,
      };
    case "wrong-account": {
      const sentTo = state.invitation.targetEmail;
      return {
        title: "Invitation for someone else",
        body: html`<h1>This invitation is for someone else</h1>
<div class="panel panel-bad">
  <p>${state.invitation.creatorName} sent it to ${sentTo ?? "another account"}, and you are signed in as
  ${frame.viewer?.email ?? "another account"}. Only the person it was sent to can accept it.</p>
  <p>If that is you, sign out, then sign in with that email address.</p>
</div>
<form method="post" action="/${org}/sign-out">
  ${csrfField(frame.csrf)}
  <input type="hidden" name="next" value="${frame.path}">
  <button type="submit">Sign out</button>
</form>`,
      };
    }
    case "already-accepted":
      return state.byYou
        ? {
            title: "Invitation already accepted",
            body: html`<h1>This invitation has already been accepted</h1>
<div class="panel panel-ok"><p>You accepted it already: there is nothing more to do.</p></div>
${recordLink(org, state.record)}`,
          }
        : problem(
            "This invitation has already been accepted",
            "An invitation link works only once. If you need access too, ask the person who invited you.",
          );
    case "declined":
      return problem(
        "This invitation was declined",
        `Its link no longer works. If you need access, ask ${state.creatorName} to invite you again.`,
      );
    case "withdrawn":
      return problem(
        "This invitation was withdrawn",
        `${state.creatorName} withdrew it, so its link no longer works.`,
      );
    case "replaced":
      return problem(
        "A newer invitation replaced this one",
        `${state.creatorName} sent the invitation again: only the link in the most recent email works.`,
      );
    case "expired":
      return problem(
        "This invitation has expired",
        html`It could be accepted until ${when(state.expiresAt)}.`,
        `Ask ${state.creatorName} to send you a new one.`,
      );
    case "used":
      return problem(
        "This invitation can no longer be used",
        "It was accepted, declined or withdrawn. If you need access, ask the person who invited you.",
      );
    case "unknown":
      return problem(
        "This invitation link does not work",
        "No invitation matches it. Check that you opened the whole link from the email, or ask the person who invited you to send a new one.",
      );
    case "malformed":
      return problem(
        "This is not a valid invitation link",
        "Part of the link is missing or was changed. Open the link from the email again, or copy all of it into the address bar.",
      );
    case "session-ended":
      return problem("This page has expired", "Open the invitation link from your email again to continue.");
  }
}

/** The invitation page of `state`; `base` is this page's path (`/{org}/invitation/{handle}`). */
export function invitationPage(frame: Frame, state: InvitationState, base: string): Html {
  const { title, body } = stateView(frame, state, base);
  return page({ ...frame, title }, body);
}

/** The expiry of an open invitation as plain text, for messages. */
export function expiryText(expiresAt: Date | null): string {
  return expiresAt === null ? "" : ` It can be accepted until ${whenText(expiresAt)}.`;
}
