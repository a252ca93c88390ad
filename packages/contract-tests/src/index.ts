/**
 * @conn/contract-tests: the conformance suites every @conn adapter runs from its own tests, each a factory of named
 * vitest cases taking the adapter's setup/teardown.
 */

/** The access-ending notice suite: once per end, to target and creator, on a moving clock; sweeps racing. */
export {
  type AccessEndingContractOptions,
  type AccessEndingModelOptions,
  accessEndingNoticeContract,
  checkAccessEndingModel,
  type NoticeWorld,
  type NoticeWorldFactory,
} from "./access-ending-contract.js";
/** Capabilities an adapter opts out of, each with a reason shown in the skipped test's name. */
export type { OptOuts } from "./capabilities.js";
/** The repository and outbox suite, and the harness an adapter hands it. */
export {
  connectionRepositoryContract,
  type RepositoryBackdoor,
  type RepositoryCapability,
  type RepositoryContractFactory,
  type RepositoryHarness,
} from "./connection-repository-contract.js";
/** The model-based suite of the whole facade, the world an adapter builds for it, and its tuning. */
export {
  checkFacadeModel,
  type FacadeModelOptions,
  facadeModelContract,
  modelRuns,
  type World,
  type WorldFactory,
} from "./facade-model-contract.js";
/** Host id styles the suites run with: a host's ids are opaque strings. */
export { HOST_ID_STYLES, type HostIdStyle, hostId } from "./fixtures.js";
/** The linearizability check: concurrent batches of facade calls must each match some serial order. */
export {
  type BatchMode,
  checkLinearizable,
  formatStats,
  type LinearizabilityFactory,
  type LinearizabilityOptions,
  type LinearizabilityStats,
} from "./linearizability.js";
/** The linearizability suite an adapter runs, with a visible known-failure flag. */
export {
  type KnownFailure,
  type LinearizabilityContractOptions,
  linearizabilityContract,
} from "./linearizability-contract.js";
/** A scheduling point of the linearizability check, which a stepped store may await between its steps. */
export type { Gate } from "./linearizability-world.js";
/** The notifier suite and the harness an adapter hands it. */
export {
  type DeliveredMessage,
  type NotifierCapability,
  type NotifierContractFactory,
  type NotifierHarness,
  notifierContract,
} from "./notifier-contract.js";
/** The share-link suite: the rules, the race on a link's last uses, and a model-based run with a moving clock. */
export { type ShareLinkContractOptions, shareLinkContract } from "./share-link-contract.js";
/** The time-limited grant suite: ends that cap, show, move, and stop a grant counting at once; the purge. */
export {
  type TimeLimitedGrantContractOptions,
  timeLimitedGrantContract,
} from "./time-limited-grant-contract.js";
