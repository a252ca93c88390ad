import { linearizabilitySuites, SOAK } from "./support/contract-suites.js";
import { describeEngines } from "./support/engines.js";

// Linearizability on both engines, plain and with the access cache: 50 batches each in `pnpm test`, 200 under
// CONN_SOAK=1 (`pnpm test:soak`); CONN_FC_RUNS or CONN_SLOW=1 run more.
describeEngines("the shared contract suites", "contract_lin", (ctx) =>
  linearizabilitySuites(ctx, SOAK ? 200 : 50),
);
