/**
 * Cookie sessions of the demo, kept in memory: who is signed in (DEMO ONLY: no password), the per-session CSRF
 * token every form carries, the invitation links opened in this browser (each behind a random handle, so the token
 * leaves the address bar at once), and a one-shot message for the page after a redirect.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { AccessLevel, ContextRef } from "@conn/core";

/** The session cookie's name. */
export const SESSION_COOKIE = "conn_demo_session";

/** What became of an invitation opened in this session, once the person acted on it here. */
export type InvitationOutcome =
  | { kind: "accepted"; connectionId: string; access: AccessLevel; context: ContextRef; creatorName: string }
  | { kind: "declined"; creatorName: string };

/** An invitation link opened in this browser: the token until it is used, then only its outcome. */
export interface OpenedInvitation {
  /** The org of the link. */
  org: string;
  /** The token of the link; `null` once used (the session forgets it) or when it was too long to be one. */
  token: string | null;
  /** Set once the person accepted or declined it in this session. */
  outcome: InvitationOutcome | null;
  /** The code of the last accept or decline that failed, shown once with the invitation. */
  failure: string | null;
}

/** A message for the next page, shown once. */
export interface Flash {
  /** `success` is announced politely, `error` as an alert. */
  kind: "success" | "error";
  /** The message. */
  text: string;
  /** The id of the form field it is about, if any. */
  field?: string;
  /** What the person had typed, to fill the form again. */
  values?: Record<string, string>;
}

/** One browser's session. */
export interface Session {
  /** The cookie value: 256 random bits. */
  readonly id: string;
  /** The CSRF token every form of this session carries (256 random bits). */
  readonly csrf: string;
  /** The org signed in to, or null. */
  org: string | null;
  /** The account signed in (DEMO ONLY: by email, no password), or null. */
  accountId: string | null;
  /** Invitation links opened in this browser, by handle. */
  readonly invitations: Map<string, OpenedInvitation>;
  /** The message for the next page. */
  flash: Flash | null;
  /** When the session was last used (ms since the epoch). */
  lastSeen: number;
}

/** Options of a {@link SessionStore}. */
export interface SessionStoreOptions {
  /** A session unused this long ends (default 8 hours). */
  idleMs?: number;
  /** The most sessions kept; the least recently used goes first (default 10,000). */
  maxSessions?: number;
  /** The most invitation links one session keeps (default 20). */
  maxInvitations?: number;
  /** The time, for tests. */
  now?: () => number;
}

const random = (bytes: number) => randomBytes(bytes).toString("base64url");

/** The longest link segment kept as a token: anything longer cannot be one (tokens are at most 256 characters). */
const MAX_TOKEN_LENGTH = 256;

/** In-memory sessions: created on first visit, rotated on sign-in and sign-out, ended when idle. */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly idleMs: number;
  private readonly maxSessions: number;
  private readonly maxInvitations: number;
  private readonly now: () => number;

  constructor(options: SessionStoreOptions = {}) {
    this.idleMs = options.idleMs ?? 8 * 60 * 60 * 1000;
    this.maxSessions = options.maxSessions ?? 10_000;
    this.maxInvitations = options.maxInvitations ?? 20;
    this.now = options.now ?? Date.now;
  }

  /** The live session with this cookie value, or null (unknown, or idle too long). */
  get(id: string | undefined): Session | null {
    if (id === undefined) return null;
    const session = this.sessions.get(id);
    if (session === undefined) return null;
    if (this.now() - session.lastSeen > this.idleMs) {
      this.sessions.delete(id);
      return null;
    }
    session.lastSeen = this.now();
    // Re-inserted, so the map's order is least recently used first.
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return session;
  }

  /** A new, anonymous session. */
  create(): Session {
    return this.store({
      id: random(32),
      csrf: random(32),
      org: null,
      accountId: null,
      invitations: new Map(),
      flash: null,
      lastSeen: this.now(),
    });
  }

  /**
   * The same session under a new id and a new CSRF token (on sign-in and sign-out, so a session id planted before
   * signing in is worth nothing after). The old id stops working.
   */
  rotate(session: Session): Session {
    this.sessions.delete(session.id);
    return this.store({ ...session, id: random(32), csrf: random(32), lastSeen: this.now() });
  }

  /** True when `presented` is this session's CSRF token (compared in constant time). */
  checkCsrf(session: Session, presented: unknown): boolean {
    if (typeof presented !== "string") return false;
    const a = Buffer.from(presented, "utf8");
    const b = Buffer.from(session.csrf, "utf8");
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Keeps an invitation link's token in the session behind a new random handle, and returns the handle. */
  openInvitation(session: Session, org: string, token: string): string {
    const handle = random(16);
    session.invitations.set(handle, {
      org,
      token: token.length > MAX_TOKEN_LENGTH ? null : token,
      outcome: null,
      failure: null,
    });
    for (const oldest of session.invitations.keys()) {
      if (session.invitations.size <= this.maxInvitations) break;
      session.invitations.delete(oldest);
    }
    return handle;
  }

  /** The handle under which this session keeps `token`, opening one when it has none. */
  handleFor(session: Session, org: string, token: string): string {
    for (const [handle, link] of session.invitations)
      if (link.org === org && link.token === token) return handle;
    return this.openInvitation(session, org, token);
  }

  private store(session: Session): Session {
    this.sessions.set(session.id, session);
    for (const oldest of this.sessions.keys()) {
      if (this.sessions.size <= this.maxSessions) break;
      this.sessions.delete(oldest);
    }
    return session;
  }
}
