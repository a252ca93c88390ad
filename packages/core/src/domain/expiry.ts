import { addDays } from "date-fns";

/** The default number of days before a pending invitation expires. */
export const DEFAULT_PENDING_EXPIRY_DAYS = 7;

/** Clamps an org's `pendingConnectionExpiry` to 1..90 days (default 7). */
export function clampExpiryDays(days: number | undefined): number {
  if (days === undefined || !Number.isFinite(days)) return DEFAULT_PENDING_EXPIRY_DAYS;
  return Math.min(90, Math.max(1, Math.round(days)));
}

/** When an invitation made at `created` expires: created + N days (spec §4). */
export function expiresAt(created: Date, days: number | undefined): Date {
  return addDays(created, clampExpiryDays(days));
}
