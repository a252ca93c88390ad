/** The org's home page, a record's page, and the demo mailbox. */
import { AccessLevel, ConnectionError, type ConnectionView } from "@conn/core";
import type { Hono } from "hono";
import { html } from "hono/html";
import { invitationPath } from "./invitation-routes.js";
import { faultPage } from "./views/faults.js";
import { messagePage } from "./views/layout.js";
import {
  homePage,
  mailboxPage,
  type RecordEntry,
  recordPage,
  type WaitingInvitation,
} from "./views/pages.js";
import {
  frameOf,
  orgOf,
  principalOf,
  recordOf,
  viewerOf,
  type WebAppParts,
  type WebEnv,
} from "./web-context.js";
import { displayName, RECORDS } from "./world.js";

/** Adds the home, record and mailbox routes. */
export function registerPageRoutes(app: Hono<WebEnv>, parts: WebAppParts): void {
  const { connections, world } = parts;

  app.get("/:org", async (c) => {
    const org = orgOf(c, parts);
    const viewer = await viewerOf(c, parts, org);
    if (viewer === null) return c.html(homePage(frameOf(c, parts, null), [], []));
    const records: RecordEntry[] = [];
    for (const record of RECORDS) {
      const access = await connections.resolveAccess(org, viewer._id, record.context);
      if (access >= AccessLevel.Connected) records.push({ record, access });
    }
    // The viewer's pending invitations carry their tokens: each goes behind a handle of this session.
    const pending = await connections.list(principalOf(org, viewer), { state: 0, limit: 20 });
    const waiting: WaitingInvitation[] = [];
    for (const view of pending.data as ConnectionView[]) {
      if (view.token === undefined) continue;
      const [creator] = await world.accounts.findByIds(org, [view.creator._id]);
      waiting.push({
        href: invitationPath(org, parts.sessions.handleFor(c.get("session"), org, view.token)),
        creatorName: displayName(creator),
        record: world.recordOf(view.context),
        access: view.access,
      });
    }
    return c.html(homePage(frameOf(c, parts, viewer), records, waiting));
  });

  app.get("/:org/demo/mailbox", async (c) => {
    const org = orgOf(c, parts);
    const mailbox = parts.mailbox;
    if (mailbox === null)
      throw new ConnectionError("cortex.notFound.unspecified", { reason: "notices go to the email service" });
    const viewer = await viewerOf(c, parts, org);
    return c.html(mailboxPage(frameOf(c, parts, viewer), mailbox.list(org)));
  });

  app.get("/:org/:plural/:id", async (c) => {
    const org = orgOf(c, parts);
    const record = recordOf(c, parts);
    const viewer = await viewerOf(c, parts, org);
    const frame = frameOf(c, parts, viewer, record.title);
    if (viewer === null) {
      const signIn = `/${org}/sign-in?next=${encodeURIComponent(frame.path)}`;
      const error = new ConnectionError("cortex.accessDenied.notLoggedIn");
      return c.html(
        faultPage(frame, "Sign in to open this record", error, html`<p><a href="${signIn}">Sign in</a></p>`),
        403,
      );
    }
    const access = await connections.resolveAccess(org, viewer._id, record.context);
    if (access < AccessLevel.Connected) {
      return c.html(
        messagePage(
          frame,
          "You do not have access to this record",
          `${record.title} is not shared with you. If you need it, ask its owner to invite you.`,
        ),
        403,
      );
    }
    return c.html(recordPage(frame, record, access));
  });
}
