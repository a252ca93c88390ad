import { match } from "ts-pattern";
import { z } from "zod";
import { type AccessLevel, grantedLevel, AccessLevel as Level } from "../domain/access-level.js";
import {
  type ConnectionRecord,
  ConnectionState,
  type ConnectionView,
  snapshotOf,
  targetKeyOf,
  toConnectionView,
} from "../domain/connection.js";
import { ConnectionError, type Fault, toFault } from "../domain/errors.js";
import type { ConnectionEvent } from "../domain/events.js";
import { expiresAt } from "../domain/expiry.js";
import type { NoticeKind, SealedNotice } from "../domain/notices.js";
import { pluralOf } from "../domain/settings.js";
import { type MergedTarget, mergeTargets, parseTargets, unionRoles } from "../domain/targets.js";
import { type ContextRef, contextSchema, contextSourceSchema } from "../domain/values.js";
import type { Account } from "../ports/account-directory.js";
import type { SupersededPending } from "../ports/connection-repository.js";
import { type ConnectionsDeps, effectiveAccess, publish, requireCaller } from "./deps.js";

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

/** The plan for one merged target: a record to save, or a fault. */
type Plan =
  | { kind: "fault"; error: ConnectionError }
  | {
      kind: "pending";
      record: ConnectionRecord;
      event: "connection.created" | "connection.reinvited";
      token: string;
      /** For a re-invitation: the stored invitation it must merge into. */
      expectId?: string;
    }
  | {
      kind: "active";
      record: ConnectionRecord;
      event: "connection.created" | "connection.upgraded";
      previous?: number;
      /** For an upgrade: the stored active connection it must merge into. */
      expectId?: string;
    };

/** Thrown inside the transaction when a record the plan merges into changed under it: the attempt is run again. */
class StaleSnapshot extends Error {}

/** Attempts of a create transaction whose snapshot went stale under a concurrent accept or delete. */
const CREATE_ATTEMPTS = 3;

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
  const contextSource = parsedOptions.data.contextSource ?? null;

  // 1–3: the object, the caller's verification, the caller's Share access.
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
  const callerAccess = await effectiveAccess(deps, org, caller.account._id, context);
  if (callerAccess < Level.Share) throw new ConnectionError("cortex.accessDenied.shareAccess");

  // 4: the targets.
  const parsed = parseTargets(targetsInput);
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
  if (parsed.some((t) => t.auto === true)) {
    if (settings.requireAccept) throw new ConnectionError("cortex.invalidArgument.requireConnectionAccept");
    // A connection to an account is a connection between people: it is always accepted, never applied at once.
    if (context.object === "account") {
      throw new ConnectionError("cortex.invalidArgument.requireConnectionAccept", {
        reason: "connections on an account context must be accepted",
      });
    }
  }
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
  const emailToAccount = new Map(byEmail.map((a) => [a.email, a._id]));
  /** The email a target's earlier invitations may carry: its own, or its account's. */
  const matchEmail = (t: MergedTarget): string | null =>
    t.email ?? (t.account === null ? null : (accounts.get(t.account)?.email ?? null));
  const merged = mergeTargets(parsed, (email) => emailToAccount.get(email));

  // Auto connections also need the object's requiredAccess on the target's account, and a verified target.
  const autoFaults = new Map<number, ConnectionError>();
  await Promise.all(
    merged
      .filter((t) => t.auto && t.account !== null)
      .map(async (t) => {
        const account = accounts.get(t.account as string);
        const onAccount = await deps.contexts.accessOf(org, caller.account._id, {
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

  const now = deps.clock.now();
  const expiry = expiresAt(now, orgSettings.pendingConnectionExpiry);
  const plural = pluralOf(settings, context.object);

  const { plans, stored, events } = await withFreshSnapshot(() =>
    deps.store.transaction(async (tx) => {
      const snapshot = await tx.connections.findForCreate(
        org,
        context,
        caller.account._id,
        {
          accounts: merged.flatMap((t) => (t.account === null ? [] : [t.account])),
          emails: merged.flatMap((t) => {
            const email = matchEmail(t);
            return email === null ? [] : [email];
          }),
        },
        now,
      );
      const plans = merged.map((t): Plan => {
        const fault = autoFaults.get(t.index);
        if (fault !== undefined) return { kind: "fault", error: fault };
        const granted = grantedLevel(callerAccess, t.access, settings.shareChain);
        const active =
          t.account === null ? undefined : snapshot.active.find((a) => a.target.account === t.account);
        if (active !== undefined) {
          const addsRoles = t.roles.some((r) => !active.roles.includes(r));
          if (granted <= active.access && !addsRoles) {
            return { kind: "fault", error: new ConnectionError("cortex.conflict.connectionExists") };
          }
          return {
            kind: "active",
            event: "connection.upgraded",
            previous: active.access,
            expectId: active._id,
            record: {
              ...active,
              // A fresh id: saveActive keeps the stored id when it merges, so a different id back means the active
              // connection was deleted meanwhile and this would recreate it (see StaleSnapshot).
              _id: deps.ids.next(),
              access: Math.max(active.access, granted) as AccessLevel,
              roles: unionRoles(active.roles, t.roles),
              updated: now,
            },
          };
        }
        if (t.auto) {
          return {
            kind: "active",
            event: "connection.created",
            record: newRecord(t, granted, ConnectionState.Active),
          };
        }
        const issued = deps.tokens.issue();
        const existing = snapshot.pending.find(
          (p) =>
            (t.account !== null && p.target.account === t.account) ||
            (p.target.email !== null && p.target.email === matchEmail(t)),
        );
        if (existing !== undefined) {
          return {
            kind: "pending",
            event: "connection.reinvited",
            token: issued.token,
            expectId: existing._id,
            record: {
              ...existing,
              // A fresh id: savePending keeps the stored id when it merges, so a different id back means an accept
              // claimed the invitation meanwhile (see StaleSnapshot) — and it never collides with the accepted id.
              _id: deps.ids.next(),
              access: Math.max(existing.access, granted) as AccessLevel,
              roles: unionRoles(existing.roles, t.roles),
              // An unbound email invitation whose person has registered since is bound to the account now.
              target: {
                ...existing.target,
                account: existing.target.account ?? t.account,
                name: t.name ?? existing.target.name,
              },
              tokenHash: issued.hash,
              tokenSeal: issued.seal,
              expiresAt: expiry,
              updated: now,
            },
          };
        }
        const record = newRecord(t, granted, ConnectionState.Pending);
        record.tokenHash = issued.hash;
        record.tokenSeal = issued.seal;
        record.expiresAt = expiry;
        return { kind: "pending", event: "connection.created", token: issued.token, record };
      });

      const pending = plans.flatMap((p) => (p.kind === "pending" ? [p.record] : []));
      const active = plans.flatMap((p) => (p.kind === "active" ? [p.record] : []));
      const [savedPending, savedActive] = [
        pending.length > 0 ? await tx.connections.savePending(pending, now) : [],
        active.length > 0 ? await tx.connections.saveActive(active) : [],
      ];
      const stored = new Map<number, ConnectionRecord>();
      let pi = 0;
      let ai = 0;
      plans.forEach((p, i) => {
        if (p.kind === "pending") stored.set(i, savedPending[pi++] as ConnectionRecord);
        if (p.kind === "active") stored.set(i, savedActive[ai++] as ConnectionRecord);
        // The record this plan merges into was claimed or deleted after the snapshot: plan again from a new one, so
        // the outcome is one some serial order of the two calls gives.
        if (p.kind !== "fault" && p.expectId !== undefined && stored.get(i)?._id !== p.expectId)
          throw new StaleSnapshot();
      });

      const superseded: SupersededPending[] = [];
      const notices: { id: string; org: string; notice: SealedNotice; availableAt: Date }[] = [];
      const events: ConnectionEvent[] = [];
      plans.forEach((p, i) => {
        if (p.kind === "fault") return;
        const record = stored.get(i) as ConnectionRecord;
        const t = merged[i] as MergedTarget;
        const event: ConnectionEvent = {
          type: p.event,
          org,
          at: now,
          actor: caller.account._id,
          connection: snapshotOf(record),
        };
        if (p.kind === "active" && p.previous !== undefined) event.previousAccess = p.previous;
        events.push(event);
        if (p.kind === "active" && record.target.account !== null) {
          superseded.push({ context, account: record.target.account, maxAccess: record.access });
        }
        const kind = match({ plan: p.kind, event: p.event, hasAccount: record.target.account !== null })
          .returnType<NoticeKind | null>()
          .with({ plan: "pending", hasAccount: true }, () => "invite-existing-user")
          .with({ plan: "pending", hasAccount: false }, () => "invite-new-user")
          .with({ plan: "active", event: "connection.created" }, () =>
            settings.sendNotifications ? "connection-created" : null,
          )
          .otherwise(() => null);
        if (kind === null) return;
        const account = record.target.account === null ? undefined : accounts.get(record.target.account);
        const id = deps.ids.next();
        notices.push({
          id,
          org,
          availableAt: now,
          notice: {
            kind,
            idempotencyKey: `${org}:${id}`,
            org: { code: org, name: orgSettings.name },
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
            tokenSeal: p.kind === "pending" ? record.tokenSeal : null,
            acceptUrlBase: p.kind === "pending" ? (orgSettings.connectionUrl ?? null) : null,
            expiresAt: p.kind === "pending" ? record.expiresAt : null,
          },
        });
      });
      if (superseded.length > 0) {
        const removed = await tx.connections.deleteSuperseded(org, superseded);
        for (const r of removed) {
          events.push({
            type: "connection.superseded",
            org,
            at: now,
            actor: caller.account._id,
            connection: snapshotOf(r),
          });
        }
      }
      if (notices.length > 0) await tx.outbox.enqueue(notices);
      return { plans, stored, events };
    }),
  );

  await publish(deps, events);
  return plans.map((p, i): CreateResultEntry => {
    const t = merged[i] as MergedTarget;
    if (p.kind === "fault") {
      return {
        ...toFault(p.error),
        target: t.viaEmail ? { email: t.email as string } : { _id: t.account as string },
      };
    }
    return toConnectionView(stored.get(i) as ConnectionRecord, { plural, viewerIsTarget: false });
  });

  function newRecord(
    t: MergedTarget,
    access: AccessLevel,
    state: ConnectionRecord["state"],
  ): ConnectionRecord {
    const target = { account: t.account, email: t.email, name: t.name };
    return {
      org,
      _id: deps.ids.next(),
      access,
      roles: [...t.roles],
      context: { ...context },
      contextSource,
      created: now,
      updated: now,
      creator: caller.account._id,
      target,
      viaEmail: t.viaEmail,
      targetKey: targetKeyOf(target, t.viaEmail),
      state,
      tokenHash: null,
      tokenSeal: null,
      expiresAt: null,
    };
  }
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
