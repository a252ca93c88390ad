import type { Notice, Notifier } from "@conn/core";

/** Where a {@link LogNotifier} writes: `console` by default. */
export interface NoticeLog {
  /** Writes one line. */
  info(message: string): void;
}

/**
 * A notifier that writes one line per notice to a log, for development: kind, recipient, record, connection and
 * level, and for `access-ending` the end instant and whom the copy is for. The token and the accept URL's token are
 * never written: the target reads its token from its own list of connections.
 */
export class LogNotifier implements Notifier {
  constructor(private readonly log: NoticeLog = console) {}

  async send(notice: Notice): Promise<void> {
    const url =
      notice.acceptUrl === null || notice.token === null
        ? ""
        : ` accept=${notice.acceptUrl.split(encodeURIComponent(notice.token)).join("<token>")}`;
    const ending =
      notice.kind === "access-ending" && notice.accessEnding
        ? ` ends=${notice.accessEnding.endsAt.toISOString()} for=${notice.accessEnding.audience}`
        : "";
    this.log.info(
      `[conn] notice ${notice.kind} to ${notice.recipient.email} about ${notice.context.path}` +
        ` (connection ${notice.connectionId}, access ${notice.access})${url}${ending}`,
    );
  }
}
