import { HOST_ID_STYLES } from "@conn/contract-tests";
import { repositorySuites, SOAK } from "./support/contract-suites.js";
import { describeEngines } from "./support/engines.js";

// The repository suite on PGlite with ObjectId host ids, plain and with the access cache. The UUID and integer-string
// styles are the same SQL with other text in the id columns: they run here under CONN_SOAK=1 (`pnpm test:soak`), and
// in every `pnpm test` on the server (contract-repository-postgres.test.ts) and on adapter-memory.
describeEngines(
  "the shared contract suites",
  "contract_repo",
  (ctx) => repositorySuites(ctx, SOAK ? HOST_ID_STYLES : ["objectId"], true),
  { engines: ["pglite"] },
);
