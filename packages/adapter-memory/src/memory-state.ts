import type { AccessLevel, ConnectionRecord, ShareLinkRecord } from "@conn/core";
import { NestedIndex } from "./nested-index.js";
import { type OutboxRow, OutboxRows } from "./outbox-rows.js";
import { SortedKeys } from "./sorted-keys.js";

export { copyRow, type OutboxRow } from "./outbox-rows.js";

/** A reversible change, recorded so a failed unit of work can be undone. */
type Undo = () => void;

/** Copies a record (on the way in and out: callers never hold what is stored). */
export function copyRecord(r: ConnectionRecord): ConnectionRecord {
  return {
    ...r,
    roles: [...r.roles],
    context: { ...r.context },
    created: new Date(r.created),
    updated: new Date(r.updated),
    target: {
      account: r.target.account,
      email: r.target.email,
      name: r.target.name === null ? null : { ...r.target.name },
    },
    expiresAt: r.expiresAt === null ? null : new Date(r.expiresAt),
    ...(r.accessExpiresAt === undefined || r.accessExpiresAt === null
      ? {}
      : { accessExpiresAt: new Date(r.accessExpiresAt) }),
  };
}

/** Copies a share link (on the way in and out). */
export function copyLink(l: ShareLinkRecord): ShareLinkRecord {
  return {
    ...l,
    context: { ...l.context },
    created: new Date(l.created),
    updated: new Date(l.updated),
    expiresAt: new Date(l.expiresAt),
    revokedAt: l.revokedAt === null ? null : new Date(l.revokedAt),
  };
}

const SEP = "\u0000";

/** Key helpers: every key starts with the org, so nothing is ever found across orgs. */
export const keys = {
  record: (org: string, id: string) => org + SEP + id,
  token: (org: string, hash: string) => org + SEP + hash,
  context: (org: string, object: string, contextId: string) => org + SEP + object + SEP + contextId,
  creator: (org: string, account: string) => org + SEP + account,
  targetAccount: (org: string, account: string) => `${org}${SEP}a${SEP}${account}`,
  targetEmail: (org: string, email: string) => `${org}${SEP}e${SEP}${email}`,
  pendingKey: (org: string, object: string, contextId: string, creator: string, targetKey: string) =>
    org + SEP + object + SEP + contextId + SEP + creator + SEP + targetKey,
};

function addTo(index: Map<string, SortedKeys>, key: string, value: string): void {
  let set = index.get(key);
  if (set === undefined) {
    set = new SortedKeys();
    index.set(key, set);
  }
  set.add(value);
}

function removeFrom(index: Map<string, SortedKeys>, key: string, value: string): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

/**
 * The shared state of the in-memory adapters: records with the indexes a database would keep, the outbox, and one
 * lock. Units of work hold the lock for their whole run and keep an undo log; readers outside a unit of work wait
 * for the lock only while one is running, so they never see uncommitted writes.
 */
export class MemoryState {
  /** Records by org + id. */
  readonly records = new Map<string, ConnectionRecord>();
  /**
   * The unique index of active connections: (org, object, context id, account) → the stored record itself, so that
   * `activeAccess` (on every resolveAccess) is one look-up that builds no key.
   */
  readonly active = new NestedIndex<ConnectionRecord>();
  /**
   * What `activeAccess` reads, under the same keys as {@link active}: the level itself when the grant has no end (a
   * small integer kept in the map, so a look-up touches no record: records are large and spread over the heap), or
   * the record when it has an end (rare; its end is read from it).
   */
  readonly activeLevels = new NestedIndex<AccessLevel | ConnectionRecord>();
  /** The unique index of pending token hashes: org + hash → record key. */
  readonly tokens = new Map<string, string>();
  /** The unique index of pending invitations per creator and target: → record key. */
  readonly pending = new Map<string, string>();
  /**
   * Secondary indexes for lists and binds: record keys in key order, which within one index (one org) is id order,
   * so a list page is read from them in order rather than sorted.
   */
  readonly byContext = new Map<string, SortedKeys>();
  readonly byCreator = new Map<string, SortedKeys>();
  readonly byTargetAccount = new Map<string, SortedKeys>();
  readonly byTargetEmail = new Map<string, SortedKeys>();
  /** Share links by org + id. */
  readonly links = new Map<string, ShareLinkRecord>();
  /** The unique index of share link token hashes: org + hash → link key. */
  readonly linkTokens = new Map<string, string>();
  /**
   * The end each grant's `access-ending` notice was queued for: record key → `accessExpiresAt` in ms (a column of the
   * row in PostgreSQL; kept apart here so records never carry it). Dropped with the record.
   */
  readonly noticedEnds = new Map<string, number>();
  /** Outbox rows by id, with their indexes. */
  readonly outbox = new OutboxRows();
  /** The enqueue sequence of the outbox: the last `seq` handed out. */
  outboxSeq = 0;

  private tail: Promise<void> = Promise.resolve();
  private held = false;
  private undo: Undo[] | null = null;

  /** True while a unit of work holds the lock. */
  get busy(): boolean {
    return this.held;
  }

  /** Runs `work` holding the lock; when it throws, every change it made is undone. */
  async exclusive<T>(work: () => Promise<T> | T): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    this.held = true;
    const undo: Undo[] = [];
    this.undo = undo;
    try {
      return await work();
    } catch (error) {
      for (let i = undo.length - 1; i >= 0; i--) undo[i]?.();
      throw error;
    } finally {
      this.undo = null;
      this.held = false;
      release();
    }
  }

  /** Runs a read: at once when no unit of work is running, else after it. */
  read<T>(work: () => T): Promise<T> | T {
    return this.held ? this.exclusive(work) : work();
  }

  /** Stores a record (insert or replace), keeping every index and the undo log. */
  put(record: ConnectionRecord): void {
    const key = keys.record(record.org, record._id);
    const before = this.records.get(key);
    this.checkUnique(key, record);
    if (before !== undefined) this.unindex(key, before, record);
    this.records.set(key, record);
    this.index(key, record, before);
    this.undo?.push(() => {
      this.unindex(key, record, before);
      this.records.delete(key);
      if (before !== undefined) {
        this.records.set(key, before);
        this.index(key, before, record);
      }
    });
  }

  /** Removes a record by key (and its noticed end), keeping every index and the undo log. */
  remove(key: string): ConnectionRecord | undefined {
    const before = this.records.get(key);
    if (before === undefined) return undefined;
    this.unindex(key, before);
    this.records.delete(key);
    const noticed = this.noticedEnds.get(key);
    this.noticedEnds.delete(key);
    this.undo?.push(() => {
      this.records.set(key, before);
      this.index(key, before);
      if (noticed !== undefined) this.noticedEnds.set(key, noticed);
    });
    return before;
  }

  /** Records that the grant under `key` was noticed for the end `end` (ms), keeping the undo log. */
  markNoticed(key: string, end: number): void {
    const before = this.noticedEnds.get(key);
    this.noticedEnds.set(key, end);
    this.undo?.push(() => {
      if (before === undefined) this.noticedEnds.delete(key);
      else this.noticedEnds.set(key, before);
    });
  }

  /** Stores a share link (insert or replace), keeping its token index and the undo log. */
  putLink(link: ShareLinkRecord): void {
    const key = keys.record(link.org, link._id);
    const tokenKey = keys.token(link.org, link.tokenHash);
    const owner = this.linkTokens.get(tokenKey);
    if (owner !== undefined && owner !== key)
      throw new Error("in-memory unique index violated: link token hash");
    const before = this.links.get(key);
    this.links.set(key, link);
    this.linkTokens.set(tokenKey, key);
    this.undo?.push(() => {
      if (before === undefined) {
        this.links.delete(key);
        this.linkTokens.delete(tokenKey);
      } else this.links.set(key, before);
    });
  }

  /** Stores an outbox row, keeping its indexes and the undo log. */
  putRow(row: OutboxRow): void {
    const before = this.outbox.get(row.id);
    this.outbox.set(row);
    this.undo?.push(() => {
      if (before === undefined) this.outbox.delete(row.id);
      else this.outbox.set(before);
    });
  }

  /** Deletes an outbox row, keeping its indexes and the undo log. */
  deleteRow(id: string): void {
    const before = this.outbox.delete(id);
    if (before !== undefined) this.undo?.push(() => this.outbox.set(before));
  }

  private checkUnique(key: string, r: ConnectionRecord): void {
    const clash = (index: Map<string, string>, k: string, what: string) => {
      const owner = index.get(k);
      if (owner !== undefined && owner !== key) throw new Error(`in-memory unique index violated: ${what}`);
    };
    if (r.state === 1 && r.target.account !== null) {
      const owner = this.active.get(r.org, r.context.object, r.context._id, r.target.account);
      if (owner !== undefined && owner._id !== r._id) {
        throw new Error("in-memory unique index violated: one active connection per context and account");
      }
    }
    if (r.state === 0) {
      clash(
        this.pending,
        keys.pendingKey(r.org, r.context.object, r.context._id, r.creator, r.targetKey),
        "one pending invitation per creator and target",
      );
      if (r.tokenHash !== null) clash(this.tokens, keys.token(r.org, r.tokenHash), "token hash");
    }
  }

  /** Indexes a record; the secondary indexes it shares with `kept` (the record it replaces or that replaces it) stay. */
  private index(key: string, r: ConnectionRecord, kept?: ConnectionRecord): void {
    if (r.state === 1 && r.target.account !== null) {
      this.active.set(r.org, r.context.object, r.context._id, r.target.account, r);
      const ends = r.accessExpiresAt !== undefined && r.accessExpiresAt !== null;
      this.activeLevels.set(r.org, r.context.object, r.context._id, r.target.account, ends ? r : r.access);
    }
    if (r.state === 0) {
      this.pending.set(keys.pendingKey(r.org, r.context.object, r.context._id, r.creator, r.targetKey), key);
      if (r.tokenHash !== null) this.tokens.set(keys.token(r.org, r.tokenHash), key);
    }
    for (const [index, k] of this.secondaryKeys(r, kept)) addTo(index, k, key);
  }

  /** Unindexes a record; the secondary indexes it shares with `kept` stay. */
  private unindex(key: string, r: ConnectionRecord, kept?: ConnectionRecord): void {
    if (r.state === 1 && r.target.account !== null) {
      const { org, context } = r;
      const account = r.target.account;
      if (this.active.get(org, context.object, context._id, account)?._id === r._id) {
        this.active.delete(org, context.object, context._id, account);
        this.activeLevels.delete(org, context.object, context._id, account);
      }
    }
    if (r.state === 0) {
      const k = keys.pendingKey(r.org, r.context.object, r.context._id, r.creator, r.targetKey);
      if (this.pending.get(k) === key) this.pending.delete(k);
      if (r.tokenHash !== null) {
        const t = keys.token(r.org, r.tokenHash);
        if (this.tokens.get(t) === key) this.tokens.delete(t);
      }
    }
    for (const [index, k] of this.secondaryKeys(r, kept)) removeFrom(index, k, key);
  }

  /** The secondary index entries of `r` that `other` (a version of the same record) does not have. */
  private secondaryKeys(r: ConnectionRecord, other?: ConnectionRecord): [Map<string, SortedKeys>, string][] {
    const entries: [Map<string, SortedKeys>, string][] = [];
    const same = (a: string | null, b: string | null | undefined) => other !== undefined && a === b;
    if (
      !(
        other !== undefined &&
        r.context.object === other.context.object &&
        r.context._id === other.context._id
      )
    ) {
      entries.push([this.byContext, keys.context(r.org, r.context.object, r.context._id)]);
    }
    if (!same(r.creator, other?.creator)) entries.push([this.byCreator, keys.creator(r.org, r.creator)]);
    if (r.target.account !== null && !same(r.target.account, other?.target.account)) {
      entries.push([this.byTargetAccount, keys.targetAccount(r.org, r.target.account)]);
    }
    if (r.target.email !== null && !same(r.target.email, other?.target.email)) {
      entries.push([this.byTargetEmail, keys.targetEmail(r.org, r.target.email)]);
    }
    return entries;
  }
}
