import { z } from "zod";
import {
  clampMaxGrantDays,
  DEFAULT_ACCESS_ENDING_NOTICE_HOURS,
  DEFAULT_MAX_GRANT_DAYS,
  MAX_ACCESS_ENDING_NOTICE_HOURS,
} from "./access-expiry.js";
import { AccessLevel, accessLevelSchema, DEFAULT_SHARE_CHAIN } from "./access-level.js";
import { ConnectionError } from "./errors.js";
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

/**
 * How many hours before a time-limited grant ends its `access-ending` notice is queued: a whole number from 0 to
 * 8,760 (0 turns the notice off). Refused, never clamped: a lead time is a promise to people, so a wrong one is an
 * error to fix, not a value to guess.
 */
export const accessEndingNoticeHoursSchema = z
  .number({ error: "must be a number of hours" })
  .int("must be a whole number of hours")
  .min(0, "must be 0 (no notice) or more")
  .max(MAX_ACCESS_ENDING_NOTICE_HOURS, `must be at most ${MAX_ACCESS_ENDING_NOTICE_HOURS} (365 days)`);

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
  /**
   * Hours before a time-limited grant ends that its target and creator are told (the `access-ending` notice);
   * 0..8760, default 48 (2 days of 24 hours); 0 sends none. A bad value is refused (see {@link parseOrgSettings}).
   */
  accessEndingNoticeHours: accessEndingNoticeHoursSchema.default(DEFAULT_ACCESS_ENDING_NOTICE_HOURS),
  /** The base URL of the invitation page; the token is appended, URL-encoded. */
  connectionUrl: z.string().url().optional(),
});

/** The org settings, defaults applied. */
export type OrgSettings = z.output<typeof orgSettingsSchema>;

/** The org settings as a host supplies them. */
export type OrgSettingsInput = z.input<typeof orgSettingsSchema>;

/** The first problem zod found, as a `cortex.invalidArgument.unspecified` naming its path under `prefix`. */
function invalidSetting(error: z.ZodError, prefix: string): ConnectionError {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter((p) => p !== "").join(".");
  return new ConnectionError("cortex.invalidArgument.unspecified", {
    reason: `${path || "org settings"}: ${issue?.message ?? "malformed org settings"}`,
    path: path || "orgSettings",
  });
}

/**
 * Parses org settings as a host supplies them, defaults applied. A bad value (an `accessEndingNoticeHours` of -1,
 * 1.5 or 10,000, say) fails with `cortex.invalidArgument.unspecified` whose `path` names the setting.
 */
export function parseOrgSettings(input: unknown): OrgSettings {
  const parsed = orgSettingsSchema.safeParse(input);
  if (!parsed.success) throw invalidSetting(parsed.error, "");
  return parsed.data;
}

/**
 * The org's `access-ending` lead time in hours, checked again where it is used (an `OrgDirectory` of the host's own
 * may hand out settings it never parsed): absent means the default, 48; a bad value fails with
 * `cortex.invalidArgument.unspecified`, path `orgSettings.accessEndingNoticeHours`.
 */
export function accessEndingNoticeHoursOf(settings: Pick<OrgSettings, "accessEndingNoticeHours">): number {
  const value = (settings as { accessEndingNoticeHours?: unknown }).accessEndingNoticeHours;
  if (value === undefined) return DEFAULT_ACCESS_ENDING_NOTICE_HOURS;
  const parsed = accessEndingNoticeHoursSchema.safeParse(value);
  if (!parsed.success) throw invalidSetting(parsed.error, "orgSettings.accessEndingNoticeHours");
  return parsed.data;
}

/** The plural path name of an object. */
export function pluralOf(
  settings: Pick<ObjectSettings, "name" | "plural"> | null | undefined,
  object: string,
): string {
  return settings?.plural ?? (object.endsWith("s") ? object : `${object}s`);
}
