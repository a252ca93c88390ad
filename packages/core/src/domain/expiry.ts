import { addHours } from "date-fns";

/** Hours in a day of expiry: always 24, whatever the server's time zone or a daylight-saving change. */
export const HOURS_PER_DAY = 24;

/** The default number of days before a pending invitation expires. */
export const DEFAULT_PENDING_EXPIRY_DAYS = 7;

/** Clamps an org's `pendingConnectionExpiry` to 1..90 days (default 7). */
export function clampExpiryDays(days: number | undefined): number {
  if (days === undefined || !Number.isFinite(days)) return DEFAULT_PENDING_EXPIRY_DAYS;
  return Math.min(90, Math.max(1, Math.round(days)));
}

/**
 * When an invitation made at `created` expires: created + N days of 24 hours each (docs/behaviour.md §4). Calendar days would
 * follow the server's time zone, and an invitation made before a daylight-saving change would live 167 or 169 hours.
 */
export function expiresAt(created: Date, days: number | undefined): Date {
  return addHours(created, HOURS_PER_DAY * clampExpiryDays(days));
}
