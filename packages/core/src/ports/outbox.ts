import type { SealedNotice } from "../domain/notices.js";

/** An intent to notify, as it waits in the outbox. */
export interface OutboxMessage {
  id: string;
  org: string;
  notice: SealedNotice;
  /** Delivery attempts made so far. */
  attempts: number;
  /** Not to be tried before this time. */
  availableAt: Date;
  lastError: string | null;
}

/** What became of one outbox message. */
export type OutboxMessageStatus = "pending" | "delivered" | "dead";

/**
 * The transactional outbox: intents to notify are enqueued in the same unit of work as the connection they are
 * about, then a relay claims, delivers and settles them.
 */
export interface Outbox {
  /** Adds intents to notify; commits or rolls back with the surrounding unit of work. */
  enqueue(
    messages: readonly { id: string; org: string; notice: SealedNotice; availableAt: Date }[],
  ): Promise<void>;
  /**
   * Claims up to `limit` messages due at `now` for `leaseMs`: until the lease ends no other relay can claim them,
   * and a relay that dies loses nothing (the lease lapses and the message is claimed again).
   */
  claim(now: Date, limit: number, leaseMs: number): Promise<OutboxMessage[]>;
  /** Marks a claimed message delivered and drops its token seal. */
  markDelivered(id: string, now: Date): Promise<void>;
  /** Records a failed attempt: retried at `retryAt`, or dead-lettered with the error when `retryAt` is null. */
  markFailed(id: string, error: string, retryAt: Date | null, now: Date): Promise<void>;
  /** Counts messages by status (for health checks and tests). */
  counts(): Promise<Record<OutboxMessageStatus, number>>;
}
