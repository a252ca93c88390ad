/** What every page route shares: the parts of the app, the request's session and viewer, and small helpers. */
import { type Account, ConnectionError, type Connections, type Principal } from "@conn/core";
import type { Context } from "hono";
import { setCookie } from "hono/cookie";
import type { DemoMailbox } from "./demo-mailbox.js";
import type { InvitationLedger } from "./invitation-ledger.js";
import { type Flash, SESSION_COOKIE, type Session, type SessionStore } from "./sessions.js";
import type { Frame } from "./views/layout.js";
import type { DemoRecord, DemoWorld } from "./world.js";

/** The parts the web app is built from. */
export interface WebAppParts {
  /** The library's facade. */
  connections: Connections;
  /** The demo's org, people and records (the host's own data). */
  world: DemoWorld;
  /** Cookie sessions. */
  sessions: SessionStore;
  /** What became of the links this host emailed. */
  ledger: InvitationLedger;
  /** DEMO ONLY: the notices, when no email service is configured (null otherwise). */
  mailbox: DemoMailbox | null;
  /** Mark the session cookie `Secure` (serve over HTTPS). */
  secureCookies: boolean;
  /** Where each request is logged, one line, the token of an invitation link hidden; none by default. */
  log?: ((line: string) => void) | undefined;
  /** Where unexpected errors are reported (default `console.error`). */
  onUnexpectedError?: ((error: unknown) => void) | undefined;
}

/** The Hono environment of the page routes. */
export interface WebEnv {
  Variables: {
    /** This browser's session (created on first visit). */
    session: Session;
  };
}

/** A page route's context. */
export type WebContext = Context<WebEnv>;

/** The org of the URL; any other is a 404. */
export function orgOf(c: WebContext, parts: WebAppParts): string {
  const org = c.req.param("org");
  if (org !== parts.world.org.code)
    throw new ConnectionError("cortex.notFound.unspecified", { reason: "unknown org" });
  return org;
}

/** The signed-in account of this session in `org`, or null. */
export async function viewerOf(c: WebContext, parts: WebAppParts, org: string): Promise<Account | null> {
  const session = c.get("session");
  if (session.org !== org || session.accountId === null) return null;
  const [account] = await parts.world.accounts.findByIds(org, [session.accountId]);
  return account ?? null;
}

/** The caller as the library sees it. */
export function principalOf(org: string, viewer: Account | null): Principal {
  return { org, accountId: viewer?._id ?? null };
}

/** The record of `/{org}/{plural}/{id}`; any other is a 404. */
export function recordOf(c: WebContext, parts: WebAppParts): DemoRecord {
  const record = parts.world.record(c.req.param("plural") ?? "", c.req.param("id") ?? "");
  if (record === null) throw new ConnectionError("cortex.notFound.unspecified", { reason: "unknown record" });
  return record;
}

/** The path of a record's page; its other pages are below it. */
export function recordPath(org: string, record: DemoRecord): string {
  return `/${org}/${record.plural}/${record.context._id}`;
}

/** The frame of a page for this request; takes the session's one-shot message. */
export function frameOf(c: WebContext, parts: WebAppParts, viewer: Account | null, title = ""): Frame {
  const session = c.get("session");
  const flash = session.flash;
  session.flash = null;
  return {
    title,
    org: parts.world.org,
    viewer,
    csrf: session.csrf,
    path: new URL(c.req.url).pathname,
    flash,
    mailbox: parts.mailbox !== null,
  };
}

/** Keeps a message for the next page. */
export function flash(c: WebContext, message: Flash): void {
  c.get("session").flash = message;
}

/**
 * Where to go after a form: `next` when it is a path of this site (no scheme, no host, no `//`), else the org's
 * home, so a crafted link can never send a person elsewhere.
 */
export function safeNext(next: unknown, org: string): string {
  return typeof next === "string" && /^\/(?!\/)[A-Za-z0-9._~%/-]*$/.test(next) ? next : `/${org}`;
}

/** A form field as a trimmed string ("" when absent or a file). */
export function field(form: Record<string, unknown>, name: string): string {
  const value = form[name];
  return typeof value === "string" ? value.trim() : "";
}

/** Makes `session` this request's session and sends its cookie (a new session, or one rotated on sign-in). */
export function sendSession(c: WebContext, parts: WebAppParts, session: Session): void {
  c.set("session", session);
  setCookie(c, SESSION_COOKIE, session.id, {
    httpOnly: true,
    sameSite: "Lax",
    path: "/",
    secure: parts.secureCookies,
  });
}
