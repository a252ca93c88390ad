import type { OutboxMessage, OutboxMessageStatus } from "@conn/core";
import { copyData } from "./copy-data.js";

/** An outbox row as the in-memory outbox keeps it. */
export interface OutboxRow extends Omit<OutboxMessage, "claim" | "leaseUntil"> {
  /** Enqueue order: due messages are claimed oldest first (ids are random, so they cannot tell). */
  seq: number;
  status: OutboxMessageStatus;
  leaseUntil: Date | null;
  /** How many times the message was claimed: the fencing token of the latest claim. */
  claims: number;
  created: Date;
  lastAttemptAt: Date | null;
  deliveredAt: Date | null;
}

/** One index entry: a time, the row's enqueue sequence (a tie-break unique per row) and its id. */
export interface IndexEntry {
  readonly t: number;
  readonly seq: number;
  readonly id: string;
}

/**
 * Ids sorted by (time, seq): binary-search insert and remove, and removal from the front in O(1) (the front is
 * where messages leave: the oldest due is claimed first, the oldest delivered is purged first).
 */
export class SortedIndex {
  private entries: IndexEntry[] = [];
  private head = 0;

  /** How many ids the index holds. */
  get size(): number {
    return this.entries.length - this.head;
  }

  /** Adds an entry. */
  insert(entry: IndexEntry): void {
    const at = this.lowerBound(entry.t, entry.seq);
    if (at === this.entries.length) this.entries.push(entry);
    else this.entries.splice(at, 0, entry);
  }

  /** Removes the entry with this time and sequence, if present. */
  remove(t: number, seq: number): void {
    const at = this.lowerBound(t, seq);
    const found = this.entries[at];
    if (found === undefined || found.t !== t || found.seq !== seq) return;
    if (at === this.head) {
      this.head++;
      if (this.head > 1_024 && this.head * 2 > this.entries.length) {
        this.entries = this.entries.slice(this.head);
        this.head = 0;
      }
    } else {
      this.entries.splice(at, 1);
    }
  }

  /** The entries in order, from the first (the caller must not change the index while iterating). */
  *inOrder(): Generator<IndexEntry> {
    for (let i = this.head; i < this.entries.length; i++) yield this.entries[i] as IndexEntry;
  }

  /** The first entry, or undefined when empty. */
  first(): IndexEntry | undefined {
    return this.entries[this.head];
  }

  private lowerBound(t: number, seq: number): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = this.entries[mid] as IndexEntry;
      if (e.t < t || (e.t === t && e.seq < seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The in-memory outbox table with the indexes a database would keep, so no operation scans every row ever queued:
 * pending rows per org by due time (for claims), delivered rows per org by delivery time (for retention), and dead
 * letters per org. Every change goes through {@link OutboxRows.set} and {@link OutboxRows.delete}, which keep the
 * indexes and the per-status counts.
 */
export class OutboxRows {
  private readonly rows = new Map<string, OutboxRow>();
  private readonly pending = new Map<string, SortedIndex>();
  private readonly delivered = new Map<string, SortedIndex>();
  private readonly dead = new Map<string, Set<string>>();
  private readonly tally: Record<OutboxMessageStatus, number> = { pending: 0, delivered: 0, dead: 0 };

  /** The row with this id (ids are unique across orgs), stored, not copied: callers copy. */
  get(id: string): OutboxRow | undefined {
    return this.rows.get(id);
  }

  /** True when a row has this id. */
  has(id: string): boolean {
    return this.rows.has(id);
  }

  /** How many rows are stored. */
  get size(): number {
    return this.rows.size;
  }

  /** Every stored row (for inspection and tests). */
  values(): IterableIterator<OutboxRow> {
    return this.rows.values();
  }

  /** Rows by status. */
  counts(): Record<OutboxMessageStatus, number> {
    return { ...this.tally };
  }

  /** The org's pending rows by (availableAt, seq). */
  pendingOf(org: string): SortedIndex | undefined {
    return this.pending.get(org);
  }

  /** The org's delivered rows by (deliveredAt, seq). */
  deliveredOf(org: string): SortedIndex | undefined {
    return this.delivered.get(org);
  }

  /** The ids of the org's dead letters. */
  deadOf(org: string): ReadonlySet<string> | undefined {
    return this.dead.get(org);
  }

  /** The orgs with pending rows. */
  orgsWithPending(): IterableIterator<[string, SortedIndex]> {
    return this.pending.entries();
  }

  /** The orgs with delivered rows. */
  orgsWithDelivered(): IterableIterator<[string, SortedIndex]> {
    return this.delivered.entries();
  }

  /** The orgs with dead letters. */
  orgsWithDead(): IterableIterator<[string, ReadonlySet<string>]> {
    return this.dead.entries();
  }

  /** Stores a row (insert or replace), moving it between indexes as its status and times say. */
  set(row: OutboxRow): void {
    const before = this.rows.get(row.id);
    if (before !== undefined) this.unindex(before);
    this.rows.set(row.id, row);
    this.index(row);
  }

  /** Removes a row and its index entries. */
  delete(id: string): OutboxRow | undefined {
    const before = this.rows.get(id);
    if (before === undefined) return undefined;
    this.unindex(before);
    this.rows.delete(id);
    return before;
  }

  private index(row: OutboxRow): void {
    this.tally[row.status]++;
    if (row.status === "pending") {
      indexIn(this.pending, row.org).insert({ t: row.availableAt.getTime(), seq: row.seq, id: row.id });
    } else if (row.status === "delivered") {
      const t = (row.deliveredAt ?? row.created).getTime();
      indexIn(this.delivered, row.org).insert({ t, seq: row.seq, id: row.id });
    } else {
      let set = this.dead.get(row.org);
      if (set === undefined) {
        set = new Set();
        this.dead.set(row.org, set);
      }
      set.add(row.id);
    }
  }

  private unindex(row: OutboxRow): void {
    this.tally[row.status]--;
    if (row.status === "pending") {
      removeFrom(this.pending, row.org, row.availableAt.getTime(), row.seq);
    } else if (row.status === "delivered") {
      removeFrom(this.delivered, row.org, (row.deliveredAt ?? row.created).getTime(), row.seq);
    } else {
      const set = this.dead.get(row.org);
      set?.delete(row.id);
      if (set?.size === 0) this.dead.delete(row.org);
    }
  }
}

function indexIn(map: Map<string, SortedIndex>, org: string): SortedIndex {
  let index = map.get(org);
  if (index === undefined) {
    index = new SortedIndex();
    map.set(org, index);
  }
  return index;
}

function removeFrom(map: Map<string, SortedIndex>, org: string, t: number, seq: number): void {
  const index = map.get(org);
  if (index === undefined) return;
  index.remove(t, seq);
  if (index.size === 0) map.delete(org);
}

/** Copies an outbox row. */
export function copyRow(r: OutboxRow): OutboxRow {
  return copyData(r);
}
