import { createHash, randomBytes } from "node:crypto";
import { type AccessCache, accessKey } from "./access-cache.js";
import type { Database, ListenSession } from "./database.js";
import { DEFAULT_SCHEMA } from "./schema-name.js";

/**
 * The channel the `connections` trigger of a schema notifies on (migration 30): `conn_access_` and 16 hex digits of
 * the MD5 of the schema name, so every schema has its own and the name stays inside PostgreSQL's 63 bytes.
 */
export function accessChannel(schema: string = DEFAULT_SCHEMA): string {
  return `conn_access_${createHash("md5").update(schema).digest("hex").slice(0, 16)}`;
}

/** The payload the trigger sends on TRUNCATE: forget everything. */
const CLEAR_ALL = "*";

/** What a payload asks of the cache. */
export type AccessNotice =
  | { kind: "key"; key: string }
  | { kind: "clear" }
  | { kind: "sync"; instance: string; n: number };

/**
 * Reads one notification: `["org","object","contextId","account"]` from the trigger, `*` (TRUNCATE), or
 * `s:<instance>:<n>` (a sync). Anything else clears the cache: a change nobody can name must not leave an answer.
 */
export function parseAccessNotice(payload: string): AccessNotice {
  if (payload.startsWith("s:")) {
    const [, instance, n] = payload.split(":");
    if (instance !== undefined && n !== undefined && /^\d+$/.test(n)) {
      return { kind: "sync", instance, n: Number(n) };
    }
    return { kind: "clear" };
  }
  if (payload === CLEAR_ALL) return { kind: "clear" };
  try {
    const value: unknown = JSON.parse(payload);
    if (Array.isArray(value) && value.length === 4 && value.every((v) => typeof v === "string")) {
      const [org, object, contextId, account] = value as [string, string, string, string];
      return { kind: "key", key: accessKey(org, object, contextId, account) };
    }
  } catch {
    // Fall through: not ours to read, so forget everything.
  }
  return { kind: "clear" };
}

/** Options of {@link AccessListener}. */
export interface AccessListenerOptions {
  schema?: string | undefined;
  /** Pause before the first reconnect, ms (doubles up to `maxRetryMs`); default 25. */
  retryMs?: number;
  /** Longest pause between reconnects, ms; default 1,000. */
  maxRetryMs?: number;
  /** Told when the listening session fails or cannot be opened (the cache is already empty then). */
  onError?: ((error: Error) => void) | undefined;
}

/**
 * Keeps one dedicated session listening on the schema's channel and applies what it hears to an
 * {@link AccessCache}: a key is dropped, a TRUNCATE clears, a sync of its own moves the watermark. When the session
 * ends (terminated backend, restart, network), the cache is emptied at once and stores nothing until a new session
 * listens again; reconnects back off from `retryMs` to `maxRetryMs`.
 */
export class AccessListener {
  private readonly channel: string;
  private readonly instance = randomBytes(6).toString("hex");
  private session: ListenSession | null = null;
  private closed = false;
  private retryMs: number;
  private syncCounter = 0;
  /** Sync number → when it was sent. */
  private readonly syncsInFlight = new Map<number, number>();
  private lastSyncSent = Number.NEGATIVE_INFINITY;
  private retryTimer: NodeJS.Timeout | null = null;
  /** True while a sync's statement is on its way (the session runs one statement at a time). */
  private notifying = false;
  private readonly listeningWaiters: (() => void)[] = [];
  /** Sessions opened so far (1 once listening; more after each reconnect). */
  sessions = 0;

  constructor(
    private readonly db: Database,
    private readonly cache: AccessCache,
    private readonly options: AccessListenerOptions = {},
  ) {
    this.channel = accessChannel(options.schema);
    this.retryMs = options.retryMs ?? 25;
    void this.open();
  }

  /** Resolves once a session is listening (at once when one is). */
  whenListening(): Promise<void> {
    if (this.cache.isListening) return Promise.resolve();
    return new Promise((resolve) => this.listeningWaiters.push(resolve));
  }

  private async open(): Promise<void> {
    if (this.closed) return;
    const listen = this.db.listen;
    if (listen === undefined) throw new Error("this Database cannot listen");
    let session: ListenSession | undefined;
    try {
      session = await listen.call(this.db, this.channel, {
        onNotification: (payload) => this.heard(payload),
        onEnd: (error) => this.ended(session, error),
      });
    } catch (error) {
      this.report(error);
      this.scheduleRetry();
      return;
    }
    if (this.closed) {
      await session.close().catch(() => {});
      return;
    }
    this.session = session;
    this.notifying = false;
    this.sessions++;
    this.retryMs = this.options.retryMs ?? 25;
    this.syncsInFlight.clear();
    this.lastSyncSent = Number.NEGATIVE_INFINITY;
    this.cache.startListening();
    for (const resolve of this.listeningWaiters.splice(0)) resolve();
    this.sync();
  }

  private ended(session: ListenSession | undefined, error: Error | undefined): void {
    if (session !== undefined && this.session !== session) return;
    this.session = null;
    this.cache.stopListening();
    if (error !== undefined) this.report(error);
    if (session !== undefined) void session.close().catch(() => {});
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer !== null) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.options.maxRetryMs ?? 1_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.open();
    }, delay);
    this.retryTimer.unref?.();
  }

  private report(error: unknown): void {
    try {
      this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // The host's reporter failed; the listener goes on.
    }
  }

  private heard(payload: string): void {
    const notice = parseAccessNotice(payload);
    switch (notice.kind) {
      case "key":
        this.cache.invalidate(notice.key);
        return;
      case "clear":
        this.cache.clear();
        return;
      case "sync": {
        if (notice.instance !== this.instance) return;
        const sentAt = this.syncsInFlight.get(notice.n);
        if (sentAt === undefined) return;
        // Syncs come back in the order they were sent: every one up to this one is done.
        for (const n of this.syncsInFlight.keys()) if (n <= notice.n) this.syncsInFlight.delete(n);
        this.cache.heardSync(sentAt);
      }
    }
  }

  /**
   * Sends a sync when the watermark is getting old (past half the window) and none is on its way (or the last one
   * is older than the window: it may be lost). Called on every cached read; costs nothing when fresh.
   */
  maybeSync(at: number = performance.now()): void {
    const window = this.cache.syncWindowMs;
    if (!Number.isFinite(window) || this.session === null) return;
    if (this.cache.watermarkAge(at) <= window / 2) return;
    if (this.syncsInFlight.size > 0 && at - this.lastSyncSent <= window) return;
    this.sync(at);
  }

  private sync(at: number = performance.now()): void {
    const session = this.session;
    // One statement at a time on the listening connection: the next sync waits for the last one's answer.
    if (session === null || this.notifying || !Number.isFinite(this.cache.syncWindowMs)) return;
    const n = ++this.syncCounter;
    // A session that hangs without ending would never answer: keep only the latest syncs.
    if (this.syncsInFlight.size >= 64) {
      const oldest = this.syncsInFlight.keys().next().value;
      if (oldest !== undefined) this.syncsInFlight.delete(oldest);
    }
    this.syncsInFlight.set(n, at);
    this.lastSyncSent = at;
    this.notifying = true;
    session
      .notify(`s:${this.instance}:${n}`)
      .catch((error: unknown) => {
        this.syncsInFlight.delete(n);
        this.report(error);
      })
      .finally(() => {
        if (this.session === session) this.notifying = false;
      });
  }

  /** Stops listening for good. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const session = this.session;
    this.session = null;
    this.cache.stopListening();
    for (const resolve of this.listeningWaiters.splice(0)) resolve();
    await session?.close().catch(() => {});
  }
}
