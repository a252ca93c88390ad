/**
 * @conn/adapter-memory: in-process adapters for every @conn/core port, the reference implementation the contract
 * suites check every other adapter against.
 *
 * Install: `pnpm add @conn/core @conn/adapter-memory`
 *
 * ```ts
 * import { createInMemoryConnections } from "@conn/adapter-memory";
 * const { connections, accounts, contexts, orgs } = createInMemoryConnections();
 * orgs.put({ code: "acme", name: "Acme Health" });
 * ```
 */
export * from "./create-in-memory-connections.js";
export * from "./host.js";
export * from "./in-memory-connection-repository.js";
export * from "./in-memory-outbox.js";
export * from "./in-memory-share-link-repository.js";
export * from "./in-memory-unit-of-work.js";
export { copyLink, copyRecord, MemoryState, type OutboxRow } from "./memory-state.js";
export { NestedIndex } from "./nested-index.js";
export { type IndexEntry, OutboxRows, SortedIndex } from "./outbox-rows.js";
export * from "./services.js";
export { SortedKeys } from "./sorted-keys.js";
