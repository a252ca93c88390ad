import { type AccessLevel, type ContextRef, type Instant, instantOf } from "@conn/core";

/**
 * The in-process `activeAccess` cache of {@link PostgresUnitOfWork} (see docs/caching.md): a bounded LRU map of
 * answers, positive and negative, with the guards that keep it from ever answering with a revoked grant.
 *
 * - **Fill guard.** A database read takes a ticket (a number that only goes up) before it runs. Its answer is stored
 *   only if, since the ticket was taken, the key was not invalidated (per key, from a bounded log of recent
 *   invalidations), the whole cache was not cleared, no transaction of this process is writing the key, and no read
 *   that started later has stored an answer already. So an answer read before a change never lands after the
 *   change's invalidation.
 * - **Fences.** A transaction of this process that wrote a key fences it from the statement that wrote it until the
 *   transaction has ended: meanwhile the entry is gone and no answer is stored for it.
 * - **Freshness.** An answer is served only while the cache is listening and its watermark (the time a sync
 *   notification it has since received back was sent) is at most `syncWindowMs` old; a writer of this library waits
 *   that long after committing a change to an active connection before its call returns (see
 *   `PostgresUnitOfWork.transaction`). Every change committed before the watermark was heard first, because
 *   PostgreSQL delivers notifications in commit order.
 * - **Validity bound.** Every entry has a time after which it is not served (`maxAgeMs` after it was read, or the
 *   grant's own end when one is known, whichever is sooner).
 */

/** Options of the access cache. */
export interface AccessCacheOptions {
  /** The most answers held; the least recently used goes first. 1..10,000,000. */
  entries: number;
  /** The longest an answer is served after it was read, ms (default 60,000). */
  maxAgeMs?: number | undefined;
  /**
   * How old the watermark may be for an answer to be served, and how long a writer waits after committing a change
   * to an active connection, ms (default 20). Only on a PostgreSQL server: on PGlite every writer is in-process.
   */
  syncWindowMs?: number | undefined;
}

/** The default of {@link AccessCacheOptions.maxAgeMs}. */
export const DEFAULT_ACCESS_CACHE_MAX_AGE_MS = 60_000;
/** The default of {@link AccessCacheOptions.syncWindowMs}. */
export const DEFAULT_ACCESS_SYNC_WINDOW_MS = 20;

/** How many recent per-key invalidations the fill guard remembers before it falls back to refusing every fill. */
const INVALIDATION_LOG = 4096;

/** What {@link accessKey} joins the parts with: no org, object or id may hold it. */
const SEP = "\u0000";

/** One cached answer, a link of the recency list. */
interface Entry {
  readonly key: string;
  /** The key's four parts when it has exactly four (as {@link accessKey} makes them), else null. */
  readonly parts: readonly [string, string, string, string] | null;
  access: AccessLevel | null;
  /** Not served at or after this time (ms, `performance.now()` clock). */
  until: number;
  /** When the grant itself ends (ms since the epoch), if it does: not served to a question asked at or after it. */
  grantEnd: number | undefined;
  /** The ticket of the read that produced it. */
  ticket: number;
  /** The next more recently used entry (toward the head), or null at the head. */
  newer: Entry | null;
  /** The next less recently used entry, or null at the tail. */
  older: Entry | null;
}

/** The four parts of a key made by {@link accessKey}, or null when it has another shape (it is then found by key only). */
function partsOf(key: string): [string, string, string, string] | null {
  const parts = key.split(SEP);
  return parts.length === 4 ? (parts as [string, string, string, string]) : null;
}

/** Org → object → context id → account → entry: the hot path finds an entry with the caller's strings, no key built. */
type PartsIndex = Map<string, Map<string, Map<string, Map<string, Entry>>>>;

/** Counters of the cache, for tests, benchmarks and metrics. */
export interface AccessCacheStats {
  hits: number;
  misses: number;
  /** Reads served by the database because the cache was not listening or its watermark was too old. */
  bypasses: number;
  /** Answers a guard refused to store. */
  refusedFills: number;
  invalidations: number;
  clears: number;
  size: number;
}

/** The key of one answer: org, context and account, joined by a character no id may hold. */
export function accessKey(org: string, object: string, contextId: string, account: string): string {
  return `${org}${SEP}${object}${SEP}${contextId}${SEP}${account}`;
}

/** The cache itself: no I/O; the unit of work and the listener drive it. */
export class AccessCache {
  /** Every entry by key (the write side: fills, invalidations, fences, the listener's notices). */
  private readonly entries = new Map<string, Entry>();
  /** The same entries by the parts of their keys (the read side: {@link lookup}). */
  private readonly byParts: PartsIndex = new Map();
  /** The most recently used entry (the head of the recency list) and the least (its tail, evicted first). */
  private newest: Entry | null = null;
  private oldest: Entry | null = null;
  private readonly maxEntries: number;
  private readonly maxAgeMs: number;
  /** The freshness window, ms; Infinity when every writer is in-process (PGlite). */
  readonly syncWindowMs: number;
  private ticketCounter = 0;
  /** Key → the ticket counter when the key was last invalidated (insertion order = invalidation order). */
  private readonly invalidated = new Map<string, number>();
  /** Fills that started before this ticket count are refused (the log overflowed, or everything was cleared). */
  private floor = 0;
  /** Keys a transaction of this process is writing, with how many. */
  private readonly fences = new Map<string, number>();
  private listening = false;
  /** The send time of the latest sync heard back (ms, `performance.now()` clock). */
  private watermark = Number.NEGATIVE_INFINITY;
  /** Counters. */
  readonly stats: Omit<AccessCacheStats, "size"> = {
    hits: 0,
    misses: 0,
    bypasses: 0,
    refusedFills: 0,
    invalidations: 0,
    clears: 0,
  };

  constructor(
    options: AccessCacheOptions,
    /** False on PGlite: every writer is in this process, so no watermark is needed. */
    crossProcess: boolean,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isInteger(options.entries) || options.entries < 1 || options.entries > 10_000_000) {
      throw new RangeError("accessCache.entries must be an integer in 1..10,000,000");
    }
    this.maxEntries = options.entries;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_ACCESS_CACHE_MAX_AGE_MS;
    this.syncWindowMs = crossProcess
      ? (options.syncWindowMs ?? DEFAULT_ACCESS_SYNC_WINDOW_MS)
      : Number.POSITIVE_INFINITY;
    if (!(this.maxAgeMs > 0)) throw new RangeError("accessCache.maxAgeMs must be positive");
    if (!(this.syncWindowMs >= 0)) throw new RangeError("accessCache.syncWindowMs must be ≥ 0");
  }

  /** The counters and the current number of entries. */
  snapshot(): AccessCacheStats {
    return { ...this.stats, size: this.entries.size };
  }

  /** The cache's clock (ms, `performance.now()` unless a test gave another): one read serves a whole look-up. */
  clock(): number {
    return this.now();
  }

  /** True while invalidations are being heard (answers may be stored). */
  get isListening(): boolean {
    return this.listening;
  }

  /** True when an answer may be served now: listening, with a watermark inside the window. */
  isFresh(at: number = this.now()): boolean {
    return this.listening && at - this.watermark <= this.syncWindowMs;
  }

  /** How old the watermark is, ms (Infinity before the first sync was heard). */
  watermarkAge(at: number = this.now()): number {
    return at - this.watermark;
  }

  /**
   * The cached answer for a key: `undefined` on a miss, or when the answer may not be served (not fresh, past its
   * validity bound, or asked at or after the grant's end). A hit makes the entry the most recently used.
   */
  get(key: string, askedAt?: Instant): AccessLevel | null | undefined {
    return this.serve(this.entries.get(key), askedAt, this.now());
  }

  /**
   * {@link get} for the key `accessKey(org, object, contextId, account)`, found without making it (the hot path of
   * every cached `activeAccess`), at the time `at` of the cache's {@link clock} (read once by the caller).
   */
  lookup(
    org: string,
    object: string,
    contextId: string,
    account: string,
    askedAt: Instant | undefined,
    at: number,
  ): AccessLevel | null | undefined {
    const entry = this.byParts.get(org)?.get(object)?.get(contextId)?.get(account);
    return this.serve(entry, askedAt, at);
  }

  /** The checks of a look-up that found `entry` (or nothing) at `at`. */
  private serve(
    entry: Entry | undefined,
    askedAt: Instant | undefined,
    at: number,
  ): AccessLevel | null | undefined {
    if (entry === undefined) {
      this.stats.misses++;
      return undefined;
    }
    if (!(this.listening && at - this.watermark <= this.syncWindowMs)) {
      this.stats.bypasses++;
      return undefined;
    }
    if (at >= entry.until) {
      this.remove(entry);
      this.stats.misses++;
      return undefined;
    }
    const grantEnd = entry.grantEnd;
    if (
      grantEnd !== undefined &&
      (askedAt === undefined ? Date.now() : instantOf(askedAt).getTime()) >= grantEnd
    ) {
      // Asked for a time the grant does not reach: the database answers (a question about an earlier time may
      // still be served, so the entry stays).
      this.stats.misses++;
      return undefined;
    }
    if (entry !== this.newest) {
      this.unlink(entry);
      this.pushNewest(entry);
    }
    this.stats.hits++;
    return entry.access;
  }

  /** Takes the ticket of a database read that is about to start. */
  ticket(): number {
    return ++this.ticketCounter;
  }

  /**
   * Stores what a read with `ticket` found, unless a guard refuses it (see the class comment). `grantEnd`, when the
   * grant is known to end (ms since the epoch), bounds the entry too: it is not served to a question asked at or
   * after that instant (the question's own `now` when it has one, else the wall clock).
   */
  fill(key: string, ticket: number, access: AccessLevel | null, readAt: number, grantEnd?: number): boolean {
    const existing = this.entries.get(key);
    const refused =
      !this.listening ||
      ticket <= this.floor ||
      (this.invalidated.get(key) ?? 0) >= ticket ||
      this.fences.has(key) ||
      (existing?.ticket ?? 0) > ticket;
    if (refused) {
      this.stats.refusedFills++;
      return false;
    }
    const until = readAt + this.maxAgeMs;
    if (until <= this.now()) return false;
    if (existing !== undefined) this.remove(existing);
    const entry: Entry = {
      key,
      parts: partsOf(key),
      access,
      until,
      grantEnd,
      ticket,
      newer: null,
      older: null,
    };
    this.entries.set(key, entry);
    if (entry.parts !== null) this.indexParts(entry, entry.parts);
    this.pushNewest(entry);
    if (this.entries.size > this.maxEntries && this.oldest !== null) this.remove(this.oldest);
    return true;
  }

  /** Drops a key's answer and refuses every fill of it that started before now. */
  invalidate(key: string): void {
    this.stats.invalidations++;
    const entry = this.entries.get(key);
    if (entry !== undefined) this.remove(entry);
    // A fill takes its ticket with ++, so a fill that starts after this line has a ticket above this value.
    const mark = this.ticketCounter;
    this.invalidated.delete(key);
    this.invalidated.set(key, mark);
    if (this.invalidated.size > INVALIDATION_LOG) {
      const [oldestKey, oldestMark] = this.invalidated.entries().next().value as [string, number];
      this.invalidated.delete(oldestKey);
      // Forgetting a key's invalidation is safe only if fills older than it are refused outright.
      this.floor = Math.max(this.floor, oldestMark);
    }
  }

  /** Drops every answer and refuses every fill that started before now. */
  clear(): void {
    this.stats.clears++;
    this.entries.clear();
    this.byParts.clear();
    this.newest = null;
    this.oldest = null;
    this.invalidated.clear();
    this.floor = this.ticketCounter;
  }

  /** A transaction of this process wrote `key` (not yet committed): drop it, and store nothing for it until {@link unfence}. */
  fence(key: string): void {
    this.fences.set(key, (this.fences.get(key) ?? 0) + 1);
    this.invalidate(key);
  }

  /** The transaction that fenced `key` ended (committed or rolled back): drop it again and lift the fence. */
  unfence(key: string): void {
    const n = (this.fences.get(key) ?? 1) - 1;
    if (n <= 0) this.fences.delete(key);
    else this.fences.set(key, n);
    this.invalidate(key);
  }

  /** The listener is (again) hearing every change: start from nothing, and wait for a sync before serving. */
  startListening(): void {
    this.clear();
    this.watermark = Number.NEGATIVE_INFINITY;
    this.listening = true;
  }

  /** The listener stopped hearing changes: empty the cache and store nothing until it listens again. */
  stopListening(): void {
    this.listening = false;
    this.watermark = Number.NEGATIVE_INFINITY;
    this.clear();
  }

  /** A sync sent at `sentAt` came back: every change committed before `sentAt` has been heard. */
  heardSync(sentAt: number): void {
    if (this.listening && sentAt > this.watermark) this.watermark = sentAt;
  }

  /** The key of an `activeAccess` question. */
  static keyOf(org: string, context: ContextRef, account: string): string {
    return accessKey(org, context.object, context._id, account);
  }

  /** Removes an entry from the map, the parts index and the recency list. */
  private remove(entry: Entry): void {
    this.entries.delete(entry.key);
    if (entry.parts !== null) this.unindexParts(entry.parts);
    this.unlink(entry);
  }

  private indexParts(
    entry: Entry,
    [org, object, contextId, account]: readonly [string, string, string, string],
  ): void {
    let objects = this.byParts.get(org);
    if (objects === undefined) {
      objects = new Map();
      this.byParts.set(org, objects);
    }
    let contexts = objects.get(object);
    if (contexts === undefined) {
      contexts = new Map();
      objects.set(object, contexts);
    }
    let accounts = contexts.get(contextId);
    if (accounts === undefined) {
      accounts = new Map();
      contexts.set(contextId, accounts);
    }
    accounts.set(account, entry);
  }

  /** Removes a parts entry; maps left empty go too. */
  private unindexParts([org, object, contextId, account]: readonly [string, string, string, string]): void {
    const objects = this.byParts.get(org);
    const contexts = objects?.get(object);
    const accounts = contexts?.get(contextId);
    if (objects === undefined || contexts === undefined || accounts === undefined) return;
    accounts.delete(account);
    if (accounts.size === 0) contexts.delete(contextId);
    if (contexts.size === 0) objects.delete(object);
    if (objects.size === 0) this.byParts.delete(org);
  }

  /** Makes a linked-out entry the most recently used. */
  private pushNewest(entry: Entry): void {
    entry.older = this.newest;
    entry.newer = null;
    if (this.newest !== null) this.newest.newer = entry;
    this.newest = entry;
    if (this.oldest === null) this.oldest = entry;
  }

  /** Takes an entry out of the recency list. */
  private unlink(entry: Entry): void {
    if (entry.newer !== null) entry.newer.older = entry.older;
    else if (this.newest === entry) this.newest = entry.older;
    if (entry.older !== null) entry.older.newer = entry.newer;
    else if (this.oldest === entry) this.oldest = entry.newer;
    entry.newer = null;
    entry.older = null;
  }
}
