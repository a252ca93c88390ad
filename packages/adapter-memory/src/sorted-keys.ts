/** The most keys one chunk of a {@link SortedKeys} holds before it is split in two. */
const CHUNK = 512;

/**
 * A set of strings kept in ascending order, in chunks of at most 512: insert and remove cost a binary search and a
 * splice of one chunk (not of the whole set), and a page is read from any point in either direction after one
 * binary search. The in-memory lists read their pages from these, so a page costs its size, not the list's.
 */
export class SortedKeys {
  private chunks: string[][] = [];
  private count = 0;

  /** How many keys the set holds. */
  get size(): number {
    return this.count;
  }

  /** Adds a key (nothing when it is already there). */
  add(key: string): void {
    const chunks = this.chunks;
    if (chunks.length === 0) {
      chunks.push([key]);
      this.count = 1;
      return;
    }
    // The first chunk whose last key is ≥ key, or the last chunk when key is past every key (the common case:
    // ids grow with time, so new keys go at the end).
    let c = this.chunkFor(key);
    if (c === chunks.length) c--;
    const chunk = chunks[c] as string[];
    const at = lowerBound(chunk, key);
    if (chunk[at] === key) return;
    if (at === chunk.length) chunk.push(key);
    else chunk.splice(at, 0, key);
    this.count++;
    if (chunk.length > CHUNK) chunks.splice(c + 1, 0, chunk.splice(CHUNK >>> 1));
  }

  /** Removes a key (nothing when it is not there). */
  delete(key: string): boolean {
    const c = this.chunkFor(key);
    const chunk = this.chunks[c];
    if (chunk === undefined) return false;
    const at = lowerBound(chunk, key);
    if (chunk[at] !== key) return false;
    chunk.splice(at, 1);
    this.count--;
    if (chunk.length === 0) this.chunks.splice(c, 1);
    return true;
  }

  /** True when the set holds the key. */
  has(key: string): boolean {
    const chunk = this.chunks[this.chunkFor(key)];
    return chunk !== undefined && chunk[lowerBound(chunk, key)] === key;
  }

  /** Every key, ascending. */
  *[Symbol.iterator](): Generator<string> {
    for (const chunk of this.chunks) yield* chunk;
  }

  /** The keys strictly below `before` (every key when undefined), descending. */
  *descendingBelow(before?: string): Generator<string> {
    const chunks = this.chunks;
    let c = chunks.length - 1;
    let i = (chunks[c]?.length ?? 0) - 1;
    if (before !== undefined) {
      c = this.chunkFor(before);
      if (c === chunks.length) {
        c--;
        i = (chunks[c]?.length ?? 0) - 1;
      } else {
        i = lowerBound(chunks[c] as string[], before) - 1;
      }
    }
    for (; c >= 0; c--) {
      const chunk = chunks[c] as string[];
      for (; i >= 0; i--) yield chunk[i] as string;
      i = (chunks[c - 1]?.length ?? 0) - 1;
    }
  }

  /** The keys strictly above `after` (every key when undefined), ascending. */
  *ascendingAbove(after?: string): Generator<string> {
    const chunks = this.chunks;
    let c = 0;
    let i = 0;
    if (after !== undefined) {
      c = this.chunkFor(after);
      const chunk = chunks[c];
      if (chunk !== undefined) {
        i = lowerBound(chunk, after);
        if (chunk[i] === after) i++;
      }
    }
    for (; c < chunks.length; c++) {
      const chunk = chunks[c] as string[];
      for (; i < chunk.length; i++) yield chunk[i] as string;
      i = 0;
    }
  }

  /** The index of the first chunk whose last key is ≥ key; `chunks.length` when there is none. */
  private chunkFor(key: string): number {
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = chunks[mid] as string[];
      if ((chunk[chunk.length - 1] as string) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The first position in a sorted array whose key is ≥ key. */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The union of two key streams read in the same direction (`descending` or not), in that order, each key once. Used
 * for a target's list: the records to its account and the unbound ones to its email.
 */
export function* mergeKeys(a: Iterator<string>, b: Iterator<string>, descending: boolean): Generator<string> {
  let x = a.next();
  let y = b.next();
  while (!x.done || !y.done) {
    if (x.done) {
      yield y.value as string;
      y = b.next();
    } else if (y.done) {
      yield x.value;
      x = a.next();
    } else if (x.value === y.value) {
      yield x.value;
      x = a.next();
      y = b.next();
    } else if (x.value > y.value === descending) {
      yield x.value;
      x = a.next();
    } else {
      yield y.value;
      y = b.next();
    }
  }
}
