import { z } from "zod";
import { clampMaxGrantDays, DEFAULT_MAX_GRANT_DAYS } from "./access-expiry.js";
import { AccessLevel, accessLevelSchema, DEFAULT_SHARE_CHAIN } from "./access-level.js";
import { clampExpiryDays, DEFAULT_PENDING_EXPIRY_DAYS } from "./expiry.js";

/** The connection settings of one object (docs/behaviour.md §10), with defaults applied. */
export const objectSettingsSchema = z.object({
  /** The object's name, e.g. `c_prescription`. */
  name: z.string().min(1),
  /** The plural name used in paths, e.g. `c_prescriptions`; defaults to name + "s". */
  plural: z.string().min(1).optional(),
  /** A human label used in notices, e.g. "prescription". */
  label: z.string().optional(),
  allowConnections: z.boolean().default(false),
  requireAccept: z.boolean().default(true),
  requiredAccess: accessLevelSchema.default(AccessLevel.Share),
  sendNotifications: z.boolean().default(true),
  shareChain: z.array(accessLevelSchema).default([...DEFAULT_SHARE_CHAIN]),
});

/** The connection settings of one object, defaults applied. */
export type ObjectSettings = z.output<typeof objectSettingsSchema>;

/** The connection settings of one object as a host supplies them (defaults optional). */
export type ObjectSettingsInput = z.input<typeof objectSettingsSchema>;

/** The org settings of docs/behaviour.md §10, with defaults applied. */
export const orgSettingsSchema = z.object({
  /** The org code. */
  code: z.string().min(1),
  /** The org's display name, used in notices. */
  name: z.string().min(1),
  /** Days before a pending invitation expires; clamped to 1..90, default 7. */
  pendingConnectionExpiry: z.number().default(DEFAULT_PENDING_EXPIRY_DAYS).transform(clampExpiryDays),
  /** The longest a time-limited grant may run, in days; clamped to 1..3650, default 365. */
  maxGrantDays: z.number().default(DEFAULT_MAX_GRANT_DAYS).transform(clampMaxGrantDays),
  /** The base URL of the invitation page; the token is appended, URL-encoded. */
  connectionUrl: z.string().url().optional(),
});

/** The org settings, defaults applied. */
export type OrgSettings = z.output<typeof orgSettingsSchema>;

/** The org settings as a host supplies them. */
export type OrgSettingsInput = z.input<typeof orgSettingsSchema>;

/** The plural path name of an object. */
export function pluralOf(
  settings: Pick<ObjectSettings, "name" | "plural"> | null | undefined,
  object: string,
): string {
  return settings?.plural ?? (object.endsWith("s") ? object : `${object}s`);
}
