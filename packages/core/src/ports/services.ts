import type { ConnectionEvent } from "../domain/events.js";
import type { Notice } from "../domain/notices.js";

/** The time source. Core never reads the system clock itself. */
export interface Clock {
  /** The current time. */
  now(): Date;
  /** Resolves after `ms` (or at once when `signal` aborts). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Makes new record ids. */
export interface IdGenerator {
  /** A fresh, unique 24-hex-digit id; ids made later sort higher where the generator can promise it. */
  next(): string;
}

/** A freshly issued token: the secret, its lookup hash and its seal. */
export interface IssuedToken {
  /** The secret: at least 32 URL-safe characters from a cryptographic source. Never stored, never logged. */
  token: string;
  /** The hash stored for look-ups. */
  hash: string;
  /** What is stored so the service can re-derive the token for the target's view; useless without the service's key. */
  seal: string;
}

/** Issues, hashes and checks invitation tokens. */
export interface TokenService {
  /** Issues a new token. */
  issue(): IssuedToken;
  /** The look-up hash of a presented token. */
  hash(token: string): string;
  /** Compares a presented token with a stored hash in constant time. */
  matches(token: string, hash: string): boolean;
  /** Re-derives the token from its seal. */
  reveal(seal: string): string;
}

/** A source of uniform numbers in [0, 1), for retry jitter. */
export interface RandomSource {
  /** A number in [0, 1). */
  next(): number;
}

/** Options of one {@link Notifier.send}. */
export interface NotifierSendOptions {
  /**
   * Aborted when the caller gives up on the send (the outbox relay's send deadline): a notifier should stop its
   * request then, so no attempt is still under way after the relay moved on.
   */
  signal?: AbortSignal;
}

/** Delivers notices (email, push, in-app). */
export interface Notifier {
  /**
   * Delivers one notice. Throws a `ConnectionError` with `retryable` true for faults worth retrying, false for
   * permanent ones. Must never log the token.
   */
  send(notice: Notice, options?: NotifierSendOptions): Promise<void>;
}

/** Receives domain events after their transaction commits. */
export interface EventPublisher {
  /** Publishes events in the order they happened. */
  publish(events: readonly ConnectionEvent[]): Promise<void>;
}
