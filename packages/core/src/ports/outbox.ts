import type { SealedNotice } from "../domain/notices.js";

/** An intent to notify, as a relay claimed it from the outbox. */
export interface OutboxMessage {
  id: string;
  org: string;
  notice: SealedNotice;
  /** Delivery attempts made so far. */
  attempts: number;
  /** Not to be tried before this time. */
  availableAt: Date;
  lastError: string | null;
  /**
   * The fencing token of this claim: it goes up by one each time the message is claimed. Renewing, releasing and
   * settling name it, so a relay whose lease lapsed and whose message was claimed again since changes nothing.
   */
  claim: number;
  /** When this claim's lease ends (another relay may claim the message from then on). */
  leaseUntil: Date;
}

/** What became of one outbox message. */
export type OutboxMessageStatus = "pending" | "delivered" | "dead";

/** One claim of one message: what renew, release and settle name. */
export interface OutboxClaim {
  org: string;
  id: string;
  /** The claim's fencing token ({@link OutboxMessage.claim}). */
  claim: number;
}

/** An outbox message as an operator sees it: everything but the token seal, which is never shown. */
export interface OutboxEntry {
  id: string;
  org: string;
  status: OutboxMessageStatus;
  notice: Omit<SealedNotice, "tokenSeal">;
  attempts: number;
  availableAt: Date;
  lastError: string | null;
  lastAttemptAt: Date | null;
  deliveredAt: Date | null;
}

/** A page of {@link OutboxEntry} in (org, id) order. */
export interface OutboxListQuery {
  /** Only this status. */
  status: OutboxMessageStatus;
  /** Only this org (every org when absent). */
  org?: string | undefined;
  /** At most this many (1–1000). */
  limit: number;
  /** Only entries after this one in (org, id) order: the last entry of the previous page. */
  after?: { org: string; id: string } | undefined;
}

/** What a requeue did. */
export type RequeueOutcome =
  /** The dead letter is pending again, due at once, with its attempts reset. */
  | "requeued"
  /** No message with that id in that org. */
  | "notFound"
  /** The message is pending or delivered, not dead. */
  | "notDead"
  /** An invitation whose connection is no longer a pending, unexpired invitation: a link would not work. */
  | "invitationClosed"
  /**
   * An `access-ending` notice whose grant is no longer active with the end it names, still to come: it has ended,
   * was deleted, or now ends at another instant (which gets a notice of its own). The notice would mislead.
   */
  | "grantChanged";

/** Figures for health checks and metrics, at one moment (delivered messages are not counted: that costs a scan). */
export interface OutboxStats {
  pending: number;
  dead: number;
  /** Pending messages due at that moment and not leased by a relay. */
  due: number;
  /** The due time of the oldest of those, or null when none is due. */
  oldestDueAt: Date | null;
}

/**
 * The transactional outbox: intents to notify are enqueued in the same unit of work as the connection they are
 * about, then relays claim, deliver and settle them. Every write and every claim names one org, so the outbox can
 * be sharded by org; the few reads that span orgs (`dueOrgs`, `purgeableOrgs`, `counts`, `stats`, `list` and `get`
 * without an org) lock nothing and return org codes, figures or operator views.
 */
export interface Outbox {
  /** Adds intents to notify; commits or rolls back with the surrounding unit of work. */
  enqueue(
    messages: readonly { id: string; org: string; notice: SealedNotice; availableAt: Date }[],
  ): Promise<void>;
  /**
   * The orgs with messages due by `dueBy` and not leased at `now`, oldest due first, at most `limit`. With `since`,
   * only messages due at or after it count: an adapter whose index keeps the entries of settled messages until a
   * vacuum (PostgreSQL) then starts its scan there instead of at the oldest entry ever written.
   */
  dueOrgs(dueBy: Date, now: Date, limit: number, since?: Date): Promise<string[]>;
  /**
   * Claims up to `limit` of the org's messages due by `dueBy` (default `now`), oldest first, leased from `now` for
   * `leaseMs`: until the lease ends no other relay can claim them, and a relay that dies loses nothing (the lease
   * lapses and the message is claimed again). Each claim gets a new fencing token. With `since`, only messages due at
   * or after it are claimed (see {@link Outbox.dueOrgs}).
   */
  claim(
    org: string,
    now: Date,
    limit: number,
    leaseMs: number,
    dueBy?: Date,
    since?: Date,
  ): Promise<OutboxMessage[]>;
  /** Extends a claim's lease to `leaseUntil`; false when the claim is no longer held (settled or claimed again). */
  renew(claim: OutboxClaim, leaseUntil: Date): Promise<boolean>;
  /** Gives a claimed message back unsent, claimable at once; false when the claim is no longer held. */
  release(claim: OutboxClaim): Promise<boolean>;
  /** Marks a claimed message delivered and drops its token seal; false when the claim is no longer held. */
  markDelivered(claim: OutboxClaim, now: Date): Promise<boolean>;
  /**
   * Records a failed attempt: retried at `retryAt`, or dead-lettered with the error (and its token seal dropped)
   * when `retryAt` is null. False when the claim is no longer held.
   */
  markFailed(claim: OutboxClaim, error: string, retryAt: Date | null, now: Date): Promise<boolean>;
  /** Counts messages by status (for health checks and tests). */
  counts(): Promise<Record<OutboxMessageStatus, number>>;
  /** Counts, the due backlog and its oldest due time at `now` (for metrics). */
  stats(now: Date): Promise<OutboxStats>;
  /** The orgs holding messages delivered before `before`, at most `limit`. */
  purgeableOrgs(before: Date, limit: number): Promise<string[]>;
  /** Deletes up to `limit` of the org's messages delivered before `before`, oldest first; returns how many. */
  purgeDelivered(org: string, before: Date, limit: number): Promise<number>;
  /** Lists messages of one status (dead letters, typically), without token seals. */
  list(query: OutboxListQuery): Promise<OutboxEntry[]>;
  /** One message by id (in `org` when given), without its token seal; null when there is none. */
  get(id: string, org?: string): Promise<OutboxEntry | null>;
  /**
   * Puts a dead letter back in line, due at `now` with its attempts reset. An invitation gets the token seal of its
   * connection back, so only an invitation that is still pending and unexpired at `now` can be requeued
   * (`invitationClosed` otherwise); an `access-ending` notice only while its grant is still active and ends at the
   * instant it names, after `now` (`grantChanged` otherwise). Any other notice is requeued as it is.
   */
  requeue(org: string, id: string, now: Date): Promise<RequeueOutcome>;
  /** Deletes a dead letter once it has been dealt with; false when there is no dead letter with that id. */
  purgeDead(org: string, id: string): Promise<boolean>;
}
