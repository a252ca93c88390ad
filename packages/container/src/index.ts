/**
 * @conn/container: the tsyringe composition root. One call wires the library into a host app.
 *
 * Install: `pnpm add @conn/container` (brings core and every adapter).
 *
 * ```ts
 * import { createConnectionsContainer, TOKENS } from "@conn/container";
 * const conn = await createConnectionsContainer({ persistence: { kind: "pglite" } }, {
 *   register: (c) => c.register(TOKENS.AccountDirectory, { useValue: myAccounts }),
 * });
 * await conn.connections.resolveAccess("acme", accountId, { object: "c_patient_file", _id });
 * await conn.dispose();
 * ```
 */
import "reflect-metadata";

export {
  ConfigurationError,
  type ConnectionsConfig,
  type ConnectionsConfigInput,
  configFromEnv,
  connectionsConfigSchema,
  ENV_VARIABLES,
  noticesConfigSchema,
  parseConnectionsConfig,
  persistenceConfigSchema,
} from "./config.js";
export {
  type ConnectionsContainer,
  type ConnectionsContainerOptions,
  type ContainerLogger,
  createConnectionsContainer,
} from "./create-connections-container.js";
export { LogNotifier, type NoticeLog } from "./log-notifier.js";
export { TOKENS } from "./tokens.js";
