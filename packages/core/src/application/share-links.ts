import { z } from "zod";
import { type AccessLevel, grantedLevel, AccessLevel as Level } from "../domain/access-level.js";
import { type ConnectionRecord, type ConnectionView, snapshotOf } from "../domain/connection.js";
import { ConnectionError, type ErrorCode } from "../domain/errors.js";
import type { ConnectionEvent } from "../domain/events.js";
import { expiresAt } from "../domain/expiry.js";
import { pluralOf } from "../domain/settings.js";
import {
  domainAllows,
  redeemedConnection,
  type ShareLinkRecord,
  type ShareLinkStatus,
  type ShareLinkView,
  shareLinkGrant,
  shareLinkInputSchema,
  shareLinkStatus,
  toShareLinkView,
} from "../domain/share-link.js";
import { type ContextRef, connectionIdSchema } from "../domain/values.js";
import type { TransactionalStores } from "../ports/unit-of-work.js";
import { parseContext, requireSharer } from "./create-connections.js";
import {
  type Caller,
  type ConnectionsDeps,
  effectiveAccess,
  parseId,
  publish,
  requireCaller,
  SettingsCache,
  viewOf,
} from "./deps.js";
import { invalidToken, parseToken } from "./token-lookup.js";

/** The largest page of share links a list returns. */
export const MAX_SHARE_LINK_LIST_LIMIT = 1000;

/** A page request of a context's share links: `limit` (default 100) and an optional `startingAfter` id. */
export const shareLinkPageSchema = z
  .object({
    limit: z.number().int().min(1).max(MAX_SHARE_LINK_LIST_LIMIT).default(100),
    startingAfter: connectionIdSchema.optional(),
  })
  .strict();

/** A page request of share links, as a caller supplies it. */
export type ShareLinkPageQuery = z.input<typeof shareLinkPageSchema>;

/** A page of share links: `{ object: "list", data, hasMore }`. */
export interface ShareLinkList {
  object: "list";
  data: ShareLinkView[];
  hasMore: boolean;
}

/** Parses `input` with `schema` or fails with `invalidArgument.unspecified` naming the first problem. */
function parseWith<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ConnectionError("cortex.invalidArgument.unspecified", {
    reason: issue?.message ?? `malformed ${where}`,
    path: issue !== undefined && issue.path.length > 0 ? issue.path.join(".") : where,
  });
}

/** The error a redemption of a link in this status answers with. */
function statusError(status: Exclude<ShareLinkStatus, "active">): ConnectionError {
  const code: Record<typeof status, ErrorCode> = {
    revoked: "cortex.invalidArgument.shareLinkRevoked",
    expired: "cortex.invalidArgument.shareLinkExpired",
    usedUp: "cortex.conflict.shareLinkUsedUp",
  };
  return new ConnectionError(code[status]);
}

/**
 * Creates a share link on a context. The same checks as creating connections, in the same order (connections
 * allowed, caller verified, caller holds Share), then the request: the level is clamped as any grant, uses 1..1000,
 * expiry in days as invitations (the org's setting by default), an optional email domain. The answer carries the
 * token, the only time it is ever shown.
 */
export async function createShareLink(
  deps: ConnectionsDeps,
  principal: unknown,
  contextInput: unknown,
  input: unknown,
): Promise<ShareLinkView> {
  const caller = await requireCaller(deps, principal);
  const { org } = caller;
  const context = parseContext(contextInput);
  const { settings, orgSettings, callerAccess } = await requireSharer(deps, caller, context);
  const request = parseWith(shareLinkInputSchema, input ?? {}, "link");

  const now = deps.clock.now();
  const issued = deps.tokens.issue();
  const link: ShareLinkRecord = {
    org,
    _id: deps.ids.next(),
    context: { ...context },
    access: grantedLevel(callerAccess, request.access, settings.shareChain),
    creator: caller.account._id,
    created: now,
    updated: now,
    expiresAt: expiresAt(now, request.expiresInDays ?? orgSettings.pendingConnectionExpiry),
    usesAllowed: request.uses,
    usesLeft: request.uses,
    emailDomain: request.emailDomain ?? null,
    tokenHash: issued.hash,
    tokenSeal: issued.seal,
    revokedAt: null,
  };
  const stored = await deps.store.transaction((tx) => tx.shareLinks.insert(link));
  return toShareLinkView(stored, {
    plural: pluralOf(settings, context.object),
    now,
    token: issued.token,
  });
}

/**
 * May the caller manage (list, inspect, revoke) this link? Its creator may; anyone else needs Share on the context
 * and strictly more effective access than the creator holds there.
 */
async function mayManage(
  caller: Caller,
  link: ShareLinkRecord,
  callerAccess: () => Promise<AccessLevel>,
  creatorAccess: (creator: string) => Promise<AccessLevel>,
): Promise<boolean> {
  if (link.creator === caller.account._id) return true;
  const mine = await callerAccess();
  if (mine < Level.Share) return false;
  return mine > (await creatorAccess(link.creator));
}

/** Memoised effective-access look-ups for one call. */
function accessCache(deps: ConnectionsDeps, org: string, context: ContextRef) {
  const cache = new Map<string, Promise<AccessLevel>>();
  return (account: string): Promise<AccessLevel> => {
    let hit = cache.get(account);
    if (hit === undefined) {
      hit = effectiveAccess(deps, org, account, context);
      cache.set(account, hit);
    }
    return hit;
  };
}

/** Loads a link by id for managing it: `notFound.unspecified` when none, `accessDenied.shareAccess` when not allowed. */
async function loadManaged(
  deps: ConnectionsDeps,
  caller: Caller,
  idInput: unknown,
): Promise<ShareLinkRecord> {
  const id = parseId(idInput);
  const link = await deps.store.shareLinks.findById(caller.org, id);
  if (link === null) throw new ConnectionError("cortex.notFound.unspecified");
  const access = accessCache(deps, caller.org, link.context);
  if (!(await mayManage(caller, link, () => access(caller.account._id), access))) {
    throw new ConnectionError("cortex.accessDenied.shareAccess", {
      reason:
        "a share link is managed by its creator, or by a Share holder with more access than the creator",
    });
  }
  return link;
}

/** Lists the share links on a context that the caller may manage, newest first (a page may hold fewer than `limit`). */
export async function listShareLinks(
  deps: ConnectionsDeps,
  principal: unknown,
  contextInput: unknown,
  query?: unknown,
): Promise<ShareLinkList> {
  const caller = await requireCaller(deps, principal);
  const context = parseContext(contextInput);
  const q = parseWith(shareLinkPageSchema, query ?? {}, "query");
  const access = accessCache(deps, caller.org, context);
  if ((await access(caller.account._id)) < Level.Share)
    throw new ConnectionError("cortex.accessDenied.shareAccess");
  const page = await deps.store.shareLinks.listByContext(caller.org, context, q);
  const now = deps.clock.now();
  const plural = pluralOf(await deps.contexts.objectSettings(caller.org, context.object), context.object);
  const allowed = await Promise.all(
    page.links.map((link) => mayManage(caller, link, () => access(caller.account._id), access)),
  );
  return {
    object: "list",
    data: page.links.filter((_, i) => allowed[i]).map((link) => toShareLinkView(link, { plural, now })),
    hasMore: page.hasMore,
  };
}

/** Reads one share link by id, for its creator or a Share holder with more access than the creator. */
export async function getShareLink(
  deps: ConnectionsDeps,
  principal: unknown,
  id: unknown,
): Promise<ShareLinkView> {
  const caller = await requireCaller(deps, principal);
  const link = await loadManaged(deps, caller, id);
  const plural = pluralOf(
    await deps.contexts.objectSettings(caller.org, link.context.object),
    link.context.object,
  );
  return toShareLinkView(link, { plural, now: deps.clock.now() });
}

/**
 * Revokes a share link: from then on it redeems nothing. Connections made through it stay until deleted. Revoking
 * a revoked link changes nothing and answers the same.
 */
export async function revokeShareLink(
  deps: ConnectionsDeps,
  principal: unknown,
  id: unknown,
): Promise<ShareLinkView> {
  const caller = await requireCaller(deps, principal);
  const link = await loadManaged(deps, caller, id);
  const now = deps.clock.now();
  const revoked = await deps.store.transaction((tx) => tx.shareLinks.revoke(caller.org, link._id, now));
  if (revoked === null) throw new ConnectionError("cortex.notFound.unspecified");
  const plural = pluralOf(
    await deps.contexts.objectSettings(caller.org, link.context.object),
    link.context.object,
  );
  return toShareLinkView(revoked, { plural, now });
}

/** Thrown inside a redemption that would add nothing: the use it took is rolled back. */
class AddsNothing extends Error {
  constructor(readonly existing: ConnectionRecord) {
    super("the redeemer already holds at least the link's access");
  }
}

/** What a redemption found it may do, before its transaction: the link and the level it grants now. */
interface Redeemable {
  link: ShareLinkRecord;
  granted: AccessLevel;
}

/**
 * The checks of a redemption, in order: a token of a link of this org, the link live now, the caller verified and at
 * the link's email domain, not its creator; the object still allows connections, and the creator still holds Share.
 */
async function checkRedeemable(deps: ConnectionsDeps, caller: Caller, token: string): Promise<Redeemable> {
  const { org } = caller;
  const link = await deps.store.shareLinks.findByTokenHash(org, deps.tokens.hash(token));
  if (link === null || !deps.tokens.matches(token, link.tokenHash)) throw invalidToken();
  const status = shareLinkStatus(link, deps.clock.now());
  if (status !== "active") throw statusError(status);
  if (!caller.account.verified)
    throw new ConnectionError("cortex.accessDenied.connectionRequiresVerification");
  if (!domainAllows(link, caller.account.email))
    throw new ConnectionError("cortex.accessDenied.shareLinkDomain");
  if (caller.account._id === link.creator) {
    throw new ConnectionError("cortex.invalidArgument.connectionTarget", {
      reason: "a caller cannot connect to itself",
    });
  }
  const settings = await deps.contexts.objectSettings(org, link.context.object);
  if (settings === null || !settings.allowConnections) {
    throw new ConnectionError("cortex.accessDenied.connectionsDisabled", {
      reason: `object ${link.context.object}`,
    });
  }
  const creatorAccess = await effectiveAccess(deps, org, link.creator, link.context);
  const granted = shareLinkGrant(link, creatorAccess, settings.shareChain);
  if (granted === null) {
    throw new ConnectionError("cortex.invalidArgument.shareLinkRevoked", {
      reason: "the link's creator no longer holds Share on the context",
    });
  }
  return { link, granted };
}

/**
 * The transaction of a redemption: takes one use, then creates or upgrades the redeemer's active connection and
 * removes its lesser pending invitations. Throws {@link AddsNothing} (rolling the use back) when the redeemer already
 * holds as much.
 */
async function redeemIn(
  deps: ConnectionsDeps,
  tx: TransactionalStores,
  { link, granted }: Redeemable,
  account: string,
  now: Date,
): Promise<{ record: ConnectionRecord; events: ConnectionEvent[] }> {
  const { org } = link;
  // The context's lock first, as every change to a context's connections takes it, before any row lock.
  await tx.connections.lockContext(org, link.context);
  const used = await tx.shareLinks.takeUse(org, link._id, now);
  if (used === null) {
    const current = await tx.shareLinks.findById(org, link._id);
    const after = current === null ? "revoked" : shareLinkStatus(current, now);
    throw statusError(after === "active" ? "usedUp" : after);
  }
  const { active } = await tx.connections.findForCreate(
    org,
    link.context,
    link.creator,
    { accounts: [account], emails: [] },
    now,
  );
  const existing = active[0];
  if (existing !== undefined && existing.access >= granted) throw new AddsNothing(existing);
  const [saved] = await tx.connections.saveActive(
    [redeemedConnection(link, { account, access: granted, id: deps.ids.next(), now })],
    now,
  );
  const record = saved as ConnectionRecord;
  const event = (type: ConnectionEvent["type"], r: ConnectionRecord): ConnectionEvent => ({
    type,
    org,
    at: now,
    actor: account,
    connection: snapshotOf(r),
  });
  const first = event(existing === undefined ? "connection.created" : "connection.upgraded", record);
  first.shareLink = link._id;
  if (existing !== undefined) first.previousAccess = existing.access;
  const removed = await tx.connections.deleteSuperseded(org, [
    { context: link.context, account, maxAccess: record.access },
  ]);
  return { record, events: [first, ...removed.map((r) => event("connection.superseded", r))] };
}

/**
 * Redeems a share link: a signed-in, verified account gets an active connection at the link's level, or its active
 * connection upgraded to it (never lowered). One use is taken in the same transaction, atomically, so a link with n
 * uses makes at most n connections however many redeem it at once. A redeemer who already holds at least the
 * link's level through a connection gets that connection back and takes no use. A revoked, expired or used-up link
 * redeems nothing; an unknown token is `connectionToken`, as for invitations.
 */
export async function redeemShareLink(
  deps: ConnectionsDeps,
  principal: unknown,
  tokenInput: unknown,
): Promise<ConnectionView> {
  const caller = await requireCaller(deps, principal);
  const token = parseToken(tokenInput);
  const redeemable = await checkRedeemable(deps, caller, token);
  const now = deps.clock.now();
  let outcome: { record: ConnectionRecord; events: ConnectionEvent[] };
  try {
    outcome = await deps.store.transaction((tx) => redeemIn(deps, tx, redeemable, caller.account._id, now));
  } catch (error) {
    if (!(error instanceof AddsNothing)) throw error;
    outcome = { record: error.existing, events: [] };
  }
  await publish(deps, outcome.events);
  return viewOf(deps, new SettingsCache(deps, caller.org), outcome.record, caller);
}
