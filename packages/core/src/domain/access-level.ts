import { z } from "zod";

/** The access levels of docs/behaviour.md §2, by name. */
export const AccessLevel = {
  None: 0,
  Public: 1,
  Connected: 2,
  Reserved: 3,
  Read: 4,
  Share: 5,
  Update: 6,
  Delete: 7,
  Script: 8,
} as const;

/** One access level value, 0..8. */
export type AccessLevel = (typeof AccessLevel)[keyof typeof AccessLevel];

/** The name of each access level value. */
export const accessLevelName: Readonly<Record<AccessLevel, keyof typeof AccessLevel>> = {
  0: "None",
  1: "Public",
  2: "Connected",
  3: "Reserved",
  4: "Read",
  5: "Share",
  6: "Update",
  7: "Delete",
  8: "Script",
};

/** Any access level 0..8, as reported by the host application. */
export const accessLevelSchema = z
  .number()
  .int()
  .min(AccessLevel.None)
  .max(AccessLevel.Script)
  .transform((n) => n as AccessLevel);

/** The lowest level a connection ever grants. */
export const MIN_GRANTED_ACCESS = AccessLevel.Connected;

/** The highest level a connection ever grants. */
export const MAX_GRANTED_ACCESS = AccessLevel.Delete;

/** The share chain used when an object defines none: Share, Read, Connected. */
export const DEFAULT_SHARE_CHAIN: readonly AccessLevel[] = [
  AccessLevel.Share,
  AccessLevel.Read,
  AccessLevel.Connected,
];

/**
 * The level a connection grants (docs/behaviour.md §5): the request is clamped below the caller's own level, to at least
 * Connected and at most Delete, then capped at the first share-chain entry below the caller's level; Reserved (3) is
 * never granted (it rounds down to Connected).
 */
export function grantedLevel(
  callerAccess: number,
  requested: number | undefined,
  shareChain: readonly number[] = DEFAULT_SHARE_CHAIN,
): AccessLevel {
  const wanted = requested ?? MIN_GRANTED_ACCESS;
  let granted = Math.max(MIN_GRANTED_ACCESS, Math.min(callerAccess - 1, wanted, MAX_GRANTED_ACCESS));
  const cap = shareChain.find((level) => level < callerAccess);
  if (cap !== undefined) granted = Math.max(MIN_GRANTED_ACCESS, Math.min(granted, cap));
  // Reserved (3) is never granted: round down to Connected, so the grant never exceeds what was asked.
  if (granted === AccessLevel.Reserved) granted = AccessLevel.Connected;
  return granted as AccessLevel;
}
