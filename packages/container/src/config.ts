import { z } from "zod";

const schemaName = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lower-case SQL identifier such as conn or public");

const required = {
  error: (issue: { input: unknown }) => (issue.input === undefined ? "is required" : undefined),
};

const postgresUrl = z
  .string(required)
  .refine(
    (s) => /^postgres(ql)?:\/\/\S+$/.test(s),
    "must be a postgres:// or postgresql:// connection string",
  );

/** Where connections are stored: in memory, embedded PGlite (in memory or a directory), or a PostgreSQL server. */
export const persistenceConfigSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("memory") }).strict(),
  z.object({ kind: z.literal("pglite"), dataDir: z.string().min(1).optional() }).strict(),
  z
    .object({
      kind: z.literal("postgres"),
      url: postgresUrl,
      poolSize: z.number().int().min(1).max(200).default(10),
    })
    .strict(),
]);

/** Where notices go: recorded in memory, written to the log (token redacted), or sent through AWS SES v2. */
export const noticesConfigSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("memory") }).strict(),
  z.object({ kind: z.literal("log") }).strict(),
  z
    .object({
      kind: z.literal("ses"),
      from: z.string(required).min(3, "must be an email address"),
      region: z
        .string()
        .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as us-east-1")
        .default("us-east-1"),
      endpoint: z.url().optional(),
      replyTo: z.string().optional(),
      configurationSetName: z.string().optional(),
    })
    .strict(),
]);

/** The slack the relay keeps between a send's deadline and its lease's end (its `leaseMarginMs`). */
export const RELAY_LEASE_MARGIN_MS = 5_000;

/** The relay settings when none are given. */
const RELAY_DEFAULTS = {
  intervalMs: 1_000,
  maxAttempts: 8,
  batchSize: 50,
  concurrency: 8,
  leaseMs: 60_000,
  sendTimeoutMs: 20_000,
  retentionHours: 168,
};

/** Decodes a token key given as hex (64+ digits) or base64 (32+ bytes). */
function decodeKey(value: string): Uint8Array | null {
  if (/^[0-9a-fA-F]{64,}$/.test(value) && value.length % 2 === 0) return Buffer.from(value, "hex");
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) {
    const bytes = Buffer.from(value, "base64");
    return bytes.length >= 32 ? bytes : null;
  }
  return null;
}

/** The whole configuration of {@link createConnectionsContainer}, parsed with defaults applied. */
export const connectionsConfigSchema = z
  .object({
    persistence: persistenceConfigSchema.default({ kind: "memory" }),
    /** The SQL schema the Postgres tables live in. */
    schema: schemaName.default("public"),
    notices: noticesConfigSchema.default({ kind: "memory" }),
    /** The secret the token service derives tokens from: 32+ bytes as hex or base64. Required with PostgreSQL. */
    tokenKey: z
      .string()
      .transform((s, ctx) => {
        const key = decodeKey(s.trim());
        if (key === null) {
          ctx.addIssue({
            code: "custom",
            message: "must be at least 32 bytes, as hex (64+ digits) or base64",
          });
          return z.NEVER;
        }
        return key;
      })
      .optional(),
    relay: z
      .object({
        /** Pause between outbox polls when idle, ms. */
        intervalMs: z.number().int().min(10).max(3_600_000).default(1_000),
        /** Attempts before a notice is dead-lettered. */
        maxAttempts: z.number().int().min(1).max(100).default(8),
        /** Notices claimed per batch. */
        batchSize: z.number().int().min(1).max(1_000).default(50),
        /** Sends in flight at once. */
        concurrency: z.number().int().min(1).max(256).default(8),
        /** How long a claim holds, ms. */
        leaseMs: z.number().int().min(1_000).max(3_600_000).default(60_000),
        /** The deadline of one send, ms (an SES send gets a shorter one of its own). */
        sendTimeoutMs: z.number().int().min(200).max(600_000).default(20_000),
        /** How long delivered notices are kept before they are purged, hours (0: at the next sweep). */
        retentionHours: z.number().int().min(0).max(87_600).default(168),
      })
      .strict()
      .refine((r) => r.leaseMs > r.sendTimeoutMs + RELAY_LEASE_MARGIN_MS, {
        path: ["leaseMs"],
        message: `must be greater than sendTimeoutMs + ${RELAY_LEASE_MARGIN_MS} ms, so a send always ends inside its lease`,
      })
      .default(RELAY_DEFAULTS),
    /**
     * The in-process resolveAccess cache of the Postgres and PGlite persistence (docs/caching.md): how many answers it
     * holds, least recently used first out; 0, the default, turns it off. Ignored in memory (already in-process).
     */
    accessCache: z.number().int().min(0).max(10_000_000).default(0),
    /**
     * Traces and metrics through `@conn/opentelemetry` (a span per use case and per send, outbox gauges), a no-op
     * until the host installs an OpenTelemetry SDK. `true` requires `@conn/opentelemetry`; unset uses it when it is
     * installed; `false` leaves it off. After the container started, `config.telemetry` says whether it is on.
     */
    telemetry: z.boolean().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.persistence.kind === "postgres" && c.tokenKey === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["tokenKey"],
        message: "is required with PostgreSQL persistence, so targets can see their tokens after a restart",
      });
    }
  });

/** The configuration as a host writes it (defaults optional). */
export type ConnectionsConfigInput = z.input<typeof connectionsConfigSchema>;

/** The configuration with defaults applied. */
export type ConnectionsConfig = z.output<typeof connectionsConfigSchema>;

/** Each setting's environment variable, by config path. */
export const ENV_VARIABLES: Readonly<Record<string, string>> = {
  "persistence.kind": "CONN_PERSISTENCE",
  "persistence.url": "CONN_DATABASE_URL",
  "persistence.dataDir": "CONN_PGLITE_DIR",
  "persistence.poolSize": "CONN_DATABASE_POOL_SIZE",
  schema: "CONN_DATABASE_SCHEMA",
  "notices.kind": "CONN_NOTICES",
  "notices.from": "CONN_SES_FROM",
  "notices.region": "CONN_SES_REGION",
  "notices.endpoint": "CONN_SES_ENDPOINT",
  "notices.replyTo": "CONN_SES_REPLY_TO",
  "notices.configurationSetName": "CONN_SES_CONFIGURATION_SET",
  tokenKey: "CONN_TOKEN_KEY",
  "relay.intervalMs": "CONN_RELAY_INTERVAL_MS",
  "relay.maxAttempts": "CONN_RELAY_MAX_ATTEMPTS",
  "relay.batchSize": "CONN_RELAY_BATCH_SIZE",
  "relay.concurrency": "CONN_RELAY_CONCURRENCY",
  "relay.leaseMs": "CONN_RELAY_LEASE_MS",
  "relay.sendTimeoutMs": "CONN_RELAY_SEND_TIMEOUT_MS",
  "relay.retentionHours": "CONN_OUTBOX_RETENTION_HOURS",
  accessCache: "CONN_ACCESS_CACHE",
  telemetry: "CONN_TELEMETRY",
};

/** A configuration that cannot work; the message names each bad setting and its environment variable. */
export class ConfigurationError extends Error {
  /** The bad settings, e.g. `persistence.url (CONN_DATABASE_URL): must be a postgres:// … connection string`. */
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid @conn configuration: ${problems.join("; ")}`);
    this.name = "ConfigurationError";
    this.problems = problems;
  }
}

/** Parses a configuration; throws a {@link ConfigurationError} naming every bad setting. */
export function parseConnectionsConfig(input: unknown): ConnectionsConfig {
  const parsed = connectionsConfigSchema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  throw new ConfigurationError(
    parsed.error.issues.map((issue) => {
      const path = issue.path.join(".");
      const env = ENV_VARIABLES[path];
      return `${path || "config"}${env === undefined ? "" : ` (${env})`}: ${issue.message}`;
    }),
  );
}

function integer(value: string | undefined): number | string | undefined {
  if (value === undefined || value === "") return undefined;
  return /^-?\d+$/.test(value.trim()) ? Number(value) : value;
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== "")) as Partial<T>;
}

/**
 * Reads the configuration from environment variables (see {@link ENV_VARIABLES}). The persistence kind is inferred
 * when CONN_PERSISTENCE is unset: CONN_DATABASE_URL → postgres, CONN_PGLITE_DIR → pglite, else memory; the notice
 * kind likewise: CONN_SES_FROM → ses, else memory.
 */
export function configFromEnv(env: Record<string, string | undefined> = process.env): ConnectionsConfigInput {
  const persistenceKind =
    env.CONN_PERSISTENCE || (env.CONN_DATABASE_URL ? "postgres" : env.CONN_PGLITE_DIR ? "pglite" : "memory");
  const persistence =
    persistenceKind === "postgres"
      ? defined({
          kind: persistenceKind,
          url: env.CONN_DATABASE_URL ?? "",
          poolSize: integer(env.CONN_DATABASE_POOL_SIZE),
        })
      : persistenceKind === "pglite"
        ? defined({ kind: persistenceKind, dataDir: env.CONN_PGLITE_DIR })
        : { kind: persistenceKind };
  const noticesKind = env.CONN_NOTICES || (env.CONN_SES_FROM ? "ses" : "memory");
  const notices =
    noticesKind === "ses"
      ? defined({
          kind: noticesKind,
          from: env.CONN_SES_FROM ?? "",
          region: env.CONN_SES_REGION,
          endpoint: env.CONN_SES_ENDPOINT,
          replyTo: env.CONN_SES_REPLY_TO,
          configurationSetName: env.CONN_SES_CONFIGURATION_SET,
        })
      : { kind: noticesKind };
  const relay = defined({
    intervalMs: integer(env.CONN_RELAY_INTERVAL_MS),
    maxAttempts: integer(env.CONN_RELAY_MAX_ATTEMPTS),
    batchSize: integer(env.CONN_RELAY_BATCH_SIZE),
    concurrency: integer(env.CONN_RELAY_CONCURRENCY),
    leaseMs: integer(env.CONN_RELAY_LEASE_MS),
    sendTimeoutMs: integer(env.CONN_RELAY_SEND_TIMEOUT_MS),
    retentionHours: integer(env.CONN_OUTBOX_RETENTION_HOURS),
  });
  const telemetry = env.CONN_TELEMETRY?.trim().toLowerCase();
  return defined({
    persistence,
    notices,
    telemetry:
      telemetry === undefined || telemetry === ""
        ? undefined
        : ["0", "false", "off", "no"].includes(telemetry)
          ? false
          : ["1", "true", "on", "yes"].includes(telemetry)
            ? true
            : telemetry,
    schema: env.CONN_DATABASE_SCHEMA,
    accessCache: integer(env.CONN_ACCESS_CACHE),
    tokenKey: env.CONN_TOKEN_KEY,
    relay: Object.keys(relay).length > 0 ? { ...RELAY_DEFAULTS, ...relay } : undefined,
  }) as ConnectionsConfigInput;
}
