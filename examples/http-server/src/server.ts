/**
 * The demo HTTP server: the connections REST API of `@conn/http` on the container (`configFromEnv`: in memory by
 * default, PostgreSQL when `CONN_DATABASE_URL` is set), over a world loaded from a JSON fixture, with DEMO-ONLY
 * authentication and a DEMO-ONLY registration route. `src/main.ts` runs it; the tests start it on port 0.
 */
import {
  type ConnectionsConfigInput,
  type ConnectionsContainer,
  configFromEnv,
  createConnectionsContainer,
  LogNotifier,
  TOKENS,
} from "@conn/container";
import { ConnectionError, nameSchema, orgSchema } from "@conn/core";
import {
  type Authenticate,
  type ConnectionsAppOptions,
  createConnectionsApp,
  DEFAULT_MAX_BODY_BYTES,
  parseInput,
  type RunningServer,
  readJsonBody,
  startServer,
} from "@conn/http";
import type { Hono } from "hono";
import { z } from "zod";
import { DEFAULT_FIXTURE, type Fixture, friendlyEmailSchema, loadFixture } from "./fixture.js";
import { FixtureAccountDirectory, FixtureContextAccess, FixtureOrgDirectory } from "./host.js";

/**
 * DEMO ONLY, never in a real host: trusts `Authorization: Bearer <account _id>` as proof of who is calling. No
 * header is an anonymous caller. A header that does not name an account of the org (another scheme, an unknown or
 * malformed id) is refused with `403 cortex.accessDenied.notLoggedIn` rather than treated as anonymous, so a typo
 * never silently turns into an anonymous call.
 */
export function demoBearerAuthentication(accounts: FixtureAccountDirectory): Authenticate {
  return async (request, org) => {
    const header = request.headers.get("authorization");
    if (header === null) return null;
    const id = /^Bearer +([^\s]+) *$/i.exec(header)?.[1];
    const [account] = id === undefined ? [] : await accounts.findByIds(org, [id]);
    if (account === undefined) {
      throw new ConnectionError("cortex.accessDenied.notLoggedIn", {
        reason: `demo authentication: the Authorization header must be "Bearer <_id of an account of ${org}>"`,
      });
    }
    // The account rides along, so the facade does not look it up a second time.
    return { accountId: account._id, account };
  };
}

/** The body of the demo registration route: `{ "email", "name"? }`. */
export const registerAccountBodySchema = z
  .object({ email: friendlyEmailSchema, name: nameSchema.optional() })
  .strict();

/** What the demo needs to build its app. */
export interface DemoAppParts {
  /** The wired library. */
  conn: ConnectionsContainer;
  /** The fixture's accounts (registration adds to them). */
  accounts: FixtureAccountDirectory;
  /** The fixture's objects and access. */
  contexts: FixtureContextAccess;
  /** The fixture's orgs. */
  orgs: FixtureOrgDirectory;
  /** Where 5xx answers are reported, with the request id the client got (the `@conn/http` default logs them). */
  onUnexpectedError?: ConnectionsAppOptions["onUnexpectedError"];
}

/**
 * The demo's Hono app: the `@conn/http` app, plus the DEMO-ONLY route `POST /{org}/v2/accounts`
 * `{ "email", "name"? }`, which registers a verified account with a new id and binds the pending invitations to its
 * email (`bindRegisteredAccount`, docs/behaviour.md §8). Answers `201` with the account and `invitationsBound`. The route is
 * added to the API's own app, so its answers get the same request ids, faults and error reporting.
 */
export function createDemoApp({ conn, accounts, contexts, orgs, onUnexpectedError }: DemoAppParts): Hono {
  const { connections } = conn;
  const ids = conn.resolve(TOKENS.IdGenerator);
  const app = createConnectionsApp({
    connections,
    authenticate: demoBearerAuthentication(accounts),
    objectFromPlural: (org, plural) => contexts.objectFromPlural(org, plural),
    ...(onUnexpectedError === undefined ? {} : { onUnexpectedError }),
  });

  // DEMO ONLY: anyone may register an account. A real host registers accounts its own way, then calls
  // bindRegisteredAccount.
  app.post("/:org/v2/accounts", async (c) => {
    const raw = await readJsonBody(c.req.raw, DEFAULT_MAX_BODY_BYTES);
    const org = parseInput(orgSchema, c.req.param("org"), "org");
    if ((await orgs.get(org)) === null) {
      throw new ConnectionError("cortex.notFound.unspecified", { reason: `unknown org ${org}`, path: "org" });
    }
    const body = parseInput(registerAccountBodySchema, raw, "body");
    let _id = ids.next();
    while ((await accounts.findByIds(org, [_id])).length > 0) _id = ids.next();
    const account = accounts.add(org, { _id, email: body.email, name: body.name ?? {}, verified: true });
    const invitationsBound = await connections.bindRegisteredAccount(org, account._id);
    return c.json({ object: "account", ...account, invitationsBound }, 201);
  });

  return app;
}

/** Options of {@link startDemoServer}. */
export interface DemoServerOptions {
  /** The port; 0 (the default) picks a free one. */
  port?: number;
  /** The address to listen on; `127.0.0.1` by default. */
  hostname?: string;
  /** A fixture file's path, or a parsed fixture; the demo fixture by default. */
  fixture?: string | Fixture;
  /** Where the `CONN_*` configuration is read from; `process.env` by default. */
  env?: Record<string, string | undefined>;
  /** Where logged notices go, one line each (token redacted); `console.log` by default. */
  log?: (line: string) => void;
}

/** A running demo server. */
export interface DemoServer extends RunningServer {
  /** The world it serves. */
  fixture: Fixture;
  /** The wired library. */
  conn: ConnectionsContainer;
  /** Its accounts, including those registered since it started. */
  accounts: FixtureAccountDirectory;
  /** Stops listening, then disposes the container. Safe to call twice. */
  close: () => Promise<void>;
}

/**
 * The configuration from the environment, with notices written to the log unless `CONN_NOTICES` or `CONN_SES_FROM`
 * chose otherwise (the target reads its token from `GET /connections`; the log never shows it).
 */
export function demoConfig(env: Record<string, string | undefined>): ConnectionsConfigInput {
  const config = configFromEnv(env);
  return env.CONN_NOTICES || env.CONN_SES_FROM ? config : { ...config, notices: { kind: "log" } };
}

/** Loads the fixture, wires the container over it, and serves the demo app. */
export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const source = options.fixture ?? DEFAULT_FIXTURE;
  const fixture = typeof source === "string" ? await loadFixture(source) : source;
  const accounts = new FixtureAccountDirectory(fixture);
  const contexts = new FixtureContextAccess(fixture);
  const orgs = new FixtureOrgDirectory(fixture);
  const log = options.log ?? ((line: string) => console.log(line));
  const config = demoConfig(options.env ?? process.env);

  const conn = await createConnectionsContainer(config, {
    register(c) {
      c.register(TOKENS.AccountDirectory, { useValue: accounts });
      c.register(TOKENS.ContextAccess, { useValue: contexts });
      c.register(TOKENS.OrgDirectory, { useValue: orgs });
      if (config.notices?.kind === "log")
        c.register(TOKENS.Notifier, { useValue: new LogNotifier({ info: log }) });
    },
  });
  let server: RunningServer;
  try {
    const app = createDemoApp({ conn, accounts, contexts, orgs });
    server = await startServer({ app, port: options.port ?? 0, hostname: options.hostname ?? "127.0.0.1" });
  } catch (error) {
    await conn.dispose();
    throw error;
  }
  let closing: Promise<void> | null = null;
  return {
    url: server.url,
    port: server.port,
    fixture,
    conn,
    accounts,
    close() {
      closing ??= server.close().finally(() => conn.dispose());
      return closing;
    },
  };
}
