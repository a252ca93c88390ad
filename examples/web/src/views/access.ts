/**
 * The "who has access" page of a record: who holds it by the app's own rules, the active connections, the
 * invitations waiting for an answer, and the forms to invite, raise a level, resend and revoke.
 */
import type { AccessLevel, Account } from "@conn/core";
import { html } from "hono/html";
import { type DemoRecord, displayName } from "../world.js";
import {
  csrfField,
  type Frame,
  fieldState,
  fieldValue,
  type Html,
  levelName,
  levelWithHelp,
  page,
  when,
} from "./layout.js";

/** One connection row. */
export interface AccessRow {
  /** The connection's id. */
  connectionId: string;
  /** 0 pending, 1 active. */
  state: 0 | 1;
  /** The person's name (or email address). */
  who: string;
  /** Their email address, when known. */
  email: string | null;
  /** The level it gives. */
  access: AccessLevel;
  /** When it was created. */
  created: Date;
  /** When a pending invitation expires. */
  expiresAt: Date | null;
  /** Who gave it. */
  creatorName: string;
  /** The higher levels the viewer can raise it to. */
  raiseTo: AccessLevel[];
}

/** Someone who holds access by the app's own rules (not through a connection). */
export interface RuleHolder {
  who: string;
  email: string;
  access: AccessLevel;
  isViewer: boolean;
}

/** Everything the page shows. */
export interface AccessModel {
  record: DemoRecord;
  /** The viewer's own effective access. */
  viewerAccess: AccessLevel;
  holders: RuleHolder[];
  active: AccessRow[];
  pending: AccessRow[];
  /** The levels the viewer can give, highest first. */
  grantable: AccessLevel[];
  /** The accounts of the org the viewer can pick from. */
  people: Account[];
}

function levelOptions(levels: readonly AccessLevel[], selected: string, label = levelWithHelp): Html {
  return html`${levels.map(
    (level) =>
      html`<option value="${level}"${String(level) === selected ? html` selected` : ""}>${label(level)}</option>`,
  )}`;
}

function rowForms(frame: Frame, base: string, row: AccessRow): Html {
  const id = row.connectionId;
  const raise =
    row.raiseTo.length === 0
      ? html`<p class="muted">The highest level you can give.</p>`
      : html`<form method="post" action="${base}/${id}/level">
  ${csrfField(frame.csrf)}
  <label for="level-${id}">Raise to<span class="visually-hidden"> (access level for ${row.who})</span></label>
  <select id="level-${id}" name="access">${levelOptions(row.raiseTo, String(row.raiseTo[row.raiseTo.length - 1]), levelName)}</select>
  <button type="submit" class="small secondary">Raise<span class="visually-hidden"> access of ${row.who}</span></button>
</form>`;
  const resend =
    row.state === 0
      ? html`<form method="post" action="${base}/${id}/resend">
  ${csrfField(frame.csrf)}
  <button type="submit" class="small secondary">Resend<span class="visually-hidden"> invitation to ${row.who}</span></button>
</form>`
      : "";
  const revokeLabel =
    row.state === 0
      ? html`Withdraw<span class="visually-hidden"> invitation to ${row.who}</span>`
      : html`Revoke<span class="visually-hidden"> access of ${row.who}</span>`;
  return html`${raise}<div class="row-actions">${resend}<form method="post" action="${base}/${id}/revoke">
  ${csrfField(frame.csrf)}
  <button type="submit" class="small danger">${revokeLabel}</button>
</form></div>`;
}

function person(row: { who: string; email: string | null }): Html {
  return html`<strong>${row.who}</strong>${
    row.email === null || row.email === row.who ? "" : html`<br><span class="muted">${row.email}</span>`
  }`;
}

function activeTable(frame: Frame, base: string, model: AccessModel): Html {
  return html`<table>
  <caption>People with access</caption>
  <thead><tr><th scope="col">Person</th><th scope="col">Access</th><th scope="col">Since</th><th scope="col">Actions</th></tr></thead>
  <tbody>
  ${model.holders.map(
    (h) => html`<tr>
    <td>${person(h)}${h.isViewer ? " (you)" : ""}</td>
    <td>${levelName(h.access)}</td>
    <td><span class="muted">by the app's own rules</span></td>
    <td><span class="muted">Managed by the app</span></td>
  </tr>`,
  )}
  ${model.active.map(
    (row) => html`<tr>
    <td>${person(row)}</td>
    <td><span class="tag tag-active">Active</span> ${levelName(row.access)}</td>
    <td>${when(row.created, "short")}<br><span class="muted">shared by ${row.creatorName}</span></td>
    <td>${rowForms(frame, base, row)}</td>
  </tr>`,
  )}
  </tbody>
</table>`;
}

function pendingTable(frame: Frame, base: string, model: AccessModel): Html {
  if (model.pending.length === 0)
    return html`<h2>Invitations waiting for an answer</h2><p>None at the moment.</p>`;
  return html`<table>
  <caption>Invitations waiting for an answer</caption>
  <thead><tr><th scope="col">Person</th><th scope="col">Access</th><th scope="col">Open until</th><th scope="col">Actions</th></tr></thead>
  <tbody>
  ${model.pending.map(
    (row) => html`<tr>
    <td>${person(row)}</td>
    <td><span class="tag tag-pending">Pending</span> ${levelName(row.access)}</td>
    <td>${row.expiresAt === null ? "" : when(row.expiresAt, "short")}<br><span class="muted">invited by ${row.creatorName}</span></td>
    <td>${rowForms(frame, base, row)}</td>
  </tr>`,
  )}
  </tbody>
</table>`;
}

function inviteForms(frame: Frame, base: string, model: AccessModel): Html {
  const flash = frame.flash;
  const defaultLevel = String(model.grantable.includes(4) ? 4 : (model.grantable[0] ?? ""));
  return html`<h2>Invite someone</h2>
<p>They get an email with a link; the access starts when they accept. You can give at most
${levelName(model.grantable[0] ?? 2)}.</p>
<div class="columns">
<form method="post" action="${base}/invite">
  <fieldset>
    <legend>Invite a member of ${frame.org.name}</legend>
    ${csrfField(frame.csrf)}
    <label for="invite-account">Person</label>
    <select id="invite-account" name="account" required${fieldState(flash, "invite-account")}>
      <option value="">Choose a person</option>
      ${model.people.map(
        (p) =>
          html`<option value="${p._id}"${fieldValue(flash, "account") === p._id ? html` selected` : ""}>${displayName(p)} (${p.email})</option>`,
      )}
    </select>
    <label for="invite-account-level">Access level</label>
    <select id="invite-account-level" name="access">${levelOptions(model.grantable, fieldValue(flash, "access", defaultLevel))}</select>
    <p class="actions"><button type="submit">Invite member</button></p>
  </fieldset>
</form>
<form method="post" action="${base}/invite">
  <fieldset>
    <legend>Invite by email address</legend>
    ${csrfField(frame.csrf)}
    <label for="invite-email">Email address</label>
    <input type="email" id="invite-email" name="email" required autocomplete="off"
      value="${fieldValue(flash, "email")}"${fieldState(flash, "invite-email")}>
    <label for="invite-first">First name <span class="hint">optional, used in the email</span></label>
    <input type="text" id="invite-first" name="first" maxlength="100" value="${fieldValue(flash, "first")}">
    <label for="invite-email-level">Access level</label>
    <select id="invite-email-level" name="access">${levelOptions(model.grantable, fieldValue(flash, "access", defaultLevel))}</select>
    <p class="actions"><button type="submit">Send invitation</button></p>
  </fieldset>
</form>
</div>`;
}

/** The page; `base` is its path (`/{org}/{plural}/{id}/access`). */
export function accessPage(frame: Frame, model: AccessModel, base: string): Html {
  const record = model.record;
  return page(
    { ...frame, title: `Who has access to ${record.title}` },
    html`<p><a href="/${frame.org.code}/${record.plural}/${record.context._id}">← ${record.title}</a></p>
<h1>Who has access to ${record.title}</h1>
<p>A ${record.label}. Your own access: ${levelName(model.viewerAccess)}. To lower someone's access, revoke it and
invite them again at the lower level.</p>
${activeTable(frame, base, model)}
${pendingTable(frame, base, model)}
${inviteForms(frame, base, model)}`,
  );
}
