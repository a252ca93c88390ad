/**
 * The key as the index stores it: V8's own copy of the string (the one property names use, which is one flat run of
 * characters, shared by every equal key in the process). A string made by concatenation (`"a" + id`) is kept by V8
 * as a tree of parts until something flattens it, and a map probe that meets such a key compares in the runtime
 * rather than in the probe itself; one shared copy per id also keeps the keys a probe reads few and close together
 * (in the bench's memory subset resolveAccess went from about 0.8× to about 1.05× its floor with shared copies
 * rather than private flat ones). Made once per new entry; equal to `key` for every string (a property name keeps
 * its characters, an array index included).
 */
function ownKey(key: string): string {
  return Object.keys({ [key]: 0 })[0] as string;
}

/**
 * A map keyed by four strings, nested one level per key part. A look-up probes four maps with the caller's own
 * strings, whose hashes V8 keeps on the strings: it builds no composite key (no concatenation to allocate, flatten
 * and hash on every `resolveAccess`). The keys it stores are V8's shared copies (`ownKey`). The in-memory active
 * index and the in-memory host's access use it.
 */
export class NestedIndex<V> {
  private readonly root = new Map<string, Map<string, Map<string, Map<string, V>>>>();
  private count = 0;

  /** How many entries the index holds. */
  get size(): number {
    return this.count;
  }

  /** The value under the four key parts, or undefined. */
  get(k1: string, k2: string, k3: string, k4: string): V | undefined {
    return this.root.get(k1)?.get(k2)?.get(k3)?.get(k4);
  }

  /** Puts a value under the four key parts, replacing what was there. */
  set(k1: string, k2: string, k3: string, k4: string, value: V): void {
    let m2 = this.root.get(k1);
    if (m2 === undefined) {
      m2 = new Map();
      this.root.set(ownKey(k1), m2);
    }
    let m3 = m2.get(k2);
    if (m3 === undefined) {
      m3 = new Map();
      m2.set(ownKey(k2), m3);
    }
    let m4 = m3.get(k3);
    if (m4 === undefined) {
      m4 = new Map();
      m3.set(ownKey(k3), m4);
    }
    if (m4.has(k4)) {
      m4.set(k4, value);
    } else {
      this.count++;
      m4.set(ownKey(k4), value);
    }
  }

  /** Removes an entry; maps left empty are removed too, so the index holds exactly its entries. */
  delete(k1: string, k2: string, k3: string, k4: string): boolean {
    const m2 = this.root.get(k1);
    const m3 = m2?.get(k2);
    const m4 = m3?.get(k3);
    if (m2 === undefined || m3 === undefined || m4 === undefined || !m4.delete(k4)) return false;
    this.count--;
    if (m4.size === 0) m3.delete(k3);
    if (m3.size === 0) m2.delete(k2);
    if (m2.size === 0) this.root.delete(k1);
    return true;
  }
}
