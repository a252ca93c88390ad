import { addHours } from "date-fns";
import { HOURS_PER_DAY } from "./expiry.js";

/** The longest a time-limited grant may run when the org sets no `maxGrantDays`. */
export const DEFAULT_MAX_GRANT_DAYS = 365;

/** The most an org may set `maxGrantDays` to (ten years). */
export const MAX_GRANT_DAYS_LIMIT = 3650;

/** How long before a grant ends its `access-ending` notice is queued, when the org sets nothing: 48 hours (2 days). */
export const DEFAULT_ACCESS_ENDING_NOTICE_HOURS = 2 * HOURS_PER_DAY;

/** The longest lead time an org may set for the `access-ending` notice: 8,760 hours (365 days of 24 hours). */
export const MAX_ACCESS_ENDING_NOTICE_HOURS = 365 * HOURS_PER_DAY;

/** Clamps an org's `maxGrantDays` to 1..3650 (default 365). */
export function clampMaxGrantDays(days: number | undefined): number {
  if (days === undefined || !Number.isFinite(days)) return DEFAULT_MAX_GRANT_DAYS;
  return Math.min(MAX_GRANT_DAYS_LIMIT, Math.max(1, Math.round(days)));
}

/** What a target asks of its grant's end: an instant (ISO string), a number of days, or `null` for no end. */
export interface AccessEndRequest {
  accessExpiresAt?: string | null | undefined;
  accessDays?: number | undefined;
}

/**
 * The instant a requested grant ends, from `now`: `accessDays` days of 24 hours, or the `accessExpiresAt` instant;
 * capped at `now + maxGrantDays` (clamped, never refused, like the level). `null` asks for no end; `undefined` when
 * the target names neither (the stored end, if any, is kept). Returns a problem instead for an end that is not after
 * `now`, or for both fields given.
 */
export function accessEndOf(
  request: AccessEndRequest,
  now: Date,
  maxGrantDays: number,
): { end: Date | null | undefined } | { problem: string } {
  const { accessExpiresAt, accessDays } = request;
  if (accessExpiresAt !== undefined && accessDays !== undefined)
    return { problem: "give at most one of accessExpiresAt and accessDays" };
  if (accessExpiresAt === null) return { end: null };
  const cap = addHours(now, HOURS_PER_DAY * clampMaxGrantDays(maxGrantDays));
  let end: Date;
  if (accessDays !== undefined) end = addHours(now, HOURS_PER_DAY * accessDays);
  else if (accessExpiresAt !== undefined) end = new Date(accessExpiresAt);
  else return { end: undefined };
  if (!(end > now)) return { problem: "accessExpiresAt must be after now" };
  return { end: end > cap ? cap : end };
}

/** The more generous of two requested ends (no end beats any instant; a named end beats an unnamed one). */
export function laterEnd(a: Date | null | undefined, b: Date | null | undefined): Date | null | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (a === null || b === null) return null;
  return a > b ? a : b;
}

/** The end a grant has after a request: the requested one when it names one (extending or shortening), else the stored. */
export function resultingEnd(
  requested: Date | null | undefined,
  stored: Date | null | undefined,
): Date | null {
  return requested === undefined ? (stored ?? null) : requested;
}

/** True when two ends are the same (both none, or the same instant). */
export function sameEnd(a: Date | null | undefined, b: Date | null | undefined): boolean {
  const ta = a === undefined || a === null ? null : a.getTime();
  const tb = b === undefined || b === null ? null : b.getTime();
  return ta === tb;
}
