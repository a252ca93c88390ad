import { z } from "zod";

/** The shape of a connection id: 24 lower-case hex digits. */
export const CONNECTION_ID_PATTERN = /^[0-9a-f]{24}$/;

/**
 * A connection id, the library's own: 24 lower-case hex digits, at least 64 of whose bits are random (so ids cannot
 * be walked), e.g. `5b6c3ca2e4a1f1c3b4a5d6e7`.
 */
export const connectionIdSchema = z.string().regex(CONNECTION_ID_PATTERN, "must be 24 lower-case hex digits");

/** True when `value` has the shape of a connection id (24 lower-case hex digits). */
export function isConnectionId(value: unknown): value is string {
  return typeof value === "string" && CONNECTION_ID_PATTERN.test(value);
}

/** The shape of a host id: 1..128 characters of `[A-Za-z0-9._:-]`. */
export const HOST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * An id that belongs to the host app (an account, a context, a role): an opaque string of 1..128 characters of
 * `[A-Za-z0-9._:-]`, so ObjectIds, UUIDs, integers and slugs all fit.
 */
export const hostIdSchema = z
  .string()
  .regex(HOST_ID_PATTERN, "must be 1..128 characters of letters, digits, '.', '_', ':' or '-'");

// Each `is…` check below accepts exactly what its pattern accepts: a length test and a search for one character
// outside the pattern's set (about half the time of matching the whole pattern; every resolveAccess runs three).
// test/values.test.ts checks each against its pattern.
const NOT_HOST_ID_CHAR = /[^A-Za-z0-9._:-]/;
const NOT_ORG_CHAR = /[^A-Za-z0-9_-]/;
const NOT_OBJECT_NAME_CHAR = /[^a-z0-9_]/;

/** True when `value` is a well-formed host id (what {@link HOST_ID_PATTERN} accepts). */
export function isHostId(value: unknown): value is string {
  return (
    typeof value === "string" && value.length >= 1 && value.length <= 128 && !NOT_HOST_ID_CHAR.test(value)
  );
}

/** The shape of an org code: 1..64 letters, digits, '_' and '-'. */
export const ORG_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** True when `value` is a well-formed org code (what {@link orgSchema} accepts, without zod). */
export function isOrg(value: unknown): value is string {
  return typeof value === "string" && value.length >= 1 && value.length <= 64 && !NOT_ORG_CHAR.test(value);
}

/** An org code: the tenant key every record is scoped by. */
export const orgSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, "letters, digits, '_' and '-' only");

/** An object name such as `c_prescription` or `account`. */
export const objectNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_]*$/, "lower-case letters, digits and '_'");

/** The shape of an object name: a lower-case letter, then up to 63 lower-case letters, digits and '_'. */
export const OBJECT_NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

/** True when `value` is a well-formed object name (what {@link objectNameSchema} accepts, without zod). */
export function isObjectName(value: unknown): value is string {
  if (typeof value !== "string" || value.length < 1 || value.length > 64) return false;
  const first = value.charCodeAt(0);
  return first >= 97 && first <= 122 && !NOT_OBJECT_NAME_CHAR.test(value);
}

/**
 * An email address, trimmed and lower-cased (docs/behaviour.md §3). ASCII only: a look-alike from another script is refused
 * rather than stored as a second identity.
 */
export const emailSchema = z
  .string()
  .max(320)
  .transform((s) => s.trim().toLowerCase())
  .pipe(
    z
      .string()
      .regex(
        /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/,
        "must be an email address such as name@example.com (ASCII only)",
      ),
  );

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True for text every store can keep: no NUL and no unpaired UTF-16 surrogate (PostgreSQL refuses both). */
export function isStorableText(s: string): boolean {
  return !s.includes("\u0000") && !LONE_SURROGATE.test(s);
}

/** Free text bounded to `max` characters that every store can keep. */
export function storableText(max: number) {
  return z.string().max(max).refine(isStorableText, "must not contain NUL or unpaired surrogate characters");
}

/** A person's name as connections carry it. */
export const nameSchema = z
  .object({
    first: storableText(100).optional(),
    last: storableText(100).optional(),
  })
  .strict();

/** A person's name: `{ first?, last? }`. */
export type Name = z.infer<typeof nameSchema>;

/** An instance role id (the host's). */
export const roleSchema = hostIdSchema;

/** The object instance being shared: `{ object, _id }`. */
export const contextSchema = z.object({ object: objectNameSchema, _id: hostIdSchema }).strict();

/** The object instance being shared. */
export type ContextRef = z.infer<typeof contextSchema>;

/** A token as presented by a caller: URL-safe characters, 32..256 long. */
export const tokenSchema = z
  .string()
  .min(32)
  .max(256)
  .regex(/^[A-Za-z0-9_-]+$/);

/** The caller's account as a host may hand it over with the principal: `{ _id, email, name, verified }`. */
export interface PrincipalAccount {
  _id: string;
  email: string;
  name: Name;
  verified: boolean;
}

/** True when `value` has the shape of a {@link PrincipalAccount}. */
export function isPrincipalAccount(value: unknown): value is PrincipalAccount {
  if (typeof value !== "object" || value === null) return false;
  const a = value as Record<string, unknown>;
  return (
    typeof a._id === "string" &&
    typeof a.email === "string" &&
    typeof a.verified === "boolean" &&
    typeof a.name === "object" &&
    a.name !== null
  );
}

/**
 * Who is calling: an org, and an account id or null for an anonymous caller. A host that already loaded the
 * caller's account (to authenticate the request) may pass it as `account`, whose `_id` must be `accountId`: the use
 * cases then take it as the caller's account instead of looking it up again.
 */
export const principalSchema = z
  .object({
    org: orgSchema,
    accountId: hostIdSchema.nullable(),
    account: z.custom<PrincipalAccount>(isPrincipalAccount).optional(),
  })
  .strict()
  .refine((p) => p.account === undefined || p.account._id === p.accountId, {
    message: "account._id must be accountId",
    path: ["account"],
  });

/** Who is calling. */
export type Principal = z.infer<typeof principalSchema>;

/** The property that caused an invitation (docs/behaviour.md §3 `contextSource`): a short string, or null. */
export const contextSourceSchema = storableText(256).nullable();
