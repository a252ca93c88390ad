/**
 * The seed's story on PostgreSQL, with every notice sent as an email through the real AWS SDK to a local SES
 * emulator (aws-ses-v2-local) that this script starts. Prints the emails the emulator received.
 *
 *   pnpm --filter @conn/example-postgres-ses start
 *
 * CONN_DATABASE_URL picks the server (default postgres://postgres@127.0.0.1:5432/test). The tables go in a fresh
 * schema that is dropped at the end, unless CONN_DATABASE_SCHEMA names one to keep.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type {
  InMemoryAccountDirectory,
  InMemoryContextAccess,
  InMemoryOrgDirectory,
} from "@conn/adapter-memory";
import { createConnectionsContainer, TOKENS } from "@conn/container";
import { AccessLevel, type ConnectionView } from "@conn/core";
import * as sesLocal from "aws-ses-v2-local";
import pg from "pg";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
// The emulator accepts any credentials; the SDK's default chain reads these.
process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

type Start = (config?: { host?: string; port?: number }) => Promise<Server>;
const start =
  ((sesLocal as { default: unknown }).default as { default?: Start }).default ??
  ((sesLocal as { default: unknown }).default as Start);

const databaseUrl = process.env.CONN_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test";
const keepSchema = process.env.CONN_DATABASE_SCHEMA;
const schema = keepSchema || `conn_example_${process.pid}`;

const emulator = await start({ host: "127.0.0.1", port: 0 });
const endpoint = `http://127.0.0.1:${(emulator.address() as AddressInfo).port}`;
console.log(`SES emulator: ${endpoint}`);

const conn = await createConnectionsContainer(
  {
    persistence: { kind: "postgres", url: databaseUrl },
    schema,
    tokenKey: process.env.CONN_TOKEN_KEY || "0123456789abcdef".repeat(4),
    notices: { kind: "ses", from: "Acme Health <no-reply@acme.example>", region: "us-east-1", endpoint },
    relay: { intervalMs: 50, maxAttempts: 5, batchSize: 50 },
  },
  { inMemoryHostPorts: true },
);
console.log(`PostgreSQL: ${databaseUrl.replace(/\/\/[^@]*@/, "//…@")}, schema ${schema}`);

const ORG = "acme";
const [A, B, D] = ["5f0000000000000000000a01", "5f0000000000000000000b02", "5f0000000000000000000d04"];
const file = { object: "c_patient_file", _id: "5f00000000000000000f11e1" };
(conn.resolve(TOKENS.OrgDirectory) as InMemoryOrgDirectory).put({
  code: ORG,
  name: "Acme Health",
  connectionUrl: "https://acme.example/connections/{token}",
});
const accounts = conn.resolve(TOKENS.AccountDirectory) as InMemoryAccountDirectory;
const contexts = conn.resolve(TOKENS.ContextAccess) as InMemoryContextAccess;
contexts.defineObject(ORG, { name: "c_patient_file", label: "patient file", allowConnections: true });
accounts.put(ORG, {
  _id: A,
  email: "alice@acme.example",
  name: { first: "Alice", last: "Owner" },
  verified: true,
});
accounts.put(ORG, {
  _id: B,
  email: "bob@acme.example",
  name: { first: "Bob", last: "Doctor" },
  verified: true,
});
contexts.grant(ORG, A, file, AccessLevel.Delete);

const { connections } = conn;
const as = (accountId: string) => ({ org: ORG, accountId });
try {
  console.log("\n1. Alice shares the patient file with Bob at Read, and invites dan@elsewhere.example.");
  await connections.create(as(A), file, [
    { _id: B, access: AccessLevel.Read },
    { email: "dan@elsewhere.example", name: { first: "Dan", last: "Newcomer" }, access: AccessLevel.Read },
  ]);

  console.log("2. Bob accepts from his list; his access is Read, on PostgreSQL.");
  const bobs = await connections.list(as(B), { state: 0 });
  const active = await connections.accept(as(B), (bobs.data[0] as ConnectionView).token as string);
  console.log(`   Bob's effective access: ${await connections.resolveAccess(ORG, B, file)}`);

  console.log("3. Dan registers and accepts; Alice then deletes Bob's connection.");
  accounts.put(ORG, {
    _id: D,
    email: "dan@elsewhere.example",
    name: { first: "Dan", last: "Newcomer" },
    verified: true,
  });
  await connections.bindRegisteredAccount(ORG, D);
  const dans = await connections.list(as(D), { state: 0 });
  await connections.accept(as(D), (dans.data[0] as ConnectionView).token as string);
  await connections.delete(as(A), active._id);
  console.log(`   Bob's effective access: ${await connections.resolveAccess(ORG, B, file)}`);
  console.log(`   Dan's effective access: ${await connections.resolveAccess(ORG, D, file)}`);

  // The relay delivers in the background; wait until both invitation emails are in.
  type Stored = { destination: { to: string[] }; subject: string; body: { text?: string } };
  let emails: Stored[] = [];
  for (let i = 0; i < 100 && emails.length < 2; i++) {
    emails = ((await (await fetch(`${endpoint}/store`)).json()) as { emails: Stored[] }).emails;
    if (emails.length < 2) await new Promise((r) => setTimeout(r, 100));
  }
  console.log(`\nEmails the SES emulator received: ${emails.length}`);
  for (const e of emails) {
    console.log(`\n--- To: ${e.destination.to.join(", ")}\n--- Subject: ${e.subject}`);
    // The link carries the token: shown shortened, as a log should.
    console.log((e.body.text ?? "").replace(/(connections\/)[A-Za-z0-9_%-]{20,}/g, "$1<token>"));
  }
} finally {
  await conn.dispose();
  if (!keepSchema) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
  emulator.closeAllConnections();
  await new Promise((resolve) => emulator.close(resolve));
}
