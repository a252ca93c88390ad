import {
  accessEndingNoticeContract,
  connectionRepositoryContract,
  facadeModelContract,
  HOST_ID_STYLES,
  type KnownFailure,
  linearizabilityContract,
  type NoticeWorld,
  notifierContract,
  shareLinkContract,
  timeLimitedGrantContract,
} from "@conn/contract-tests";
import {
  copyRecord,
  createInMemoryConnections,
  InMemoryUnitOfWork,
  RecordingNotifier,
} from "../src/index.js";

// Host ids are opaque strings: the repository suite runs with ObjectId, UUID and integer-string ids.
for (const idStyle of HOST_ID_STYLES) {
  connectionRepositoryContract("adapter-memory", {
    idStyle,
    async setup() {
      const uow = new InMemoryUnitOfWork();
      return {
        repo: uow.connections,
        uow,
        backdoor: {
          async allRecords(org) {
            return [...uow.state.records.values()].filter((r) => r.org === org).map(copyRecord);
          },
          async outboxNotice(id) {
            const row = uow.state.outbox.get(id);
            return row === undefined ? null : structuredClone(row.notice);
          },
        },
      };
    },
  });
}

notifierContract("RecordingNotifier", {
  async setup() {
    const notifier = new RecordingNotifier();
    return {
      notifier,
      async delivered() {
        return notifier.sent.map((n) => ({ to: n.recipient.email, text: JSON.stringify(n) }));
      },
    };
  },
  skip: { html: "RecordingNotifier records notices as data; it renders no HTML" },
});

/** A fresh in-memory world for the facade suites. */
const memoryWorld = {
  async setup(): Promise<NoticeWorld> {
    const lib = createInMemoryConnections();
    return {
      connections: lib.connections,
      clock: lib.clock,
      outbox: lib.store.outbox,
      addOrg: (settings) => {
        lib.orgs.put(settings);
      },
      addAccount: (org, account) => {
        lib.accounts.put(org, account);
      },
      defineObject: (org, settings) => {
        lib.contexts.defineObject(org, settings);
      },
      grantHostAccess: (org, account, context, level) => lib.contexts.grant(org, account, context, level),
    };
  },
};

facadeModelContract("adapter-memory", memoryWorld);

shareLinkContract("adapter-memory", memoryWorld);

timeLimitedGrantContract("adapter-memory", memoryWorld);

accessEndingNoticeContract("adapter-memory", memoryWorld, { numRuns: 200 });

/**
 * No known failure: the property held here before issue 11's fix only as a KNOWN FAILURE (seed 7, path 1814: delete
 * checked the strictly-more rule outside its transaction). Set a {@link KnownFailure} again only for a race found and
 * not yet fixed.
 */
const LINEARIZABILITY_KNOWN_FAILURE: KnownFailure | undefined = undefined;

// Memory is also the reference: a batch under fc.scheduler interleavings against serial replays on fresh stores. 200
// batches in `pnpm test`, 1000 under CONN_SOAK=1 (`pnpm test:soak`); CONN_FC_RUNS or CONN_SLOW=1 run more.
linearizabilityContract(
  "adapter-memory",
  {
    mode: "scheduled",
    setup: async () => new InMemoryUnitOfWork(),
    reference: () => new InMemoryUnitOfWork(),
  },
  { numRuns: process.env.CONN_SOAK === "1" ? 1000 : 200, knownFailure: LINEARIZABILITY_KNOWN_FAILURE },
);
