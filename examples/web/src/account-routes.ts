/**
 * DEMO ONLY sign-in, registration, sign-out and email verification. A real host signs people in its own way; what
 * it owes the library is the same as here: the account id of each request, and `bindRegisteredAccount` when an
 * account registers or verifies its email, so the invitations sent to that address become its own.
 */
import { randomBytes } from "node:crypto";
import { emailSchema, nameSchema } from "@conn/core";
import type { Hono } from "hono";
import { signInPage } from "./views/sign-in.js";
import {
  field,
  flash,
  frameOf,
  orgOf,
  safeNext,
  sendSession,
  viewerOf,
  type WebAppParts,
  type WebContext,
  type WebEnv,
} from "./web-context.js";
import { displayName } from "./world.js";

/** Signs the session in as `accountId` under a new session id (a planted id is worth nothing after sign-in). */
function signIn(c: WebContext, parts: WebAppParts, org: string, accountId: string): void {
  const session = parts.sessions.rotate(c.get("session"));
  session.org = org;
  session.accountId = accountId;
  sendSession(c, parts, session);
}

/** Adds the sign-in, registration, sign-out and verification routes. */
export function registerAccountRoutes(app: Hono<WebEnv>, parts: WebAppParts): void {
  const { world, connections } = parts;

  app.get("/:org/sign-in", async (c) => {
    const org = orgOf(c, parts);
    const viewer = await viewerOf(c, parts, org);
    const next = safeNext(c.req.query("next"), org);
    return c.html(signInPage(frameOf(c, parts, viewer, "Sign in"), next, await world.people()));
  });

  app.post("/:org/sign-in", async (c) => {
    const org = orgOf(c, parts);
    const form = await c.req.parseBody();
    const next = safeNext(form.next, org);
    const typed = field(form, "email");
    const email = emailSchema.safeParse(typed);
    const [account] = email.success ? await world.accounts.findByEmails(org, [email.data]) : [];
    if (account === undefined) {
      flash(c, {
        kind: "error",
        text: email.success
          ? `No account of ${world.org.name} has the email address ${email.data}. Check it, or create an account.`
          : "Enter an email address, like name@example.com.",
        field: "sign-in-email",
        values: { email: typed },
      });
      return c.redirect(next, 303);
    }
    signIn(c, parts, org, account._id);
    flash(c, { kind: "success", text: `Signed in as ${displayName(account)}.` });
    return c.redirect(next, 303);
  });

  app.post("/:org/register", async (c) => {
    const org = orgOf(c, parts);
    const form = await c.req.parseBody();
    const next = safeNext(form.next, org);
    const values = { email: field(form, "email"), first: field(form, "first"), last: field(form, "last") };
    const email = emailSchema.safeParse(values.email);
    const name = nameSchema.safeParse({
      first: values.first,
      ...(values.last === "" ? {} : { last: values.last }),
    });
    const taken = email.success && (await world.accounts.findByEmails(org, [email.data])).length > 0;
    const problem = !email.success
      ? { field: "register-email", text: "Enter an email address, like name@example.com." }
      : taken
        ? {
            field: "register-email",
            text: "An account with this email address exists already: sign in instead.",
          }
        : values.first === "" || !name.success
          ? { field: "register-first", text: "Enter your first name (at most 100 characters)." }
          : null;
    if (problem !== null || !email.success || !name.success) {
      flash(c, {
        kind: "error",
        text: problem?.text ?? "Check the form.",
        field: problem?.field ?? "",
        values,
      });
      return c.redirect(next, 303);
    }
    // DEMO ONLY: the account counts as verified at once; a real app verifies the address first.
    const account = world.addAccount({
      _id: randomBytes(12).toString("hex"),
      email: email.data,
      name: name.data,
      verified: true,
    });
    await connections.bindRegisteredAccount(org, account._id);
    signIn(c, parts, org, account._id);
    flash(c, { kind: "success", text: `Welcome, ${displayName(account)}: your account is ready.` });
    return c.redirect(next, 303);
  });

  app.post("/:org/verify", async (c) => {
    const org = orgOf(c, parts);
    const form = await c.req.parseBody();
    const next = safeNext(form.next, org);
    const viewer = await viewerOf(c, parts, org);
    if (viewer === null) return c.redirect(`/${org}/sign-in?next=${encodeURIComponent(next)}`, 303);
    // DEMO ONLY: a real app marks the address verified when its owner opens the verification link.
    world.addAccount({ ...viewer, verified: true });
    await connections.bindRegisteredAccount(org, viewer._id);
    flash(c, { kind: "success", text: `Your email address ${viewer.email} is verified.` });
    return c.redirect(next, 303);
  });

  app.post("/:org/sign-out", async (c) => {
    const org = orgOf(c, parts);
    const form = await c.req.parseBody();
    const session = parts.sessions.rotate(c.get("session"));
    session.org = null;
    session.accountId = null;
    // What was done here as the person who signs out is theirs alone; links still to be used stay.
    for (const [handle, link] of session.invitations)
      if (link.outcome !== null) session.invitations.delete(handle);
    sendSession(c, parts, session);
    flash(c, { kind: "success", text: "You are signed out." });
    return c.redirect(safeNext(form.next, org), 303);
  });
}
