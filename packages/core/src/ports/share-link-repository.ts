import type { ShareLinkRecord } from "../domain/share-link.js";
import type { ContextRef } from "../domain/values.js";

/** A page of a context's share links, newest first (`_id` descending). */
export interface ShareLinkPage {
  links: ShareLinkRecord[];
  hasMore: boolean;
}

/**
 * Stores share links. Every method is scoped by org; records go in and come out as copies. Links are never deleted
 * by this port: a revoked, expired or used-up link stays, so its creator can still see what became of it.
 */
export interface ShareLinkRepository {
  /** Stores a new link; returns it as stored. */
  insert(link: ShareLinkRecord): Promise<ShareLinkRecord>;
  /** The link with this id in this org, whatever its status, or null. */
  findById(org: string, id: string): Promise<ShareLinkRecord | null>;
  /** The link whose token hash is `tokenHash` in this org, whatever its status, or null. */
  findByTokenHash(org: string, tokenHash: string): Promise<ShareLinkRecord | null>;
  /** One page of the links on a context, newest first, after `startingAfter` (an id) when given. */
  listByContext(
    org: string,
    context: ContextRef,
    page: { limit: number; startingAfter?: string | undefined },
  ): Promise<ShareLinkPage>;
  /**
   * Takes one use of the link when it is live at `now` (not revoked, not expired, a use left): `usesLeft` goes down
   * by one in a single atomic step, so of many simultaneous calls on a link with n uses left exactly n succeed.
   * Returns the link after the use, or null when it was not live (nothing changed).
   */
  takeUse(org: string, id: string, now: Date): Promise<ShareLinkRecord | null>;
  /** Marks the link revoked at `now` (kept when already revoked); returns it, or null when there is no such link. */
  revoke(org: string, id: string, now: Date): Promise<ShareLinkRecord | null>;
}
