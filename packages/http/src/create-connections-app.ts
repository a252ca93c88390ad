import {
  ConnectionError,
  type Connections,
  type ConnectionTargetInput,
  type ContextRef,
  hostIdSchema,
  isConnectionError,
  isConnectionId,
  orgSchema,
  type Principal,
} from "@conn/core";
import { type Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import {
  createBodySchema,
  listQueryParamsSchema,
  pageQueryParamsSchema,
  parseInput,
  pluralSchema,
  queryRecord,
} from "./http-schemas.js";
import { buildOpenApiDocument } from "./openapi.js";
import { DEFAULT_MAX_BODY_BYTES, readJsonBody } from "./read-json-body.js";

/** The facade methods the routes call: a {@link Connections} or anything shaped like those methods of it. */
export type ConnectionsApi = Pick<
  Connections,
  "create" | "list" | "listForContext" | "get" | "getByToken" | "accept" | "reject" | "delete"
>;

/** Who the host says is calling: an account id, or `null` for an anonymous caller. */
export type Authenticate = (
  request: Request,
  org: string,
) => Promise<{ accountId: string } | null> | { accountId: string } | null;

/** Maps the plural object name of a URL (`c_prescriptions`) to the object (`c_prescription`); null when unknown. */
export type ObjectFromPlural = (org: string, plural: string) => string | null | Promise<string | null>;

/** Options of {@link createConnectionsApp}. */
export interface ConnectionsAppOptions {
  /** The facade the routes call (a {@link Connections}). */
  connections: ConnectionsApi;
  /** The host's authentication: the caller's account for a request, or null for an anonymous one. */
  authenticate: Authenticate;
  /** A prefix before `/{org}/v2`, e.g. `/api`; none by default. */
  basePath?: string;
  /** The largest request body in bytes, refused with 413 before parsing; 100 kB by default. */
  maxBodyBytes?: number;
  /** Maps a URL's plural object name to the object; by default strips one trailing "s". */
  objectFromPlural?: ObjectFromPlural;
  /**
   * Called with every error that is not a `ConnectionError` (the client gets a bare 500 fault); logs by default, with
   * the token in the path redacted. The request's URL may carry a token: never log it as is (see `redactedPath`).
   */
  onUnexpectedError?: (error: unknown, request: Request) => void;
}

/** The default {@link ObjectFromPlural}: `c_prescriptions` → `c_prescription`; a name without a trailing "s" is kept. */
export function stripTrailingS(_org: string, plural: string): string {
  return plural.endsWith("s") ? plural.slice(0, -1) : plural;
}

/** The reason of the 404 fault for a path no route serves (so it can be told from a record that was not found). */
export const NO_ROUTE_REASON = "no such route";

/** Normalises a base path: `""` or `/a/b` (leading slash, no trailing one). */
function normaliseBasePath(basePath: string | undefined): string {
  const trimmed = (basePath ?? "").replace(/\/+$/, "");
  if (trimmed === "") return "";
  return trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
}

/** The JSON of a fault answer with its status; never cached, like every answer of the API. */
function faultResponse(c: Context, error: ConnectionError): Response {
  c.header("Cache-Control", "no-store");
  return c.json(error.toFault(), error.status as ContentfulStatusCode);
}

/**
 * Builds a Hono app serving the connections REST API of spec §13 under `{basePath}/{org}/v2`, plus its OpenAPI 3.1
 * document at `{basePath}/{org}/v2/openapi.json`. Mount it in any Fetch-API server (`app.fetch`), in another Hono
 * app (`host.route("/", app)`), or on Node with {@link startServer}.
 */
export function createConnectionsApp(options: ConnectionsAppOptions): Hono {
  const { connections, authenticate } = options;
  const base = normaliseBasePath(options.basePath);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new RangeError(`maxBodyBytes must be a positive integer, got ${maxBodyBytes}`);
  }
  const objectFromPlural = options.objectFromPlural ?? stripTrailingS;
  const onUnexpectedError =
    options.onUnexpectedError ??
    ((error: unknown, request: Request) =>
      console.error(`@conn/http: unexpected error on ${request.method} ${redactedPath(request.url)}`, error));
  const route = (path: string) => `${base}/:org/v2${path}`;
  let openApiDocument: string | undefined;

  const app = new Hono();

  /** A fault for any failure: its own for a `ConnectionError`, a bare 500 for anything else (reported to the host). */
  const answerError = (error: unknown, c: Context): Response => {
    if (isConnectionError(error)) return faultResponse(c, error);
    try {
      onUnexpectedError(error, c.req.raw);
    } catch {
      // The host's reporter failed too; the client still gets its fault.
    }
    return faultResponse(c, new ConnectionError("cortex.error.unspecified"));
  };
  app.onError(answerError);
  app.notFound((c) =>
    faultResponse(c, new ConnectionError("cortex.notFound.unspecified", { reason: NO_ROUTE_REASON })),
  );

  // Scoped to the API's own paths, so that a host app this one is mounted in keeps its own behaviour.
  app.use(route("/*"), async (c, next) => {
    try {
      await next();
    } catch (error) {
      // Hono hands only `Error`s to onError; anything else thrown (a string, a plain object) arrives here.
      c.res = answerError(error, c);
    }
    // Answers can carry invitation tokens: never let a cache keep them.
    c.header("Cache-Control", "no-store");
  });

  const param = (c: Context, name: string): string => c.req.param(name) ?? "";

  /** The caller of this request: the org of the URL and the account the host's authentication names. */
  async function principalOf(c: Context): Promise<Principal> {
    const org = parseInput(orgSchema, param(c, "org"), "org");
    const who = await authenticate(c.req.raw, org);
    return { org, accountId: who?.accountId ?? null };
  }

  /** The context of `/{objects}/{id}/connections`. */
  async function contextOf(c: Context, org: string): Promise<ContextRef> {
    const plural = parseInput(pluralSchema, param(c, "objects"), "objects");
    const _id = parseInput(hostIdSchema, param(c, "id"), "id");
    const object = await objectFromPlural(org, plural);
    if (object === null) {
      throw new ConnectionError("cortex.notFound.unspecified", {
        reason: `unknown object ${plural}`,
        path: "objects",
      });
    }
    return { object, _id };
  }

  const query = (c: Context) => queryRecord(new URL(c.req.url).searchParams);

  app.get(route("/openapi.json"), (c) => {
    openApiDocument ??= JSON.stringify(buildOpenApiDocument({ basePath: base }));
    return c.body(openApiDocument, 200, { "Content-Type": "application/json" });
  });

  app.get(route("/connections"), async (c) => {
    const principal = await principalOf(c);
    const q = parseInput(listQueryParamsSchema, query(c), "query");
    return c.json(await connections.list(principal, q));
  });

  app.get(route("/connections/:idOrToken"), async (c) => {
    const principal = await principalOf(c);
    const idOrToken = param(c, "idOrToken");
    const view = isConnectionId(idOrToken)
      ? await connections.get(principal, idOrToken)
      : await connections.getByToken(principal, idOrToken);
    return c.json(view);
  });

  // Accept takes a token. A connection id is not one: the facade refuses it as a malformed token
  // (`invalidArgument.unspecified`, after the login check), exactly as spec §6 says for any malformed token.
  app.post(route("/connections/:idOrToken"), async (c) => {
    const principal = await principalOf(c);
    return c.json(await connections.accept(principal, param(c, "idOrToken")));
  });

  app.delete(route("/connections/:idOrToken"), async (c) => {
    const principal = await principalOf(c);
    const idOrToken = param(c, "idOrToken");
    const data = isConnectionId(idOrToken)
      ? await connections.delete(principal, idOrToken)
      : await connections.reject(principal, idOrToken);
    return c.json({ object: "result", data });
  });

  app.post(route("/:objects/:id/connections"), async (c) => {
    const raw = await readJsonBody(c.req.raw, maxBodyBytes);
    const principal = await principalOf(c);
    const context = await contextOf(c, principal.org);
    const body = parseInput(createBodySchema, raw, "body");
    // The facade checks each target itself, after the object, the caller and its access (spec §5 order).
    const targets = body.targets as ConnectionTargetInput[];
    const data = await connections.create(principal, context, targets, {
      contextSource: body.contextSource,
    });
    return c.json({ object: "list", data, hasMore: false });
  });

  app.get(route("/:objects/:id/connections"), async (c) => {
    const principal = await principalOf(c);
    const context = await contextOf(c, principal.org);
    const q = parseInput(pageQueryParamsSchema, query(c), "query");
    return c.json(await connections.listForContext(principal, context, q));
  });

  return app;
}

/**
 * The path of a request URL safe to log: a `/connections/{segment}` that is not a 24-hex-digit id is a token and
 * becomes `<token>`, and the query is dropped.
 */
export function redactedPath(url: string): string {
  const path = new URL(url, "http://localhost").pathname;
  return path.replace(/(\/connections\/)([^/]+)/, (whole, prefix: string, segment: string) =>
    isConnectionId(segment) ? whole : `${prefix}<token>`,
  );
}
