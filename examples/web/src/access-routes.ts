/**
 * The "who has access" page of a record and its forms: invite by account or email, raise a level (the library's
 * create upgrades an active connection or re-invites a pending one), resend, revoke. Only callers with Share see
 * it; the others get the library's fault as a page, with its HTTP status.
 */
import {
  type AccessLevel,
  type Account,
  ConnectionError,
  type ConnectionTargetInput,
  type ConnectionView,
  DEFAULT_SHARE_CHAIN,
  type ErrorCode,
  isConnectionError,
  MIN_GRANTED_ACCESS,
  type Principal,
} from "@conn/core";
import type { Hono } from "hono";
import { html } from "hono/html";
import { type AccessModel, type AccessRow, accessPage } from "./views/access.js";
import { faultMessage, faultPage } from "./views/faults.js";
import { expiryText } from "./views/invitation.js";
import { type Frame, levelName } from "./views/layout.js";
import {
  field,
  flash,
  frameOf,
  orgOf,
  principalOf,
  recordOf,
  recordPath,
  viewerOf,
  type WebAppParts,
  type WebContext,
  type WebEnv,
} from "./web-context.js";
import { type DemoRecord, displayName } from "./world.js";

/** Faults about the caller rather than the form: shown as a page with their status, not as a message. */
const CALLER_FAULTS: readonly ErrorCode[] = [
  "cortex.accessDenied.notLoggedIn",
  "cortex.accessDenied.shareAccess",
  "cortex.accessDenied.connectionsDisabled",
  "cortex.accessDenied.connectionRequiresVerification",
];

/** Every connection on the context, page by page (the library pages by 100 at most here). */
async function allConnections(parts: WebAppParts, principal: Principal, record: DemoRecord) {
  const views: ConnectionView[] = [];
  let startingAfter: string | undefined;
  for (let page = 0; page < 20; page++) {
    const list = await parts.connections.listForContext(principal, record.context, {
      limit: 100,
      ...(startingAfter === undefined ? {} : { startingAfter }),
    });
    views.push(...list.data);
    if (!list.hasMore || list.data.length === 0) break;
    startingAfter = list.data[list.data.length - 1]?._id;
  }
  return views;
}

/** The accounts with these ids, by id. */
async function accountsById(parts: WebAppParts, org: string, ids: Iterable<string>) {
  const found = await parts.world.accounts.findByIds(org, [...new Set(ids)]);
  return new Map(found.map((a) => [a._id, a]));
}

/** Who a connection is for, as the page names them. */
function whoOf(view: ConnectionView, accounts: Map<string, Account>): { who: string; email: string | null } {
  const account = view.target.account === undefined ? undefined : accounts.get(view.target.account._id);
  if (account !== undefined) return { who: displayName(account), email: account.email };
  const email = view.target.email ?? null;
  const named = view.target.name === undefined ? "" : displayName({ email: "", name: view.target.name });
  return { who: named !== "" ? named : (email ?? "Someone"), email };
}

/** The levels the viewer can give, highest first: the object's share chain below the viewer's own level. */
async function grantableLevels(parts: WebAppParts, org: string, record: DemoRecord, own: AccessLevel) {
  const settings = await parts.world.contexts.objectSettings(org, record.context.object);
  const chain = settings?.shareChain ?? DEFAULT_SHARE_CHAIN;
  return [...new Set(chain)].filter((l) => l < own && l >= MIN_GRANTED_ACCESS).sort((a, b) => b - a);
}

async function buildModel(
  parts: WebAppParts,
  org: string,
  viewer: Account,
  record: DemoRecord,
): Promise<AccessModel> {
  // First: the library refuses whoever lacks Share, before anything else is read.
  const views = await allConnections(parts, principalOf(org, viewer), record);
  const viewerAccess = await parts.connections.resolveAccess(org, viewer._id, record.context);
  const grantable = await grantableLevels(parts, org, record, viewerAccess);
  const ids = [
    ...Object.keys(record.owners),
    ...views.flatMap((v) => [
      v.creator._id,
      ...(v.target.account === undefined ? [] : [v.target.account._id]),
    ]),
  ];
  const accounts = await accountsById(parts, org, ids);
  const row = (view: ConnectionView): AccessRow => ({
    connectionId: view._id,
    state: view.state,
    ...whoOf(view, accounts),
    access: view.access,
    created: new Date(view.created),
    expiresAt: view.expiresAt === undefined ? null : new Date(view.expiresAt),
    creatorName: displayName(accounts.get(view.creator._id)),
    raiseTo: grantable.filter((l) => l > view.access),
  });
  return {
    record,
    viewerAccess,
    holders: Object.entries(record.owners).map(([id, access]) => ({
      who: displayName(accounts.get(id)),
      email: accounts.get(id)?.email ?? "",
      access,
      isViewer: id === viewer._id,
    })),
    active: views.filter((v) => v.state === 1).map(row),
    pending: views.filter((v) => v.state === 0).map(row),
    grantable,
    people: (await parts.world.people()).filter((p) => p._id !== viewer._id),
  };
}

/** The page for a caller the library refused: its fault, its status, and a way on. */
function refusal(c: WebContext, frame: Frame, record: DemoRecord, error: ConnectionError) {
  const next =
    error.code === "cortex.accessDenied.notLoggedIn"
      ? html`<p><a href="/${frame.org.code}/sign-in?next=${encodeURIComponent(frame.path)}">Sign in</a></p>`
      : html`<p><a href="${recordPath(frame.org.code, record)}">Back to ${record.title}</a></p>`;
  const title = `You cannot manage access to ${record.title}`;
  return c.html(faultPage(frame, title, error, next), error.status as 403);
}

/** The message after a create: invited, invited again, raised, or the target's fault. */
function createdMessage(entry: ConnectionView | { errCode: ErrorCode; message: string }, who: string) {
  if ("errCode" in entry) {
    const text =
      entry.errCode === "cortex.conflict.connectionExists" ? `${who} already has this access.` : null;
    return { kind: "error" as const, text: text ?? faultMessage(new ConnectionError(entry.errCode)) };
  }
  const text =
    entry.state === 1
      ? `${who} now has ${levelName(entry.access)} access.`
      : `Invitation sent to ${who} at ${levelName(entry.access)}.${expiryText(entry.expiresAt ?? null)}`;
  return { kind: "success" as const, text };
}

/** Adds the "who has access" routes. */
export function registerAccessRoutes(app: Hono<WebEnv>, parts: WebAppParts): void {
  const { connections } = parts;

  /**
   * Runs a form's work for a signed-in viewer, then redirects to the page. A fault about the caller is shown as a
   * page with its status; any other fault of the library becomes the page's message.
   */
  const form =
    (
      work: (
        c: WebContext,
        ctx: { org: string; viewer: Account; record: DemoRecord; base: string },
      ) => Promise<void>,
    ) =>
    async (c: WebContext) => {
      const org = orgOf(c, parts);
      const record = recordOf(c, parts);
      const base = `${recordPath(org, record)}/access`;
      const viewer = await viewerOf(c, parts, org);
      try {
        if (viewer === null) throw new ConnectionError("cortex.accessDenied.notLoggedIn");
        await work(c, { org, viewer, record, base });
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        if (CALLER_FAULTS.includes(error.code)) return refusal(c, frameOf(c, parts, viewer), record, error);
        flash(c, { kind: "error", text: faultMessage(error) });
      }
      return c.redirect(base, 303);
    };

  app.get("/:org/:plural/:id/access", async (c) => {
    const org = orgOf(c, parts);
    const record = recordOf(c, parts);
    const viewer = await viewerOf(c, parts, org);
    const frame = frameOf(c, parts, viewer);
    try {
      if (viewer === null) throw new ConnectionError("cortex.accessDenied.notLoggedIn");
      const model = await buildModel(parts, org, viewer, record);
      return c.html(accessPage(frame, model, `${recordPath(org, record)}/access`));
    } catch (error) {
      if (isConnectionError(error) && CALLER_FAULTS.includes(error.code))
        return refusal(c, frame, record, error);
      throw error;
    }
  });

  app.post(
    "/:org/:plural/:id/access/invite",
    form(async (c, { org, viewer, record }) => {
      const body = await c.req.parseBody();
      const values = {
        account: field(body, "account"),
        email: field(body, "email"),
        first: field(body, "first"),
      };
      const access = Number(field(body, "access"));
      const byEmail = "email" in body;
      const target: ConnectionTargetInput = byEmail
        ? { email: values.email, access, ...(values.first === "" ? {} : { name: { first: values.first } }) }
        : { _id: values.account, access };
      const fieldId = byEmail ? "invite-email" : "invite-account";
      try {
        if (!Number.isInteger(access)) throw new ConnectionError("cortex.invalidArgument.unspecified");
        if (!byEmail && values.account === "")
          throw new ConnectionError("cortex.invalidArgument.noConnectionTargets");
        const [entry] = await connections.create(principalOf(org, viewer), record.context, [target]);
        if (entry === undefined) return;
        const [account] = byEmail ? [] : await parts.world.accounts.findByIds(org, [values.account]);
        const message = createdMessage(entry, account === undefined ? values.email : displayName(account));
        flash(
          c,
          message.kind === "error"
            ? { ...message, field: fieldId, values: { ...values, access: String(access) } }
            : message,
        );
      } catch (error) {
        if (!isConnectionError(error) || CALLER_FAULTS.includes(error.code)) throw error;
        flash(c, {
          kind: "error",
          text: faultMessage(error),
          field: fieldId,
          values: { ...values, access: String(access) },
        });
      }
    }),
  );

  /** The connection of a row form, checked to be on this record, and who it is for. */
  async function rowTarget(c: WebContext, org: string, viewer: Account, record: DemoRecord) {
    const view = await connections.get(principalOf(org, viewer), c.req.param("connection") ?? "");
    if (view.context.object !== record.context.object || view.context._id !== record.context._id)
      throw new ConnectionError("cortex.notFound.unspecified");
    const accounts = await accountsById(
      parts,
      org,
      view.target.account === undefined ? [] : [view.target.account._id],
    );
    const target: ConnectionTargetInput =
      view.target.account !== undefined
        ? { _id: view.target.account._id }
        : { email: view.target.email ?? "" };
    return { view, target, who: whoOf(view, accounts).who };
  }

  app.post(
    "/:org/:plural/:id/access/:connection/level",
    form(async (c, { org, viewer, record }) => {
      const access = Number(field(await c.req.parseBody(), "access"));
      if (!Number.isInteger(access)) throw new ConnectionError("cortex.invalidArgument.unspecified");
      const { target, who } = await rowTarget(c, org, viewer, record);
      const [entry] = await connections.create(principalOf(org, viewer), record.context, [
        { ...target, access },
      ]);
      if (entry !== undefined) flash(c, createdMessage(entry, who));
    }),
  );

  app.post(
    "/:org/:plural/:id/access/:connection/resend",
    form(async (c, { org, viewer, record }) => {
      const { view, target, who } = await rowTarget(c, org, viewer, record);
      if (view.state !== 0) {
        flash(c, { kind: "error", text: `${who} has accepted already: there is nothing to resend.` });
        return;
      }
      // Re-inviting resets the expiry and issues a fresh token: the earlier link stops working.
      const [entry] = await connections.create(principalOf(org, viewer), record.context, [
        { ...target, access: view.access },
      ]);
      if (entry === undefined) return;
      const message = createdMessage(entry, who);
      flash(
        c,
        message.kind === "success" && !("errCode" in entry)
          ? {
              kind: "success",
              text: `Invitation sent again to ${who}; the earlier link no longer works.${expiryText(entry.expiresAt ?? null)}`,
            }
          : message,
      );
    }),
  );

  app.post(
    "/:org/:plural/:id/access/:connection/revoke",
    form(async (c, { org, viewer, record }) => {
      const { view, who } = await rowTarget(c, org, viewer, record);
      await connections.delete(principalOf(org, viewer), view._id);
      if (view.state === 0) parts.ledger.withdrawn(org, view._id);
      flash(c, {
        kind: "success",
        text: view.state === 0 ? `The invitation to ${who} is withdrawn.` : `${who} no longer has access.`,
      });
    }),
  );
}
