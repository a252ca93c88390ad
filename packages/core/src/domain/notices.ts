import type { AccessLevel } from "./access-level.js";
import type { Name } from "./values.js";

/** The notice kinds of docs/behaviour.md §11. */
export type NoticeKind = "invite-existing-user" | "invite-new-user" | "connection-created" | "access-ending";

/** Every notice kind, in the order of docs/behaviour.md §11. */
export const NOTICE_KINDS: readonly NoticeKind[] = [
  "invite-existing-user",
  "invite-new-user",
  "connection-created",
  "access-ending",
];

/** The kinds that invite: they carry a token and an accept URL, and only a pending invitation can use them. */
export const INVITATION_KINDS: ReadonlySet<NoticeKind> = new Set(["invite-existing-user", "invite-new-user"]);

/** True when a notice of `kind` is an invitation (it carries a token and an accept link). */
export function isInvitationKind(kind: NoticeKind): boolean {
  return INVITATION_KINDS.has(kind);
}

/** What an `access-ending` notice is about: the grant's end, whom the copy is for, and whose access ends. */
export interface AccessEnding {
  /** The instant the grant's access ends: the connection's `accessExpiresAt` the notice was queued for. */
  endsAt: Date;
  /** `target`: the copy for the person whose access ends; `creator`: the copy for the person who gave it. */
  audience: "target" | "creator";
  /** The grant's target (whose access ends), so the creator's copy can name them. */
  target: { account: string; name: Name | null };
}

/** A notice as the notifier port receives it (docs/behaviour.md §11). */
export interface Notice {
  kind: NoticeKind;
  /** Unique per intent to notify: a notifier may use it to drop duplicates. */
  idempotencyKey: string;
  org: { code: string; name: string };
  recipient: { account: string | null; email: string; name: Name | null };
  context: { object: string; _id: string; path: string; label: string | null };
  connectionId: string;
  access: AccessLevel;
  creator: { _id: string; name: Name | null };
  /** Invitations only: the secret the recipient accepts with. Never log it. */
  token: string | null;
  /** Invitations only: the org's invitation page with the token. */
  acceptUrl: string | null;
  /** Invitations only. */
  expiresAt: Date | null;
  /** `access-ending` notices only: the grant's end and whom this copy is for; absent (or null) on other kinds. */
  accessEnding?: AccessEnding | null;
}

/**
 * A notice as the outbox stores it: the token replaced by its seal, so no usable token rests in the outbox.
 * {@link unsealNotice} turns it back into a {@link Notice} at delivery time.
 */
export interface SealedNotice extends Omit<Notice, "token" | "acceptUrl"> {
  tokenSeal: string | null;
  /** The org's invitation page base URL at the time of the intent. */
  acceptUrlBase: string | null;
}

/**
 * Builds the accept URL from the org's base URL and the token: `{token}` in the base is replaced, else the token is
 * appended as a path segment. The token is URL-encoded.
 */
export function acceptUrl(base: string, token: string): string {
  const encoded = encodeURIComponent(token);
  if (base.includes("{token}")) return base.replace("{token}", encoded);
  return `${base.replace(/\/+$/, "")}/${encoded}`;
}

/** Turns a sealed notice back into the notice to deliver, re-deriving the token through `reveal`. */
export function unsealNotice(sealed: SealedNotice, reveal: (seal: string) => string): Notice {
  const { tokenSeal, acceptUrlBase, ...rest } = sealed;
  const token = tokenSeal === null ? null : reveal(tokenSeal);
  return {
    ...rest,
    token,
    acceptUrl: token !== null && acceptUrlBase !== null ? acceptUrl(acceptUrlBase, token) : null,
  };
}
