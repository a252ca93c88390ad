/**
 * @conn/core: connections (spec `connections.md`) as a pure domain and use cases behind ports.
 * Host apps call the {@link Connections} facade; adapters implement the ports.
 */
export * from "./domain/access-level.js";
export * from "./domain/connection.js";
export * from "./domain/errors.js";
export * from "./domain/events.js";
export * from "./domain/expiry.js";
export * from "./domain/notices.js";
export * from "./domain/settings.js";
export * from "./domain/targets.js";
export * from "./domain/values.js";
export type * from "./ports/index.js";
