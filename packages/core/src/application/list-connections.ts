import { z } from "zod";
import { AccessLevel } from "../domain/access-level.js";
import type { ConnectionView } from "../domain/connection.js";
import { ConnectionError } from "../domain/errors.js";
import { connectionIdSchema, objectNameSchema } from "../domain/values.js";
import type { ConnectionListFilter } from "../ports/connection-repository.js";
import { parseContext } from "./create-connections.js";
import {
  type Caller,
  type ConnectionsDeps,
  effectiveAccess,
  requireCaller,
  SettingsCache,
  viewOf,
} from "./deps.js";

/** The largest page a list returns. */
export const MAX_LIST_LIMIT = 1000;

/** The page size when none is asked. */
export const DEFAULT_LIST_LIMIT = 100;

const pageFields = {
  state: z.union([z.literal(0), z.literal(1)]).optional(),
  objects: z.array(objectNameSchema).max(100).optional(),
  limit: z.number().int().min(1).max(MAX_LIST_LIMIT).default(DEFAULT_LIST_LIMIT),
  startingAfter: connectionIdSchema.optional(),
  endingBefore: connectionIdSchema.optional(),
};

const oneCursor = [
  (q: { startingAfter?: string | undefined; endingBefore?: string | undefined }) =>
    q.startingAfter === undefined || q.endingBefore === undefined,
  { message: "give at most one of startingAfter and endingBefore" },
] as const;

/** A page request: state and object filters, `limit`, and at most one of `startingAfter` / `endingBefore` (docs/behaviour.md §7). */
export const pageQuerySchema = z
  .object(pageFields)
  .strict()
  .refine(...oneCursor);

/** The caller's list request: `show` (`target` by default, or `creator`) plus the page query. */
export const listQuerySchema = z
  .object({ show: z.enum(["creator", "target"]).default("target"), ...pageFields })
  .strict()
  .refine(...oneCursor);

/** A list request of the caller's connections, as a caller supplies it. */
export type ListQuery = z.input<typeof listQuerySchema>;

/** A list request of one context's connections, as a caller supplies it. */
export type PageQuery = z.input<typeof pageQuerySchema>;

/** A page of connections, shaped as docs/behaviour.md §13 shows it. */
export interface ConnectionList {
  object: "list";
  data: ConnectionView[];
  hasMore: boolean;
}

function parseQuery<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConnectionError("cortex.invalidArgument.unspecified", {
      reason: issue?.message ?? "malformed list query",
      path: issue?.path.join(".") ?? "query",
    });
  }
  return parsed.data;
}

async function page(
  deps: ConnectionsDeps,
  caller: Caller,
  filter: ConnectionListFilter,
  q: z.output<typeof pageQuerySchema>,
): Promise<ConnectionList> {
  const result = await deps.store.connections.list(caller.org, {
    filter,
    state: q.state,
    objects: q.objects,
    limit: q.limit,
    startingAfter: q.startingAfter,
    endingBefore: q.endingBefore,
    now: deps.clock.now(),
  });
  const settings = new SettingsCache(deps, caller.org);
  const data = await Promise.all(result.records.map((r) => viewOf(deps, settings, r, caller)));
  return { object: "list", data, hasMore: result.hasMore };
}

/**
 * Lists the caller's connections as target (by account or email) or as creator, newest first, with state and
 * object filters and cursor pagination (docs/behaviour.md §7). Expired invitations never appear.
 */
export async function listConnections(
  deps: ConnectionsDeps,
  principal: unknown,
  query?: unknown,
): Promise<ConnectionList> {
  const caller = await requireCaller(deps, principal);
  const q = parseQuery(listQuerySchema, query);
  const filter: ConnectionListFilter =
    q.show === "creator"
      ? { by: "creator", account: caller.account._id }
      : { by: "target", account: caller.account._id, email: caller.account.email };
  return page(deps, caller, filter, q);
}

/** Lists the connections on one context (docs/behaviour.md §13); needs Share on it. */
export async function listContextConnections(
  deps: ConnectionsDeps,
  principal: unknown,
  contextInput: unknown,
  query?: unknown,
): Promise<ConnectionList> {
  const caller = await requireCaller(deps, principal);
  const context = parseContext(contextInput);
  const q = parseQuery(pageQuerySchema, query);
  const access = await effectiveAccess(deps, caller.org, caller.account._id, context);
  if (access < AccessLevel.Share) throw new ConnectionError("cortex.accessDenied.shareAccess");
  return page(deps, caller, { by: "context", context }, q);
}
