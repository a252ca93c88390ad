// A CommonJS host with UUID ids: its own account, org and access ports (in-memory classes standing in for its
// tables), registered on the container; create → accept → resolveAccess → delete. Then a configured adapter that
// is not installed must fail with the package to install.
const { randomUUID } = require("node:crypto");
const assert = require("node:assert/strict");
const {
  InMemoryAccountDirectory,
  InMemoryContextAccess,
  InMemoryOrgDirectory,
} = require("@conn/adapter-memory");
const { createConnectionsContainer, ConfigurationError, TOKENS } = require("@conn/container");
const { AccessLevel, ConnectionError } = require("@conn/core");

async function main() {
  const accounts = new InMemoryAccountDirectory();
  const contexts = new InMemoryContextAccess();
  const orgs = new InMemoryOrgDirectory();
  const conn = await createConnectionsContainer(
    { persistence: { kind: "memory" }, notices: { kind: "memory" } },
    {
      register(c) {
        c.register(TOKENS.AccountDirectory, { useValue: accounts });
        c.register(TOKENS.ContextAccess, { useValue: contexts });
        c.register(TOKENS.OrgDirectory, { useValue: orgs });
      },
    },
  );
  const org = "uuid-host";
  const [owner, guest] = [randomUUID(), randomUUID()];
  const record = { object: "c_record", _id: randomUUID() };
  orgs.put({ code: org, name: "UUID Host" });
  accounts.put(org, { _id: owner, email: "owner@uuid.example", name: { first: "O" }, verified: true });
  accounts.put(org, { _id: guest, email: "guest@uuid.example", name: { first: "G" }, verified: true });
  contexts.defineObject(org, { name: "c_record", allowConnections: true, requireAccept: true });
  contexts.grant(org, owner, record, AccessLevel.Delete);

  try {
    await story(conn, { org, owner, guest, record });
  } finally {
    await conn.dispose();
  }

  const missing = await createConnectionsContainer(
    { persistence: { kind: "pglite" } },
    { inMemoryHostPorts: true, logger: { warn() {}, error() {} } },
  ).catch((e) => e);
  assert.ok(missing instanceof ConfigurationError, `expected a ConfigurationError, got ${missing}`);
  assert.match(missing.message, /npm install @conn\/adapter-postgres @electric-sql\/pglite/);
  console.log("uuid host: create, accept, resolveAccess, delete; a missing adapter names its package");
}

async function story(conn, { org, owner, guest, record }) {
  const { connections } = conn;
  const [invite] = await connections.create({ org, accountId: owner }, record, [
    { _id: guest, access: AccessLevel.Read },
  ]);
  assert.equal(invite.context._id, record._id);
  const { data } = await connections.list({ org, accountId: guest }, { state: 0 });
  const active = await connections.accept({ org, accountId: guest }, data[0].token);
  assert.equal(active.target.account._id, guest);
  assert.equal(await connections.resolveAccess(org, guest, record), AccessLevel.Read);
  await connections.delete({ org, accountId: owner }, active._id);
  assert.equal(await connections.resolveAccess(org, guest, record), 0);
  const refused = await connections.list({ org, accountId: randomUUID() }).catch((e) => e);
  assert.ok(
    refused instanceof ConnectionError,
    "an unknown caller is a ConnectionError from the same @conn/core",
  );
  assert.equal(refused.code, "cortex.accessDenied.notLoggedIn");
  assert.ok(refused.reason, "the refusal has a reason");
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
