/**
 * What became of each invitation link this host emailed, so the invitation page can tell a person why a link no
 * longer works. The library answers one and the same `cortex.invalidArgument.connectionToken` for an unknown,
 * expired, used or someone else's token, so an API caller learns nothing from the answer; the host, which sent the
 * link, may say more to whoever holds it. Links are kept by a SHA-256 hash of org and token, never the token.
 */
import { createHash } from "node:crypto";
import type { Notice, Notifier } from "@conn/core";

/** What became of a link. */
export type LinkFate = "sent" | "accepted" | "declined" | "withdrawn" | "replaced";

/** One emailed link, by the hash of its token. */
export interface LinkRecord {
  /** The connection the link opens. */
  connectionId: string;
  /** The creator of the invitation (an account id). */
  creator: string;
  /** When the invitation expires. */
  expiresAt: Date | null;
  /** What became of it. */
  fate: LinkFate;
  /** When the fate was recorded. */
  at: Date;
  /** Who accepted it (an account id), for `accepted`. */
  by: string | null;
}

/** The hash a link is kept under: SHA-256 of org and token, so neither the token nor a usable hash of it is kept. */
function keyOf(org: string, token: string): string {
  return createHash("sha256").update(`conn-demo-link\u0000${org}\u0000${token}`, "utf8").digest("base64url");
}

/** The links a host sent and what became of them, in memory, bounded. */
export class InvitationLedger {
  private readonly links = new Map<string, LinkRecord & { org: string }>();
  private readonly byConnection = new Map<string, Set<string>>();

  /**
   * @param now the time (the library's clock, so "expired" agrees with it)
   * @param maxLinks the most links kept; the oldest goes first
   */
  constructor(
    private readonly now: () => Date,
    private readonly maxLinks = 10_000,
  ) {}

  /** Records a delivered invitation notice; earlier links to the same connection are now replaced (re-invited). */
  sent(notice: Notice): void {
    if (notice.token === null) return;
    const org = notice.org.code;
    const key = keyOf(org, notice.token);
    if (this.links.has(key)) return; // delivered twice: the first record stands
    const connectionKey = `${org}\u0000${notice.connectionId}`;
    for (const earlier of this.byConnection.get(connectionKey) ?? []) {
      const record = this.links.get(earlier);
      if (record?.fate === "sent") this.update(earlier, record, "replaced", null);
    }
    this.links.set(key, {
      org,
      connectionId: notice.connectionId,
      creator: notice.creator._id,
      expiresAt: notice.expiresAt === null ? null : new Date(notice.expiresAt),
      fate: "sent",
      at: this.now(),
      by: null,
    });
    const keys = this.byConnection.get(connectionKey) ?? new Set<string>();
    keys.add(key);
    this.byConnection.set(connectionKey, keys);
    this.trim();
  }

  /** Records that the link was accepted by `accountId`. */
  accepted(org: string, token: string, accountId: string): void {
    this.settle(org, token, "accepted", accountId);
  }

  /** Records that the link was declined. */
  declined(org: string, token: string): void {
    this.settle(org, token, "declined", null);
  }

  /** Records that the sender withdrew the invitation (deleted it while pending): its links are all withdrawn. */
  withdrawn(org: string, connectionId: string): void {
    for (const key of this.byConnection.get(`${org}\u0000${connectionId}`) ?? []) {
      const record = this.links.get(key);
      if (record?.fate === "sent") this.update(key, record, "withdrawn", null);
    }
  }

  /** What is known of a link, or null when this host never sent it (or forgot it). */
  find(org: string, token: string): LinkRecord | null {
    const record = this.links.get(keyOf(org, token));
    if (record === undefined) return null;
    const { org: _org, ...link } = record;
    return link;
  }

  /** True when a link that was sent has expired by the library's clock. */
  isExpired(record: LinkRecord): boolean {
    return record.fate === "sent" && record.expiresAt !== null && record.expiresAt <= this.now();
  }

  private settle(org: string, token: string, fate: LinkFate, by: string | null): void {
    const key = keyOf(org, token);
    const record = this.links.get(key);
    if (record !== undefined) this.update(key, record, fate, by);
  }

  private update(key: string, record: LinkRecord & { org: string }, fate: LinkFate, by: string | null): void {
    this.links.set(key, { ...record, fate, by, at: this.now() });
  }

  private trim(): void {
    for (const [oldest, record] of this.links) {
      if (this.links.size <= this.maxLinks) break;
      this.links.delete(oldest);
      const connectionKey = `${record.org}\u0000${record.connectionId}`;
      const keys = this.byConnection.get(connectionKey);
      keys?.delete(oldest);
      if (keys?.size === 0) this.byConnection.delete(connectionKey);
    }
  }
}

/** A notifier that hands each notice to another one, then records the delivered invitation in a ledger. */
export class RememberingNotifier implements Notifier {
  constructor(
    private readonly inner: Notifier,
    private readonly ledger: InvitationLedger,
  ) {}

  /** Delivers through the inner notifier; records the link only once it was delivered. */
  async send(notice: Notice): Promise<void> {
    await this.inner.send(notice);
    this.ledger.sent(notice);
  }
}
