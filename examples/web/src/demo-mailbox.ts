/**
 * DEMO ONLY: where notices go when no email service is configured. It keeps the latest notices in memory so the
 * demo's mailbox page can show them with their links; a real host sends them by email (SES: `CONN_SES_FROM`) and
 * never shows one person's link to another.
 */
import type { Notice, Notifier } from "@conn/core";

/** The latest notices, newest first, for the demo mailbox page; optionally also handed to another notifier. */
export class DemoMailbox implements Notifier {
  private readonly notices: Notice[] = [];

  /**
   * @param also another notifier each notice is handed to as well (e.g. one that logs it, token hidden)
   * @param max the most notices kept
   */
  constructor(
    private readonly also: Notifier | null = null,
    private readonly max = 50,
  ) {}

  /** Keeps the notice (a copy), then hands it on. */
  async send(notice: Notice): Promise<void> {
    this.notices.unshift(structuredClone(notice));
    this.notices.length = Math.min(this.notices.length, this.max);
    await this.also?.send(notice);
  }

  /** The kept notices of an org, newest first (copies). */
  list(org: string): Notice[] {
    return this.notices.filter((n) => n.org.code === org).map((n) => structuredClone(n));
  }
}
