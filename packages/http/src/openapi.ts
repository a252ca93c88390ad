import {
  connectionIdSchema,
  ERROR_STATUS,
  type ErrorCode,
  hostIdSchema,
  listQuerySchema,
  orgSchema,
  shareLinkPageSchema,
  tokenSchema,
} from "@conn/core";
import { z } from "zod";
import {
  accountRefSchema,
  connectionListSchema,
  connectionSchema,
  connectionTargetDocumentSchema,
  createBodyDocumentSchema,
  createResponseSchema,
  faultSchema,
  idOrTokenSchema,
  pluralSchema,
  resultSchema,
  shareLinkBodyDocumentSchema,
  shareLinkListSchema,
  shareLinkSchema,
  targetFaultSchema,
} from "./http-schemas.js";

/** The version the OpenAPI document gives for this API: the package's version. */
export const API_VERSION = "0.1.0";

/** A JSON object, as the OpenAPI document is made of. */
export type JsonObject = { [key: string]: unknown };

/** Options of {@link buildOpenApiDocument}. */
export interface OpenApiDocumentOptions {
  /** The prefix the app is served under (its `basePath`), given as the document's server URL. */
  basePath?: string;
}

/** The JSON Schema (2020-12, the dialect of OpenAPI 3.1) of a zod schema, without the `$schema` line. */
function jsonSchema(schema: z.ZodType, io: "input" | "output"): JsonObject {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" });
  return rest;
}

/** The component schemas of a registry, cross-referenced through `#/components/schemas/{id}`. */
function componentSchemas(
  entries: ReadonlyArray<readonly [string, z.ZodType]>,
  io: "input" | "output",
): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of entries) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    io,
    unrepresentable: "any",
    uri: (id) => `#/components/schemas/${id}`,
  });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, s]) => {
      const { $schema: _dialect, $id: _id, ...rest } = s as JsonObject;
      return [id, rest];
    }),
  );
}

const ref = (kind: "schemas" | "parameters" | "responses" | "headers", id: string) => ({
  $ref: `#/components/${kind}/${id}`,
});

const json = (schema: JsonObject) => ({ "application/json": { schema } });

/** The headers of every answer of the API. */
const answerHeaders = () => ({ "X-Request-Id": ref("headers", "X-Request-Id") });

/** The statuses of docs/behaviour.md §12, each with the codes that answer with it. */
function faultResponses(): Record<string, JsonObject> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const [code, status] of Object.entries(ERROR_STATUS) as [ErrorCode, number][]) {
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const notes: Record<number, string> = {
    500: " Nothing of what went wrong underneath is in it: the host's error reporter got that, with the same request id.",
    503:
      " Storage or a host port is down or timed out: try again after `Retry-After` seconds. Nothing of the" +
      " underlying fault is in it: the host's error reporter got that, with the same request id.",
  };
  return Object.fromEntries(
    [...byStatus].map(([status, codes]) => [
      `Fault${status}`,
      {
        description: `A fault: ${codes.map((c) => `\`${c}\``).join(", ")}.${notes[status] ?? ""}`,
        headers:
          status === 503
            ? { ...answerHeaders(), "Retry-After": ref("headers", "Retry-After") }
            : answerHeaders(),
        content: json(ref("schemas", "Fault")),
      },
    ]),
  );
}

/** The fault responses of an operation, by status; every operation may also answer 500 and 503. */
function faults(...statuses: number[]): Record<string, JsonObject> {
  return Object.fromEntries([...statuses, 500, 503].map((s) => [String(s), ref("responses", `Fault${s}`)]));
}

/** The query parameters of the list routes: the facade's own list schema, field by field. */
function listParameters(): Record<string, JsonObject> {
  const descriptions: Record<string, string> = {
    show: "List the connections where the caller is the `target` (default) or the `creator`.",
    state: "Only pending (0) or only active (1) connections.",
    objects: "Only connections on these objects: repeat the parameter or give a comma-separated list.",
    limit: "The page size.",
    startingAfter: "The page after this connection id (give at most one cursor).",
    endingBefore: "The page before this connection id (give at most one cursor).",
  };
  return Object.fromEntries(
    Object.entries(listQuerySchema.shape).map(([name, schema]) => [
      `query.${name}`,
      {
        name,
        in: "query",
        required: false,
        description: descriptions[name] ?? name,
        schema: jsonSchema(schema, "input"),
        ...(name === "objects" ? { style: "form", explode: true } : {}),
      },
    ]),
  );
}

const pathParameter = (name: string, schema: z.ZodType, description: string) => ({
  name,
  in: "path",
  required: true,
  description,
  schema: jsonSchema(schema, "input"),
});

/**
 * The OpenAPI 3.1 document of the routes of {@link createConnectionsApp}, generated from the same zod schemas the
 * routes and the facade parse with (zod 4's own `z.toJSONSchema`, whose 2020-12 output is OpenAPI 3.1's dialect).
 */
export function buildOpenApiDocument(options: OpenApiDocumentOptions = {}): JsonObject {
  const pageQuery = ["state", "objects", "limit", "startingAfter", "endingBefore"].map((n) =>
    ref("parameters", `query.${n}`),
  );
  const org = ref("parameters", "org");
  const idOrToken = ref("parameters", "idOrToken");
  const contextParameters = [org, ref("parameters", "objects"), ref("parameters", "id")];
  const ok = (description: string, schema: string) => ({
    "200": { description, headers: answerHeaders(), content: json(ref("schemas", schema)) },
  });

  return {
    openapi: "3.1.0",
    info: {
      title: "@conn connections API",
      version: API_VERSION,
      description:
        "Share a record with another person at an access level, the way Cortex connections work. " +
        "Authentication is the host application's: a request without credentials is anonymous. " +
        "Every failure is a JSON fault with the HTTP status of its code and the request's id (`requestId`, also in " +
        "the `X-Request-Id` header of every answer); a 5xx fault says only its code.",
    },
    servers: [{ url: options.basePath === undefined || options.basePath === "" ? "/" : options.basePath }],
    paths: {
      "/{org}/v2/{objects}/{id}/connections": {
        parameters: contextParameters,
        post: {
          operationId: "createConnections",
          summary: "Create connections on a context, one per target (needs Share on it).",
          description:
            "Whole-request failures answer with a fault; per-target outcomes (a connection, or a fault with " +
            "`target` such as `cortex.conflict.connectionExists`) come back in `data`, in request order.",
          requestBody: { required: true, content: json(ref("schemas", "CreateConnectionsBody")) },
          responses: {
            ...ok("One entry per merged target.", "CreateConnectionsResponse"),
            ...faults(400, 403, 404, 413),
          },
        },
        get: {
          operationId: "listContextConnections",
          summary: "List the connections on a context (needs Share on it).",
          parameters: pageQuery,
          responses: { ...ok("A page of connections.", "ConnectionList"), ...faults(400, 403, 404) },
        },
      },
      "/{org}/v2/connections": {
        get: {
          operationId: "listConnections",
          summary: "List the caller's connections, as target or as creator.",
          parameters: [org, ref("parameters", "query.show"), ...pageQuery],
          responses: { ...ok("A page of connections.", "ConnectionList"), ...faults(400, 403) },
        },
      },
      "/{org}/v2/connections/{idOrToken}": {
        parameters: [org, idOrToken],
        get: {
          operationId: "readConnection",
          summary: "Read a connection by id, or a pending invitation by token (anonymous callers allowed).",
          responses: { ...ok("The connection.", "Connection"), ...faults(400, 403, 404) },
        },
        post: {
          operationId: "acceptConnection",
          summary: "Accept a pending invitation by token; the caller must be its verified target.",
          description: "A connection id is not a token: it is refused as a malformed token (400).",
          responses: { ...ok("The active connection.", "Connection"), ...faults(400, 403) },
        },
        delete: {
          operationId: "deleteConnection",
          summary: "Delete a connection by id, or reject a pending invitation by token (anonymous allowed).",
          responses: { ...ok("Done.", "Result"), ...faults(400, 403, 404) },
        },
      },
      "/{org}/v2/{objects}/{id}/share-links": {
        parameters: contextParameters,
        post: {
          operationId: "createShareLink",
          summary:
            "Create a share link on a context (needs Share on it); the answer carries its token, once.",
          description:
            "The same checks as creating connections, in the same order; then the body. The token is never shown " +
            "again: store it, or make a new link.",
          requestBody: { required: false, content: json(ref("schemas", "ShareLinkBody")) },
          responses: { ...ok("The link, with its token.", "ShareLink"), ...faults(400, 403, 404) },
        },
        get: {
          operationId: "listShareLinks",
          summary:
            "List the links on a context the caller may manage (its own; others' when it holds more access).",
          description: "Newest first. A page may hold fewer than `limit` links: follow `hasMore`.",
          parameters: [ref("parameters", "query.linkLimit"), ref("parameters", "query.linkStartingAfter")],
          responses: { ...ok("A page of share links.", "ShareLinkList"), ...faults(400, 403, 404) },
        },
      },
      "/{org}/v2/share-links/{linkId}": {
        parameters: [org, ref("parameters", "linkId")],
        get: {
          operationId: "readShareLink",
          summary: "Read a share link (its creator, or a Share holder with more access than the creator).",
          responses: { ...ok("The link, without its token.", "ShareLink"), ...faults(400, 403, 404) },
        },
        delete: {
          operationId: "revokeShareLink",
          summary: "Revoke a share link: it redeems nothing from then on; connections made through it stay.",
          responses: { ...ok("The revoked link.", "ShareLink"), ...faults(400, 403, 404) },
        },
      },
      "/{org}/v2/share-links/{linkToken}": {
        parameters: [org, ref("parameters", "linkToken")],
        post: {
          operationId: "redeemShareLink",
          summary:
            "Redeem a share link: the signed-in, verified caller gets an active connection at its level.",
          description:
            "An upgrade when the caller holds less through a connection; a caller who already holds as much gets " +
            "that connection back and takes no use. A revoked, expired or used-up link answers " +
            "`cortex.invalidArgument.shareLinkRevoked`, `cortex.invalidArgument.shareLinkExpired` or " +
            "`cortex.conflict.shareLinkUsedUp`; another email domain `cortex.accessDenied.shareLinkDomain`; an " +
            "unknown token `cortex.invalidArgument.connectionToken`.",
          responses: { ...ok("The active connection.", "Connection"), ...faults(400, 403, 409) },
        },
      },
      "/{org}/v2/openapi.json": {
        get: {
          operationId: "openApiDocument",
          summary: "This document.",
          parameters: [org],
          responses: {
            "200": { description: "The OpenAPI 3.1 document.", content: json({ type: "object" }) },
          },
        },
      },
    },
    components: {
      schemas: {
        ...componentSchemas(
          [
            ["ConnectionTarget", connectionTargetDocumentSchema],
            ["CreateConnectionsBody", createBodyDocumentSchema],
            ["ShareLinkBody", shareLinkBodyDocumentSchema],
          ],
          "input",
        ),
        ...componentSchemas(
          [
            ["AccountRef", accountRefSchema],
            ["Connection", connectionSchema],
            ["ConnectionList", connectionListSchema],
            ["Fault", faultSchema],
            ["TargetFault", targetFaultSchema],
            ["CreateConnectionsResponse", createResponseSchema],
            ["Result", resultSchema],
            ["ShareLink", shareLinkSchema],
            ["ShareLinkList", shareLinkListSchema],
          ],
          "output",
        ),
      },
      parameters: {
        org: pathParameter("org", orgSchema, "The org (tenant) code."),
        objects: pathParameter("objects", pluralSchema, "The plural name of the context's object."),
        id: pathParameter(
          "id",
          hostIdSchema,
          "The context's `_id`: the host's own id, 1..128 characters of `[A-Za-z0-9._:-]`.",
        ),
        idOrToken: pathParameter(
          "idOrToken",
          idOrTokenSchema,
          "A 24-lower-hex-digit segment is a connection id; anything else is an invitation token.",
        ),
        linkId: pathParameter("linkId", connectionIdSchema, "A share link's id: 24 lower-case hex digits."),
        linkToken: pathParameter(
          "linkToken",
          tokenSchema,
          "A share link's token, as its creation answer gave it.",
        ),
        "query.linkLimit": {
          name: "limit",
          in: "query",
          required: false,
          description: "The page size.",
          schema: jsonSchema(shareLinkPageSchema.shape.limit, "input"),
        },
        "query.linkStartingAfter": {
          name: "startingAfter",
          in: "query",
          required: false,
          description: "The page after this link id.",
          schema: jsonSchema(shareLinkPageSchema.shape.startingAfter, "input"),
        },
        ...listParameters(),
      },
      responses: faultResponses(),
      headers: {
        "X-Request-Id": {
          description:
            "The request's id, generated for each request (or the caller's own `X-Request-Id` when the host " +
            "trusts it): the host's error reporter gets the same id.",
          schema: { type: "string" },
        },
        "Retry-After": {
          description: "Seconds to wait before trying again.",
          schema: { type: "integer", minimum: 0 },
        },
      },
    },
  };
}
