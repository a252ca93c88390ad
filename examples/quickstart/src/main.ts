/**
 * The quickstart: the seed's story told through the @conn facade on the in-memory adapters.
 * Run it with `pnpm demo`.
 */
import { createInMemoryConnections } from "@conn/adapter-memory";
import { AccessLevel, accessLevelName, type ConnectionView, isConnectionError } from "@conn/core";

const ORG = "acme";
const A = "5f0000000000000000000a01"; // Alice, owns the patient file
const B = "5f0000000000000000000b02"; // Bob, a doctor
const C = "5f0000000000000000000c03"; // Carol, a nurse
const patientFile = { object: "c_patient_file", _id: "5f00000000000000000f11e1" };

const lib = createInMemoryConnections();
const { connections, accounts, contexts, orgs, notifier, clock } = lib;

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
let step = 0;
const say = (text: string) => console.log(`\n${++step}. ${text}`);

say("Alice owns the patient file and connects Bob at Read.");
const [created] = await connections.create(as(A), patientFile, [{ _id: B, access: AccessLevel.Read }]);
show("Alice's view of the new connection (no token for the creator):", created);
console.log(`   Notice sent: ${notifier.sent.at(-1)?.kind} to ${notifier.sent.at(-1)?.recipient.email}`);

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
show("Carol's connection (Update was asked; Alice holds Delete, and the share chain caps at Share):", auto);
console.log(`   Notice sent: ${notifier.sent.at(-1)?.kind} to ${notifier.sent.at(-1)?.recipient.email}`);
console.log(`   Carol's effective access: ${await level(C)}`);

say("Alice invites dan@elsewhere.example, who has no account yet.");
const [invite] = await connections.create(as(A), patientFile, [
  { email: "  Dan@Elsewhere.example ", name: { first: "Dan", last: "Newcomer" }, access: AccessLevel.Read },
]);
show("Alice's view (email stored trimmed and lower-cased):", invite);
const inviteNotice = notifier.sent.at(-1);
console.log(`   Notice sent: ${inviteNotice?.kind} to ${inviteNotice?.recipient.email}`);
console.log(`   Accept link: ${inviteNotice?.acceptUrl?.replace(/[^/]+$/, "<token>")}`);

say("A day later Dan registers; the host calls bindRegisteredAccount, and Dan accepts.");
clock.advance(24 * 60 * 60 * 1000);
const D = "5f0000000000000000000d04";
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
try {
  await connections.accept(as(B), dansToken);
} catch (error) {
  if (!isConnectionError(error)) throw error;
  console.log(`   ${error.code} (${error.status}): ${error.message}`);
}

console.log(
  `\nDone: ${notifier.sent.length} notices delivered, ${lib.events.events.length} events published.`,
);
