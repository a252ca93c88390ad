/**
 * `pnpm web`: the invitation and "who has access" pages on http://127.0.0.1:3001 (PORT, HOST), stored in memory
 * unless the CONN_* variables say otherwise (docs/configuration.md). Sign-in is DEMO ONLY: no password.
 */
import { z } from "zod";
import type { WebServer } from "./server.js";
import { displayName, PATIENT_FILE, PEOPLE } from "./world.js";

const env = process.env;
const port = z.coerce
  .number()
  .int()
  .min(0)
  .max(65535)
  .safeParse(env.PORT?.trim() || "3001");
const publicUrl = z
  .url({ protocol: /^https?$/ })
  .optional()
  .safeParse(env.CONN_WEB_PUBLIC_URL || undefined);

const problems = [
  ...(port.success ? [] : [`PORT: must be a port number 0..65535, got "${env.PORT}"`]),
  ...(publicUrl.success
    ? []
    : [`CONN_WEB_PUBLIC_URL: must be an http(s) URL, got "${env.CONN_WEB_PUBLIC_URL}"`]),
];
if (problems.length > 0) {
  // Said before the library is even loaded.
  console.error(`Invalid @conn configuration: ${problems.join("; ")}`);
  process.exit(1);
}

const { ConfigurationError } = await import("@conn/container");
const { startWebServer } = await import("./server.js");
let server: WebServer;
try {
  server = await startWebServer({
    port: port.data ?? 3001,
    hostname: env.HOST || "127.0.0.1",
    env,
    ...(publicUrl.data === undefined ? {} : { publicUrl: publicUrl.data }),
    log: (line) => console.log(line),
  });
} catch (error) {
  console.error(error instanceof ConfigurationError ? error.message : error);
  process.exit(1);
}

const { conn, world, url } = server;
const org = world.org.code;
const lines = [
  `@conn web example listening on ${url}`,
  `  open ${server.publicUrl}/${org} in a browser`,
  `  persistence: ${conn.config.persistence.kind} · emails: ${
    server.mailbox === null
      ? conn.config.notices.kind
      : `demo mailbox at ${server.publicUrl}/${org}/demo/mailbox`
  }`,
  `  invitation links: ${server.publicUrl}/${org}/connections/<token>`,
  "  DEMO-ONLY sign-in: an email address, no password. Accounts:",
  ...(await world.people()).map(
    (p) => `    ${p.email.padEnd(22)} ${displayName(p)}${p.verified ? "" : " (email not verified)"}`,
  ),
  `  ${displayName(PEOPLE.alice)} owns ${PATIENT_FILE.title}'s ${PATIENT_FILE.label}; who has access to it:`,
  `    ${server.publicUrl}/${org}/${PATIENT_FILE.plural}/${PATIENT_FILE.context._id}/access`,
  "Ctrl-C stops.",
];
console.log(lines.join("\n"));

let stopping = false;
async function stop(signal: NodeJS.Signals): Promise<void> {
  if (stopping) process.exit(1);
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
