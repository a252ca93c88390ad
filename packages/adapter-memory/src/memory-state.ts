import type { ConnectionRecord, ShareLinkRecord } from "@conn/core";
import { type OutboxRow, OutboxRows } from "./outbox-rows.js";

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
  active: (org: string, object: string, contextId: string, account: string) =>
    org + SEP + object + SEP + contextId + SEP + account,
  token: (org: string, hash: string) => org + SEP + hash,
  context: (org: string, object: string, contextId: string) => org + SEP + object + SEP + contextId,
  creator: (org: string, account: string) => org + SEP + account,
  targetAccount: (org: string, account: string) => `${org}${SEP}a${SEP}${account}`,
  targetEmail: (org: string, email: string) => `${org}${SEP}e${SEP}${email}`,
  pendingKey: (org: string, object: string, contextId: string, creator: string, targetKey: string) =>
    org + SEP + object + SEP + contextId + SEP + creator + SEP + targetKey,
};

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  let set = index.get(key);
  if (set === undefined) {
    set = new Set();
    index.set(key, set);
  }
  set.add(value);
}

function removeFrom(index: Map<string, Set<string>>, key: string, value: string): void {
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
  /** The unique index of active connections: org + context + account → record key. */
  readonly active = new Map<string, string>();
  /** The unique index of pending token hashes: org + hash → record key. */
  readonly tokens = new Map<string, string>();
  /** The unique index of pending invitations per creator and target: → record key. */
  readonly pending = new Map<string, string>();
  /** Secondary indexes for lists and binds. */
  readonly byContext = new Map<string, Set<string>>();
  readonly byCreator = new Map<string, Set<string>>();
  readonly byTargetAccount = new Map<string, Set<string>>();
  readonly byTargetEmail = new Map<string, Set<string>>();
  /** Share links by org + id. */
  readonly links = new Map<string, ShareLinkRecord>();
  /** The unique index of share link token hashes: org + hash → link key. */
  readonly linkTokens = new Map<string, string>();
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
    if (before !== undefined) this.unindex(key, before);
    this.records.set(key, record);
    this.index(key, record);
    this.undo?.push(() => {
      this.unindex(key, record);
      this.records.delete(key);
      if (before !== undefined) {
        this.records.set(key, before);
        this.index(key, before);
      }
    });
  }

  /** Removes a record by key, keeping every index and the undo log. */
  remove(key: string): ConnectionRecord | undefined {
    const before = this.records.get(key);
    if (before === undefined) return undefined;
    this.unindex(key, before);
    this.records.delete(key);
    this.undo?.push(() => {
      this.records.set(key, before);
      this.index(key, before);
    });
    return before;
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
      clash(
        this.active,
        keys.active(r.org, r.context.object, r.context._id, r.target.account),
        "one active connection per context and account",
      );
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

  private index(key: string, r: ConnectionRecord): void {
    if (r.state === 1 && r.target.account !== null) {
      this.active.set(keys.active(r.org, r.context.object, r.context._id, r.target.account), key);
    }
    if (r.state === 0) {
      this.pending.set(keys.pendingKey(r.org, r.context.object, r.context._id, r.creator, r.targetKey), key);
      if (r.tokenHash !== null) this.tokens.set(keys.token(r.org, r.tokenHash), key);
    }
    addTo(this.byContext, keys.context(r.org, r.context.object, r.context._id), key);
    addTo(this.byCreator, keys.creator(r.org, r.creator), key);
    if (r.target.account !== null)
      addTo(this.byTargetAccount, keys.targetAccount(r.org, r.target.account), key);
    if (r.target.email !== null) addTo(this.byTargetEmail, keys.targetEmail(r.org, r.target.email), key);
  }

  private unindex(key: string, r: ConnectionRecord): void {
    if (r.state === 1 && r.target.account !== null) {
      const k = keys.active(r.org, r.context.object, r.context._id, r.target.account);
      if (this.active.get(k) === key) this.active.delete(k);
    }
    if (r.state === 0) {
      const k = keys.pendingKey(r.org, r.context.object, r.context._id, r.creator, r.targetKey);
      if (this.pending.get(k) === key) this.pending.delete(k);
      if (r.tokenHash !== null) {
        const t = keys.token(r.org, r.tokenHash);
        if (this.tokens.get(t) === key) this.tokens.delete(t);
      }
    }
    removeFrom(this.byContext, keys.context(r.org, r.context.object, r.context._id), key);
    removeFrom(this.byCreator, keys.creator(r.org, r.creator), key);
    if (r.target.account !== null)
      removeFrom(this.byTargetAccount, keys.targetAccount(r.org, r.target.account), key);
    if (r.target.email !== null) removeFrom(this.byTargetEmail, keys.targetEmail(r.org, r.target.email), key);
  }
}
