import {
  ConnectionError,
  connectionIdSchema,
  connectionTargetSchema,
  ERROR_CODES,
  hostIdSchema,
  listQuerySchema,
  MAX_CONNECTION_TARGETS,
  nameSchema,
  pageQuerySchema,
  shareLinkInputSchema,
  shareLinkPageSchema,
  tokenSchema,
} from "@conn/core";
import { z } from "zod";

// ---------------------------------------------------------------------------------------------------------------
// Path parameters
// ---------------------------------------------------------------------------------------------------------------

/**
 * The `{objects}` path segment: the plural name of the context's object, e.g. `c_prescriptions`. The host's
 * `objectFromPlural` maps it to the object, whose name the facade checks.
 */
export const pluralSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_-]+$/, "letters, digits, '_' and '-' only")
  .describe("The plural name of the context's object, e.g. `c_prescriptions`.");

/** The `{idOrToken}` path segment: a 24-hex-digit connection id, or an invitation token (anything else). */
export const idOrTokenSchema = z
  .union([connectionIdSchema, tokenSchema])
  .describe("A 24-lower-hex-digit segment is a connection id; anything else is an invitation token.");

// ---------------------------------------------------------------------------------------------------------------
// Query strings: the facade's own schemas, with the strings of a URL coerced to the facade's types first
// ---------------------------------------------------------------------------------------------------------------

/** Turns an integer-looking query string into a number; anything else passes through for the schema to refuse. */
function integer(value: unknown): unknown {
  return typeof value === "string" && /^-?\d{1,16}$/.test(value) ? Number(value) : value;
}

/** Turns `objects=a,b&objects=c` (a comma list, repeated or both) into `["a", "b", "c"]`. */
function commaList(value: unknown): unknown {
  if (value === undefined) return undefined;
  const values = Array.isArray(value) ? value : [value];
  return values.flatMap((v) => (typeof v === "string" ? v.split(",") : [v]));
}

const cursorFields = {
  limit: z.preprocess(integer, pageQuerySchema.shape.limit),
  startingAfter: pageQuerySchema.shape.startingAfter,
  endingBefore: pageQuerySchema.shape.endingBefore,
};

const filterFields = {
  state: z.preprocess(integer, pageQuerySchema.shape.state),
  objects: z.preprocess(commaList, pageQuerySchema.shape.objects),
};

const oneCursor = (q: { startingAfter?: string | undefined; endingBefore?: string | undefined }) =>
  q.startingAfter === undefined || q.endingBefore === undefined;
const oneCursorError = {
  message: "give at most one of startingAfter and endingBefore",
  path: ["endingBefore"],
};

/** The query of `GET /connections` as a URL carries it (strings), parsed into the facade's `ListQuery`. */
export const listQueryParamsSchema = z
  .object({ show: listQuerySchema.shape.show, ...filterFields, ...cursorFields })
  .strict()
  .refine(oneCursor, oneCursorError);

/** The query of `GET /{objects}/{id}/connections` as a URL carries it, parsed into the facade's `PageQuery`. */
export const pageQueryParamsSchema = z
  .object({ ...filterFields, ...cursorFields })
  .strict()
  .refine(oneCursor, oneCursorError);

/** Reads a URL's query into a record for the query schemas: a key given once is a string, repeated a list. */
export function queryRecord(params: URLSearchParams): Record<string, string | string[]> {
  // No prototype: a `__proto__` key is data like any other, never the object's prototype.
  const record: Record<string, string | string[]> = Object.create(null);
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    record[key] = values.length === 1 ? (values[0] as string) : values;
  }
  return record;
}

/** The query of `GET /{objects}/{id}/share-links` as a URL carries it, parsed into the facade's page query. */
export const shareLinkPageParamsSchema = z
  .object({
    limit: z.preprocess(integer, shareLinkPageSchema.shape.limit),
    startingAfter: shareLinkPageSchema.shape.startingAfter,
  })
  .strict();

// ---------------------------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------------------------

/**
 * The body of `POST /{objects}/{id}/connections` as the edge checks it. The targets themselves are checked by the
 * facade, in the order of docs/behaviour.md §5 (the object, the caller and Share access come first), so here they are a list.
 */
export const createBodySchema = z
  .object({
    targets: z.array(z.unknown()),
    contextSource: z.string().max(256).nullable().optional(),
  })
  .strict();

/** The body of `POST /{objects}/{id}/share-links` as the edge checks it: an object (the facade checks its fields). */
export const shareLinkBodySchema = z.record(z.string(), z.unknown());

/** The body of `POST /{objects}/{id}/share-links` as the OpenAPI document shows it: the facade's own schema. */
export const shareLinkBodyDocumentSchema = shareLinkInputSchema.describe(
  "A share link request: `access` is clamped as any grant (default Connected); `uses` 1..1000 (default 1); " +
    "`expiresInDays` 1..90 (default the org's invitation expiry); `emailDomain` limits who may redeem it.",
);

/** One connection target as the OpenAPI document shows it: the facade's own schema (docs/behaviour.md §5). */
export const connectionTargetDocumentSchema = connectionTargetSchema.describe(
  "A connection target: give exactly one of `_id` (an account) and `email` (with an optional `name`). " +
    "`access` is clamped, never refused for being too high; `auto` applies at once (account targets only). " +
    "`accessExpiresAt` (an instant, or null for no end) or `accessDays` limits the grant in time, capped by the " +
    "org's `maxGrantDays`; naming neither keeps an existing grant's end.",
);

/** The body of `POST /{objects}/{id}/connections` as the OpenAPI document shows it: the edge's and the facade's checks together. */
export const createBodyDocumentSchema = createBodySchema.extend({
  targets: z.array(connectionTargetDocumentSchema).min(1).max(MAX_CONNECTION_TARGETS),
  contextSource: createBodySchema.shape.contextSource.describe(
    "The property that caused the invitation (docs/behaviour.md §3 `contextSource`).",
  ),
});

// ---------------------------------------------------------------------------------------------------------------
// Responses (JSON: dates are ISO strings)
// ---------------------------------------------------------------------------------------------------------------

/** A reference to an account as responses carry it. */
export const accountRefSchema = z
  .object({ _id: hostIdSchema, object: z.literal("account"), path: z.string() })
  .strict();

/** A connection as a response carries it (docs/behaviour.md §3): the token and `expiresAt` only while pending. */
export const connectionSchema = z
  .object({
    _id: connectionIdSchema,
    object: z.literal("connection"),
    access: z.number().int().min(0).max(8).describe("The access level granted (docs/behaviour.md §2)."),
    roles: z.array(hostIdSchema),
    context: z.object({ _id: hostIdSchema, object: z.string(), path: z.string() }).strict(),
    contextSource: z.string().nullable(),
    created: z.iso.datetime(),
    creator: accountRefSchema,
    target: z
      .object({
        account: accountRefSchema.optional(),
        email: z.string().optional(),
        name: nameSchema.optional(),
      })
      .strict(),
    state: z.union([z.literal(0), z.literal(1)]).describe("0 pending, 1 active."),
    token: z.string().optional().describe("Shown to the target of a pending connection only."),
    expiresAt: z.iso.datetime().optional().describe("When a pending invitation expires."),
    accessExpiresAt: z.iso
      .datetime()
      .optional()
      .describe(
        "When the access this connection gives ends (a time-limited grant); absent when it never ends. From that " +
          "instant the connection counts nowhere.",
      ),
  })
  .strict();

/** A share link as a response carries it: the token only in the answer to its creation. */
export const shareLinkSchema = z
  .object({
    _id: connectionIdSchema,
    object: z.literal("shareLink"),
    context: z.object({ _id: hostIdSchema, object: z.string(), path: z.string() }).strict(),
    access: z.number().int().min(2).max(7).describe("The level a redemption grants."),
    creator: accountRefSchema,
    created: z.iso.datetime(),
    expiresAt: z.iso.datetime().describe("From this instant the link redeems nothing."),
    usesAllowed: z.number().int().min(1).max(1000),
    usesLeft: z.number().int().min(0).max(1000),
    emailDomain: z
      .string()
      .nullable()
      .describe("Only accounts with an email at this domain may redeem the link."),
    status: z
      .enum(["active", "revoked", "expired", "usedUp"])
      .describe("At the moment of the answer; only an `active` link redeems anything."),
    revokedAt: z.iso.datetime().nullable(),
    token: z.string().optional().describe("The secret to redeem the link with: in the creation answer only."),
  })
  .strict();

/** A page of share links: `{ "object": "list", "data": [...], "hasMore": … }`. */
export const shareLinkListSchema = z
  .object({ object: z.literal("list"), data: z.array(shareLinkSchema), hasMore: z.boolean() })
  .strict();

/** A page of connections: `{ "object": "list", "data": [...], "hasMore": … }`. */
export const connectionListSchema = z
  .object({ object: z.literal("list"), data: z.array(connectionSchema), hasMore: z.boolean() })
  .strict();

/** The JSON fault every failure answers with (docs/behaviour.md §13), with the HTTP status of docs/behaviour.md §12. */
export const faultSchema = z
  .object({
    object: z.literal("fault"),
    name: z.literal("fault"),
    errCode: z.enum(ERROR_CODES),
    code: z.string().describe("The Cortex fault kind, e.g. `kAccessDenied`."),
    status: z.number().int(),
    message: z.string(),
    reason: z.string().optional(),
    path: z.string().optional(),
    requestId: z
      .string()
      .optional()
      .describe(
        "The request's id, also in the `X-Request-Id` header: the host's error reporter got the same id with the " +
          "full error. Every fault answer carries it.",
      ),
  })
  .strict();

/** A per-target fault inside a create response: a fault plus the target it is about (the answer's header has the id). */
export const targetFaultSchema = faultSchema
  .omit({ requestId: true })
  .extend({ target: z.object({ _id: hostIdSchema.optional(), email: z.string().optional() }).strict() })
  .strict();

/** The create response: one entry per merged target, in request order, and `hasMore` always false. */
export const createResponseSchema = z
  .object({
    object: z.literal("list"),
    data: z.array(z.union([connectionSchema, targetFaultSchema])),
    hasMore: z.literal(false),
  })
  .strict();

/** The answer of the reject and delete routes: `{ "object": "result", "data": true }`. */
export const resultSchema = z.object({ object: z.literal("result"), data: z.literal(true) }).strict();

/** A value as it comes out of `JSON.stringify` and back: dates become strings. */
export type Jsonified<T> = T extends Date
  ? string
  : T extends readonly (infer U)[]
    ? Jsonified<U>[]
    : T extends object
      ? { [K in keyof T]: Jsonified<T[K]> }
      : T;

/**
 * Parses `input` with `schema`, or fails with `invalidArgument.unspecified` naming the first problem (docs/behaviour.md §12);
 * `where` names the input when the problem is about all of it (`body`, `query`, `org`, …).
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue !== undefined && issue.path.length > 0 ? issue.path.map(String).join(".") : where;
  throw new ConnectionError("cortex.invalidArgument.unspecified", {
    reason: `${path}: ${issue?.message ?? "invalid"}`,
    path,
  });
}
