import { z } from "zod";
import type { AccessLevel } from "../domain/access-level.js";
import { type ConnectionRecord, snapshotOf } from "../domain/connection.js";
import { ConnectionError, publicError } from "../domain/errors.js";
import type { ConnectionEvent } from "../domain/events.js";
import { hostIdSchema, isHostId, isObjectName, isOrg, orgSchema } from "../domain/values.js";
import type { Awaitable } from "../ports/awaitable.js";
import type { TransactionalStores } from "../ports/unit-of-work.js";
import { type BatchOptions, batchOptionsSchema, parseBatchJob } from "./batches.js";
import { type ConnectionsDeps, publish } from "./deps.js";

/**
 * Binds every pending invitation of the org to the email of a newly registered (or newly verified) account, so
 * that account can accept it (docs/behaviour.md §8). Returns how many were bound.
 */
export async function bindRegisteredAccount(
  deps: ConnectionsDeps,
  orgInput: unknown,
  accountId: unknown,
): Promise<number> {
  const org = orgSchema.safeParse(orgInput);
  if (!org.success)
    throw new ConnectionError("cortex.invalidArgument.unspecified", { reason: "malformed org", path: "org" });
  const parsedId = hostIdSchema.safeParse(accountId);
  if (!parsedId.success) {
    throw new ConnectionError("cortex.invalidArgument.unspecified", {
      reason: "malformed account id",
      path: "accountId",
    });
  }
  const id = parsedId.data;
  const [account] = await deps.accounts.findByIds(org.data, [id]);
  if (account === undefined)
    throw new ConnectionError("cortex.notFound.account", { reason: `unknown account: ${id}` });
  const bound = await deps.store.transaction((tx) =>
    tx.connections.bindEmail(org.data, account.email, account._id, deps.clock.now()),
  );
  const at = deps.clock.now();
  await publish(
    deps,
    bound.map(
      (r): ConnectionEvent => ({
        type: "connection.bound",
        org: org.data,
        at,
        actor: account._id,
        connection: snapshotOf(r),
      }),
    ),
  );
  return bound.length;
}

/**
 * The effective access of an account on a context (docs/behaviour.md §9): the higher of the host application's own access and
 * the account's active connection. The hot path: checked without zod (the `is…` checks of values.ts), both look-ups started at once, and when both
 * ports answer at once (the in-memory adapters do) the answer is the level's settled promise, made once, with no await at all;
 * otherwise {@link settleAccess} awaits what is pending. Every failure is answered as the facade answers it
 * ({@link publicError}) as a rejected promise, never thrown: a port that throws becomes a rejection too.
 */
export function resolveAccess(
  deps: ConnectionsDeps,
  org: string,
  accountId: string,
  context: { object: string; _id: string },
): Promise<AccessLevel> {
  if (!isCheckedOrg(org) || !isHostId(accountId) || !isContext(context)) {
    return Promise.reject(
      new ConnectionError("cortex.invalidArgument.unspecified", { reason: "malformed access query" }),
    );
  }
  let own: Awaitable<AccessLevel> | undefined;
  let connected: Awaitable<AccessLevel | null>;
  try {
    own = deps.contexts.accessOf(org, accountId, context);
    // The clock itself, not its time: the adapter reads it only for a grant with an end (a read costs ~0.1 µs).
    connected = deps.store.connections.activeAccess(org, context, accountId, deps.clock);
  } catch (error) {
    // The host's look-up may be under way when the repository throws: its own failure is not the answer.
    if (isPending(own)) own.then(undefined, ignore);
    return Promise.reject(publicError(error));
  }
  if (isPending(own) || isPending(connected)) return settleAccess(own, connected);
  return answerOf(higherOf(own, connected));
}

/**
 * One settled promise per access level, made once: the synchronous path answers with the level's own (a settled
 * promise cannot change, so callers may share it) instead of allocating one per call.
 */
const ANSWERS: readonly Promise<AccessLevel>[] = Array.from({ length: 9 }, (_, level) =>
  Promise.resolve(level as AccessLevel),
);

/** The settled promise of `level`; a value that is not a level 0..8 (a host's bug) gets a promise of its own. */
function answerOf(level: AccessLevel): Promise<AccessLevel> {
  return (typeof level === "number" ? ANSWERS[level] : undefined) ?? Promise.resolve(level);
}

/** The slow path of {@link resolveAccess}: awaits the answers still pending, the host's first. */
async function settleAccess(
  own: Awaitable<AccessLevel>,
  connected: Awaitable<AccessLevel | null>,
): Promise<AccessLevel> {
  try {
    const level = isPending(own) ? await own : own;
    const active = isPending(connected) ? await connected : connected;
    return higherOf(level, active);
  } catch (error) {
    // When the host's look-up failed first, the other one's failure (if any) is not the answer: keep it handled.
    if (isPending(connected)) connected.then(undefined, ignore);
    throw publicError(error);
  }
}

/** True when a port answered with a promise (or any thenable) rather than the value itself. */
function isPending<T>(answer: Awaitable<T> | undefined): answer is PromiseLike<T> {
  return (
    typeof answer === "object" && answer !== null && typeof (answer as PromiseLike<T>).then === "function"
  );
}

function higherOf(level: AccessLevel, active: AccessLevel | null): AccessLevel {
  return active !== null && active > level ? active : level;
}

function ignore(): undefined {
  return undefined;
}

// A host asks about one org and a few objects over and over: the last org and object that passed their check are
// kept, and the same value again (an equal string) passes without being checked again. Exactly the inputs that
// isOrg and isObjectName accept still pass, and no other: both start as "x", which passes both checks.
let lastOrg = "x";
let lastObject = "x";

/** {@link isOrg}, answered at once for the last org that passed. */
function isCheckedOrg(org: unknown): org is string {
  if (org === lastOrg) return true;
  if (!isOrg(org)) return false;
  lastOrg = org;
  return true;
}

function isContext(c: unknown): c is { object: string; _id: string } {
  if (typeof c !== "object" || c === null) return false;
  const object = (c as { object?: unknown }).object;
  if (object !== lastObject) {
    if (!isObjectName(object)) return false;
    lastObject = object;
  }
  return isHostId((c as { _id?: unknown })._id);
}

/** The default number of expired invitations removed per batch. */
export const DEFAULT_PURGE_BATCH = 500;

/** Options of a purge: `batchSize` 1..10,000 (default 500), `maxBatches` ≥ 1 (default: until none is left). */
export const purgeOptionsSchema = batchOptionsSchema(10_000, DEFAULT_PURGE_BATCH);

/** Options of a purge, as a host supplies them. */
export type PurgeOptions = z.input<typeof purgeOptionsSchema>;

/**
 * Removes the org's expired invitations, then its time-limited grants whose access has ended, in bounded batches;
 * publishes `connection.expired` or `connection.accessExpired` for each; returns how many went.
 */
export async function purgeExpired(
  deps: ConnectionsDeps,
  orgInput: unknown,
  optionsInput?: unknown,
): Promise<number> {
  const { org, options } = parseBatchJob(orgInput, purgeOptionsSchema, optionsInput);
  const invitations = await purgeBatches(deps, org, options, "connection.expired", (tx, now, n) =>
    tx.connections.purgeExpired(org, now, n),
  );
  const grants = await purgeBatches(deps, org, options, "connection.accessExpired", (tx, now, n) =>
    tx.connections.purgeExpiredGrants(org, now, n),
  );
  return invitations + grants;
}

/** Runs one kind of purge in batches of `batchSize`, at most `maxBatches`, publishing an event per removed record. */
async function purgeBatches(
  deps: ConnectionsDeps,
  org: string,
  options: BatchOptions,
  type: "connection.expired" | "connection.accessExpired",
  purge: (tx: TransactionalStores, now: Date, limit: number) => Promise<ConnectionRecord[]>,
): Promise<number> {
  let total = 0;
  for (let n = 0; n < options.maxBatches; n++) {
    const now = deps.clock.now();
    const removed = await deps.store.transaction((tx) => purge(tx, now, options.batchSize));
    total += removed.length;
    await publish(
      deps,
      removed.map((r): ConnectionEvent => ({ type, org, at: now, actor: null, connection: snapshotOf(r) })),
    );
    if (removed.length < options.batchSize) break;
  }
  return total;
}
