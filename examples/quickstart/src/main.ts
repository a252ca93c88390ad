/**
 * The quickstart: the seed's story told through the @conn facade, wired by the container.
 * `pnpm demo` runs it on the embedded defaults (in memory, no server). With `CONN_PGLITE_DIR=./data` the
 * connections live in an embedded PostgreSQL directory and survive between runs; with `CONN_DATABASE_URL` they live
 * on a PostgreSQL server (see docs/configuration.md).
 */

import { resolve } from "node:path";
import type {
  InMemoryAccountDirectory,
  InMemoryContextAccess,
  InMemoryOrgDirectory,
} from "@conn/adapter-memory";
import { configFromEnv, createConnectionsContainer, TOKENS } from "@conn/container";
import {
  AccessLevel,
  accessLevelName,
  type ConnectionView,
  type CreateResultEntry,
  type Notice,
} from "@conn/core";

const ORG = "acme";
const A = "5f0000000000000000000a01"; // Alice, owns the patient file
const B = "5f0000000000000000000b02"; // Bob, a doctor
const C = "5f0000000000000000000c03"; // Carol, a nurse
const D = "5f0000000000000000000d04"; // Dan, who registers later
const patientFile = { object: "c_patient_file", _id: "5f00000000000000000f11e1" };

// pnpm runs this script in examples/quickstart: a relative CONN_PGLITE_DIR means relative to where `pnpm demo` was
// typed (INIT_CWD), not to this folder.
const env = { ...process.env };
if (env.CONN_PGLITE_DIR) env.CONN_PGLITE_DIR = resolve(env.INIT_CWD ?? process.cwd(), env.CONN_PGLITE_DIR);
const conn = await createConnectionsContainer(configFromEnv(env), { inMemoryHostPorts: true });
const { connections } = conn;
// The host's own world. A real host registers ports over its own tables (docs/host-integration.md); the demo fills
// the in-memory ones it asked the container for (inMemoryHostPorts).
const orgs = conn.resolve(TOKENS.OrgDirectory) as InMemoryOrgDirectory;
const accounts = conn.resolve(TOKENS.AccountDirectory) as InMemoryAccountDirectory;
const contexts = conn.resolve(TOKENS.ContextAccess) as InMemoryContextAccess;
const sent: Notice[] = [];
const recorded = conn.resolve(TOKENS.Notifier) as { sent?: Notice[] };
const relay = conn.resolve(TOKENS.OutboxRelay);
/** Delivers what is due and returns the notices delivered since the last call. */
async function newNotices(): Promise<Notice[]> {
  await relay.drain();
  const all = recorded.sent ?? [];
  const fresh = all.slice(sent.length);
  sent.push(...fresh);
  return fresh;
}

orgs.put({ code: ORG, name: "Acme Health", connectionUrl: "https://acme.example/connections/{token}" });
contexts.defineObject(ORG, {
  name: "c_patient_file",
  label: "patient file",
  allowConnections: true,
  requireAccept: false,
});
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
accounts.put(ORG, {
  _id: C,
  email: "carol@acme.example",
  name: { first: "Carol", last: "Nurse" },
  verified: true,
});
contexts.grant(ORG, A, patientFile, AccessLevel.Delete); // the owner holds Delete
contexts.grant(ORG, A, { object: "account", _id: C }, AccessLevel.Share); // Alice may auto-connect Carol

const as = (accountId: string | null) => ({ org: ORG, accountId });
const show = (label: string, value: unknown) => console.log(`\n${label}\n${JSON.stringify(value, null, 2)}`);
const level = async (who: string) => {
  const access = await connections.resolveAccess(ORG, who, patientFile);
  return `${accessLevelName[access]} (${access})`;
};
const noticeLines = async () => {
  for (const n of await newNotices()) console.log(`   Notice sent: ${n.kind} to ${n.recipient.email}`);
};
const outcome = (entry: CreateResultEntry | undefined): ConnectionView => {
  if (entry === undefined || entry.object === "fault")
    throw new Error(`unexpected: ${JSON.stringify(entry)}`);
  return entry;
};
let step = 0;
const say = (text: string) => console.log(`\n${++step}. ${text}`);

console.log(`Persistence: ${conn.config.persistence.kind}; notices: ${conn.config.notices.kind}`);
const earlier = await connections.list(as(A), { show: "creator" });
console.log(`Connections Alice made in earlier runs: ${earlier.data.length}`);

say("Alice owns the patient file and connects Bob at Read.");
const created = outcome(
  (await connections.create(as(A), patientFile, [{ _id: B, access: AccessLevel.Read }]))[0],
);
show("Alice's view of the new connection (no token for the creator):", created);
await noticeLines();

say("Bob lists his connections and sees the pending one, with its token.");
const bobs = await connections.list(as(B), { state: 0 });
show("Bob's list:", bobs);
const token = (bobs.data[0] as ConnectionView).token as string;

say("Bob accepts with the token.");
const accepted = await connections.accept(as(B), token);
show("The active connection:", accepted);
console.log(`   Bob's effective access: ${await level(B)}`);

say("Alice deletes the connection: Bob's access ends at once.");
await connections.delete(as(A), accepted._id);
console.log(`   Bob's effective access: ${await level(B)}`);

say("Alice connects Carol with auto: active at once, no token.");
const [auto] = await connections.create(as(A), patientFile, [
  { _id: C, access: AccessLevel.Update, auto: true },
]);
if (auto?.object === "fault") {
  console.log(`   Carol already holds it from an earlier run: ${auto.errCode} (${auto.status})`);
} else {
  show("Carol's connection (Update was asked; Alice holds Delete, and the share chain caps at Share):", auto);
}
await noticeLines();
console.log(`   Carol's effective access: ${await level(C)}`);

say("Alice invites dan@elsewhere.example, who has no account yet.");
const invite = outcome(
  (
    await connections.create(as(A), patientFile, [
      {
        email: "  Dan@Elsewhere.example ",
        name: { first: "Dan", last: "Newcomer" },
        access: AccessLevel.Read,
      },
    ])
  )[0],
);
show("Alice's view (email stored trimmed and lower-cased):", invite);
const inviteNotices = await newNotices();
for (const n of inviteNotices) {
  console.log(`   Notice sent: ${n.kind} to ${n.recipient.email}`);
  console.log(`   Accept link: ${n.acceptUrl?.replace(/[^/]+$/, "<token>")}`);
}

say("Later, Dan registers; the host calls bindRegisteredAccount, and Dan accepts.");
accounts.put(ORG, {
  _id: D,
  email: "dan@elsewhere.example",
  name: { first: "Dan", last: "Newcomer" },
  verified: true,
});
console.log(`   Invitations bound to Dan: ${await connections.bindRegisteredAccount(ORG, D)}`);
const dans = await connections.list(as(D), { state: 0 });
const dansToken = (dans.data[0] as ConnectionView).token as string;
const dansConnection = await connections.accept(as(D), dansToken);
show("Dan's active connection:", dansConnection);
console.log(`   Dan's effective access: ${await level(D)}`);

say("Bob tries Dan's used token: it no longer opens anything.");
await connections.accept(as(B), dansToken).then(
  () => console.log("   unexpected: the token worked"),
  (error: { code: string; status: number; message: string }) =>
    console.log(`   ${error.code} (${error.status}): ${error.message}`),
);

const kept = await connections.list(as(A), { show: "creator" });
console.log(`\nDone: ${sent.length} notices delivered; Alice's connections now stored: ${kept.data.length}.`);
await conn.dispose();
