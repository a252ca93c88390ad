/**
 * Starts the web example: the container (`createConnectionsContainer`, configured from `CONN_*` variables: in
 * memory by default, PostgreSQL with `CONN_DATABASE_URL`), the demo world as its host ports, and the pages on a
 * Node server. The org's `connectionUrl` is set to this server's invitation link once it listens.
 */
import {
  type ConnectionsConfigInput,
  type ConnectionsContainer,
  configFromEnv,
  createConnectionsContainer,
  LogNotifier,
  TOKENS,
} from "@conn/container";
import type { Clock, Notifier } from "@conn/core";
import { type RunningServer, startServer } from "@conn/http";
import { createWebApp } from "./app.js";
import { DemoMailbox } from "./demo-mailbox.js";
import { InvitationLedger, RememberingNotifier } from "./invitation-ledger.js";
import { SessionStore } from "./sessions.js";
import { createDemoWorld, type DemoWorld } from "./world.js";

/**
 * The org's `connectionUrl` for a site at `publicUrl`: the one shape of an invitation link, shared by the emails
 * (the library puts the URL-encoded token in place of `{token}`) and the page that answers it.
 */
export function connectionUrlFor(publicUrl: string, org: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/${org}/connections/{token}`;
}

/** Options of {@link startWebServer}. */
export interface WebServerOptions {
  /** The port; 0 (the default) picks a free one. */
  port?: number;
  /** The address to listen on; `127.0.0.1` by default. */
  hostname?: string;
  /** Where the `CONN_*` configuration is read from; `process.env` by default. */
  env?: Record<string, string | undefined>;
  /** The configuration itself, instead of reading `env`. */
  config?: ConnectionsConfigInput;
  /** The URL people reach the site at, for the links in emails; the server's own URL by default. */
  publicUrl?: string;
  /** The time the library uses (tests move it to expire invitations); the system clock by default. */
  clock?: Clock;
  /** Where requests and notices are logged, one line each, tokens hidden; nowhere by default. */
  log?: (line: string) => void;
  /** Where unexpected errors are reported; `console.error` by default. */
  onUnexpectedError?: (error: unknown) => void;
}

/** A running web example. */
export interface WebServer extends RunningServer {
  /** The wired library. */
  conn: ConnectionsContainer;
  /** The demo's world (accounts, access rules, orgs). */
  world: DemoWorld;
  /** What became of each emailed link. */
  ledger: InvitationLedger;
  /** DEMO ONLY: the notices, when no email service is configured; null when they go to one. */
  mailbox: DemoMailbox | null;
  /** The URL the links in emails point at. */
  publicUrl: string;
  /** Stops listening, then disposes the container. Safe to call twice. */
  close: () => Promise<void>;
}

/** Wires the library over the demo world and serves the pages. */
export async function startWebServer(options: WebServerOptions = {}): Promise<WebServer> {
  const config = options.config ?? configFromEnv(options.env ?? process.env);
  const world = createDemoWorld();
  const log = options.log ?? (() => {});
  let clock: Clock | null = null;
  const ledger = new InvitationLedger(() => (clock === null ? new Date() : clock.now()));
  // With no email service configured, the demo keeps the notices for its mailbox page (and logs them, token hidden).
  const mailbox =
    config.notices?.kind === "ses" || config.notices?.kind === "log"
      ? null
      : new DemoMailbox(new LogNotifier({ info: log }));

  const conn = await createConnectionsContainer(config, {
    register(c) {
      c.register(TOKENS.AccountDirectory, { useValue: world.accounts });
      c.register(TOKENS.ContextAccess, { useValue: world.contexts });
      c.register(TOKENS.OrgDirectory, { useValue: world.orgs });
      if (options.clock !== undefined) c.register(TOKENS.Clock, { useValue: options.clock });
      clock = c.resolve(TOKENS.Clock);
      const delivery: Notifier = mailbox ?? c.resolve(TOKENS.Notifier);
      c.register(TOKENS.Notifier, { useValue: new RememberingNotifier(delivery, ledger) });
    },
  });

  let server: RunningServer;
  let publicUrl: string;
  try {
    const app = createWebApp({
      connections: conn.connections,
      world,
      sessions: new SessionStore(),
      ledger,
      mailbox,
      secureCookies: options.publicUrl?.startsWith("https:") ?? false,
      log: options.log,
      onUnexpectedError: options.onUnexpectedError,
    });
    server = await startServer({ app, port: options.port ?? 0, hostname: options.hostname ?? "127.0.0.1" });
    publicUrl = options.publicUrl ?? server.url;
    const org = world.org;
    world.orgs.put({
      code: org.code,
      name: org.name,
      pendingConnectionExpiry: org.pendingConnectionExpiry,
      connectionUrl: connectionUrlFor(publicUrl, org.code),
    });
  } catch (error) {
    await conn.dispose();
    throw error;
  }

  let closing: Promise<void> | null = null;
  return {
    url: server.url,
    port: server.port,
    conn,
    world,
    ledger,
    mailbox,
    publicUrl,
    close() {
      closing ??= server.close().finally(() => conn.dispose());
      return closing;
    },
  };
}
