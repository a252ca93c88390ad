import {
  type AcceptedPending,
  type AccessLevel,
  activated,
  type Claimant,
  ConnectionError,
  type ConnectionListQuery,
  type ConnectionPage,
  type ConnectionRecord,
  type ConnectionRepository,
  type ContextRef,
  type CreateSnapshot,
  type EndingGrant,
  type EndingGrantsQuery,
  type ExpectedPending,
  type Instant,
  instantOf,
  isAccessExpired,
  isExpired,
  isGone,
  isInvitationOf,
  isStoredAs,
  SnapshotNotEmpty,
  type SupersededPending,
  sameEnd,
  savedPending,
  withGrant,
} from "@conn/core";
import { copyRecord, keys, type MemoryState } from "./memory-state.js";
import { mergeKeys, type SortedKeys } from "./sorted-keys.js";

/** How a repository runs its operations: on its own (taking the lock) or inside a unit of work that holds it. */
export interface Runner {
  /** Runs a read. */
  read<T>(work: () => T): Promise<T>;
  /** Runs a write. */
  write<T>(work: () => T): Promise<T>;
}

/** Runs each operation on its own: writes take the lock, reads wait only while a unit of work runs. */
export function autocommit(state: MemoryState): Runner {
  return {
    read: async (work) => state.read(work),
    write: (work) => state.exclusive(work),
  };
}

/** Runs operations inside a unit of work that already holds the lock. */
export const inTransaction: Runner = {
  read: async (work) => work(),
  write: async (work) => work(),
};

/** The in-memory {@link ConnectionRepository}: the reference implementation every other adapter is checked against. */
export class InMemoryConnectionRepository implements ConnectionRepository {
  constructor(
    private readonly state: MemoryState,
    private readonly run: Runner,
  ) {}

  findById(org: string, id: string, now: Date): Promise<ConnectionRecord | null> {
    return this.run.read(() => {
      const r = this.state.records.get(keys.record(org, id));
      return r === undefined || isGone(r, now) ? null : copyRecord(r);
    });
  }

  findPendingByTokenHash(org: string, tokenHash: string, now: Date): Promise<ConnectionRecord | null> {
    return this.run.read(() => {
      const key = this.state.tokens.get(keys.token(org, tokenHash));
      const r = key === undefined ? undefined : this.state.records.get(key);
      return r === undefined || r.state !== 0 || isExpired(r, now) ? null : copyRecord(r);
    });
  }

  activeAccess(
    org: string,
    context: ContextRef,
    account: string,
    now?: Instant,
  ): AccessLevel | null | Promise<AccessLevel | null> {
    // The hot path: one look-up in the index of levels, answered at once (no promise) unless a unit of work runs,
    // when the read waits for it as every read does.
    if (this.state.busy) return this.run.read(() => this.levelOf(org, context, account, now));
    return this.levelOf(org, context, account, now);
  }

  private levelOf(
    org: string,
    context: ContextRef,
    account: string,
    now: Instant | undefined,
  ): AccessLevel | null {
    const found = this.state.activeLevels.get(org, context.object, context._id, account);
    // A level alone: the grant has no end.
    if (found === undefined || typeof found === "number") return found ?? null;
    // The time is read only for a grant that has an end.
    const end = found.accessExpiresAt;
    if (end !== undefined && end !== null && now !== undefined && end <= instantOf(now)) return null;
    return found.access;
  }

  findForCreate(
    org: string,
    context: ContextRef,
    creator: string,
    targets: { accounts: readonly string[]; emails: readonly string[] },
    now: Date,
  ): Promise<CreateSnapshot> {
    return this.run.read(() => {
      const accounts = new Set(targets.accounts);
      const emails = new Set(targets.emails);
      const active: ConnectionRecord[] = [];
      for (const account of accounts) {
        const r = this.state.active.get(org, context.object, context._id, account);
        if (r !== undefined && !isAccessExpired(r, now)) active.push(copyRecord(r));
      }
      const pending: ConnectionRecord[] = [];
      for (const key of this.state.byContext.get(keys.context(org, context.object, context._id)) ?? []) {
        const r = this.state.records.get(key);
        if (r === undefined || r.state !== 0 || r.creator !== creator || isExpired(r, now)) continue;
        const match =
          (r.target.account !== null && accounts.has(r.target.account)) ||
          (r.target.email !== null && emails.has(r.target.email));
        if (match) pending.push(copyRecord(r));
      }
      return { active, pending };
    });
  }

  async expectNoneForCreate(
    org: string,
    context: ContextRef,
    creator: string,
    targets: { accounts: readonly string[]; emails: readonly string[] },
    now: Date,
  ): Promise<void> {
    const { active, pending } = await this.findForCreate(org, context, creator, targets, now);
    if (active.length > 0 || pending.length > 0) throw new SnapshotNotEmpty();
  }

  savePending(records: readonly ConnectionRecord[], now: Date): Promise<ConnectionRecord[]> {
    const incoming = records.map(copyRecord);
    return this.run.write(() => this.storePending(incoming, now));
  }

  savePendingAsExpected(
    records: readonly ConnectionRecord[],
    expected: readonly ExpectedPending[],
    now: Date,
  ): Promise<void> {
    const incoming = records.map(copyRecord);
    return this.run.write(() => {
      const changed = incoming.filter(
        (r, i) => !isStoredAs(savedPending(this.pendingOf(r), r, now), expected[i]),
      );
      if (changed.length > 0 || expected.length !== incoming.length) {
        throw new ConnectionError("cortex.error.unspecified", {
          reason: "savePendingAsExpected: an invitation changed since it was read",
          retryable: true,
        });
      }
      this.storePending(incoming, now);
    });
  }

  /** The stored invitation a pending record merges into (same context, creator and target key), if any. */
  private pendingOf(r: ConnectionRecord): ConnectionRecord | undefined {
    const key = this.state.pending.get(
      keys.pendingKey(r.org, r.context.object, r.context._id, r.creator, r.targetKey),
    );
    return key === undefined ? undefined : this.state.records.get(key);
  }

  /** savePending's work, under the runner's lock: each record stored as the domain's {@link savedPending} says. */
  private storePending(incoming: readonly ConnectionRecord[], now: Date): ConnectionRecord[] {
    return incoming.map((r) => {
      const existing = this.pendingOf(r);
      const stored = savedPending(existing, r, now);
      if (existing !== undefined && stored === r) this.state.remove(keys.record(existing.org, existing._id));
      this.state.put(stored);
      return copyRecord(stored);
    });
  }

  saveActive(records: readonly ConnectionRecord[], now?: Date): Promise<ConnectionRecord[]> {
    const incoming = records.map(copyRecord);
    return this.run.write(() => this.storeActive(incoming, now));
  }

  /** One write under the state's lock (find, claim, store, supersede): one unit inside a unit of work or on its own. */
  acceptPending(
    org: string,
    tokenHash: string,
    claimant: Claimant,
    now: Date,
  ): Promise<AcceptedPending | null> {
    return this.run.write(() => {
      const key = this.state.tokens.get(keys.token(org, tokenHash));
      const r = key === undefined ? undefined : this.state.records.get(key);
      if (r === undefined || r.state !== 0 || r.tokenHash !== tokenHash) return null;
      const claimed = isInvitationOf(r, claimant) ? this.claim(org, r._id, now) : null;
      if (claimed === null) return null;
      const account = claimant.account;
      const [active] = this.storeActive([copyRecord(activated(claimed, account, now))], now) as [
        ConnectionRecord,
      ];
      const superseded = this.supersede(org, [
        { context: claimed.context, account, maxAccess: active.access, exceptId: active._id },
      ]);
      return { claimed, active, superseded };
    });
  }

  /** saveActive's work, under the runner's lock; `incoming` are copies the store may keep. */
  private storeActive(incoming: readonly ConnectionRecord[], now: Date | undefined): ConnectionRecord[] {
    return incoming.map((r) => {
      const account = r.target.account as string;
      let existing = this.state.active.get(r.org, r.context.object, r.context._id, account);
      if (existing !== undefined && now !== undefined && isAccessExpired(existing, now)) {
        // A grant that has ended is gone, purged or not: the new record replaces it outright.
        this.state.remove(keys.record(existing.org, existing._id));
        existing = undefined;
      }
      // The merge is the domain's: access the higher, roles the union, the creator whoever raised the access; the
      // end is the incoming record's.
      const stored: ConnectionRecord = existing === undefined ? r : withGrant(existing, r, r.updated);
      if (existing !== undefined) {
        const end = r.accessExpiresAt ?? null;
        if (!sameEnd(end, existing.accessExpiresAt)) stored.updated = new Date(r.updated);
        if (end === null) delete stored.accessExpiresAt;
        else stored.accessExpiresAt = end;
      }
      this.state.put(stored);
      return copyRecord(stored);
    });
  }

  /** Units of work already run one at a time here (see {@link InMemoryUnitOfWork}): nothing more to take. */
  async lockContext(_org: string, _context: ContextRef): Promise<void> {}

  claimPending(org: string, id: string, now: Date, _lock?: ContextRef): Promise<ConnectionRecord | null> {
    return this.run.write(() => this.claim(org, id, now));
  }

  /** claimPending's work, under the runner's lock. */
  private claim(org: string, id: string, now: Date): ConnectionRecord | null {
    const key = keys.record(org, id);
    const r = this.state.records.get(key);
    if (r === undefined || r.state !== 0 || isExpired(r, now)) return null;
    this.state.remove(key);
    return copyRecord(r);
  }

  deleteSuperseded(org: string, items: readonly SupersededPending[]): Promise<ConnectionRecord[]> {
    return this.run.write(() => this.supersede(org, items));
  }

  /** deleteSuperseded's work, under the runner's lock. */
  private supersede(org: string, items: readonly SupersededPending[]): ConnectionRecord[] {
    const removed: ConnectionRecord[] = [];
    for (const item of items) {
      // The records of the context or of the target, whichever index is smaller (both are walked filtered).
      const byTarget = this.state.byTargetAccount.get(keys.targetAccount(org, item.account));
      const byContext = this.state.byContext.get(keys.context(org, item.context.object, item.context._id));
      if (byTarget === undefined || byContext === undefined) continue;
      const candidates = byContext.size < byTarget.size ? byContext : byTarget;
      for (const key of [...candidates]) {
        const r = this.state.records.get(key);
        if (
          r !== undefined &&
          r.state === 0 &&
          r.target.account === item.account &&
          r._id !== item.exceptId &&
          r.context.object === item.context.object &&
          r.context._id === item.context._id &&
          r.access <= item.maxAccess
        ) {
          this.state.remove(key);
          removed.push(copyRecord(r));
        }
      }
    }
    return removed;
  }

  deleteById(org: string, id: string): Promise<ConnectionRecord | null> {
    return this.run.write(() => {
      const r = this.state.remove(keys.record(org, id));
      return r === undefined ? null : copyRecord(r);
    });
  }

  /**
   * A page read in order from the filter's sorted index (record keys, which within one org sort as ids), from the
   * cursor found by binary search: a page costs its size plus the rows it skips (expired, another state or object),
   * not the size of the list.
   */
  list(org: string, query: ConnectionListQuery): Promise<ConnectionPage> {
    return this.run.read(() => {
      const f = query.filter;
      const descending = query.endingBefore === undefined;
      const cursor = descending ? query.startingAfter : query.endingBefore;
      const from = cursor === undefined ? undefined : keys.record(org, cursor);
      const read = (index: SortedKeys | undefined): Iterator<string> =>
        index === undefined
          ? [][Symbol.iterator]()
          : descending
            ? index.descendingBelow(from)
            : index.ascendingAbove(from);
      let candidates: Iterator<string>;
      let unboundOnly = false;
      if (f.by === "creator") candidates = read(this.state.byCreator.get(keys.creator(org, f.account)));
      else if (f.by === "context")
        candidates = read(this.state.byContext.get(keys.context(org, f.context.object, f.context._id)));
      else {
        const byAccount = read(this.state.byTargetAccount.get(keys.targetAccount(org, f.account)));
        if (f.email === null) candidates = byAccount;
        else {
          // The invitations to the email that no account is bound to yet, merged in order.
          unboundOnly = true;
          candidates = mergeKeys(
            byAccount,
            read(this.state.byTargetEmail.get(keys.targetEmail(org, f.email))),
            descending,
          );
        }
      }
      const objects = query.objects === undefined ? null : new Set(query.objects);
      // With both cursors, the rows strictly between them.
      const stopAt =
        !descending && query.startingAfter !== undefined ? keys.record(org, query.startingAfter) : undefined;
      const targetAccount = f.by === "target" ? f.account : null;
      const rows: ConnectionRecord[] = [];
      for (let next = candidates.next(); !next.done; next = candidates.next()) {
        if (stopAt !== undefined && next.value >= stopAt) break;
        const r = this.state.records.get(next.value);
        if (r === undefined || isGone(r, query.now)) continue;
        if (unboundOnly && r.target.account !== null && r.target.account !== targetAccount) continue;
        if (query.state !== undefined && r.state !== query.state) continue;
        if (objects !== null && !objects.has(r.context.object)) continue;
        rows.push(r);
        if (rows.length > query.limit) break;
      }
      const hasMore = rows.length > query.limit;
      const page = rows.slice(0, query.limit);
      // Before a cursor the rows were read oldest first: the page is still returned newest first.
      if (!descending) page.reverse();
      return { records: page.map(copyRecord), hasMore };
    });
  }

  bindEmail(org: string, email: string, account: string, now: Date): Promise<ConnectionRecord[]> {
    return this.run.write(() => {
      const bound: ConnectionRecord[] = [];
      for (const key of [...(this.state.byTargetEmail.get(keys.targetEmail(org, email)) ?? [])]) {
        const r = this.state.records.get(key);
        if (r === undefined || r.state !== 0 || r.target.account !== null || isExpired(r, now)) continue;
        const next = { ...r, target: { ...r.target, account }, updated: new Date(now) };
        this.state.put(next);
        bound.push(copyRecord(next));
      }
      return bound;
    });
  }

  purgeExpired(org: string, now: Date, limit: number): Promise<ConnectionRecord[]> {
    return this.run.write(() => {
      const removed: ConnectionRecord[] = [];
      for (const r of this.state.records.values()) {
        if (removed.length >= limit) break;
        if (r.org === org && isExpired(r, now)) removed.push(r);
      }
      for (const r of removed) this.state.remove(keys.record(r.org, r._id));
      return removed.map(copyRecord);
    });
  }

  purgeExpiredGrants(org: string, now: Date, limit: number): Promise<ConnectionRecord[]> {
    return this.run.write(() => {
      const removed: ConnectionRecord[] = [];
      for (const r of this.state.records.values()) {
        if (removed.length >= limit) break;
        if (r.org === org && isAccessExpired(r, now)) removed.push(r);
      }
      for (const r of removed) this.state.remove(keys.record(r.org, r._id));
      return removed.map(copyRecord);
    });
  }

  findEndingGrants(org: string, query: EndingGrantsQuery): Promise<ConnectionRecord[]> {
    return this.run.read(() => {
      const now = query.now.getTime();
      const until = query.until.getTime();
      const after = query.after;
      const found: ConnectionRecord[] = [];
      for (const [key, r] of this.state.records) {
        if (!this.endingUnnoticed(key, r, org, now) || (r.accessExpiresAt as Date).getTime() > until)
          continue;
        const end = (r.accessExpiresAt as Date).getTime();
        if (after !== undefined) {
          const cursor = after.accessExpiresAt.getTime();
          if (end < cursor || (end === cursor && r._id <= after.id)) continue;
        }
        found.push(r);
      }
      return found
        .sort(
          (a, b) =>
            (a.accessExpiresAt as Date).getTime() - (b.accessExpiresAt as Date).getTime() ||
            (a._id < b._id ? -1 : a._id > b._id ? 1 : 0),
        )
        .slice(0, query.limit)
        .map(copyRecord);
    });
  }

  markEndNoticed(org: string, grants: readonly EndingGrant[], now: Date): Promise<ConnectionRecord[]> {
    const wanted = grants.map((g) => ({ ...g, end: g.accessExpiresAt.getTime() }));
    return this.run.write(() => {
      const marked: ConnectionRecord[] = [];
      for (const g of wanted) {
        const key = keys.record(org, g.id);
        const r = this.state.records.get(key);
        if (r === undefined || !this.endingUnnoticed(key, r, org, now.getTime())) continue;
        if ((r.accessExpiresAt as Date).getTime() !== g.end || r.creator !== g.creator) continue;
        this.state.markNoticed(key, g.end);
        marked.push(copyRecord(r));
      }
      return marked;
    });
  }

  /** True when `r` is an active grant of `org` whose access ends after `now` and whose end is not noticed yet. */
  private endingUnnoticed(key: string, r: ConnectionRecord, org: string, now: number): boolean {
    if (r.org !== org || r.state !== 1 || r.accessExpiresAt === undefined || r.accessExpiresAt === null)
      return false;
    const end = r.accessExpiresAt.getTime();
    return end > now && this.state.noticedEnds.get(key) !== end;
  }
}
