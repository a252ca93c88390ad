import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";

/** Anything with a Fetch-API handler, such as the app of {@link createConnectionsApp}. */
export interface FetchApp {
  /** Answers one request. */
  fetch: (request: Request) => Response | Promise<Response>;
}

/** Options of {@link startServer}. */
export interface StartServerOptions {
  /** The app to serve. */
  app: FetchApp;
  /** The port; 0 (the default) picks a free one. */
  port?: number;
  /** The address to listen on; `127.0.0.1` by default. */
  hostname?: string;
}

/** A running server: its URL and how to stop it. */
export interface RunningServer {
  /** The server's base URL, e.g. `http://127.0.0.1:54321`. */
  url: string;
  /** The port it listens on. */
  port: number;
  /** Stops listening, ends idle and open connections, and resolves when the server has closed. */
  close: () => Promise<void>;
}

/** Serves a Fetch-API app on Node through `@hono/node-server`; resolves once it listens. */
export function startServer(options: StartServerOptions): Promise<RunningServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  return new Promise((resolve, reject) => {
    const server = serve(
      { fetch: (request) => options.app.fetch(request), port: options.port ?? 0, hostname },
      (info: AddressInfo) => {
        server.off("error", reject);
        const host = info.family === "IPv6" || hostname.includes(":") ? `[${info.address}]` : info.address;
        resolve({
          url: `http://${host}:${info.port}`,
          port: info.port,
          close: () =>
            new Promise<void>((done, fail) => {
              const http = server as Server;
              http.close((error) => (error === undefined ? done() : fail(error)));
              http.closeAllConnections();
            }),
        });
      },
    );
    server.once("error", reject);
  });
}
