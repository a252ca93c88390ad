import {
  CryptoRandom,
  CryptoTokenService,
  InMemoryAccountDirectory,
  InMemoryContextAccess,
  InMemoryOrgDirectory,
  InMemoryUnitOfWork,
  RandomIdGenerator,
  RecordingNotifier,
  SystemClock,
} from "@conn/adapter-memory";
import type { Database, PostgresUnitOfWork } from "@conn/adapter-postgres";
import { Connections, type EventPublisher, type Notifier, OutboxRelay, type UnitOfWork } from "@conn/core";
import {
  type DependencyContainer,
  type InjectionToken,
  instancePerContainerCachingFactory,
  container as rootContainer,
} from "tsyringe";
import {
  ConfigurationError,
  type ConnectionsConfig,
  type ConnectionsConfigInput,
  configFromEnv,
  parseConnectionsConfig,
  RELAY_LEASE_MARGIN_MS,
} from "./config.js";
import { LogNotifier } from "./log-notifier.js";
import { isMissingPackage } from "./optional.js";
import { TOKENS } from "./tokens.js";

/**
 * The host's logger and error reporter for what the container catches itself, where no caller would see it: outbox
 * relay failures and pooled database connections that fail while idle (each with the full error and its cause
 * chain), and configuration warnings. Failures of facade calls reach their caller instead (and, through
 * `@conn/http`, its `onUnexpectedError` with the request id). Nothing the container passes here holds a token.
 */
export interface ContainerLogger {
  /** Something worth knowing. */
  warn(message: string): void;
  /** Something that failed, and the error itself. */
  error(message: string, error?: unknown): void;
}

/** Options of {@link createConnectionsContainer}. */
export interface ConnectionsContainerOptions {
  /**
   * Registers the host's own ports, or overrides any of ours, before anything is resolved: typically
   * `TOKENS.AccountDirectory`, `TOKENS.ContextAccess` and `TOKENS.OrgDirectory` over the host's own tables.
   */
  register?: (container: DependencyContainer) => void;
  /** Where relay failures, failed idle database connections and warnings go (default `console`). */
  logger?: ContainerLogger;
  /**
   * Registers empty in-memory host ports (`InMemoryAccountDirectory`, `InMemoryContextAccess`,
   * `InMemoryOrgDirectory` from `@conn/adapter-memory`) for demos and tests; `register` may still override each.
   * Without it, every host port must be registered, or the container refuses to start, naming the missing ones.
   */
  inMemoryHostPorts?: boolean;
}

/** The ports only the host can supply (its accounts, its access rules, its orgs), by name. */
const HOST_PORTS: readonly (readonly [string, InjectionToken<unknown>])[] = [
  ["AccountDirectory", TOKENS.AccountDirectory],
  ["ContextAccess", TOKENS.ContextAccess],
  ["OrgDirectory", TOKENS.OrgDirectory],
];

/** A wired library: the facade, its DI container, and `dispose()`. */
export interface ConnectionsContainer {
  /** The parsed configuration. */
  readonly config: ConnectionsConfig;
  /** The tsyringe container holding every port under {@link TOKENS}. */
  readonly container: DependencyContainer;
  /** The facade, resolved from the container. */
  readonly connections: Connections;
  /** Resolves anything registered under a token. */
  resolve<T>(token: InjectionToken<T>): T;
  /**
   * A child container (per request or per tenant): its registrations override ours, and the `Connections` it
   * resolves is built from them.
   */
  createChild(register?: (child: DependencyContainer) => void): DependencyContainer;
  /** Stops the relay, closes pools and PGlite, disposes the container. Safe to call twice. */
  dispose(): Promise<void>;
}

const noEvents: EventPublisher = { publish: async () => {} };

/**
 * Wires the library from a configuration (default: the environment, see `configFromEnv`): persistence memory,
 * PGlite or PostgreSQL (migrated on start), notices recorded, logged or sent through SES, and the outbox relay
 * running while the container lives (in memory, each commit that queued a notice wakes it). Bad configuration fails here, with one message
 * naming each bad setting.
 */
export async function createConnectionsContainer(
  input: ConnectionsConfigInput = configFromEnv(),
  options: ConnectionsContainerOptions = {},
): Promise<ConnectionsContainer> {
  const parsed = parseConnectionsConfig(input);
  const logger = options.logger ?? console;
  // Adapters beyond memory are optional peer dependencies, loaded only when the configuration names them.
  const telemetry = await loadTelemetry(parsed.telemetry);
  const config: ConnectionsConfig = { ...parsed, telemetry: telemetry !== null };
  const notifier = await makeNotifier(config);
  const container = rootContainer.createChildContainer();
  const clock = new SystemClock();

  container.register(TOKENS.Config, { useValue: config });
  container.register(TOKENS.Clock, { useValue: clock });
  container.register(TOKENS.IdGenerator, {
    useFactory: instancePerContainerCachingFactory((c) => new RandomIdGenerator(c.resolve(TOKENS.Clock))),
  });
  if (config.tokenKey === undefined && config.persistence.kind !== "memory") {
    logger.warn(
      "[conn] CONN_TOKEN_KEY is not set: a random key is used, so targets cannot see tokens after a restart",
    );
  }
  container.register(TOKENS.TokenService, { useValue: new CryptoTokenService({ key: config.tokenKey }) });
  container.register(TOKENS.RandomSource, { useValue: new CryptoRandom() });
  if (options.inMemoryHostPorts === true) {
    container.register(TOKENS.AccountDirectory, { useValue: new InMemoryAccountDirectory() });
    container.register(TOKENS.ContextAccess, { useValue: new InMemoryContextAccess() });
    container.register(TOKENS.OrgDirectory, { useValue: new InMemoryOrgDirectory() });
  }
  container.register(TOKENS.EventPublisher, { useValue: noEvents });
  container.register(TOKENS.Notifier, { useValue: notifier });

  let db: Database | null = null;
  let postgresUnitOfWork: PostgresUnitOfWork | null = null;
  let unitOfWork: UnitOfWork;
  if (config.persistence.kind === "memory") {
    // The relay loop runs in memory too; a commit that queued a notice only wakes it (calls coalesce), so no
    // request waits for a delivery.
    unitOfWork = new InMemoryUnitOfWork({
      afterCommit: async () => container.resolve(TOKENS.OutboxRelay).wake(),
    });
  } else {
    const { connectPostgres, migrate, openPglite, PostgresUnitOfWork } = await loadOptional(
      "@conn/adapter-postgres",
      `persistence.kind (CONN_PERSISTENCE): "${config.persistence.kind}"`,
      config.persistence.kind === "pglite" ? "@electric-sql/pglite" : "pg",
      () => import("@conn/adapter-postgres"),
    );
    db =
      config.persistence.kind === "pglite"
        ? await openPglite(
            config.persistence.dataDir === undefined ? {} : { dataDir: config.persistence.dataDir },
          )
        : await connectPostgres({
            connectionString: config.persistence.url,
            poolConfig: { max: config.persistence.poolSize },
            onIdleError: (error) =>
              logger.error("[conn] postgres: an idle pooled connection failed; the pool replaces it", error),
          });
    try {
      await migrate(db, { schema: config.schema });
    } catch (error) {
      await db.close();
      throw error;
    }
    postgresUnitOfWork = new PostgresUnitOfWork(db, {
      schema: config.schema,
      accessCache: config.accessCache > 0 ? { entries: config.accessCache } : undefined,
      onAccessCacheError: (error) =>
        logger.warn(
          `[conn] access cache: its listening connection failed; answers come from the database until it listens again (${error.message})`,
        ),
    });
    unitOfWork = postgresUnitOfWork;
  }
  container.register(TOKENS.UnitOfWork, { useValue: unitOfWork });

  container.register(TOKENS.OutboxRelay, {
    useFactory: instancePerContainerCachingFactory(
      (c) =>
        new OutboxRelay(
          {
            outbox: c.resolve(TOKENS.UnitOfWork).outbox,
            notifier: c.resolve(TOKENS.Notifier),
            tokens: c.resolve(TOKENS.TokenService),
            clock: c.resolve(TOKENS.Clock),
            random: c.resolve(TOKENS.RandomSource),
            observer: telemetry?.outboxObserver(),
          },
          {
            idleMs: config.relay.intervalMs,
            maxAttempts: config.relay.maxAttempts,
            batchSize: config.relay.batchSize,
            concurrency: config.relay.concurrency,
            leaseMs: config.relay.leaseMs,
            sendTimeoutMs: config.relay.sendTimeoutMs,
            leaseMarginMs: RELAY_LEASE_MARGIN_MS,
            retentionMs: config.relay.retentionHours * 3_600_000,
          },
        ),
    ),
  });
  container.register(TOKENS.Connections, {
    useFactory: instancePerContainerCachingFactory((c) => {
      const connections = new Connections({
        store: c.resolve(TOKENS.UnitOfWork),
        accounts: c.resolve(TOKENS.AccountDirectory),
        contexts: c.resolve(TOKENS.ContextAccess),
        orgs: c.resolve(TOKENS.OrgDirectory),
        tokens: c.resolve(TOKENS.TokenService),
        ids: c.resolve(TOKENS.IdGenerator),
        clock: c.resolve(TOKENS.Clock),
        events: c.resolve(TOKENS.EventPublisher),
      });
      // Decorated from outside, so @conn/core stays free of telemetry (a no-op until the host installs an SDK).
      return telemetry === null ? connections : telemetry.instrumentConnections(connections);
    }),
  });

  options.register?.(container);
  try {
    checkWiring(container, config, notifier);
  } catch (error) {
    await db?.close();
    await container.dispose();
    throw error;
  }

  const relay = container.resolve(TOKENS.OutboxRelay);
  relay.start((error) => logger.error("[conn] outbox relay: drain failed", error));
  const stopObserving = telemetry === null ? () => {} : telemetry.observeOutbox(relay);

  let disposing: Promise<void> | null = null;
  return {
    config,
    container,
    connections: container.resolve(TOKENS.Connections),
    resolve: <T>(token: InjectionToken<T>) => container.resolve<T>(token),
    createChild(register) {
      const child = container.createChildContainer();
      register?.(child);
      return child;
    },
    dispose() {
      disposing ??= (async () => {
        stopObserving();
        await relay.stop();
        await postgresUnitOfWork?.close();
        await db?.close();
        await container.dispose();
      })();
      return disposing;
    },
  };
}

/**
 * Refuses what would fail silently later: a host port nobody registered (every call would find no account), and
 * PostgreSQL persistence whose notices stay in this process's memory (invitations would reach no one).
 */
function checkWiring(container: DependencyContainer, config: ConnectionsConfig, ours: Notifier): void {
  const problems: string[] = [];
  for (const [name, token] of HOST_PORTS) {
    if (!container.isRegistered(token, true)) {
      problems.push(
        `host port ${name} is not registered: register yours under TOKENS.${name} in options.register ` +
          "(or pass inMemoryHostPorts: true for a demo)",
      );
    }
  }
  if (
    config.persistence.kind === "postgres" &&
    config.notices.kind === "memory" &&
    container.resolve(TOKENS.Notifier) === ours
  ) {
    problems.push(
      'notices.kind (CONN_NOTICES): with PostgreSQL persistence, notices need a destination: "ses" (CONN_SES_FROM), ' +
        '"log", or a Notifier of your own under TOKENS.Notifier; "memory" would keep them in this process, unread',
    );
  }
  if (problems.length > 0) throw new ConfigurationError(problems);
}

async function makeNotifier(config: ConnectionsConfig): Promise<Notifier> {
  const n = config.notices;
  if (n.kind === "memory") return new RecordingNotifier();
  if (n.kind === "log") return new LogNotifier();
  const { SesNotifier } = await loadOptional(
    "@conn/adapter-ses",
    'notices.kind (CONN_NOTICES): "ses"',
    null,
    () => import("@conn/adapter-ses"),
  );
  return new SesNotifier({
    from: n.from,
    region: n.region,
    // Inside the relay's own send deadline (which is inside its lease): at most 10 s, 1 s short of the relay's.
    sendTimeoutMs: Math.max(100, Math.min(10_000, config.relay.sendTimeoutMs - 1_000)),
    ...(n.endpoint === undefined ? {} : { endpoint: n.endpoint }),
    ...(n.replyTo === undefined ? {} : { replyTo: n.replyTo }),
    ...(n.configurationSetName === undefined ? {} : { configurationSetName: n.configurationSetName }),
  });
}

/**
 * @conn/opentelemetry when telemetry is on: `true` requires it, unset uses it when it is installed (it is a no-op
 * until the host installs an OpenTelemetry SDK), `false` leaves it alone. Null when telemetry is off.
 */
async function loadTelemetry(
  setting: boolean | undefined,
): Promise<typeof import("@conn/opentelemetry") | null> {
  if (setting === false) return null;
  if (setting === true) {
    return loadOptional(
      "@conn/opentelemetry",
      "telemetry (CONN_TELEMETRY): on",
      "@opentelemetry/api",
      () => import("@conn/opentelemetry"),
    );
  }
  try {
    return await import("@conn/opentelemetry");
  } catch (error) {
    if (isMissingPackage(error, "@conn/opentelemetry") || isMissingPackage(error, "@opentelemetry/api"))
      return null;
    throw error;
  }
}

/**
 * Loads an adapter package the configuration names; when it is not installed, fails with a
 * {@link ConfigurationError} naming the setting and the packages to install.
 */
async function loadOptional<T>(
  name: string,
  setting: string,
  alongside: string | null,
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (!isMissingPackage(error, name)) throw error;
    const install = alongside === null ? name : `${name} ${alongside}`;
    throw new ConfigurationError([
      `${setting} needs the package ${name}, which is not installed: npm install ${install}`,
    ]);
  }
}
