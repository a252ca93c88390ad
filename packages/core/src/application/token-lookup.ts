import type { ConnectionRecord } from "../domain/connection.js";
import { ConnectionError } from "../domain/errors.js";
import { tokenSchema } from "../domain/values.js";
import { type Caller, type ConnectionsDeps, isTarget } from "./deps.js";

/** Parses a presented token: a malformed one is `invalidArgument.unspecified` (docs/behaviour.md §6). */
export function parseToken(token: unknown): string {
  const parsed = tokenSchema.safeParse(token);
  if (!parsed.success)
    throw new ConnectionError("cortex.invalidArgument.unspecified", {
      reason: "malformed token",
      path: "token",
    });
  return parsed.data;
}

/** The error for an unknown token and for a token presented by the wrong account: one and the same (no oracle). */
export function invalidToken(): ConnectionError {
  return new ConnectionError("cortex.invalidArgument.connectionToken");
}

/**
 * Finds the unexpired pending connection a token opens. When the caller is logged in it must be the target.
 * Unknown, expired and someone else's tokens all fail with the same `connectionToken` error. It reads outside any
 * transaction: what it finds is only a candidate, which the write that follows claims by compare-and-set.
 */
export async function findByToken(
  deps: ConnectionsDeps,
  org: string,
  token: string,
  caller: Caller | null,
  now: Date = deps.clock.now(),
): Promise<ConnectionRecord> {
  const hash = deps.tokens.hash(token);
  const record = await deps.store.connections.findPendingByTokenHash(org, hash, now);
  if (record === null || record.tokenHash === null || !deps.tokens.matches(token, record.tokenHash)) {
    throw invalidToken();
  }
  if (caller !== null && !isTarget(record, caller)) throw invalidToken();
  return record;
}
