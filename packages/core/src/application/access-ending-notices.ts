import { addHours } from "date-fns";
import type { z } from "zod";
import type { ConnectionRecord } from "../domain/connection.js";
import { ConnectionError } from "../domain/errors.js";
import type { SealedNotice } from "../domain/notices.js";
import { accessEndingNoticeHoursOf, type OrgSettings, pluralOf } from "../domain/settings.js";
import type { Name } from "../domain/values.js";
import type { Account } from "../ports/account-directory.js";
import type { EndingGrant } from "../ports/connection-repository.js";
import { batchOptionsSchema, parseBatchJob } from "./batches.js";
import { type ConnectionsDeps, SettingsCache } from "./deps.js";

/** The default number of grants looked at per batch of an access-ending sweep. */
export const DEFAULT_ACCESS_ENDING_BATCH = 200;

/** Options of an access-ending sweep: `batchSize` 1..1,000 (default 200), `maxBatches` ≥ 1 (default: until done). */
export const accessEndingOptionsSchema = batchOptionsSchema(1_000, DEFAULT_ACCESS_ENDING_BATCH);

/** Options of an access-ending sweep, as a host supplies them. */
export type AccessEndingOptions = z.input<typeof accessEndingOptionsSchema>;

/** One outbox message as the sweep enqueues it. */
type Message = { id: string; org: string; notice: SealedNotice; availableAt: Date };

/**
 * Queues the `access-ending` notice of every active grant of the org whose access ends within the org's lead time
 * (`accessEndingNoticeHours`, default 48) and whose end has not been noticed yet: one to the grant's target and one
 * to its creator, through the outbox, in the same transaction that marks the end noticed. Returns how many grants
 * were noticed.
 *
 * Exactly once per end: a grant is noticed for an end instant at most once, however many sweeps run at once (the mark
 * is a compare-and-set in the repository); a re-grant that moves the end makes the new end due in its turn. A grant
 * that has ended, or was deleted, before the sweep reaches it gets nothing. Grants are read in batches of
 * `batchSize`, at most `maxBatches`; the host's ports (accounts, objects) are read outside the transactions.
 */
export async function queueAccessEndingNotices(
  deps: ConnectionsDeps,
  orgInput: unknown,
  optionsInput?: unknown,
): Promise<number> {
  const { org, options } = parseBatchJob(orgInput, accessEndingOptionsSchema, optionsInput);
  const orgSettings = await deps.orgs.get(org);
  if (orgSettings === null)
    throw new ConnectionError("cortex.notFound.unspecified", { reason: "unknown org" });
  const leadHours = accessEndingNoticeHoursOf(orgSettings);
  if (leadHours === 0) return 0;
  const { batchSize, maxBatches } = options;
  const settings = new SettingsCache(deps, org);
  let after: { accessExpiresAt: Date; id: string } | undefined;
  let noticed = 0;
  for (let n = 0; n < maxBatches; n++) {
    const now = deps.clock.now();
    const batch = await deps.store.connections.findEndingGrants(org, {
      now,
      until: addHours(now, leadHours),
      after,
      limit: batchSize,
    });
    if (batch.length === 0) break;
    const people = await accountsOf(deps, org, batch);
    const paths = await pathsOf(settings, batch);
    const grants = batch.map(
      (r): EndingGrant => ({ id: r._id, accessExpiresAt: r.accessExpiresAt as Date, creator: r.creator }),
    );
    noticed += await deps.store.transaction(async (tx) => {
      const at = deps.clock.now();
      const marked = await tx.connections.markEndNoticed(org, grants, at);
      const messages = marked.flatMap((r) => noticesOf(deps, orgSettings, r, people, paths, at));
      if (messages.length > 0) await tx.outbox.enqueue(messages);
      return marked.length;
    });
    const last = batch[batch.length - 1] as ConnectionRecord;
    after = { accessExpiresAt: last.accessExpiresAt as Date, id: last._id };
    if (batch.length < batchSize) break;
  }
  return noticed;
}

/** The accounts of the batch's targets and creators, by id (one look-up). */
async function accountsOf(
  deps: ConnectionsDeps,
  org: string,
  batch: readonly ConnectionRecord[],
): Promise<Map<string, Account>> {
  const ids = new Set<string>();
  for (const r of batch) {
    ids.add(r.creator);
    if (r.target.account !== null) ids.add(r.target.account);
  }
  const found = await deps.accounts.findByIds(org, [...ids]);
  return new Map(found.map((a) => [a._id, a]));
}

/** The path and label of each object of the batch, from its settings (the default plural when it has none). */
async function pathsOf(
  settings: SettingsCache,
  batch: readonly ConnectionRecord[],
): Promise<Map<string, { plural: string; label: string | null }>> {
  const out = new Map<string, { plural: string; label: string | null }>();
  for (const object of new Set(batch.map((r) => r.context.object))) {
    const s = await settings.get(object);
    out.set(object, { plural: pluralOf(s, object), label: s?.label ?? null });
  }
  return out;
}

/** One person a grant's end is told to. */
interface Copy {
  audience: "target" | "creator";
  account: string;
  email: string | null;
  name: Name | null;
}

/**
 * The two notices of one marked grant: to its target (whose access ends) and to its creator (who gave it). A copy
 * whose person the host no longer knows (and, for the target, whose record holds no email) is not queued.
 */
function noticesOf(
  deps: ConnectionsDeps,
  orgSettings: OrgSettings,
  record: ConnectionRecord,
  people: ReadonlyMap<string, Account>,
  paths: ReadonlyMap<string, { plural: string; label: string | null }>,
  now: Date,
): Message[] {
  const endsAt = record.accessExpiresAt as Date;
  const targetId = record.target.account as string;
  const target = people.get(targetId);
  const creator = people.get(record.creator);
  const targetName = target?.name ?? record.target.name;
  const object = paths.get(record.context.object) ?? {
    plural: pluralOf(null, record.context.object),
    label: null,
  };
  const copies: Copy[] = [
    { audience: "target", account: targetId, email: target?.email ?? record.target.email, name: targetName },
    {
      audience: "creator",
      account: record.creator,
      email: creator?.email ?? null,
      name: creator?.name ?? null,
    },
  ];
  return copies.flatMap(({ audience, account, email, name }): Message[] => {
    if (email === null) return [];
    const id = deps.ids.next();
    return [
      {
        id,
        org: record.org,
        availableAt: now,
        notice: {
          kind: "access-ending",
          // One intent per grant, end and person: a notifier that drops duplicates keys on it.
          idempotencyKey: `${record.org}:${record._id}:access-ending:${endsAt.toISOString()}:${audience}`,
          org: { code: record.org, name: orgSettings.name },
          recipient: { account, email, name },
          context: {
            object: record.context.object,
            _id: record.context._id,
            path: `/${object.plural}/${record.context._id}`,
            label: object.label,
          },
          connectionId: record._id,
          access: record.access,
          creator: { _id: record.creator, name: creator?.name ?? null },
          tokenSeal: null,
          acceptUrlBase: null,
          expiresAt: null,
          accessEnding: {
            endsAt: new Date(endsAt),
            audience,
            target: { account: targetId, name: targetName },
          },
        },
      },
    ];
  });
}
