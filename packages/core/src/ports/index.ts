export type { Account, AccountDirectory } from "./account-directory.js";
export type {
  ConnectionListFilter,
  ConnectionListQuery,
  ConnectionPage,
  ConnectionRepository,
  CreateSnapshot,
  SupersededPending,
} from "./connection-repository.js";
export type { ContextAccess, OrgDirectory } from "./context-access.js";
export type { Outbox, OutboxMessage, OutboxMessageStatus } from "./outbox.js";
export type {
  Clock,
  EventPublisher,
  IdGenerator,
  IssuedToken,
  Notifier,
  RandomSource,
  TokenService,
} from "./services.js";
export type { TransactionalStores, UnitOfWork } from "./unit-of-work.js";
