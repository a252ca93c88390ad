import { z } from "zod";
import { laterEnd } from "./access-expiry.js";
import { AccessLevel } from "./access-level.js";
import { ConnectionError } from "./errors.js";
import { emailSchema, hostIdSchema, type Name, nameSchema, roleSchema } from "./values.js";

/** The most targets one create request may carry (docs/behaviour.md §5). */
export const MAX_CONNECTION_TARGETS = 100;

/** One connection target as a caller supplies it: an account `_id`, or an `email` with an optional `name`. */
export const connectionTargetSchema = z
  .object({
    object: z.literal("account").optional(),
    _id: hostIdSchema.optional(),
    email: emailSchema.optional(),
    name: nameSchema.optional(),
    /** The requested level; clamped, never refused for being too high. Defaults to Connected. */
    access: z.number().int().optional(),
    roles: z.array(roleSchema).max(100).optional(),
    /** Apply at once, with no acceptance (account targets only). */
    auto: z.boolean().optional(),
    /** When the access ends (an ISO 8601 instant), or null for no end; capped by the org's `maxGrantDays`. */
    accessExpiresAt: z.iso.datetime({ offset: true }).nullable().optional(),
    /** How many days (of 24 hours, from now) the access lasts; capped by the org's `maxGrantDays`. */
    accessDays: z.number().int().min(1).max(3650).optional(),
  })
  .strict()
  .refine((t) => (t._id === undefined) !== (t.email === undefined), {
    message: "give exactly one of _id and email",
  })
  .refine((t) => t.accessExpiresAt === undefined || t.accessDays === undefined, {
    message: "give at most one of accessExpiresAt and accessDays",
  });

/** One connection target as a caller supplies it. */
export type ConnectionTargetInput = z.input<typeof connectionTargetSchema>;

/** One parsed connection target. */
export type ConnectionTarget = z.output<typeof connectionTargetSchema>;

/**
 * Parses the raw targets of a create request (docs/behaviour.md §5, check 4, first part): a list of 1..100 well-formed targets.
 * Fails with `noConnectionTargets`, `tooLarge.connectionTargets` or `connectionTarget` naming the bad entry.
 */
export function parseTargets(raw: unknown): ConnectionTarget[] {
  if (!Array.isArray(raw)) {
    throw new ConnectionError("cortex.invalidArgument.unspecified", {
      reason: "targets must be a list",
      path: "targets",
    });
  }
  if (raw.length === 0)
    throw new ConnectionError("cortex.invalidArgument.noConnectionTargets", { path: "targets" });
  if (raw.length > MAX_CONNECTION_TARGETS) {
    throw new ConnectionError("cortex.tooLarge.connectionTargets", {
      reason: `at most ${MAX_CONNECTION_TARGETS} targets, got ${raw.length}`,
      path: "targets",
    });
  }
  // Array.from visits holes too (map would skip them and check nothing).
  return Array.from(raw as unknown[], (entry, i) => {
    const parsed = connectionTargetSchema.safeParse(entry);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ConnectionError("cortex.invalidArgument.connectionTarget", {
        reason: issue ? `${issue.path.join(".") || "target"}: ${issue.message}` : "invalid target",
        path: `targets[${i}]`,
      });
    }
    return parsed.data;
  });
}

/** A target after email resolution and merging of duplicates (docs/behaviour.md §5). */
export interface MergedTarget {
  /** Index of the first copy in the request: results come back in this order. */
  index: number;
  /** The account the target is, when known. */
  account: string | null;
  /** The email address, for email targets. */
  email: string | null;
  /** Every copy named the target by email: its account stays hidden in others' views while pending. */
  viaEmail: boolean;
  name: Name | null;
  /** The highest requested level of the copies (Connected when none asked). */
  access: number;
  roles: string[];
  /** Every copy asked for `auto`. */
  auto: boolean;
  /** When the access ends: the most generous of the copies; null for no end; undefined when no copy named one. */
  accessExpiresAt?: Date | null | undefined;
}

/**
 * Merges targets that name the same account or email: highest access, union of roles, `auto` only if every copy
 * says so. `accountOfEmail` maps an email to the account of the org that has it, if any.
 */
export function mergeTargets(
  targets: readonly ConnectionTarget[],
  accountOfEmail: (email: string) => string | undefined,
  endOf: (index: number) => Date | null | undefined = () => undefined,
): MergedTarget[] {
  const byKey = new Map<string, MergedTarget>();
  targets.forEach((t, index) => {
    const account = t._id ?? (t.email !== undefined ? (accountOfEmail(t.email) ?? null) : null);
    const email = t._id === undefined ? (t.email ?? null) : null;
    const key = account !== null ? `a:${account}` : `e:${email}`;
    const access = t.access ?? AccessLevel.Connected;
    const existing = byKey.get(key);
    if (existing === undefined) {
      byKey.set(key, {
        index,
        account,
        email,
        viaEmail: t._id === undefined,
        name: t.name ?? null,
        access,
        roles: [...new Set(t.roles ?? [])],
        auto: t.auto ?? false,
        accessExpiresAt: endOf(index),
      });
      return;
    }
    existing.accessExpiresAt = laterEnd(existing.accessExpiresAt, endOf(index));
    existing.access = Math.max(existing.access, access);
    existing.roles = [...new Set([...existing.roles, ...(t.roles ?? [])])];
    existing.auto = existing.auto && (t.auto ?? false);
    existing.viaEmail = existing.viaEmail && t._id === undefined;
    existing.email ??= email;
    existing.name ??= t.name ?? null;
  });
  return [...byKey.values()].sort((a, b) => a.index - b.index);
}

/** The union of two role lists, without duplicates, in first-seen order. */
export function unionRoles(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}
