import {
  type Account,
  ConnectionError,
  type Connections,
  type ConnectionTargetInput,
  type ContextRef,
  type ErrorCode,
  hostIdSchema,
  isConnectionId,
  isOrg,
  orgSchema,
  type Principal,
  publicError,
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
  shareLinkBodySchema,
  shareLinkPageParamsSchema,
} from "./http-schemas.js";
import { buildOpenApiDocument } from "./openapi.js";
import { DEFAULT_MAX_BODY_BYTES, readJsonBody } from "./read-json-body.js";

/** The facade methods the routes call: a {@link Connections} or anything shaped like those methods of it. */
export type ConnectionsApi = Pick<
  Connections,
  | "create"
  | "list"
  | "listForContext"
  | "get"
  | "getByToken"
  | "accept"
  | "reject"
  | "delete"
  | "createShareLink"
  | "listShareLinks"
  | "getShareLink"
  | "revokeShareLink"
  | "redeemShareLink"
>;

/**
 * Who the host says is calling: an account id, or `null` for an anonymous caller. A host that loads the account to
 * authenticate may return it too (`account`, whose `_id` must be `accountId`): the facade then uses it instead of
 * looking the account up a second time.
 */
export type Authenticate = (
  request: Request,
  org: string,
) => Promise<Authenticated | null> | Authenticated | null;

/** What {@link Authenticate} says of a signed-in caller. */
export interface Authenticated {
  /** The caller's account id. */
  accountId: string;
  /** The caller's account, when the host already loaded it. */
  account?: Account;
}

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
   * The host's error reporter: called exactly once for every answer with a 5xx status (`cortex.error.unspecified`
   * or `cortex.error.unavailable`), with the full error (what went wrong underneath is in its `cause` chain: the
   * driver's message, SQL state, host, port, stack), the request, and a report naming the request id the client got
   * in its fault and in the `X-Request-Id` header. The client's fault says only its code. By default it writes the
   * report and the error with `console.error`. The request's URL may carry a token: log `report.path` (redacted) or
   * `report.route`, never `request.url` (see {@link redactedPath}).
   */
  onUnexpectedError?: (error: unknown, request: Request, report: UnexpectedErrorReport) => void;
  /**
   * Use a caller's own `X-Request-Id` (1..128 characters of `[A-Za-z0-9._:=-]`) as the request id, when a proxy or
   * gateway of the host sets it; off by default: an id is generated for every request.
   */
  trustRequestId?: boolean;
  /** Makes a request id; `crypto.randomUUID()` by default. */
  generateRequestId?: () => string;
  /** The `Retry-After` (seconds) of a 503 `cortex.error.unavailable`; 1 by default. */
  retryAfterSeconds?: number;
}

/** What {@link ConnectionsAppOptions.onUnexpectedError} gets besides the error: where it happened, and its id. */
export interface UnexpectedErrorReport {
  /** The id the client got in the fault's `requestId` and in the `X-Request-Id` header. */
  requestId: string;
  /** The request's method. */
  method: string;
  /** The route that matched, e.g. `/:org/v2/connections/:idOrToken` (a pattern: never a token). */
  route: string;
  /** The request's path with a token segment redacted and the query dropped ({@link redactedPath}). */
  path: string;
  /** The status the client got: 500 or 503. */
  status: number;
  /** The code the client got. */
  code: ErrorCode;
}

/** The header that carries the request id, in and out. */
export const REQUEST_ID_HEADER = "X-Request-Id";

/** A request id a host may pass in: 1..128 characters that cannot break a log line or a header. */
const TRUSTED_REQUEST_ID = /^[A-Za-z0-9._:=-]{1,128}$/;

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

/**
 * Builds a Hono app serving the connections REST API of docs/behaviour.md §13 under `{basePath}/{org}/v2`, plus its OpenAPI 3.1
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
  const onUnexpectedError = options.onUnexpectedError ?? reportToConsole;
  const generateRequestId = options.generateRequestId ?? (() => crypto.randomUUID());
  const retryAfterSeconds = options.retryAfterSeconds ?? 1;
  if (!Number.isSafeInteger(retryAfterSeconds) || retryAfterSeconds < 0) {
    throw new RangeError(`retryAfterSeconds must be a non-negative integer, got ${retryAfterSeconds}`);
  }
  const route = (path: string) => `${base}/:org/v2${path}`;
  let openApiDocument: string | undefined;

  const app = new Hono();

  const requestIds = new WeakMap<Context, string>();
  /** The id of this request: made once, the first time it is asked for, and sent back in `X-Request-Id`. */
  const requestIdOf = (c: Context): string => {
    let id = requestIds.get(c);
    if (id === undefined) {
      const given = options.trustRequestId === true ? c.req.header(REQUEST_ID_HEADER) : undefined;
      id = given !== undefined && TRUSTED_REQUEST_ID.test(given) ? given : generateRequestId();
      requestIds.set(c, id);
      c.header(REQUEST_ID_HEADER, id);
    }
    return id;
  };

  /** The JSON of a fault answer with its status and the request id; never cached, like every answer of the API. */
  const faultResponse = (c: Context, error: ConnectionError): Response => {
    const requestId = requestIdOf(c);
    c.header("Cache-Control", "no-store");
    if (error.code === "cortex.error.unavailable") c.header("Retry-After", String(retryAfterSeconds));
    return c.json({ ...error.toFault(), requestId }, error.status as ContentfulStatusCode);
  };

  /**
   * A fault for any failure: a 4xx `ConnectionError` as it is; anything else as the bare 500 or 503 of
   * `publicError`, reported to the host with the full error, once.
   */
  const answerError = (error: unknown, c: Context): Response => {
    const answer = publicError(error);
    if (answer.status >= 500) {
      const report: UnexpectedErrorReport = {
        requestId: requestIdOf(c),
        method: c.req.method,
        route: c.req.routePath,
        path: redactedPath(c.req.url),
        status: answer.status,
        code: answer.code,
      };
      try {
        onUnexpectedError(error, c.req.raw, report);
      } catch {
        // The host's reporter failed too; the client still gets its fault.
      }
    }
    return faultResponse(c, answer);
  };
  app.onError(answerError);
  app.notFound((c) =>
    faultResponse(c, new ConnectionError("cortex.notFound.unspecified", { reason: NO_ROUTE_REASON })),
  );

  // Scoped to the API's own paths, so that a host app this one is mounted in keeps its own behaviour.
  // The headers are set before the route answers, so the route builds its response once with them: a header set
  // on a finished response makes Hono copy it and takes @hono/node-server off its fast path.
  app.use(route("/*"), async (c, next) => {
    requestIdOf(c);
    // Answers can carry invitation tokens: never let a cache keep them.
    c.header("Cache-Control", "no-store");
    try {
      await next();
    } catch (error) {
      // Hono hands only `Error`s to onError; anything else thrown (a string, a plain object) arrives here.
      c.res = answerError(error, c);
    }
  });

  const param = (c: Context, name: string): string => c.req.param(name) ?? "";

  /** The caller of this request: the org of the URL and the account the host's authentication names. */
  async function principalOf(c: Context): Promise<Principal> {
    const given = param(c, "org");
    // The hot path checks the org with one pattern; zod only words the error of a malformed one.
    const org = isOrg(given) ? given : parseInput(orgSchema, given, "org");
    const who = await authenticate(c.req.raw, org);
    if (who === null) return { org, accountId: null };
    // The account the host loaded to authenticate rides along, so the facade does not look it up again.
    return who.account === undefined
      ? { org, accountId: who.accountId }
      : { org, accountId: who.accountId, account: who.account };
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
  // (`invalidArgument.unspecified`, after the login check), exactly as docs/behaviour.md §6 says for any malformed token.
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
    // The facade checks each target itself, after the object, the caller and its access (docs/behaviour.md §5 order).
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

  app.post(route("/:objects/:id/share-links"), async (c) => {
    const raw = await readJsonBody(c.req.raw, maxBodyBytes);
    const principal = await principalOf(c);
    const context = await contextOf(c, principal.org);
    // The edge checks the body is an object; the facade checks each field, after the caller's rights.
    const body = parseInput(shareLinkBodySchema, raw, "body");
    return c.json(await connections.createShareLink(principal, context, body));
  });

  app.get(route("/:objects/:id/share-links"), async (c) => {
    const principal = await principalOf(c);
    const context = await contextOf(c, principal.org);
    const q = parseInput(shareLinkPageParamsSchema, query(c), "query");
    return c.json(await connections.listShareLinks(principal, context, q));
  });

  app.get(route("/share-links/:id"), async (c) => {
    const principal = await principalOf(c);
    return c.json(await connections.getShareLink(principal, param(c, "id")));
  });

  app.delete(route("/share-links/:id"), async (c) => {
    const principal = await principalOf(c);
    return c.json(await connections.revokeShareLink(principal, param(c, "id")));
  });

  // Redeem takes a link's token; a link id is not one and is refused as a malformed token.
  app.post(route("/share-links/:token"), async (c) => {
    const principal = await principalOf(c);
    return c.json(await connections.redeemShareLink(principal, param(c, "token")));
  });

  return app;
}

/** The default reporter: one `console.error` with the report's fields (no token) and the full error. */
function reportToConsole(error: unknown, _request: Request, report: UnexpectedErrorReport): void {
  console.error(
    `@conn/http: ${report.status} ${report.code} on ${report.method} ${report.path} (request ${report.requestId})`,
    error,
  );
}

/**
 * The path of a request URL safe to log: a `/connections/{segment}` or `/share-links/{segment}` that is not a
 * 24-hex-digit id is a token and becomes `<token>`, and the query is dropped.
 */
export function redactedPath(url: string): string {
  const path = new URL(url, "http://localhost").pathname;
  return path.replace(/(\/(?:connections|share-links)\/)([^/]+)/, (whole, prefix: string, segment: string) =>
    isConnectionId(segment) ? whole : `${prefix}<token>`,
  );
}
