import { DEFAULT_LIST_LIMIT, ERROR_CODES, MAX_CONNECTION_TARGETS, MAX_LIST_LIMIT } from "@conn/core";
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { buildOpenApiDocument, NO_ROUTE_REASON } from "../src/index.ts";
import { A, B, chart, contextPath, ORG, patientFile, useServer } from "./helpers.ts";

const { call } = useServer();

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

// biome-ignore lint/suspicious/noExplicitAny: the document is read as plain JSON
type Json = any;

async function fetchDocument(): Promise<Json> {
  const answer = await call("GET", `/${ORG}/v2/openapi.json`);
  expect(answer.status).toBe(200);
  expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
  return answer.body;
}

describe("GET /{org}/v2/openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const document = await fetchDocument();
    expect(document.openapi).toBe("3.1.0");
    const validator = new Validator();
    const result = await validator.validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
    // Every $ref resolves.
    expect(() => validator.resolveRefs()).not.toThrow();
  });

  it("lists every route of docs/behaviour.md §13 and the document itself, with their parameters and responses", async () => {
    const document = await fetchDocument();
    const operations = Object.entries(document.paths).flatMap(([path, item]: [string, Json]) =>
      METHODS.filter((m) => item[m] !== undefined).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(operations.sort()).toEqual(
      [
        "POST /{org}/v2/{objects}/{id}/connections",
        "GET /{org}/v2/{objects}/{id}/connections",
        "GET /{org}/v2/connections",
        "GET /{org}/v2/connections/{idOrToken}",
        "POST /{org}/v2/connections/{idOrToken}",
        "DELETE /{org}/v2/connections/{idOrToken}",
        "GET /{org}/v2/openapi.json",
        "POST /{org}/v2/{objects}/{id}/share-links",
        "GET /{org}/v2/{objects}/{id}/share-links",
        "GET /{org}/v2/share-links/{linkId}",
        "DELETE /{org}/v2/share-links/{linkId}",
        "POST /{org}/v2/share-links/{linkToken}",
      ].sort(),
    );
    const create = document.paths["/{org}/v2/{objects}/{id}/connections"];
    expect(create.post.requestBody.content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/CreateConnectionsBody",
    });
    expect(Object.keys(create.post.responses).sort()).toEqual([
      "200",
      "400",
      "403",
      "404",
      "413",
      "500",
      "503",
    ]);
    const listParameters = document.paths["/{org}/v2/connections"].get.parameters.map(
      (p: Json) => document.components.parameters[p.$ref.split("/").at(-1)].name,
    );
    expect(listParameters).toEqual([
      "org",
      "show",
      "state",
      "objects",
      "limit",
      "startingAfter",
      "endingBefore",
    ]);
  });

  it("is generated from the schemas the routes and the facade parse with", async () => {
    const { components } = await fetchDocument();
    expect(components.schemas.Fault.properties.errCode.enum).toEqual(ERROR_CODES);
    expect(components.schemas.CreateConnectionsBody.properties.targets).toMatchObject({
      minItems: 1,
      maxItems: MAX_CONNECTION_TARGETS,
      items: { $ref: "#/components/schemas/ConnectionTarget" },
    });
    expect(components.schemas.ConnectionTarget.properties._id.pattern).toBe("^[A-Za-z0-9._:-]{1,128}$");
    expect(components.parameters["query.limit"].schema).toMatchObject({
      type: "integer",
      minimum: 1,
      maximum: MAX_LIST_LIMIT,
      default: DEFAULT_LIST_LIMIT,
    });
    expect(components.parameters["query.show"].schema).toMatchObject({
      enum: ["creator", "target"],
      default: "target",
    });
    expect(components.schemas.ConnectionList.properties.data.items).toEqual({
      $ref: "#/components/schemas/Connection",
    });
    expect(components.responses.Fault403.description).toContain("cortex.accessDenied.notLoggedIn");
    expect(components.responses.Fault413.description).toContain("cortex.tooLarge.connectionTargets");
  });

  it("documents the request id of every answer, the fault's requestId, and the Retry-After of a 503", async () => {
    const document = await fetchDocument();
    const { components } = document;
    expect(components.schemas.Fault.properties.requestId).toMatchObject({ type: "string" });
    expect(components.schemas.TargetFault.properties.requestId).toBeUndefined();
    expect(components.responses.Fault503.description).toContain("cortex.error.unavailable");
    expect(Object.keys(components.responses.Fault503.headers).sort()).toEqual([
      "Retry-After",
      "X-Request-Id",
    ]);
    expect(components.headers["Retry-After"].schema).toMatchObject({ type: "integer" });
    for (const [path, item] of Object.entries(document.paths as Record<string, Json>)) {
      if (path.endsWith("openapi.json")) continue;
      for (const [method, operation] of Object.entries(item as Json)) {
        if (method === "parameters") continue;
        const responses = (operation as Json).responses;
        expect(responses["503"], `${method} ${path}`).toEqual({ $ref: "#/components/responses/Fault503" });
        expect(responses["200"].headers["X-Request-Id"], `${method} ${path}`).toBeDefined();
      }
    }
  });

  it("every route it lists answers with a status it documents, never route-not-found", async () => {
    const document = await fetchDocument();
    const created = await call("POST", contextPath(patientFile), { as: A, body: { targets: [{ _id: B }] } });
    const values: Record<string, string> = {
      org: ORG,
      objects: `${chart.object}s`,
      id: chart._id,
      idOrToken: created.body.data[0]._id,
      linkId: "0".repeat(24),
      linkToken: "x".repeat(43),
    };
    const answered: string[] = [];
    for (const [template, item] of Object.entries(document.paths) as [string, Json][]) {
      const path = template.replace(/\{(\w+)\}/g, (_, name: string) => values[name] as string);
      for (const method of METHODS) {
        const operation = item[method];
        if (operation === undefined) continue;
        const answer = await call(method.toUpperCase(), path, {
          as: A,
          ...(operation.requestBody === undefined ? {} : { body: { targets: [{ _id: B }] } }),
        });
        expect(answer.body?.reason, `${method} ${path}`).not.toBe(NO_ROUTE_REASON);
        expect(Object.keys(operation.responses), `${method} ${path} → ${answer.status}`).toContain(
          String(answer.status),
        );
        answered.push(`${method} ${answer.status}`);
      }
    }
    expect(answered).toHaveLength(12);
  });

  it("is the same document buildOpenApiDocument returns", async () => {
    expect(await fetchDocument()).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument())));
  });
});
