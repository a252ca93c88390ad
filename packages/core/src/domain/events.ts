import type { ConnectionSnapshot } from "./connection.js";

/** The kinds of domain event, one per transition (docs/behaviour.md §4) plus re-invitation and supersession. */
export type ConnectionEventType =
  | "connection.created"
  | "connection.reinvited"
  | "connection.upgraded"
  | "connection.accepted"
  | "connection.rejected"
  | "connection.deleted"
  | "connection.expired"
  | "connection.accessExpired"
  | "connection.superseded"
  | "connection.bound";

/** A domain event, published after its transaction commits. It never carries token material. */
export interface ConnectionEvent {
  type: ConnectionEventType;
  org: string;
  /** When it happened (the clock port's time). */
  at: Date;
  /** The account that caused it, or null (anonymous reject, expiry). */
  actor: string | null;
  /** The connection after the transition (for removals: as it was when removed). */
  connection: ConnectionSnapshot;
  /** For upgrades: the access before. */
  previousAccess?: number;
  /** The share link the connection was made or upgraded through, when it was. */
  shareLink?: string;
}
