/**
 * Test harness: one real HTTP server per test file (127.0.0.1, port 0) whose facade is a fresh in-memory world
 * for every test, so no test sees another's records.
 */
import { createInMemoryConnections, type InMemoryConnections } from "@conn/adapter-memory";
import { AccessLevel } from "@conn/core";
import { afterAll, beforeAll, beforeEach, expect } from "vitest";
import type { z } from "zod";
import {
  type ConnectionsApi,
  type ConnectionsAppOptions,
  createConnectionsApp,
  faultSchema,
  type RunningServer,
  startServer,
} from "../src/index.ts";

export const ORG = "acme";

/** The people of the test world. */
export const A = "5f0000000000000000000a01"; // Alice: owns the patient file and the chart, may auto-connect Carol
export const B = "5f0000000000000000000b02"; // Bob: a doctor, no access of his own
export const C = "5f0000000000000000000c03"; // Carol: a nurse
export const U = "5f0000000000000000000e05"; // Uma: owns the patient file too, but is not verified
export const NOBODY = "5f0000000000000000000f99"; // no such account

/** Contexts: the patient file needs acceptance, the chart allows auto connections, memos allow no connections. */
export const patientFile = { object: "c_patient_file", _id: "5f00000000000000000f11e1" } as const;
export const chart = { object: "c_chart", _id: "5f00000000000000000c4a71" } as const;
export const memo = { object: "c_memo", _id: "5f000000000000000000e3e0" } as const;

/** The path of a context's connections. */
export const contextPath = (ctx: { object: string; _id: string }) =>
  `/${ORG}/v2/${ctx.object}s/${ctx._id}/connections`;

/** A well-formed token that opens nothing. */
export const UNKNOWN_TOKEN = "x".repeat(43);

/** A fresh world: the org, the objects, the people and who owns what. */
export function makeWorld(): InMemoryConnections {
  const world = createInMemoryConnections();
  const { accounts, contexts, orgs } = world;
  orgs.put({ code: ORG, name: "Acme Health", connectionUrl: "https://acme.example/connections/" });
  contexts.defineObject(ORG, { name: "c_patient_file", allowConnections: true });
  contexts.defineObject(ORG, { name: "c_chart", allowConnections: true, requireAccept: false });
  contexts.defineObject(ORG, { name: "c_memo", allowConnections: false });
  const person = (_id: string, first: string, verified = true) =>
    accounts.put(ORG, { _id, email: `${first.toLowerCase()}@acme.example`, name: { first }, verified });
  person(A, "Alice");
  person(B, "Bob");
  person(C, "Carol");
  person(U, "Uma", false);
  contexts.grant(ORG, A, patientFile, AccessLevel.Delete);
  contexts.grant(ORG, A, chart, AccessLevel.Delete);
  contexts.grant(ORG, A, memo, AccessLevel.Delete);
  contexts.grant(ORG, U, patientFile, AccessLevel.Delete);
  contexts.grant(ORG, A, { object: "account", _id: C }, AccessLevel.Share);
  return world;
}

/** Demo authentication for tests: `Authorization: Bearer <account id>`; none is anonymous. */
export async function bearer(request: Request): Promise<{ accountId: string } | null> {
  const header = request.headers.get("authorization");
  return header?.startsWith("Bearer ") ? { accountId: header.slice("Bearer ".length) } : null;
}

/** A facade that forwards every call to whatever `current()` returns at call time. */
export function forwardTo(current: () => ConnectionsApi): ConnectionsApi {
  return {
    create: (...args) => current().create(...args),
    list: (...args) => current().list(...args),
    listForContext: (...args) => current().listForContext(...args),
    get: (...args) => current().get(...args),
    getByToken: (...args) => current().getByToken(...args),
    accept: (...args) => current().accept(...args),
    reject: (...args) => current().reject(...args),
    delete: (...args) => current().delete(...args),
    createShareLink: (...args) => current().createShareLink(...args),
    listShareLinks: (...args) => current().listShareLinks(...args),
    getShareLink: (...args) => current().getShareLink(...args),
    revokeShareLink: (...args) => current().revokeShareLink(...args),
    redeemShareLink: (...args) => current().redeemShareLink(...args),
  };
}

/** What a call answered: the status, the headers and the parsed JSON body. */
export interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers field by field
  body: any;
}

/** One request: `as` is the caller's account id (anonymous when absent); `body` is sent as JSON. */
export interface CallOptions {
  as?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** A raw body, sent as is (no JSON encoding, no content type added). */
  raw?: RequestInit["body"];
}

/** A client for one server. */
export type Call = (method: string, path: string, options?: CallOptions) => Promise<Answer>;

/** Makes a client of the server at `baseUrl`. */
export function client(baseUrl: () => string): Call {
  return async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.as !== undefined) headers.authorization = `Bearer ${options.as}`;
    let body: RequestInit["body"] = options.raw;
    if (options.body !== undefined) {
      headers["content-type"] ??= "application/json";
      body = JSON.stringify(options.body);
    }
    const response = await fetch(`${baseUrl()}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text === "" ? undefined : JSON.parse(text),
    };
  };
}

/**
 * Starts one server for the test file and a fresh world before each test. `options` adds or overrides app options
 * (the facade defaults to the current world's).
 */
export function useServer(options: Partial<ConnectionsAppOptions> = {}) {
  let world: InMemoryConnections | undefined;
  let server: RunningServer | undefined;
  beforeAll(async () => {
    const app = createConnectionsApp({
      connections: forwardTo(() => (world as InMemoryConnections).connections),
      authenticate: bearer,
      ...options,
    });
    server = await startServer({ app, port: 0, hostname: "127.0.0.1" });
  });
  afterAll(async () => {
    await server?.close();
  });
  beforeEach(() => {
    world = makeWorld();
  });
  const url = () => (server as RunningServer).url;
  return {
    call: client(url),
    url,
    world: () => world as InMemoryConnections,
  };
}

/**
 * Asserts a fault answer: its status, its code, that the body is a well-formed fault with that status, and that it
 * carries the request id of its `X-Request-Id` header.
 */
export function expectFault(answer: Answer, status: number, errCode: string): z.output<typeof faultSchema> {
  expect({ status: answer.status, errCode: answer.body?.errCode }).toEqual({ status, errCode });
  const fault = faultSchema.parse(answer.body);
  expect(fault.status).toBe(status);
  expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
  expect(fault.requestId, "every fault carries its request id").toMatch(/^[A-Za-z0-9._:=-]{1,128}$/);
  expect(answer.headers.get("x-request-id")).toBe(fault.requestId);
  return fault;
}
