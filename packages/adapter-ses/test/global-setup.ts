import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as sesLocal from "aws-ses-v2-local";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  /** Values the global setup hands to the test files. */
  export interface ProvidedContext {
    /** The base URL of the local SES emulator, e.g. `http://127.0.0.1:41234`. */
    sesEndpoint: string;
  }
}

type StartEmulator = (config?: { host?: string; port?: number }) => Promise<Server>;

/** The emulator's start function: CommonJS `exports.default` is the function under vitest, `{ default }` under plain Node. */
function startFunction(): StartEmulator {
  const candidate: unknown = sesLocal.default;
  if (typeof candidate === "function") return candidate as StartEmulator;
  const nested = (candidate as { default?: unknown } | undefined)?.default;
  if (typeof nested === "function") return nested as StartEmulator;
  throw new Error("aws-ses-v2-local: could not find the server start function");
}

/** Starts aws-ses-v2-local on a free loopback port for the whole run and provides its URL as `sesEndpoint`. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  const server = await startFunction()({ host: "127.0.0.1", port: 0 });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const health = await fetch(`${endpoint}/health-check`);
  if (!health.ok) throw new Error(`aws-ses-v2-local did not answer its health check (${health.status})`);
  project.provide("sesEndpoint", endpoint);
  return () =>
    new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((err) => (err ? reject(err) : resolve()));
    });
}
