export type { Account, AccountDirectory } from "./account-directory.js";
export type { Awaitable } from "./awaitable.js";
export type {
  AcceptedPending,
  Claimant,
  ConnectionListFilter,
  ConnectionListQuery,
  ConnectionPage,
  ConnectionRepository,
  CreateSnapshot,
  EndingGrant,
  EndingGrantsQuery,
  SupersededPending,
} from "./connection-repository.js";
export type { ContextAccess, OrgDirectory } from "./context-access.js";
export type {
  Outbox,
  OutboxClaim,
  OutboxEntry,
  OutboxListQuery,
  OutboxMessage,
  OutboxMessageStatus,
  OutboxStats,
  RequeueOutcome,
} from "./outbox.js";
export type {
  Clock,
  EventPublisher,
  IdGenerator,
  IssuedToken,
  Notifier,
  NotifierSendOptions,
  RandomSource,
  TokenService,
} from "./services.js";
export type { ShareLinkPage, ShareLinkRepository } from "./share-link-repository.js";
export type { TransactionalStores, UnitOfWork } from "./unit-of-work.js";
