import type { AccessLevel } from "../domain/access-level.js";
import type { ConnectionRecord, ConnectionState, Instant } from "../domain/connection.js";
import type { ExpectedPending } from "../domain/grants.js";
import type { ContextRef } from "../domain/values.js";
import type { Awaitable } from "./awaitable.js";

/** Which connections a list is about. */
export type ConnectionListFilter =
  | { by: "creator"; account: string }
  | { by: "target"; account: string; email: string | null }
  | { by: "context"; context: ContextRef };

/** A list request: filter, optional state and object names, and a cursor page. */
export interface ConnectionListQuery {
  filter: ConnectionListFilter;
  state?: ConnectionState | undefined;
  /** Context object names to keep; all when absent. */
  objects?: readonly string[] | undefined;
  /** Page size, 1..1000. */
  limit: number;
  /** Return records after this id in list order (older). */
  startingAfter?: string | undefined;
  /** Return records before this id in list order (newer), still in list order. */
  endingBefore?: string | undefined;
  /** Pending records that expired at or before this time are left out. */
  now: Date;
}

/** One page of a list, in list order (`_id` descending). */
export interface ConnectionPage {
  records: ConnectionRecord[];
  hasMore: boolean;
}

/** Existing connections that bear on a create request, loaded in one look-up. */
export interface CreateSnapshot {
  /** Active connections on the context to any of the target accounts. */
  active: ConnectionRecord[];
  /** The creator's own unexpired pending invitations on the context to any of the targets (by account or email). */
  pending: ConnectionRecord[];
}

/** A pending invitation to remove once its target holds at least its access through an active connection. */
export interface SupersededPending {
  context: ContextRef;
  account: string;
  /** Pending invitations whose access is at most this are removed. */
  maxAccess: number;
  /** The pending id that became active, never removed by this call. */
  exceptId?: string | undefined;
}

/** Which time-limited grants a notice sweep asks for: active, ending in `(now, until]`, that end not yet noticed. */
export interface EndingGrantsQuery {
  /** Grants whose access ends at or before this are left out (they have ended: no "ending soon" notice). */
  now: Date;
  /** Grants whose access ends after this are left out (not yet within the lead time). */
  until: Date;
  /** Only grants after this one in (`accessExpiresAt`, `_id`) order: the last grant of the previous batch. */
  after?: { accessExpiresAt: Date; id: string } | undefined;
  /** At most this many (1..10,000). */
  limit: number;
}

/**
 * A grant a sweep means to mark noticed, with what its notice names: the mark is taken only while the connection is
 * still active with exactly this end and this creator.
 */
export interface EndingGrant {
  id: string;
  accessExpiresAt: Date;
  creator: string;
}

/** Who presents a token to accept it: an invitation is theirs by account, or, when it names none, by email. */
export interface Claimant {
  account: string;
  /** The account's (lower-case) email. */
  email: string;
}

/** What {@link ConnectionRepository.acceptPending} did: the invitation it claimed, the connection it stored, what went. */
export interface AcceptedPending {
  /** The pending record as it was claimed (removed). */
  claimed: ConnectionRecord;
  /** The active connection stored: the claimed record activated, or the one it merged into. */
  active: ConnectionRecord;
  /** The pending invitations to the same target on the context that the active connection superseded (removed). */
  superseded: ConnectionRecord[];
}

/**
 * Stores connection records. Every method is scoped by org: no call ever reads or writes another org's records.
 * Records go in and come out as copies; adapters never hand out what they store.
 */
export interface ConnectionRepository {
  /**
   * Takes the lock of one context's connections until the transaction ends (outside a transaction it is let go at
   * once). Every use case that changes a context's connections takes it first and decides on rows it reads after, so
   * changes to one context run one after another and every outcome is one some serial order of the calls gives;
   * holding one lock per transaction, taken before any row lock, they never deadlock on each other.
   */
  lockContext(org: string, context: ContextRef): Promise<void>;
  /** The record with this id in this org (any state; expired pending records are returned as null). */
  findById(org: string, id: string, now: Date): Promise<ConnectionRecord | null>;
  /** The unexpired pending record whose token hash is `tokenHash`, or null. */
  findPendingByTokenHash(org: string, tokenHash: string, now: Date): Promise<ConnectionRecord | null>;
  /**
   * The access of the active connection of `account` to `context`, or null: the hot path, one indexed look-up. With
   * `now`, a connection whose access ended at or before it (`accessExpiresAt`) counts as none; `now` may be a clock
   * ({@link Instant}), read only when the connection found has an end (resolveAccess passes its clock). An adapter
   * that has the answer at once (in memory, or from a cache) may return it as it is, without a promise.
   */
  activeAccess(
    org: string,
    context: ContextRef,
    account: string,
    now?: Instant,
  ): Awaitable<AccessLevel | null>;
  /**
   * Takes the context's lock as {@link lockContext} does, then loads, on rows read after it, the active connections and
   * the creator's pending invitations that a create request bears on; connections whose access ended at `now` are left
   * out. One step, so that an adapter may send both in one round trip.
   */
  findForCreate(
    org: string,
    context: ContextRef,
    creator: string,
    targets: { accounts: readonly string[]; emails: readonly string[] },
    now: Date,
  ): Promise<CreateSnapshot>;
  /**
   * Optional. Takes the context's lock and reads as {@link findForCreate} does, for a caller that has planned on what
   * an empty look-up gives, and fails with `SnapshotNotEmpty` (of the domain) when the look-up finds any row: nothing
   * of the transaction is then written. An adapter may hold it for the commit's round trip, sent ahead of the writes
   * held after it (as {@link savePendingAsExpected} may be), so that a create is one round trip; the failure is then
   * the commit's. An adapter without it gets {@link findForCreate} first and the plan after.
   */
  expectNoneForCreate?(
    org: string,
    context: ContextRef,
    creator: string,
    targets: { accounts: readonly string[]; emails: readonly string[] },
    now: Date,
  ): Promise<void>;
  /**
   * Inserts pending invitations, or merges each into the creator's pending invitation with the same
   * (context, creator, targetKey): access the higher, roles the union, token hash, seal, expiry, `updated` and
   * `target.name` replaced (kept when the new one is null), `accessExpiresAt` replaced, `target.account` set when it was unset. A matching
   * invitation that has expired is replaced outright by the new record (its `_id` and `created` too), as if it had
   * been purged. Returns the stored records in input order.
   */
  savePending(records: readonly ConnectionRecord[], now: Date): Promise<ConnectionRecord[]>;
  /**
   * Stores pending invitations as {@link savePending} does, for a caller that has worked out what each is stored as
   * (the domain's `savedPending` of the invitation it read under the context's lock): `expected[i]` is record i's stored
   * id, access and target account. Returns nothing, so an adapter may hold the write until the transaction commits and
   * send it in the commit's round trip. When any record would be stored otherwise (a writer that takes no context lock
   * changed or removed the invitation since it was read), nothing of it is written and the call fails, or the commit it
   * was held for does, with a retryable `ConnectionError` (on PostgreSQL a serialization failure, which the unit of work
   * runs again whole).
   */
  savePendingAsExpected(
    records: readonly ConnectionRecord[],
    expected: readonly ExpectedPending[],
    now: Date,
  ): Promise<void>;
  /**
   * Inserts active connections, or merges each into the active connection of the same (context, target account):
   * access the higher, roles the union, `accessExpiresAt` the incoming record's (the stored `_id` wins). With `now`, a
   * stored active connection whose access ended at or before it is replaced outright by the new record, as if purged.
   * Returns the stored records in input order.
   */
  saveActive(records: readonly ConnectionRecord[], now?: Date): Promise<ConnectionRecord[]>;
  /**
   * Removes and returns the pending, unexpired record with this id (compare-and-set: one caller wins), or null. With
   * `lock`, first takes that context's lock as {@link lockContext} does, in the same round trip.
   */
  claimPending(org: string, id: string, now: Date, lock?: ContextRef): Promise<ConnectionRecord | null>;
  /**
   * Accepts the invitation a token opens, as one unit (docs/behaviour.md §6), taking its context's lock itself as
   * {@link lockContext} does and deciding on rows read after it: called outside a transaction it is a transaction of
   * its own. Claims the pending, unexpired record of the org whose token hash equals `tokenHash` exactly (byte for
   * byte: the hash is the look-up key) and whose target is `claimant` (its target account is the claimant's account, or
   * it has none and its target email is the claimant's email), compare-and-set as {@link claimPending} (one caller
   * wins); stores it activated for the claimant's account (`activated` of the domain) as {@link saveActive} with
   * `now` does; and removes what {@link deleteSuperseded} would for that account on the context, at most the stored
   * access, never the stored id. Null, with nothing written, when no such invitation is claimed.
   */
  acceptPending(
    org: string,
    tokenHash: string,
    claimant: Claimant,
    now: Date,
  ): Promise<AcceptedPending | null>;
  /** Removes and returns pending invitations superseded by an active connection (docs/behaviour.md §4, accept). */
  deleteSuperseded(org: string, items: readonly SupersededPending[]): Promise<ConnectionRecord[]>;
  /** Removes and returns the record with this id, or null when there is none. */
  deleteById(org: string, id: string): Promise<ConnectionRecord | null>;
  /** One page of records for a list query. */
  list(org: string, query: ConnectionListQuery): Promise<ConnectionPage>;
  /** Binds unbound, unexpired pending invitations to `email` to `account` (docs/behaviour.md §8), `updated` set to `now`; returns them. */
  bindEmail(org: string, email: string, account: string, now: Date): Promise<ConnectionRecord[]>;
  /** Removes and returns up to `limit` pending records of the org that expired at or before `now`. */
  purgeExpired(org: string, now: Date, limit: number): Promise<ConnectionRecord[]>;
  /** Removes and returns up to `limit` records of the org whose access ended (`accessExpiresAt`) at or before `now`. */
  purgeExpiredGrants(org: string, now: Date, limit: number): Promise<ConnectionRecord[]>;
  /**
   * The org's active connections whose access ends after `now` and at or before `until`, and whose end has not been
   * noticed ({@link markEndNoticed}) for that very instant, in (`accessExpiresAt`, `_id`) order, after the cursor, at
   * most `limit`. Reads only: it takes no lock.
   */
  findEndingGrants(org: string, query: EndingGrantsQuery): Promise<ConnectionRecord[]>;
  /**
   * Records, for each grant still active with the given end and creator, an end after `now`, and that end not yet
   * noticed, that its end has been noticed; returns the records it marked. Compare-and-set: of sweeps marking the same
   * grant at once, one marks it and the others get nothing back; a grant another transaction holds locked is skipped
   * (a later sweep finds it again). A new end (a re-grant that extends or shortens it) is unnoticed until marked in
   * turn. Changes no access answer.
   */
  markEndNoticed(org: string, grants: readonly EndingGrant[], now: Date): Promise<ConnectionRecord[]>;
}
