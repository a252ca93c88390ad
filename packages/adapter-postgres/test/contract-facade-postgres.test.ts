import { facadeSuites } from "./support/contract-suites.js";
import { describeEngines } from "./support/engines.js";

// The facade suites on the server: the facade model run, share links and time-limited grants.
describeEngines("the shared contract suites", "contract_facade", facadeSuites, { engines: ["postgres"] });
