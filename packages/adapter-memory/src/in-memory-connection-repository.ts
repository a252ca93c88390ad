import {
  type AccessLevel,
  type ConnectionListQuery,
  type ConnectionPage,
  type ConnectionRecord,
  type ConnectionRepository,
  type ContextRef,
  type CreateSnapshot,
  isExpired,
  type SupersededPending,
  unionRoles,
  withGrant,
} from "@conn/core";
import { copyRecord, keys, type MemoryState } from "./memory-state.js";

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
      return r === undefined || isExpired(r, now) ? null : copyRecord(r);
    });
  }

  findPendingByTokenHash(org: string, tokenHash: string, now: Date): Promise<ConnectionRecord | null> {
    return this.run.read(() => {
      const key = this.state.tokens.get(keys.token(org, tokenHash));
      const r = key === undefined ? undefined : this.state.records.get(key);
      return r === undefined || r.state !== 0 || isExpired(r, now) ? null : copyRecord(r);
    });
  }

  activeAccess(org: string, context: ContextRef, account: string): Promise<AccessLevel | null> {
    const lookup = () => {
      const key = this.state.active.get(keys.active(org, context.object, context._id, account));
      return key === undefined ? null : (this.state.records.get(key)?.access ?? null);
    };
    return this.state.busy ? this.run.read(lookup) : Promise.resolve(lookup());
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
        const key = this.state.active.get(keys.active(org, context.object, context._id, account));
        const r = key === undefined ? undefined : this.state.records.get(key);
        if (r !== undefined) active.push(copyRecord(r));
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

  savePending(records: readonly ConnectionRecord[], now: Date): Promise<ConnectionRecord[]> {
    const incoming = records.map(copyRecord);
    return this.run.write(() =>
      incoming.map((r) => {
        const existingKey = this.state.pending.get(
          keys.pendingKey(r.org, r.context.object, r.context._id, r.creator, r.targetKey),
        );
        const existing = existingKey === undefined ? undefined : this.state.records.get(existingKey);
        let stored: ConnectionRecord;
        if (existing === undefined) {
          stored = r;
        } else if (isExpired(existing, now)) {
          this.state.remove(keys.record(existing.org, existing._id));
          stored = r;
        } else {
          stored = {
            ...existing,
            access: Math.max(existing.access, r.access) as AccessLevel,
            roles: unionRoles(existing.roles, r.roles),
            target: {
              ...existing.target,
              account: existing.target.account ?? r.target.account,
              name: r.target.name ?? existing.target.name,
            },
            tokenHash: r.tokenHash,
            tokenSeal: r.tokenSeal,
            expiresAt: r.expiresAt,
            updated: r.updated,
          };
        }
        this.state.put(stored);
        return copyRecord(stored);
      }),
    );
  }

  saveActive(records: readonly ConnectionRecord[]): Promise<ConnectionRecord[]> {
    const incoming = records.map(copyRecord);
    return this.run.write(() =>
      incoming.map((r) => {
        const account = r.target.account as string;
        const existingKey = this.state.active.get(
          keys.active(r.org, r.context.object, r.context._id, account),
        );
        const existing = existingKey === undefined ? undefined : this.state.records.get(existingKey);
        // The merge is the domain's: access the higher, roles the union, the creator whoever raised the access.
        const stored: ConnectionRecord = existing === undefined ? r : withGrant(existing, r, r.updated);
        this.state.put(stored);
        return copyRecord(stored);
      }),
    );
  }

  /** Units of work already run one at a time here (see {@link InMemoryUnitOfWork}): nothing more to take. */
  async lockContext(_org: string, _context: ContextRef): Promise<void> {}

  claimPending(org: string, id: string, now: Date): Promise<ConnectionRecord | null> {
    return this.run.write(() => {
      const key = keys.record(org, id);
      const r = this.state.records.get(key);
      if (r === undefined || r.state !== 0 || isExpired(r, now)) return null;
      this.state.remove(key);
      return copyRecord(r);
    });
  }

  deleteSuperseded(org: string, items: readonly SupersededPending[]): Promise<ConnectionRecord[]> {
    return this.run.write(() => {
      const removed: ConnectionRecord[] = [];
      for (const item of items) {
        const candidates =
          this.state.byTargetAccount.get(keys.targetAccount(org, item.account)) ?? new Set<string>();
        for (const key of [...candidates]) {
          const r = this.state.records.get(key);
          if (
            r !== undefined &&
            r.state === 0 &&
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
    });
  }

  deleteById(org: string, id: string): Promise<ConnectionRecord | null> {
    return this.run.write(() => {
      const r = this.state.remove(keys.record(org, id));
      return r === undefined ? null : copyRecord(r);
    });
  }

  list(org: string, query: ConnectionListQuery): Promise<ConnectionPage> {
    return this.run.read(() => {
      const f = query.filter;
      let candidates: Iterable<string>;
      if (f.by === "creator") candidates = this.state.byCreator.get(keys.creator(org, f.account)) ?? [];
      else if (f.by === "context")
        candidates = this.state.byContext.get(keys.context(org, f.context.object, f.context._id)) ?? [];
      else {
        const set = new Set(this.state.byTargetAccount.get(keys.targetAccount(org, f.account)) ?? []);
        if (f.email !== null) {
          for (const key of this.state.byTargetEmail.get(keys.targetEmail(org, f.email)) ?? []) {
            if (this.state.records.get(key)?.target.account === null) set.add(key);
          }
        }
        candidates = set;
      }
      const objects = query.objects === undefined ? null : new Set(query.objects);
      const rows: ConnectionRecord[] = [];
      for (const key of candidates) {
        const r = this.state.records.get(key);
        if (r === undefined || isExpired(r, query.now)) continue;
        if (query.state !== undefined && r.state !== query.state) continue;
        if (objects !== null && !objects.has(r.context.object)) continue;
        if (query.startingAfter !== undefined && !(r._id < query.startingAfter)) continue;
        if (query.endingBefore !== undefined && !(r._id > query.endingBefore)) continue;
        rows.push(r);
      }
      if (query.endingBefore !== undefined) {
        // The page just before the cursor: the `limit` rows nearest to it, returned newest first.
        rows.sort((a, b) => (a._id < b._id ? -1 : 1));
        const page = rows.slice(0, query.limit).reverse();
        return { records: page.map(copyRecord), hasMore: rows.length > query.limit };
      }
      rows.sort((a, b) => (a._id < b._id ? 1 : -1));
      return { records: rows.slice(0, query.limit).map(copyRecord), hasMore: rows.length > query.limit };
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
}
