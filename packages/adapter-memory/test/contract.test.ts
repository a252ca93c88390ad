import {
  connectionRepositoryContract,
  facadeModelContract,
  notifierContract,
  type World,
} from "@conn/contract-tests";
import {
  copyRecord,
  createInMemoryConnections,
  InMemoryUnitOfWork,
  RecordingNotifier,
} from "../src/index.js";

connectionRepositoryContract("adapter-memory", {
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

facadeModelContract("adapter-memory", {
  async setup(): Promise<World> {
    const lib = createInMemoryConnections();
    return {
      connections: lib.connections,
      clock: lib.clock,
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
});
