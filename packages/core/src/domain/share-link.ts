import { z } from "zod";
import { type AccessLevel, grantedLevel, AccessLevel as Level } from "./access-level.js";
import {
  type AccountRef,
  accountRef,
  type ConnectionRecord,
  ConnectionState,
  targetKeyOf,
} from "./connection.js";
import type { ContextRef } from "./values.js";

/** The most uses one share link may allow. */
export const MAX_SHARE_LINK_USES = 1000;

/** The uses a share link allows when its creator names none. */
export const DEFAULT_SHARE_LINK_USES = 1;

/** An email domain a share link may be limited to: lower-case ASCII labels, e.g. `example.org`. */
export const emailDomainSchema = z
  .string()
  .max(253)
  .transform((s) => s.trim().toLowerCase())
  .pipe(
    z
      .string()
      .regex(
        /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/,
        "must be an email domain such as example.org (ASCII only)",
      ),
  );

/** What a Share holder asks for when creating a share link. */
export const shareLinkInputSchema = z
  .object({
    /** The requested level; clamped as any grant (never refused for being too high). Defaults to Connected. */
    access: z.number().int().optional(),
    /** How many accounts may redeem the link: 1..1000, default 1. */
    uses: z.number().int().min(1).max(MAX_SHARE_LINK_USES).default(DEFAULT_SHARE_LINK_USES),
    /** Days until the link expires, 1..90; the org's `pendingConnectionExpiry` by default. */
    expiresInDays: z.number().int().min(1).max(90).optional(),
    /** Only accounts whose email is at this domain (exactly, not its subdomains) may redeem the link. */
    emailDomain: emailDomainSchema.optional(),
  })
  .strict();

/** A share link request as a caller supplies it. */
export type ShareLinkInput = z.input<typeof shareLinkInputSchema>;

/** A parsed share link request. */
export type ShareLinkRequest = z.output<typeof shareLinkInputSchema>;

/** A share link as the repository stores it. Never handed to callers as is: see {@link toShareLinkView}. */
export interface ShareLinkRecord {
  org: string;
  /** 24 hex digits, like connection ids. */
  _id: string;
  context: ContextRef;
  /** The level a redemption grants (already clamped when the link was made). */
  access: AccessLevel;
  /** The Share holder who made the link: the creator of every connection made through it. */
  creator: string;
  created: Date;
  updated: Date;
  /** At this instant the link stops working. */
  expiresAt: Date;
  usesAllowed: number;
  /** Uses not yet taken; 0 means used up. */
  usesLeft: number;
  /** The email domain redeemers must belong to, or null for any. */
  emailDomain: string | null;
  /** Hash of the link's token. */
  tokenHash: string;
  /** The sealed form of the token; never revealed to anyone (the token is shown once, at creation). */
  tokenSeal: string;
  /** When the link was revoked, or null. */
  revokedAt: Date | null;
}

/** What a share link is at a given instant: only `active` redeems anything. */
export type ShareLinkStatus = "active" | "revoked" | "expired" | "usedUp";

/** The status of a link at `now`: revoked first, then expired (at exactly `expiresAt`), then used up. */
export function shareLinkStatus(
  link: Pick<ShareLinkRecord, "revokedAt" | "expiresAt" | "usesLeft">,
  now: Date,
): ShareLinkStatus {
  if (link.revokedAt !== null) return "revoked";
  if (link.expiresAt <= now) return "expired";
  if (link.usesLeft <= 0) return "usedUp";
  return "active";
}

/** True when a link redeems at `now`: not revoked, not expired, a use left. */
export function isShareLinkLive(
  link: Pick<ShareLinkRecord, "revokedAt" | "expiresAt" | "usesLeft">,
  now: Date,
): boolean {
  return shareLinkStatus(link, now) === "active";
}

/** The domain part of a (lower-cased) email address. */
export function emailDomainOf(email: string): string {
  return email.slice(email.lastIndexOf("@") + 1).toLowerCase();
}

/** True when an account with this email may redeem the link (no restriction, or exactly the link's domain). */
export function domainAllows(link: Pick<ShareLinkRecord, "emailDomain">, email: string): boolean {
  return link.emailDomain === null || emailDomainOf(email) === link.emailDomain;
}

/** A share link as callers see it. The token appears only in the answer to its creation, never again. */
export interface ShareLinkView {
  _id: string;
  object: "shareLink";
  context: { _id: string; object: string; path: string };
  access: AccessLevel;
  creator: AccountRef;
  created: Date;
  expiresAt: Date;
  usesAllowed: number;
  usesLeft: number;
  emailDomain: string | null;
  /** At the moment of the answer. */
  status: ShareLinkStatus;
  revokedAt: Date | null;
  /** The secret to redeem the link with: only in the answer that created it. */
  token?: string;
}

/** Builds the view of a link at `now`; `token` only when answering its creation. */
export function toShareLinkView(
  link: ShareLinkRecord,
  options: { plural: string; now: Date; token?: string | undefined },
): ShareLinkView {
  const view: ShareLinkView = {
    _id: link._id,
    object: "shareLink",
    context: {
      _id: link.context._id,
      object: link.context.object,
      path: `/${options.plural}/${link.context._id}`,
    },
    access: link.access,
    creator: accountRef(link.creator),
    created: new Date(link.created),
    expiresAt: new Date(link.expiresAt),
    usesAllowed: link.usesAllowed,
    usesLeft: link.usesLeft,
    emailDomain: link.emailDomain,
    status: shareLinkStatus(link, options.now),
    revokedAt: link.revokedAt === null ? null : new Date(link.revokedAt),
  };
  if (options.token !== undefined) view.token = options.token;
  return view;
}

/**
 * The level a link grants when redeemed now: what its creator could grant with the access it holds now, never more
 * than the link says. Null when the creator no longer holds Share: the link then grants nothing.
 */
export function shareLinkGrant(
  link: Pick<ShareLinkRecord, "access">,
  creatorAccess: number,
  shareChain?: readonly number[],
): AccessLevel | null {
  if (creatorAccess < Level.Share) return null;
  return Math.min(link.access, grantedLevel(creatorAccess, link.access, shareChain)) as AccessLevel;
}

/** The active connection a redemption makes (the repository merges it into the redeemer's active one, if any). */
export function redeemedConnection(
  link: ShareLinkRecord,
  redemption: { account: string; access: AccessLevel; id: string; now: Date },
): ConnectionRecord {
  const target = { account: redemption.account, email: null, name: null };
  return {
    org: link.org,
    _id: redemption.id,
    access: redemption.access,
    roles: [],
    context: { ...link.context },
    contextSource: null,
    created: redemption.now,
    updated: redemption.now,
    creator: link.creator,
    target,
    viaEmail: false,
    targetKey: targetKeyOf(target, false),
    state: ConnectionState.Active,
    tokenHash: null,
    tokenSeal: null,
    expiresAt: null,
  };
}
