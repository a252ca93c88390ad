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
import {
  connectPostgres,
  type Database,
  migrate,
  openPglite,
  PostgresUnitOfWork,
} from "@conn/adapter-postgres";
import { SesNotifier } from "@conn/adapter-ses";
import { Connections, type EventPublisher, type Notifier, OutboxRelay, type UnitOfWork } from "@conn/core";
import { instrumentConnections, observeOutbox, outboxObserver } from "@conn/opentelemetry";
import {
  type DependencyContainer,
  type InjectionToken,
  instancePerContainerCachingFactory,
  container as rootContainer,
} from "tsyringe";
import {
  type ConnectionsConfig,
  type ConnectionsConfigInput,
  configFromEnv,
  parseConnectionsConfig,
  RELAY_LEASE_MARGIN_MS,
} from "./config.js";
import { LogNotifier } from "./log-notifier.js";
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
}

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
  const config = parseConnectionsConfig(input);
  const logger = options.logger ?? console;
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
  container.register(TOKENS.AccountDirectory, { useValue: new InMemoryAccountDirectory() });
  container.register(TOKENS.ContextAccess, { useValue: new InMemoryContextAccess() });
  container.register(TOKENS.OrgDirectory, { useValue: new InMemoryOrgDirectory() });
  container.register(TOKENS.EventPublisher, { useValue: noEvents });
  container.register(TOKENS.Notifier, { useValue: makeNotifier(config) });

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
            observer: config.telemetry ? outboxObserver() : undefined,
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
      return config.telemetry ? instrumentConnections(connections) : connections;
    }),
  });

  options.register?.(container);

  const relay = container.resolve(TOKENS.OutboxRelay);
  relay.start((error) => logger.error("[conn] outbox relay: drain failed", error));
  const stopObserving = config.telemetry ? observeOutbox(relay) : () => {};

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

function makeNotifier(config: ConnectionsConfig): Notifier {
  const n = config.notices;
  if (n.kind === "memory") return new RecordingNotifier();
  if (n.kind === "log") return new LogNotifier();
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
