/**
 * @conn/http: the connections REST API of docs/behaviour.md §13 as a Hono app you mount in any Fetch-API server, its OpenAPI 3.1
 * document, and a Node server helper.
 *
 * Install: `pnpm add @conn/http @conn/core` (plus an adapter, e.g. `@conn/adapter-memory`)
 *
 * ```ts
 * import { createInMemoryConnections } from "@conn/adapter-memory";
 * import { createConnectionsApp, startServer } from "@conn/http";
 *
 * const { connections } = createInMemoryConnections();
 * const app = createConnectionsApp({
 *   connections,
 *   // Your own authentication: `{ accountId }` of the caller, or null for an anonymous request.
 *   authenticate: (request, org) => mySessions.accountOf(request, org),
 * });
 * const server = await startServer({ app, port: 3000 });
 * console.log(`${server.url}/acme/v2/openapi.json`);
 * ```
 */
export {
  type Authenticate,
  type Authenticated,
  type ConnectionsApi,
  type ConnectionsAppOptions,
  createConnectionsApp,
  NO_ROUTE_REASON,
  type ObjectFromPlural,
  REQUEST_ID_HEADER,
  redactedPath,
  stripTrailingS,
  type UnexpectedErrorReport,
} from "./create-connections-app.js";
export * from "./http-schemas.js";
export {
  API_VERSION,
  buildOpenApiDocument,
  type JsonObject,
  type OpenApiDocumentOptions,
} from "./openapi.js";
export { DEFAULT_MAX_BODY_BYTES, readJsonBody } from "./read-json-body.js";
export { type FetchApp, type RunningServer, type StartServerOptions, startServer } from "./start-server.js";
