import { z } from "zod";
import type { AccessLevel } from "../domain/access-level.js";
import { type ConnectionRecord, snapshotOf } from "../domain/connection.js";
import { ConnectionError, publicError } from "../domain/errors.js";
import type { ConnectionEvent } from "../domain/events.js";
import { HOST_ID_PATTERN, hostIdSchema, ORG_PATTERN, orgSchema } from "../domain/values.js";
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

// The same rules as orgSchema, hostIdSchema and objectNameSchema, precompiled: zod stays off the hot path.
const OBJECT_NAME = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * The effective access of an account on a context (docs/behaviour.md §9): the higher of the host application's own access and
 * the account's active connection. The hot path: checked without zod, both look-ups started at once and awaited in
 * turn (no Promise.all), and every failure answered as the facade answers it ({@link publicError}) inside this one
 * async function, so a call allocates no guard promise of its own.
 */
export async function resolveAccess(
  deps: ConnectionsDeps,
  org: string,
  accountId: string,
  context: { object: string; _id: string },
): Promise<AccessLevel> {
  if (
    typeof org !== "string" ||
    !ORG_PATTERN.test(org) ||
    typeof accountId !== "string" ||
    !HOST_ID_PATTERN.test(accountId) ||
    !isContext(context)
  ) {
    throw new ConnectionError("cortex.invalidArgument.unspecified", { reason: "malformed access query" });
  }
  let connected: Promise<AccessLevel | null> | undefined;
  try {
    const own = deps.contexts.accessOf(org, accountId, context);
    connected = deps.store.connections.activeAccess(org, context, accountId, deps.clock.now());
    const level = await own;
    const active = await connected;
    return (active !== null && active > level ? active : level) as AccessLevel;
  } catch (error) {
    // When the host's look-up failed first, the other one's failure (if any) is not the answer: keep it handled.
    connected?.catch(() => undefined);
    throw publicError(error);
  }
}

function isContext(c: unknown): c is { object: string; _id: string } {
  return (
    typeof c === "object" &&
    c !== null &&
    typeof (c as { object?: unknown }).object === "string" &&
    OBJECT_NAME.test((c as { object: string }).object) &&
    typeof (c as { _id?: unknown })._id === "string" &&
    HOST_ID_PATTERN.test((c as { _id: string })._id)
  );
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
