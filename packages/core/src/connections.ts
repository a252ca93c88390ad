import { acceptConnection } from "./application/accept-connection.js";
import { type AccessEndingOptions, queueAccessEndingNotices } from "./application/access-ending-notices.js";
import {
  type CreateOptions,
  type CreateResultEntry,
  createConnections as create,
} from "./application/create-connections.js";
import { deleteConnection } from "./application/delete-connection.js";
import type { ConnectionsDeps } from "./application/deps.js";
import {
  type ConnectionList,
  type ListQuery,
  listConnections,
  listContextConnections,
  type PageQuery,
} from "./application/list-connections.js";
import { getConnection } from "./application/read-connection.js";
import {
  bindRegisteredAccount,
  type PurgeOptions,
  purgeExpired,
  resolveAccess,
} from "./application/registration.js";
import { getConnectionByToken, rejectConnection } from "./application/reject-connection.js";
import {
  createShareLink,
  getShareLink,
  listShareLinks,
  redeemShareLink,
  revokeShareLink,
  type ShareLinkList,
  type ShareLinkPageQuery,
} from "./application/share-links.js";
import type { AccessLevel } from "./domain/access-level.js";
import type { ConnectionView } from "./domain/connection.js";
import { publicError } from "./domain/errors.js";
import type { ShareLinkInput, ShareLinkView } from "./domain/share-link.js";
import type { ConnectionTargetInput } from "./domain/targets.js";
import type { ContextRef, Principal } from "./domain/values.js";

/**
 * Answers every failure with what a caller may see ({@link publicError}): a 4xx `ConnectionError` as is; an outage
 * (a retryable 5xx `ConnectionError`, `cortex.error.unavailable`, a `TimeoutError`) as a bare
 * `cortex.error.unavailable`; anything else as a bare `cortex.error.unspecified`. The original error is the `cause`.
 */
function guard<T>(work: Promise<T>): Promise<T> {
  return work.catch((error: unknown) => {
    throw publicError(error);
  });
}

/**
 * The one entry point host apps call: every use case of the spec, over the ports in `deps`. Every method parses its
 * input and fails with a `ConnectionError` carrying a spec code; a failed call writes nothing. A 5xx failure carries
 * only its code and standard message: what went wrong underneath is its `cause`, for the host's error reporter.
 */
export class Connections {
  constructor(private readonly deps: ConnectionsDeps) {}

  /** Creates connections on `context` to many targets; one result (connection or fault) per merged target, in order. */
  create(
    principal: Principal,
    context: ContextRef,
    targets: readonly ConnectionTargetInput[],
    options?: CreateOptions,
  ): Promise<CreateResultEntry[]> {
    return guard(create(this.deps, principal, context, targets, options));
  }

  /** Lists the caller's connections as target (default) or creator, newest first, with a cursor page. */
  list(principal: Principal, query?: ListQuery): Promise<ConnectionList> {
    return guard(listConnections(this.deps, principal, query));
  }

  /** Lists the connections on one context; needs Share on it. */
  listForContext(principal: Principal, context: ContextRef, query?: PageQuery): Promise<ConnectionList> {
    return guard(listContextConnections(this.deps, principal, context, query));
  }

  /** Reads one connection by id, if the caller may see it. */
  get(principal: Principal, id: string): Promise<ConnectionView> {
    return guard(getConnection(this.deps, principal, id));
  }

  /** Reads a pending invitation by token; anonymous callers (`accountId: null`) allowed. */
  getByToken(principal: Principal, token: string): Promise<ConnectionView> {
    return guard(getConnectionByToken(this.deps, principal, token));
  }

  /** Accepts a pending invitation by token; the caller must be its verified target. */
  accept(principal: Principal, token: string): Promise<ConnectionView> {
    return guard(acceptConnection(this.deps, principal, token));
  }

  /** Rejects (removes) a pending invitation by token; anonymous callers allowed. */
  reject(principal: Principal, token: string): Promise<true> {
    return guard(rejectConnection(this.deps, principal, token));
  }

  /** Deletes a connection by id; the access it gave ends at once. */
  delete(principal: Principal, id: string): Promise<true> {
    return guard(deleteConnection(this.deps, principal, id));
  }

  /** Binds pending email invitations to an account that registered or verified later; returns how many. */
  bindRegisteredAccount(org: string, accountId: string): Promise<number> {
    return guard(bindRegisteredAccount(this.deps, org, accountId));
  }

  /** The effective access of `accountId` on `context`: the host's own access or the active connection's, whichever is higher. */
  resolveAccess(org: string, accountId: string, context: ContextRef): Promise<AccessLevel> {
    // resolveAccess answers its failures as guard would, itself: the hot path allocates no guard promise.
    return resolveAccess(this.deps, org, accountId, context);
  }

  /** Creates a share link on `context` (needs Share); the answer carries its token, shown this once only. */
  createShareLink(principal: Principal, context: ContextRef, link?: ShareLinkInput): Promise<ShareLinkView> {
    return guard(createShareLink(this.deps, principal, context, link));
  }

  /** Lists the share links on `context` the caller may manage (its own, or those of creators with less access). */
  listShareLinks(
    principal: Principal,
    context: ContextRef,
    query?: ShareLinkPageQuery,
  ): Promise<ShareLinkList> {
    return guard(listShareLinks(this.deps, principal, context, query));
  }

  /** Reads one share link by id, for its creator or a Share holder with more access than the creator. */
  getShareLink(principal: Principal, id: string): Promise<ShareLinkView> {
    return guard(getShareLink(this.deps, principal, id));
  }

  /** Revokes a share link by id: it redeems nothing from then on; connections made through it stay. */
  revokeShareLink(principal: Principal, id: string): Promise<ShareLinkView> {
    return guard(revokeShareLink(this.deps, principal, id));
  }

  /** Redeems a share link by token: the verified caller gets an active connection at the link's level (or an upgrade). */
  redeemShareLink(principal: Principal, token: string): Promise<ConnectionView> {
    return guard(redeemShareLink(this.deps, principal, token));
  }

  /** Removes the org's expired invitations in bounded batches; returns how many. */
  purgeExpired(org: string, options?: PurgeOptions): Promise<number> {
    return guard(purgeExpired(this.deps, org, options));
  }

  /**
   * Queues the `access-ending` notice (to the target and to the creator) of each of the org's grants that ends within
   * its `accessEndingNoticeHours`, once per end, in bounded batches; returns how many grants were noticed. Run it from
   * a scheduled job, as {@link Connections.purgeExpired}; any number of processes may run it at once.
   */
  queueAccessEndingNotices(org: string, options?: AccessEndingOptions): Promise<number> {
    return guard(queueAccessEndingNotices(this.deps, org, options));
  }
}

/** Builds the {@link Connections} facade over the given ports. */
export function createConnections(deps: ConnectionsDeps): Connections {
  return new Connections(deps);
}
