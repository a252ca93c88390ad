import { HOST_ID_STYLES } from "@conn/contract-tests";
import { repositorySuites } from "./support/contract-suites.js";
import { describeEngines } from "./support/engines.js";

// The repository suite on the server with ObjectId, UUID and integer-string host ids, and with the access cache.
describeEngines(
  "the shared contract suites",
  "contract_repo",
  (ctx) => repositorySuites(ctx, HOST_ID_STYLES, true),
  { engines: ["postgres"] },
);
