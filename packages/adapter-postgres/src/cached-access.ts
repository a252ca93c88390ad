import {
  type AcceptedPending,
  type AccessLevel,
  type Awaitable,
  type ConnectionRecord,
  type ConnectionRepository,
  ConnectionState,
  type ContextRef,
  type Instant,
} from "@conn/core";
import { AccessCache } from "./access-cache.js";
import type { AccessListener } from "./access-listener.js";

/**
 * The repository methods that change no row: the reads (`expectNoneForCreate` reads, and at most fails its
 * transaction), and `lockContext` (it only locks). Every other method is
 * treated as a write, including methods added later: a write the cache does not know about clears it and makes its
 * transaction wait, never the other way round.
 */
const READS: ReadonlySet<string> = new Set([
  "lockContext",
  "activeGrant",
  "findById",
  "findPendingByTokenHash",
  "activeAccess",
  "findForCreate",
  "expectNoneForCreate",
  "list",
  "findEndingGrants",
]);

/**
 * The writes that change no access answer: marking a grant's end noticed touches one bookkeeping column, and storing
 * invitations (savePendingAsExpected) writes pending rows only, which answer no access check; the table's trigger
 * stays silent for both. They pass through untracked, as reads do: nothing to fence or wait for.
 */
const ACCESS_NEUTRAL: ReadonlySet<string> = new Set(["markEndNoticed", "savePendingAsExpected"]);

/** True when a repository method changes no access answer (a read, the lock, or an access-neutral write). */
function untracked(method: string): boolean {
  return READS.has(method) || ACCESS_NEUTRAL.has(method);
}

/** What the writes of one transaction touched. */
export class WriteTracker {
  /** The access keys written (each fenced in the cache once). */
  readonly keys = new Set<string>();
  /** True once a write changed an active connection (or returned something the tracker cannot read). */
  activeChanged = false;
  /** True once a write returned something the tracker cannot read: the whole cache goes at the end. */
  unknown = false;

  constructor(private readonly cache: AccessCache) {}

  /** Records what one write returned: fences each record's key; an active record means an access answer moved. */
  saw(result: unknown): void {
    const records =
      result === null
        ? []
        : Array.isArray(result)
          ? result
          : isAccepted(result)
            ? [result.claimed, result.active, ...result.superseded]
            : [result];
    for (const record of records) {
      if (!isRecord(record)) {
        this.unknown = true;
        this.activeChanged = true;
        continue;
      }
      if (record.state === ConnectionState.Active) this.activeChanged = true;
      const account = record.target.account;
      if (account === null) continue;
      const key = AccessCache.keyOf(record.org, record.context, account);
      if (this.keys.has(key)) {
        this.cache.invalidate(key);
        continue;
      }
      this.keys.add(key);
      this.cache.fence(key);
    }
  }

  /** The transaction ended (either way): lift the fences, dropping each key once more. */
  end(): void {
    for (const key of this.keys) this.cache.unfence(key);
    this.keys.clear();
    if (this.unknown) this.cache.clear();
  }
}

/** True for what `acceptPending` returns (its records are tracked one by one). */
function isAccepted(value: unknown): value is AcceptedPending {
  return (
    typeof value === "object" &&
    value !== null &&
    "claimed" in value &&
    "active" in value &&
    "superseded" in value &&
    Array.isArray(value.superseded)
  );
}

function isRecord(value: unknown): value is ConnectionRecord {
  return (
    typeof value === "object" &&
    value !== null &&
    "state" in value &&
    "org" in value &&
    "context" in value &&
    "target" in value
  );
}

/** A transaction's repository whose writes report what they returned to `tracker` (reads pass straight through). */
export function trackWrites<R extends ConnectionRepository>(repo: R, tracker: WriteTracker): R {
  return new Proxy(repo, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || typeof property !== "string" || untracked(property)) return value;
      return async (...args: unknown[]) => {
        const result: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        tracker.saw(result);
        return result;
      };
    },
  });
}

/**
 * What a repository offers when its grants can end on their own: the access and the instant it ends (null: never).
 * The cache uses it, when present, instead of `activeAccess`, so no cached grant outlives its end.
 */
export interface GrantReader {
  activeGrant(
    org: string,
    context: ContextRef,
    account: string,
    ...rest: unknown[]
  ): Promise<{ access: AccessLevel; until: Date | null } | null>;
}

/** Runs one repository write in a tracked transaction. */
export type RunWrite = (write: (repo: ConnectionRepository) => Promise<unknown>) => Promise<unknown>;

/**
 * The autocommit repository with the cache in front of `activeAccess`; every write runs in a transaction of its own
 * through `runWrite`, so it is fenced and invalidated like a write of any unit of work.
 */
export function cachedRepository<R extends ConnectionRepository>(
  plain: R,
  cache: AccessCache,
  listener: AccessListener,
  runWrite: RunWrite,
): R {
  const grantOf = (plain as Partial<GrantReader>).activeGrant;
  /** A miss: reads the database (with the grant's end when the repository offers it) and fills the cache. */
  const read = async (
    org: string,
    context: ContextRef,
    account: string,
    now: Instant | undefined,
  ): Promise<AccessLevel | null> => {
    const key = AccessCache.keyOf(org, context, account);
    const ticket = cache.ticket();
    const readAt = performance.now();
    if (grantOf !== undefined) {
      const grant = await grantOf.call(plain, org, context, account, now);
      cache.fill(key, ticket, grant?.access ?? null, readAt, grant?.until?.getTime() ?? undefined);
      return grant?.access ?? null;
    }
    const access = await plain.activeAccess(org, context, account, now);
    cache.fill(key, ticket, access, readAt);
    return access;
  };
  const activeAccess = (
    org: string,
    context: ContextRef,
    account: string,
    now?: Instant,
  ): Awaitable<AccessLevel | null> => {
    // One read of the clock serves the listener and the cache. A question with its own time (a grant that can end
    // is checked at `now`: a date, or a clock read only then) is answered for that time.
    const at = cache.clock();
    listener.maybeSync(at);
    const hit = cache.lookup(org, context.object, context._id, account, now, at);
    // A hit is answered at once, without a promise (the port allows it); a miss reads the database.
    if (hit !== undefined) return hit;
    return read(org, context, account, now);
  };
  const writes = new Proxy(plain, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || typeof property !== "string" || untracked(property)) {
        return typeof value === "function" ? value.bind(target) : value;
      }
      return (...args: unknown[]) =>
        runWrite((repo) =>
          (Reflect.get(repo, property) as (...a: unknown[]) => Promise<unknown>).apply(repo, args),
        );
    },
  });
  // activeAccess is an own property of the repository handed out, found without the proxy's trap (it runs on
  // every resolveAccess); everything else falls through to the proxy behind it.
  return Object.assign(Object.create(writes) as R, { activeAccess });
}
