/**
 * `pnpm serve`: the connections REST API on http://127.0.0.1:3000 (PORT, HOST), over the world of a JSON fixture
 * (CONN_FIXTURE, default fixtures/demo.json), stored in memory unless the CONN_* variables say otherwise
 * (docs/configuration.md). Authentication is DEMO ONLY: `Authorization: Bearer <account _id>`.
 */
import { resolve } from "node:path";
import { ConfigurationError } from "@conn/container";
import { accessLevelName } from "@conn/core";
import { DEFAULT_FIXTURE, FixtureError } from "./fixture.js";
import { type DemoServer, startDemoServer } from "./server.js";

/** The PORT variable: 0..65535, default 3000. */
function portFrom(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return 3000;
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || port > 65535) {
    throw new ConfigurationError([`PORT: must be a port number 0..65535, got "${value}"`]);
  }
  return port;
}

const env = process.env;
// A relative CONN_FIXTURE is relative to where `pnpm serve` was typed (pnpm runs the script in this package).
const fixturePath = env.CONN_FIXTURE
  ? resolve(env.INIT_CWD ?? process.cwd(), env.CONN_FIXTURE)
  : DEFAULT_FIXTURE;

let server: DemoServer;
try {
  server = await startDemoServer({
    port: portFrom(env.PORT),
    hostname: env.HOST || "127.0.0.1",
    fixture: fixturePath,
  });
} catch (error) {
  const known = error instanceof FixtureError || error instanceof ConfigurationError;
  console.error(known ? (error as Error).message : error);
  process.exit(1);
}

const { fixture, conn, url } = server;
const nameOf = (id: string) => {
  const a = fixture.accounts.find((x) => x._id === id);
  return a === undefined ? id : [a.name.first, a.name.last].filter(Boolean).join(" ");
};
// The handlers go in before anything is printed: a Ctrl-C sent as soon as "Ctrl-C stops." shows must find them.
let stopping = false;
async function stop(signal: NodeJS.Signals): Promise<void> {
  if (stopping) {
    console.log(`${signal} again: exiting now`);
    process.exit(1);
  }
  stopping = true;
  console.log(`${signal}: stopping…`);
  try {
    await server.close();
    console.log("stopped");
    process.exit(0);
  } catch (error) {
    console.error("error while stopping", error);
    process.exit(1);
  }
}
process.on("SIGINT", (signal) => void stop(signal));
process.on("SIGTERM", (signal) => void stop(signal));

const lines = [
  `@conn demo HTTP server listening on ${url}`,
  `  persistence: ${conn.config.persistence.kind} · notices: ${conn.config.notices.kind} · fixture: ${fixturePath}`,
  "  DEMO-ONLY authentication: send 'Authorization: Bearer <account _id>'; no header is anonymous.",
];
for (const org of fixture.orgs) {
  lines.push("", `  ${org.name}: ${url}/${org.code}/v2  (OpenAPI: ${url}/${org.code}/v2/openapi.json)`);
  lines.push("  accounts:");
  for (const a of fixture.accounts.filter((x) => x.org === org.code)) {
    lines.push(`    ${a._id}  ${nameOf(a._id).padEnd(14)} ${a.email}${a.verified ? "" : " (not verified)"}`);
  }
  lines.push("  instances, and who holds what on them by the host's own rules:");
  for (const inst of fixture.instances.filter((x) => x.org === org.code)) {
    const path =
      inst.object === "account"
        ? `account ${inst._id} (${nameOf(inst._id)})`
        : `${fixture.objects.find((o) => o.org === org.code && o.name === inst.object)?.plural}/${inst._id}`;
    const who = Object.entries(inst.access).map(
      ([id, level]) => `${nameOf(id)} ${accessLevelName[level]} (${level})`,
    );
    lines.push(`    ${path}: ${who.join(", ")}`);
  }
}
lines.push("", 'Register an account: POST /{org}/v2/accounts {"email","name"} (demo only). Ctrl-C stops.');
console.log(lines.join("\n"));
