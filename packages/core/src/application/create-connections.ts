import { match } from "ts-pattern";
import { z } from "zod";
import { accessEndOf, resultingEnd, sameEnd } from "../domain/access-expiry.js";
import { type AccessLevel, AccessLevel as Level } from "../domain/access-level.js";
import {
  type ConnectionRecord,
  ConnectionState,
  type ConnectionView,
  snapshotOf,
  targetKeyOf,
  toConnectionView,
} from "../domain/connection.js";
import { ConnectionError, type Fault, SnapshotNotEmpty, toFault } from "../domain/errors.js";
import type { ConnectionEvent } from "../domain/events.js";
import { expiresAt } from "../domain/expiry.js";
import {
  type ExpectedPending,
  expectedOf,
  type Grant,
  planTarget,
  savedPending,
  type TargetPlan,
} from "../domain/grants.js";
import type { NoticeKind, SealedNotice } from "../domain/notices.js";
import { type ObjectSettings, type OrgSettings, pluralOf } from "../domain/settings.js";
import { type ConnectionTarget, type MergedTarget, mergeTargets, parseTargets } from "../domain/targets.js";
import { type ContextRef, contextSchema, contextSourceSchema } from "../domain/values.js";
import type { Account } from "../ports/account-directory.js";
import type { CreateSnapshot, SupersededPending } from "../ports/connection-repository.js";
import type { TransactionalStores } from "../ports/unit-of-work.js";
import { type Caller, type ConnectionsDeps, effectiveAccess, publish, requireCaller } from "./deps.js";

/** Options of a create request: `contextSource`, the property that caused the invitation (docs/behaviour.md §3). */
export const createOptionsSchema = z.object({ contextSource: contextSourceSchema.optional() }).strict();

/** Options of a create request. */
export type CreateOptions = z.input<typeof createOptionsSchema>;

/** A per-target fault in a create response: a spec fault plus the target it is about. */
export interface TargetFault extends Fault {
  target: { _id?: string; email?: string };
}

/** One entry of a create response: the connection, or the fault for that target. */
export type CreateResultEntry = ConnectionView | TargetFault;

/** Parses a context reference; a malformed one is an invalid argument. */
export function parseContext(context: unknown): ContextRef {
  const parsed = contextSchema.safeParse(context);
  if (!parsed.success) {
    throw new ConnectionError("cortex.invalidArgument.unspecified", {
      reason: "malformed context",
      path: "context",
    });
  }
  return parsed.data;
}

/** A target's plan with the record it stores: the plan's grant on a fresh id, with a fresh token when pending. */
type Planned =
  | { plan: Extract<TargetPlan, { kind: "fault" }> }
  | { plan: Exclude<TargetPlan, { kind: "fault" }>; record: ConnectionRecord; token?: string };

/** Thrown inside the transaction when a record the plan merges into changed under it: the attempt is run again. */
class StaleSnapshot extends Error {}

/** Attempts of a create transaction whose snapshot went stale under a concurrent accept or delete. */
const CREATE_ATTEMPTS = 3;

/** A create request that passed the whole-request checks, with everything its targets' plans need. */
interface CheckedRequest {
  caller: Caller;
  context: ContextRef;
  contextSource: string | null;
  settings: ObjectSettings;
  orgSettings: OrgSettings;
  /**
   * The caller's access on the context by the host's own rules. Its effective access (docs/behaviour.md §9) is the
   * higher of this and its active connection's, read under the context's lock (see {@link createIn}).
   */
  ownAccess: AccessLevel;
  merged: MergedTarget[];
  accounts: Map<string, Account>;
  autoFaults: Map<number, ConnectionError>;
}

/**
 * Creates connections on one context to many targets (docs/behaviour.md §5). Whole-request checks fail the request with no
 * record written; per-target outcomes come back one per merged target, in request order.
 */
export async function createConnections(
  deps: ConnectionsDeps,
  principal: unknown,
  contextInput: unknown,
  targetsInput: unknown,
  options?: unknown,
): Promise<CreateResultEntry[]> {
  const request = await checkRequest(deps, principal, contextInput, targetsInput, options);
  const now = deps.clock.now();
  const run = (expectNone: boolean) =>
    withFreshSnapshot(() => deps.store.transaction((tx) => createIn(tx, deps, request, now, expectNone)));
  let outcome: Awaited<ReturnType<typeof run>>;
  try {
    outcome = await run(mayExpectNone(request));
  } catch (error) {
    // The look-up found rows after all: nothing was written; plan on them.
    if (!(error instanceof SnapshotNotEmpty)) throw error;
    outcome = await run(false);
  }
  const { planned, stored, events } = outcome;
  await publish(deps, events);
  const plural = pluralOf(request.settings, request.context.object);
  return planned.map((p, i): CreateResultEntry => {
    const t = request.merged[i] as MergedTarget;
    if (p.plan.kind === "fault") {
      return {
        ...toFault(p.plan.error),
        target: t.viaEmail ? { email: t.email as string } : { _id: t.account as string },
      };
    }
    return toConnectionView(stored.get(i) as ConnectionRecord, { plural, viewerIsTarget: false });
  });
}

/** Checks 1–4 of docs/behaviour.md §5, in order, and loads what the targets' plans need; writes nothing. */
async function checkRequest(
  deps: ConnectionsDeps,
  principal: unknown,
  contextInput: unknown,
  targetsInput: unknown,
  options: unknown,
): Promise<CheckedRequest> {
  const caller = await requireCaller(deps, principal);
  const { org } = caller;
  const context = parseContext(contextInput);
  const parsedOptions = createOptionsSchema.safeParse(options ?? {});
  if (!parsedOptions.success) {
    const issue = parsedOptions.error.issues[0];
    throw new ConnectionError("cortex.invalidArgument.unspecified", {
      reason: issue?.message ?? "malformed create options",
      path: issue?.path.join(".") || "options",
    });
  }
  // 1–3: the object, the caller's verification, the caller's Share access.
  const { settings, orgSettings, ownAccess } = await requireSharerOwn(deps, caller, context);
  // 4: the targets.
  const parsed = parseTargets(targetsInput);
  checkTargets(parsed, caller, settings, context);
  const ends = accessEnds(parsed, deps.clock.now(), orgSettings.maxGrantDays);
  const { accounts, emailToAccount } = await loadAccounts(deps, org, parsed);
  const merged = mergeTargets(
    parsed,
    (email) => emailToAccount.get(email),
    (i) => ends[i],
  );
  const autoFaults = await autoFaultsOf(deps, caller, settings, merged, accounts);
  const contextSource = parsedOptions.data.contextSource ?? null;
  return {
    caller,
    context,
    contextSource,
    settings,
    orgSettings,
    ownAccess,
    merged,
    accounts,
    autoFaults,
  };
}

/** The per-target checks of docs/behaviour.md §5 step 4 that fail the whole request: self, `auto` without an id or not allowed. */
function checkTargets(
  parsed: readonly ConnectionTarget[],
  caller: Caller,
  settings: ObjectSettings,
  context: ContextRef,
): void {
  parsed.forEach((t, i) => {
    if (t._id === caller.account._id || t.email === caller.account.email) {
      throw new ConnectionError("cortex.invalidArgument.connectionTarget", {
        reason: "a caller cannot connect to itself",
        path: `targets[${i}]`,
      });
    }
  });
  parsed.forEach((t, i) => {
    if (t.auto === true && t._id === undefined) {
      throw new ConnectionError("cortex.invalidArgument.autoConnectionRequiresId", { path: `targets[${i}]` });
    }
  });
  if (!parsed.some((t) => t.auto === true)) return;
  if (settings.requireAccept) throw new ConnectionError("cortex.invalidArgument.requireConnectionAccept");
  // A connection to an account is a connection between people: it is always accepted, never applied at once.
  if (context.object === "account") {
    throw new ConnectionError("cortex.invalidArgument.requireConnectionAccept", {
      reason: "connections on an account context must be accepted",
    });
  }
}

/** The end each target asks of its grant (see {@link accessEndOf}); a bad one fails the request, naming the target. */
function accessEnds(
  parsed: readonly ConnectionTarget[],
  now: Date,
  maxGrantDays: number,
): (Date | null | undefined)[] {
  return parsed.map((t, i) => {
    const result = accessEndOf(t, now, maxGrantDays);
    if ("problem" in result) {
      throw new ConnectionError("cortex.invalidArgument.connectionTarget", {
        reason: result.problem,
        path: `targets[${i}].accessExpiresAt`,
      });
    }
    return result.end;
  });
}

/**
 * A plan with the grant's end applied: an active connection whose only change is its end is upgraded (the end
 * extended or shortened) rather than refused as adding nothing.
 */
function withEnd(plan: TargetPlan, t: MergedTarget, active: ConnectionRecord | undefined): TargetPlan {
  if (plan.kind !== "fault" || active === undefined || plan.error.code !== "cortex.conflict.connectionExists")
    return plan;
  if (t.accessExpiresAt === undefined || sameEnd(t.accessExpiresAt, active.accessExpiresAt)) return plan;
  const grant = { access: active.access, roles: [...active.roles], creator: active.creator };
  return { kind: "upgrade", existing: active, grant, previous: active.access };
}

/** The end a planned record carries: the request's when it names one, else the stored record's (none when new). */
function endFor(t: MergedTarget, plan: TargetPlan): { accessExpiresAt?: Date | null } {
  const stored =
    plan.kind === "reinvite" || plan.kind === "upgrade" ? plan.existing.accessExpiresAt : undefined;
  const end = resultingEnd(t.accessExpiresAt, stored);
  return end === null ? {} : { accessExpiresAt: end };
}

/** Loads the targets' accounts by id and by email; unknown ids fail the request with `notFound.account`. */
async function loadAccounts(
  deps: ConnectionsDeps,
  org: string,
  parsed: readonly ConnectionTarget[],
): Promise<{ accounts: Map<string, Account>; emailToAccount: Map<string, string> }> {
  const ids = [...new Set(parsed.flatMap((t) => (t._id === undefined ? [] : [t._id])))];
  const emails = [...new Set(parsed.flatMap((t) => (t.email === undefined ? [] : [t.email])))];
  const [byId, byEmail] = await Promise.all([
    ids.length > 0 ? deps.accounts.findByIds(org, ids) : Promise.resolve([]),
    emails.length > 0 ? deps.accounts.findByEmails(org, emails) : Promise.resolve([]),
  ]);
  const accounts = new Map<string, Account>();
  for (const a of [...byId, ...byEmail]) accounts.set(a._id, a);
  const missing = ids.filter((id) => !accounts.has(id));
  if (missing.length > 0) {
    throw new ConnectionError("cortex.notFound.account", {
      reason: `unknown account(s): ${missing.join(", ")}`,
    });
  }
  return { accounts, emailToAccount: new Map(byEmail.map((a) => [a.email, a._id])) };
}

/** Auto connections also need the object's requiredAccess on the target's account, and a verified target. */
async function autoFaultsOf(
  deps: ConnectionsDeps,
  caller: Caller,
  settings: ObjectSettings,
  merged: readonly MergedTarget[],
  accounts: ReadonlyMap<string, Account>,
): Promise<Map<number, ConnectionError>> {
  const autoFaults = new Map<number, ConnectionError>();
  await Promise.all(
    merged
      .filter((t) => t.auto && t.account !== null)
      .map(async (t) => {
        const account = accounts.get(t.account as string);
        const onAccount = await deps.contexts.accessOf(caller.org, caller.account._id, {
          object: "account",
          _id: t.account as string,
        });
        if (onAccount < settings.requiredAccess) {
          autoFaults.set(t.index, new ConnectionError("cortex.accessDenied.autoConnectionRequiresAccess"));
        } else if (account === undefined || !account.verified) {
          autoFaults.set(
            t.index,
            new ConnectionError("cortex.accessDenied.autoConnectionRequiresAccess", {
              reason: "the target account is not verified",
            }),
          );
        }
      }),
  );
  return autoFaults;
}

/** The email a target's earlier invitations may carry: its own, or its account's. */
function matchEmail(t: MergedTarget, accounts: ReadonlyMap<string, Account>): string | null {
  return t.email ?? (t.account === null ? null : (accounts.get(t.account)?.email ?? null));
}

/** What create's look-up gives on a context that holds nothing the request bears on. */
const EMPTY_SNAPSHOT: CreateSnapshot = { active: [], pending: [] };

/**
 * True when create may plan on an empty look-up and have the repository check under the lock that it is empty
 * (`expectNoneForCreate`): the caller's own access is enough to share (its connection, which the look-up would bring,
 * cannot matter), and no target is applied at once, so the plan writes invitations only, all of which an adapter may
 * hold for the commit. On an empty look-up that plan is the one {@link createIn} makes after reading it.
 */
function mayExpectNone(request: CheckedRequest): boolean {
  return (
    request.ownAccess >= Level.Share &&
    request.merged.every((t) => !t.auto || request.autoFaults.has(t.index))
  );
}

/**
 * The create transaction: plans every target on the rows it reads, saves them, supersedes, enqueues notices. With
 * `expectNone` (see {@link mayExpectNone}) and a repository that can, it plans on an empty look-up and the repository
 * fails the transaction with {@link SnapshotNotEmpty}, nothing written, when the look-up finds rows.
 */
async function createIn(
  tx: TransactionalStores,
  deps: ConnectionsDeps,
  request: CheckedRequest,
  now: Date,
  expectNone: boolean,
): Promise<{ planned: Planned[]; stored: Map<number, ConnectionRecord>; events: ConnectionEvent[] }> {
  const { caller, context, merged, accounts } = request;
  const { org } = caller;
  // The look-up takes the context's lock first: the rows it reads stay as read until the transaction ends. The
  // caller's own active connection comes in the same look-up (no target is the caller: see checkTargets).
  const self = caller.account._id;
  const keys = {
    accounts: [...merged.flatMap((t) => (t.account === null ? [] : [t.account])), self],
    emails: merged.flatMap((t) => {
      const email = matchEmail(t, accounts);
      return email === null ? [] : [email];
    }),
  };
  // With `expectNone` (a first invitation on the context, most often) the plan is made on an empty look-up, and the
  // repository checks under the lock that it is empty, before the writes (on PostgreSQL in the commit's round trip,
  // ahead of them). Every record is then an invitation stored as planned, so its notices are made before the check:
  // a create draws the same ids and tokens whether the check fails at once or at the commit.
  const expecting = expectNone && tx.connections.expectNoneForCreate !== undefined;
  const snapshot = expecting
    ? EMPTY_SNAPSHOT
    : await tx.connections.findForCreate(org, context, self, keys, now);
  const planned = planAll(deps, request, snapshot, now);
  const saves = plannedSaves(planned, now);
  const noticesFor = (stored: ReadonlyMap<number, ConnectionRecord>) =>
    planned.flatMap((p, i) => noticeOf(deps, request, p, merged[i] as MergedTarget, stored.get(i), now));
  const early = expecting ? noticesFor(saves.stored) : undefined;
  if (expecting) await tx.connections.expectNoneForCreate?.(org, context, self, keys, now);
  const stored = await saveAll(tx, saves, now);
  const events = planned.flatMap((p, i) => eventOf(p, stored.get(i), org, caller.account._id, now));
  const superseded = planned.flatMap((p, i): SupersededPending[] => {
    const record = stored.get(i);
    if (p.plan.kind === "fault" || record === undefined || record.state !== ConnectionState.Active) return [];
    return [{ context, account: record.target.account as string, maxAccess: record.access }];
  });
  if (superseded.length > 0) {
    for (const r of await tx.connections.deleteSuperseded(org, superseded)) {
      events.push({
        type: "connection.superseded",
        org,
        at: now,
        actor: caller.account._id,
        connection: snapshotOf(r),
      });
    }
  }
  const notices = early ?? noticesFor(stored);
  if (notices.length > 0) await tx.outbox.enqueue(notices);
  return { planned, stored, events };
}

/**
 * Plans every target on the look-up's rows. Check 3 again, on the effective access as it stands under the lock: the
 * connection that gave the caller Share may have gone since requireSharerOwn looked (the outcome is then the one of a
 * create after that delete).
 */
function planAll(
  deps: ConnectionsDeps,
  request: CheckedRequest,
  snapshot: CreateSnapshot,
  now: Date,
): Planned[] {
  const { caller, merged, accounts } = request;
  const self = caller.account._id;
  const connected = snapshot.active.find((a) => a.target.account === self)?.access ?? Level.None;
  const callerAccess = Math.max(request.ownAccess, connected) as AccessLevel;
  if (callerAccess < Level.Share) throw new ConnectionError("cortex.accessDenied.shareAccess");
  return merged.map((t) => {
    const email = matchEmail(t, accounts);
    const active =
      t.account === null ? undefined : snapshot.active.find((a) => a.target.account === t.account);
    const plan = planTarget({
      caller: self,
      callerAccess,
      shareChain: request.settings.shareChain,
      request: t,
      autoFault: request.autoFaults.get(t.index),
      active,
      pending: snapshot.pending.find(
        (p) =>
          (t.account !== null && p.target.account === t.account) ||
          (p.target.email !== null && p.target.email === email),
      ),
    });
    return recordFor(deps, request, t, withEnd(plan, t, active), now);
  });
}

/** Builds the record a plan stores: fresh ids (see {@link saveAll}), a fresh token and expiry for invitations. */
function recordFor(
  deps: ConnectionsDeps,
  request: CheckedRequest,
  t: MergedTarget,
  plan: TargetPlan,
  now: Date,
): Planned {
  if (plan.kind === "fault") return { plan };
  const grant = { ...plan.grant, ...endFor(t, plan) };
  if (plan.kind === "upgrade") {
    // A fresh id: saveActive keeps the stored id when it merges, so a different id back means the active
    // connection was deleted meanwhile and this would recreate it (see StaleSnapshot).
    return { plan, record: { ...withoutEnd(plan.existing), ...grant, _id: deps.ids.next(), updated: now } };
  }
  if (plan.kind === "new" && plan.state === ConnectionState.Active) {
    return { plan, record: newRecord(deps, request, t, grant, ConnectionState.Active, now) };
  }
  const issued = deps.tokens.issue();
  const invitation = {
    tokenHash: issued.hash,
    tokenSeal: issued.seal,
    expiresAt: expiresAt(now, request.orgSettings.pendingConnectionExpiry),
    updated: now,
  };
  if (plan.kind === "reinvite") {
    const { existing } = plan;
    // A fresh id: savePending keeps the stored id when it merges, so a different id back means an accept claimed the
    // invitation meanwhile (see StaleSnapshot) — and it never collides with the accepted id. An unbound email
    // invitation whose person has registered since is bound to the account now.
    const target = {
      ...existing.target,
      account: existing.target.account ?? t.account,
      name: t.name ?? existing.target.name,
    };
    return {
      plan,
      token: issued.token,
      record: { ...withoutEnd(existing), ...grant, ...invitation, _id: deps.ids.next(), target },
    };
  }
  const record = { ...newRecord(deps, request, t, grant, ConnectionState.Pending, now), ...invitation };
  return { plan, token: issued.token, record };
}

/** A record without its grant's end (the plan's end replaces it). */
function withoutEnd(record: ConnectionRecord): ConnectionRecord {
  const { accessExpiresAt: _end, ...rest } = record;
  return rest;
}

/** A new record for a target with a grant, in a state. */
function newRecord(
  deps: ConnectionsDeps,
  request: CheckedRequest,
  t: MergedTarget,
  grant: Grant & { accessExpiresAt?: Date | null },
  state: ConnectionRecord["state"],
  now: Date,
): ConnectionRecord {
  const target = { account: t.account, email: t.email, name: t.name };
  return {
    org: request.caller.org,
    _id: deps.ids.next(),
    access: grant.access,
    roles: [...grant.roles],
    context: { ...request.context },
    contextSource: request.contextSource,
    created: now,
    updated: now,
    creator: grant.creator,
    target,
    viaEmail: t.viaEmail,
    targetKey: targetKeyOf(target, t.viaEmail),
    state,
    tokenHash: null,
    tokenSeal: null,
    expiresAt: null,
    ...(grant.accessExpiresAt ? { accessExpiresAt: grant.accessExpiresAt } : {}),
  };
}

/** What {@link saveAll} writes: the invitations with what each is stored as, and the active records. */
interface PlannedSaves {
  /** The stored record of each invitation, by plan index (active records are added once saved). */
  stored: ReadonlyMap<number, ConnectionRecord>;
  pending: ConnectionRecord[];
  expected: ExpectedPending[];
  active: { index: number; record: ConnectionRecord; expectId: string | undefined }[];
}

/** Sorts the planned records into invitations (stored as the domain's savedPending says) and active records. */
function plannedSaves(planned: readonly Planned[], now: Date): PlannedSaves {
  const stored = new Map<number, ConnectionRecord>();
  const pending: ConnectionRecord[] = [];
  const expected: ExpectedPending[] = [];
  const active: PlannedSaves["active"] = [];
  planned.forEach((p, i) => {
    if (!("record" in p)) return;
    if (p.record.state === ConnectionState.Pending) {
      const saved = savedPending(p.plan.kind === "reinvite" ? p.plan.existing : undefined, p.record, now);
      pending.push(p.record);
      expected.push(expectedOf(saved));
      stored.set(i, saved);
    } else {
      active.push({
        index: i,
        record: p.record,
        expectId: p.plan.kind === "new" ? undefined : p.plan.existing._id,
      });
    }
  });
  return { stored, pending, expected, active };
}

/**
 * Saves the planned records (one statement per state, whatever the number of targets); the stored record of each
 * plan by index. An invitation is stored as the domain's {@link savedPending} of the one it merges into (read under
 * the context's lock): the repository checks it is, and may hold the write for the commit. An active record comes
 * back from the repository; this throws {@link StaleSnapshot} when the one it merges into was deleted after the
 * snapshot, so the request is planned again from a new one and the outcome is one some serial order gives.
 */
async function saveAll(
  tx: TransactionalStores,
  saves: PlannedSaves,
  now: Date,
): Promise<Map<number, ConnectionRecord>> {
  const { pending, expected, active } = saves;
  const stored = new Map(saves.stored);
  if (pending.length > 0) await tx.connections.savePendingAsExpected(pending, expected, now);
  if (active.length > 0) {
    const saved = await tx.connections.saveActive(
      active.map((a) => a.record),
      now,
    );
    active.forEach((a, k) => {
      const record = saved[k] as ConnectionRecord;
      stored.set(a.index, record);
      if (a.expectId !== undefined && record._id !== a.expectId) throw new StaleSnapshot();
    });
  }
  return stored;
}

/** The event a stored plan publishes after commit. */
function eventOf(
  p: Planned,
  record: ConnectionRecord | undefined,
  org: string,
  actor: string,
  now: Date,
): ConnectionEvent[] {
  if (p.plan.kind === "fault" || record === undefined) return [];
  const type = match(p.plan.kind)
    .with("new", () => "connection.created" as const)
    .with("reinvite", () => "connection.reinvited" as const)
    .with("upgrade", () => "connection.upgraded" as const)
    .exhaustive();
  const event: ConnectionEvent = { type, org, at: now, actor, connection: snapshotOf(record) };
  if (p.plan.kind === "upgrade") event.previousAccess = p.plan.previous;
  return [event];
}

/** The notice a stored plan enqueues: invitations always, a new `auto` connection when the object notifies. */
function noticeOf(
  deps: ConnectionsDeps,
  request: CheckedRequest,
  p: Planned,
  t: MergedTarget,
  record: ConnectionRecord | undefined,
  now: Date,
): { id: string; org: string; notice: SealedNotice; availableAt: Date }[] {
  if (p.plan.kind === "fault" || record === undefined) return [];
  const { caller, context, settings, orgSettings, accounts } = request;
  const pending = record.state === ConnectionState.Pending;
  const kind = match({ pending, created: p.plan.kind === "new", hasAccount: record.target.account !== null })
    .returnType<NoticeKind | null>()
    .with({ pending: true, hasAccount: true }, () => "invite-existing-user")
    .with({ pending: true, hasAccount: false }, () => "invite-new-user")
    .with({ pending: false, created: true }, () => (settings.sendNotifications ? "connection-created" : null))
    .otherwise(() => null);
  if (kind === null) return [];
  const account = record.target.account === null ? undefined : accounts.get(record.target.account);
  const id = deps.ids.next();
  const plural = pluralOf(settings, context.object);
  return [
    {
      id,
      org: caller.org,
      availableAt: now,
      notice: {
        kind,
        idempotencyKey: `${caller.org}:${id}`,
        org: { code: caller.org, name: orgSettings.name },
        recipient: {
          account: record.target.account,
          email: account?.email ?? (record.target.email as string),
          name: t.name ?? account?.name ?? null,
        },
        context: {
          object: context.object,
          _id: context._id,
          path: `/${plural}/${context._id}`,
          label: settings.label ?? null,
        },
        connectionId: record._id,
        access: record.access,
        creator: { _id: caller.account._id, name: caller.account.name },
        tokenSeal: pending ? record.tokenSeal : null,
        acceptUrlBase: pending ? (orgSettings.connectionUrl ?? null) : null,
        expiresAt: pending ? record.expiresAt : null,
      },
    },
  ];
}

/** Runs a create transaction, again (up to {@link CREATE_ATTEMPTS} in all) when its snapshot went stale. */
async function withFreshSnapshot<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof StaleSnapshot)) throw error;
      if (n >= CREATE_ATTEMPTS) {
        throw new ConnectionError("cortex.error.unspecified", {
          reason: "the connections changed under this request on every attempt; try again",
          retryable: true,
        });
      }
    }
  }
}

/**
 * The checks before anything is shared on a context (create, a share link): the org exists, the object allows
 * connections, the caller is verified and holds Share. Returns what the caller goes on with.
 */
export async function requireSharer(
  deps: ConnectionsDeps,
  caller: Caller,
  context: ContextRef,
): Promise<{ settings: ObjectSettings; orgSettings: OrgSettings; callerAccess: AccessLevel }> {
  const { settings, orgSettings } = await requireSharingAllowed(deps, caller, context);
  const callerAccess = await effectiveAccess(deps, caller.org, caller.account._id, context);
  if (callerAccess < Level.Share) throw new ConnectionError("cortex.accessDenied.shareAccess");
  return { settings, orgSettings, callerAccess };
}

/**
 * {@link requireSharer} for create, which reads the caller's active connection again under the context's lock:
 * when the host's own access already gives Share, the connection is not read here (create reads it in its
 * transaction's look-up); otherwise it is, so that check 3 still fails before the targets are checked.
 */
async function requireSharerOwn(
  deps: ConnectionsDeps,
  caller: Caller,
  context: ContextRef,
): Promise<{ settings: ObjectSettings; orgSettings: OrgSettings; ownAccess: AccessLevel }> {
  const { org } = caller;
  const account = caller.account._id;
  const { settings, orgSettings } = await requireSharingAllowed(deps, caller, context);
  const ownAccess = await deps.contexts.accessOf(org, account, context);
  if (ownAccess < Level.Share) {
    const connected = await deps.store.connections.activeAccess(org, context, account, deps.clock.now());
    if ((connected ?? Level.None) < Level.Share) throw new ConnectionError("cortex.accessDenied.shareAccess");
  }
  return { settings, orgSettings, ownAccess };
}

/** Checks 1 and 2 of docs/behaviour.md §5 (the org exists, the object allows connections, the caller is verified). */
async function requireSharingAllowed(
  deps: ConnectionsDeps,
  caller: Caller,
  context: ContextRef,
): Promise<{ settings: ObjectSettings; orgSettings: OrgSettings }> {
  const { org } = caller;
  const [settings, orgSettings] = await Promise.all([
    deps.contexts.objectSettings(org, context.object),
    deps.orgs.get(org),
  ]);
  if (orgSettings === null)
    throw new ConnectionError("cortex.notFound.unspecified", { reason: "unknown org" });
  if (settings === null || !settings.allowConnections) {
    throw new ConnectionError("cortex.accessDenied.connectionsDisabled", {
      reason: `object ${context.object}`,
    });
  }
  if (!caller.account.verified)
    throw new ConnectionError("cortex.accessDenied.connectionRequiresVerification");
  return { settings, orgSettings };
}
