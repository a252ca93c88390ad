/**
 * @conn/adapter-postgres: the connection repository, transactional outbox and unit of work of `@conn/core` on
 * PostgreSQL (node-postgres) or embedded PGlite, with versioned migrations.
 *
 * Install: `pnpm add @conn/adapter-postgres` (brings `pg` and `@electric-sql/pglite`).
 *
 * ```ts
 * import { connectPostgres, migrate, openPglite, PostgresUnitOfWork } from "@conn/adapter-postgres";
 *
 * const db = process.env.DATABASE_URL
 *   ? await connectPostgres({ connectionString: process.env.DATABASE_URL })
 *   : await openPglite({ dataDir: "./data" }); // or openPglite() for in-memory
 * await migrate(db, { schema: "conn" });
 * const unitOfWork = new PostgresUnitOfWork(db, { schema: "conn" });
 * ```
 *
 * The schema, its indexes and the statement count of each operation are in the package README.
 */
export {
  AccessCache,
  type AccessCacheOptions,
  type AccessCacheStats,
  accessKey,
  DEFAULT_ACCESS_CACHE_MAX_AGE_MS,
  DEFAULT_ACCESS_SYNC_WINDOW_MS,
} from "./access-cache.js";
export { type AccessNotice, accessChannel, parseAccessNotice } from "./access-listener.js";
export {
  activeKeySql,
  type BoundStatement,
  type HeldCall,
  RUN_STEPS,
  type RunStep,
  statementsInside,
} from "./connection-sql.js";
export {
  connectPostgres,
  type Database,
  type DatabaseEngine,
  type ListenHandlers,
  type ListenSession,
  openPglite,
  type PgliteInstance,
  type PgliteOpenOptions,
  type PostgresConnectOptions,
  pgliteDatabase,
  type Queryable,
} from "./database.js";
export { isRetryableDriverError, toConnectionError, type UniqueViolationCode } from "./errors.js";
export {
  MIGRATIONS,
  type MigrateOptions,
  type MigrateResult,
  type Migration,
  migrate,
} from "./migrations.js";
export { PostgresConnectionRepository } from "./postgres-connection-repository.js";
export { MAX_LAST_ERROR_LENGTH, PostgresOutbox } from "./postgres-outbox.js";
export { PostgresShareLinkRepository } from "./postgres-share-link-repository.js";
export {
  MAX_TRANSACTION_ATTEMPTS,
  PostgresUnitOfWork,
  type PostgresUnitOfWorkOptions,
} from "./postgres-unit-of-work.js";
export { DEFAULT_SCHEMA, type PostgresAdapterOptions } from "./schema-name.js";
export { literalText, TEXT_LITERAL, textLiteral } from "./sql-text.js";
