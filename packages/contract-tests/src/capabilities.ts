import { it } from "vitest";

/**
 * Capabilities an adapter opts out of, each with the reason shown in the skipped test's name. An opted-out case is
 * still registered (as a visible skip), never left out silently.
 */
export type OptOuts<C extends string> = Partial<Record<C, string>>;

/** Registers a test that needs `capability`: a visible skip naming the reason when the adapter opted out. */
export function itNeeds<C extends string>(
  optOuts: OptOuts<C> | undefined,
  capability: C,
  title: string,
  fn: () => Promise<void>,
  timeout?: number,
): void {
  const reason = optOuts?.[capability];
  if (reason === undefined) {
    it(title, fn, timeout);
    return;
  }
  if (reason.trim().length === 0) {
    throw new Error(`opting out of "${capability}" needs a reason (an empty one would hide the skip)`);
  }
  it.skip(`${title} [skipped: ${capability} opted out: ${reason}]`, fn);
}
