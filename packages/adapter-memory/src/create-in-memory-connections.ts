import {
  type Clock,
  type Connections,
  createConnections,
  type Notifier,
  OutboxRelay,
  type OutboxRelayOptions,
} from "@conn/core";
import { InMemoryAccountDirectory, InMemoryContextAccess, InMemoryOrgDirectory } from "./host.js";
import { InMemoryUnitOfWork } from "./in-memory-unit-of-work.js";
import {
  CryptoRandom,
  CryptoTokenService,
  type CryptoTokenServiceOptions,
  ManualClock,
  RandomIdGenerator,
  RecordingEventPublisher,
  RecordingNotifier,
} from "./services.js";

/** Options of {@link createInMemoryConnections}. */
export interface InMemoryConnectionsOptions<C extends Clock = ManualClock> {
  /** The clock; a {@link ManualClock} at 2026-01-01 by default. */
  clock?: C;
  /** The notifier; a {@link RecordingNotifier} by default. */
  notifier?: Notifier;
  /** The token key (see {@link CryptoTokenServiceOptions}). */
  tokenKey?: CryptoTokenServiceOptions["key"];
  /** Relay tuning. */
  relay?: OutboxRelayOptions;
  /** Deliver notices right after each commit (default true); when false, call `relay.drain()` yourself. */
  deliverOnCommit?: boolean;
}

/** Everything {@link createInMemoryConnections} wires, so tests and demos can reach each part. */
export interface InMemoryConnections<C extends Clock = ManualClock> {
  connections: Connections;
  store: InMemoryUnitOfWork;
  accounts: InMemoryAccountDirectory;
  contexts: InMemoryContextAccess;
  orgs: InMemoryOrgDirectory;
  tokens: CryptoTokenService;
  ids: RandomIdGenerator;
  clock: C;
  notifier: RecordingNotifier;
  events: RecordingEventPublisher;
  relay: OutboxRelay;
}

/**
 * The whole library in memory: the facade over in-memory adapters, a recording notifier fed by the outbox relay
 * after each commit, and recorded events. For tests, demos and embedding without a database.
 */
export function createInMemoryConnections<C extends Clock = ManualClock>(
  options: InMemoryConnectionsOptions<C> = {},
): InMemoryConnections<C> {
  const clock = options.clock ?? (new ManualClock() as unknown as C);
  const recording = new RecordingNotifier();
  const notifier = options.notifier ?? recording;
  const tokens = new CryptoTokenService({ key: options.tokenKey });
  const ids = new RandomIdGenerator(clock);
  const events = new RecordingEventPublisher();
  let relay: OutboxRelay | undefined;
  const store = new InMemoryUnitOfWork({
    afterCommit: options.deliverOnCommit === false ? undefined : () => (relay as OutboxRelay).drain(),
  });
  relay = new OutboxRelay(
    { outbox: store.outbox, notifier, tokens, clock, random: new CryptoRandom() },
    options.relay,
  );
  const accounts = new InMemoryAccountDirectory();
  const contexts = new InMemoryContextAccess();
  const orgs = new InMemoryOrgDirectory();
  const connections = createConnections({ store, accounts, contexts, orgs, tokens, ids, clock, events });
  return {
    connections,
    store,
    accounts,
    contexts,
    orgs,
    tokens,
    ids,
    clock,
    notifier: recording,
    events,
    relay,
  };
}
