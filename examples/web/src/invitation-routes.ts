/**
 * The invitation page. The link in the email is `/{org}/connections/{token}` (the org's `connectionUrl`); opening
 * it keeps the token in the session behind a random handle and redirects to `/{org}/invitation/{handle}` at once,
 * so the token leaves the address bar and the history before the page shows. Accept and Decline post to that page;
 * once the link is used, the session forgets its token.
 */
import { isConnectionError } from "@conn/core";
import type { Hono } from "hono";
import { INVITATION_STATUS, readInvitation } from "./invitation-state.js";
import { invitationPage } from "./views/invitation.js";
import {
  frameOf,
  orgOf,
  principalOf,
  viewerOf,
  type WebAppParts,
  type WebContext,
  type WebEnv,
} from "./web-context.js";
import { displayName } from "./world.js";

/** The path of the invitation page for the link kept under `handle`. */
export function invitationPath(org: string, handle: string): string {
  return `/${org}/invitation/${handle}`;
}

async function creatorName(parts: WebAppParts, org: string, id: string): Promise<string> {
  const [account] = await parts.world.accounts.findByIds(org, [id]);
  return displayName(account);
}

/** Runs an accept or decline; a fault of the library is kept on the link to be shown once, anything else thrown. */
async function attempt(c: WebContext, handle: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (!isConnectionError(error)) throw error;
    const link = c.get("session").invitations.get(handle);
    if (link !== undefined) link.failure = error.code;
  }
}

/** Adds the invitation routes. */
export function registerInvitationRoutes(app: Hono<WebEnv>, parts: WebAppParts): void {
  const { connections, ledger } = parts;

  // The link of the email. Nothing is looked up here: the token only moves into the session.
  app.get("/:org/connections/:token", (c) => {
    const org = orgOf(c, parts);
    const handle = parts.sessions.openInvitation(c.get("session"), org, c.req.param("token"));
    return c.redirect(invitationPath(org, handle), 303);
  });

  app.get("/:org/invitation/:handle", async (c) => {
    const org = orgOf(c, parts);
    const handle = c.req.param("handle");
    const viewer = await viewerOf(c, parts, org);
    const state = await readInvitation(parts, c.get("session"), handle, viewer);
    const link = c.get("session").invitations.get(handle);
    if (link !== undefined) link.failure = null; // shown once
    const frame = frameOf(c, parts, viewer);
    return c.html(invitationPage(frame, state, invitationPath(org, handle)), INVITATION_STATUS[state.kind]);
  });

  app.post("/:org/invitation/:handle/accept", async (c) => {
    const org = orgOf(c, parts);
    const handle = c.req.param("handle");
    const link = c.get("session").invitations.get(handle);
    const viewer = await viewerOf(c, parts, org);
    const token = link?.token ?? null;
    if (link === undefined || token === null || viewer === null)
      return c.redirect(invitationPath(org, handle), 303);
    await attempt(c, handle, async () => {
      const active = await connections.accept(principalOf(org, viewer), token);
      ledger.accepted(org, token, viewer._id);
      link.token = null;
      link.outcome = {
        kind: "accepted",
        connectionId: active._id,
        access: active.access,
        context: { object: active.context.object, _id: active.context._id },
        creatorName: await creatorName(parts, org, active.creator._id),
      };
    });
    return c.redirect(invitationPath(org, handle), 303);
  });

  // Declining needs no sign-in (anyone holding the link may decline it); a signed-in person must be its target.
  app.post("/:org/invitation/:handle/decline", async (c) => {
    const org = orgOf(c, parts);
    const handle = c.req.param("handle");
    const link = c.get("session").invitations.get(handle);
    const token = link?.token ?? null;
    if (link === undefined || token === null) return c.redirect(invitationPath(org, handle), 303);
    const principal = principalOf(org, await viewerOf(c, parts, org));
    await attempt(c, handle, async () => {
      const invitation = await connections.getByToken(principal, token);
      await connections.reject(principal, token);
      ledger.declined(org, token);
      link.token = null;
      link.outcome = { kind: "declined", creatorName: await creatorName(parts, org, invitation.creator._id) };
    });
    return c.redirect(invitationPath(org, handle), 303);
  });
}
