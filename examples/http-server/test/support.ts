/** Test harness: the demo server on port 0 and a small fetch client. */
import { afterEach, beforeEach } from "vitest";
import { type DemoServer, type DemoServerOptions, startDemoServer } from "../src/server.ts";

export const ORG = "acme";
export const A = "5f0000000000000000000a01"; // Alice: owns the patient file and the diagnosis; Share on Carol
export const B = "5f0000000000000000000b02"; // Bob
export const C = "5f0000000000000000000c03"; // Carol
export const FILE = "5f00000000000000000f11e1"; // Alice's patient file (needs accept)
export const DIAGNOSIS = "5f0000000000000000d1a901"; // Alice's diagnosis (requireAccept false, plural c_diagnoses)

/** The environment a test server reads: the embedded defaults, whatever the shell running the tests has set. */
export const MEMORY_ENV: Record<string, string> = {};

/** What a call answered. */
export interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers field by field
  body: any;
}

/** Calls the server: `as` is the Bearer account id (none: anonymous); `body` is sent as JSON. */
export type Call = (
  method: string,
  path: string,
  options?: { as?: string; body?: unknown; headers?: Record<string, string> },
) => Promise<Answer>;

/** A client of the server at `url()`; paths are relative to `/acme/v2`. */
export function client(url: () => string): Call {
  return async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.as !== undefined) headers.authorization = `Bearer ${options.as}`;
    if (options.body !== undefined) headers["content-type"] ??= "application/json";
    const response = await fetch(`${url()}/${ORG}/v2${path}`, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text === "" ? undefined : JSON.parse(text),
    };
  };
}

/** A fresh demo server for each test (so no test sees another's records), its client, and the notices it logged. */
export function useDemoServer(options: DemoServerOptions = {}) {
  let server: DemoServer | undefined;
  const logged: string[] = [];
  beforeEach(async () => {
    logged.length = 0;
    server = await startDemoServer({
      port: 0,
      env: MEMORY_ENV,
      log: (line) => logged.push(line),
      ...options,
    });
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const url = () => (server as DemoServer).url;
  return { call: client(url), url, logged, server: () => server as DemoServer };
}
