/**
 * DEMO ONLY sign-in, registration, sign-out and email verification. A real host signs people in its own way; what
 * it owes the library is the same as here: the account id of each request, and `bindRegisteredAccount` when an
 * account registers or verifies its email, so the invitations sent to that address become its own.
 */
import { randomBytes } from "node:crypto";
import { emailSchema, nameSchema } from "@conn/core";
import type { Hono } from "hono";
import { z } from "zod";
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

/** The registration form: an email address, a first name and an optional last name, each with its message. */
const registrationSchema = z
  .object({
    email: z.string().transform((s, ctx) => {
      const email = emailSchema.safeParse(s);
      if (email.success) return email.data;
      ctx.addIssue({ code: "custom", message: "Enter an email address, like name@example.com." });
      return z.NEVER;
    }),
    first: z.string().min(1, "Enter your first name.").max(100, "A first name has at most 100 characters."),
    last: z.string().max(100, "A last name has at most 100 characters."),
  })
  .transform(({ email, first, last }, ctx) => {
    const name = nameSchema.safeParse(last === "" ? { first } : { first, last });
    if (name.success) return { email, name: name.data };
    ctx.addIssue({ code: "custom", path: ["first"], message: "A name cannot hold control characters." });
    return z.NEVER;
  });

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
    const parsed = registrationSchema.safeParse(values);
    const taken = parsed.success && (await world.accounts.findByEmails(org, [parsed.data.email])).length > 0;
    if (!parsed.success || taken) {
      const issue = parsed.success ? null : parsed.error.issues[0];
      flash(c, {
        kind: "error",
        text: issue?.message ?? "An account with this email address exists already: sign in instead.",
        field: `register-${String(issue?.path[0] ?? "email")}`,
        values,
      });
      return c.redirect(next, 303);
    }
    // DEMO ONLY: the account counts as verified at once; a real app verifies the address first.
    const account = world.addAccount({
      _id: randomBytes(12).toString("hex"),
      email: parsed.data.email,
      name: parsed.data.name,
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
