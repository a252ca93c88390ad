import type {
  AccountDirectory,
  Clock,
  Connections,
  ContextAccess,
  EventPublisher,
  IdGenerator,
  Notifier,
  OrgDirectory,
  OutboxRelay,
  RandomSource,
  TokenService,
  UnitOfWork,
} from "@conn/core";
import type { InjectionToken } from "tsyringe";
import type { ConnectionsConfig } from "./config.js";

/** The DI tokens: one symbol per port, for the facade, the relay and the parsed configuration. */
export const TOKENS = {
  /** The parsed configuration. */
  Config: Symbol("conn.Config") as InjectionToken<ConnectionsConfig>,
  /** Connection records and the outbox, with transactions. */
  UnitOfWork: Symbol("conn.UnitOfWork") as InjectionToken<UnitOfWork>,
  /** The host's accounts. */
  AccountDirectory: Symbol("conn.AccountDirectory") as InjectionToken<AccountDirectory>,
  /** The host's own access rules and object settings. */
  ContextAccess: Symbol("conn.ContextAccess") as InjectionToken<ContextAccess>,
  /** Org settings. */
  OrgDirectory: Symbol("conn.OrgDirectory") as InjectionToken<OrgDirectory>,
  /** Where notices go. */
  Notifier: Symbol("conn.Notifier") as InjectionToken<Notifier>,
  /** Receives domain events after commit. */
  EventPublisher: Symbol("conn.EventPublisher") as InjectionToken<EventPublisher>,
  /** Time. */
  Clock: Symbol("conn.Clock") as InjectionToken<Clock>,
  /** Record ids. */
  IdGenerator: Symbol("conn.IdGenerator") as InjectionToken<IdGenerator>,
  /** Tokens. */
  TokenService: Symbol("conn.TokenService") as InjectionToken<TokenService>,
  /** Retry jitter. */
  RandomSource: Symbol("conn.RandomSource") as InjectionToken<RandomSource>,
  /** The outbox relay. */
  OutboxRelay: Symbol("conn.OutboxRelay") as InjectionToken<OutboxRelay>,
  /** The facade host apps call. */
  Connections: Symbol("conn.Connections") as InjectionToken<Connections>,
} as const;
