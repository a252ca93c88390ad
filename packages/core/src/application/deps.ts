import type { AccessLevel } from "../domain/access-level.js";
import { type ConnectionRecord, type ConnectionView, toConnectionView } from "../domain/connection.js";
import { ConnectionError } from "../domain/errors.js";
import type { ConnectionEvent } from "../domain/events.js";
import { isInvitationOf } from "../domain/grants.js";
import { type ObjectSettings, pluralOf } from "../domain/settings.js";
import {
  type ContextRef,
  connectionIdSchema,
  isHostId,
  isOrg,
  isPrincipalAccount,
  type Principal,
} from "../domain/values.js";
import type { Account, AccountDirectory } from "../ports/account-directory.js";
import type { ConnectionRepository } from "../ports/connection-repository.js";
import type { ContextAccess, OrgDirectory } from "../ports/context-access.js";
import type { Clock, EventPublisher, IdGenerator, TokenService } from "../ports/services.js";
import type { UnitOfWork } from "../ports/unit-of-work.js";

/** Everything the use cases need, as ports. */
export interface ConnectionsDeps {
  /** Connection records and the outbox, with transactions. */
  store: UnitOfWork;
  /** The host's accounts. */
  accounts: AccountDirectory;
  /** The host's own access rules and object settings. */
  contexts: ContextAccess;
  /** Org settings. */
  orgs: OrgDirectory;
  /** Token issue, hash, compare, reveal. */
  tokens: TokenService;
  /** Record ids. */
  ids: IdGenerator;
  /** Time. */
  clock: Clock;
  /** Receives domain events after commit; optional. */
  events?: EventPublisher | undefined;
}

/** A parsed principal whose account exists in the directory. */
export interface Caller {
  org: string;
  account: Account;
}

/**
 * Parses a principal; a malformed one is an invalid argument. Every request passes here, so it checks what
 * `principalSchema` checks with plain tests rather than zod (the same answer, without zod's allocations).
 */
export function parsePrincipal(principal: unknown): Principal {
  if (typeof principal === "object" && principal !== null) {
    const p = principal as Record<string, unknown>;
    let known = true;
    for (const key in p) {
      if (key !== "org" && key !== "accountId" && key !== "account") known = false;
    }
    const { org, accountId, account } = p;
    if (
      known &&
      isOrg(org) &&
      (accountId === null || isHostId(accountId)) &&
      (account === undefined || (isPrincipalAccount(account) && account._id === accountId))
    ) {
      return account === undefined ? { org, accountId } : { org, accountId, account };
    }
  }
  throw new ConnectionError("cortex.invalidArgument.unspecified", {
    reason: "malformed principal",
    path: "principal",
  });
}

/**
 * Loads the caller's account, or null when the principal is anonymous. An unknown account counts as anonymous. An
 * account the principal carries is used as it is (copied), with no look-up.
 */
export async function loadCaller(
  deps: ConnectionsDeps,
  principal: unknown,
): Promise<{ org: string; caller: Caller | null }> {
  const p = parsePrincipal(principal);
  if (p.accountId === null) return { org: p.org, caller: null };
  if (p.account !== undefined) {
    const a = p.account;
    return { org: p.org, caller: { org: p.org, account: { ...a, name: { ...a.name } } } };
  }
  const [account] = await deps.accounts.findByIds(p.org, [p.accountId]);
  return { org: p.org, caller: account === undefined ? null : { org: p.org, account } };
}

/** Loads the caller's account; fails with `notLoggedIn` for anonymous callers. */
export async function requireCaller(deps: ConnectionsDeps, principal: unknown): Promise<Caller> {
  const { caller } = await loadCaller(deps, principal);
  if (caller === null) {
    const anonymous = (principal as { accountId?: unknown }).accountId === null;
    throw new ConnectionError("cortex.accessDenied.notLoggedIn", {
      reason: anonymous ? "the caller is anonymous" : "the caller's account id names no account of this org",
    });
  }
  return caller;
}

/** Parses a connection id; a malformed one is an invalid argument. */
export function parseId(id: unknown, path = "id"): string {
  const parsed = connectionIdSchema.safeParse(id);
  if (!parsed.success)
    throw new ConnectionError("cortex.invalidArgument.unspecified", { reason: "malformed id", path });
  return parsed.data;
}

/**
 * The effective access of docs/behaviour.md §9: the higher of the host's own access and the active connection's, read through
 * `connections` (a transaction's repository when the answer decides a change in it).
 */
export async function effectiveAccess(
  deps: ConnectionsDeps,
  org: string,
  account: string,
  context: ContextRef,
  connections: ConnectionRepository = deps.store.connections,
): Promise<AccessLevel> {
  const [own, connected] = await Promise.all([
    deps.contexts.accessOf(org, account, context),
    connections.activeAccess(org, context, account, deps.clock.now()),
  ]);
  return Math.max(own, connected ?? 0) as AccessLevel;
}

/** True when the caller is the record's target, by account or by email (docs/behaviour.md §3). */
export function isTarget(record: ConnectionRecord, caller: Caller | null): boolean {
  return (
    caller !== null && isInvitationOf(record, { account: caller.account._id, email: caller.account.email })
  );
}

/** Caches object settings for the duration of one call. */
export class SettingsCache {
  private readonly cache = new Map<string, Promise<ObjectSettings | null>>();
  constructor(
    private readonly deps: ConnectionsDeps,
    private readonly org: string,
  ) {}

  /** The settings of an object, looked up once per call. */
  get(object: string): Promise<ObjectSettings | null> {
    let hit = this.cache.get(object);
    if (hit === undefined) {
      hit = this.deps.contexts.objectSettings(this.org, object);
      this.cache.set(object, hit);
    }
    return hit;
  }
}

/** Builds the caller's view of a record: the token for the target only, paths from the object's plural name. */
export async function viewOf(
  deps: ConnectionsDeps,
  settings: SettingsCache,
  record: ConnectionRecord,
  caller: Caller | null,
): Promise<ConnectionView> {
  const viewerIsTarget = isTarget(record, caller);
  const object = await settings.get(record.context.object);
  const token =
    viewerIsTarget && record.tokenSeal !== null ? deps.tokens.reveal(record.tokenSeal) : undefined;
  return toConnectionView(record, { plural: pluralOf(object, record.context.object), viewerIsTarget, token });
}

/** Publishes events after commit, when a publisher is configured. */
export async function publish(deps: ConnectionsDeps, events: readonly ConnectionEvent[]): Promise<void> {
  if (events.length > 0 && deps.events !== undefined) await deps.events.publish(events);
}
