/**
 * @conn/core: connections (spec `connections.md`) as a pure domain and use cases behind ports.
 * Host apps call the {@link Connections} facade; adapters implement the ports.
 */

export {
  type AccessEndingOptions,
  accessEndingOptionsSchema,
  DEFAULT_ACCESS_ENDING_BATCH,
} from "./application/access-ending-notices.js";
export type { CreateOptions, CreateResultEntry, TargetFault } from "./application/create-connections.js";
export { createOptionsSchema, parseContext } from "./application/create-connections.js";
export type { ConnectionsDeps } from "./application/deps.js";
export type { ConnectionList, ListQuery, PageQuery } from "./application/list-connections.js";
export {
  DEFAULT_LIST_LIMIT,
  listQuerySchema,
  MAX_LIST_LIMIT,
  pageQuerySchema,
} from "./application/list-connections.js";
export {
  backoffDelay,
  type DrainResult,
  OutboxRelay,
  type OutboxRelayConfig,
  type OutboxRelayDeps,
  type OutboxRelayObserver,
  type OutboxRelayOptions,
  type OutboxSendInfo,
  type OutboxSendResult,
  outboxRelayOptionsSchema,
  parseOutboxRelayOptions,
  SEND_TIMEOUT_REASON,
} from "./application/outbox-relay.js";
export { DEFAULT_PURGE_BATCH, type PurgeOptions, purgeOptionsSchema } from "./application/registration.js";
export {
  MAX_SHARE_LINK_LIST_LIMIT,
  type ShareLinkList,
  type ShareLinkPageQuery,
  shareLinkPageSchema,
} from "./application/share-links.js";
export { Connections, createConnections } from "./connections.js";
export * from "./domain/access-expiry.js";
export * from "./domain/access-level.js";
export * from "./domain/connection.js";
export * from "./domain/errors.js";
export * from "./domain/events.js";
export * from "./domain/expiry.js";
export * from "./domain/grants.js";
export * from "./domain/notices.js";
export * from "./domain/settings.js";
export * from "./domain/share-link.js";
export * from "./domain/targets.js";
export * from "./domain/values.js";
export type * from "./ports/index.js";
