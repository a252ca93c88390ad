import { createInMemoryConnections } from "@conn/adapter-memory";
import { AccessLevel, type ConnectionView } from "@conn/core";
import { expect, it } from "vitest";

const ORG = "acme";
const A = "5f0000000000000000000a01";
const B = "5f0000000000000000000b02";
const FILE = { object: "c_file", _id: "5f00000000000000000f11e1" };

it("getByToken: the anonymous landing page sees the invitation without the token; the logged-in target sees it", async () => {
  const lib = createInMemoryConnections();
  lib.orgs.put({ code: ORG, name: "Acme" });
  lib.contexts.defineObject(ORG, { name: "c_file", allowConnections: true });
  lib.accounts.put(ORG, { _id: A, email: "a@acme.example", name: { first: "A" }, verified: true });
  lib.accounts.put(ORG, { _id: B, email: "b@acme.example", name: { first: "B" }, verified: true });
  lib.contexts.grant(ORG, A, FILE, AccessLevel.Delete);
  await lib.connections.create({ org: ORG, accountId: A }, FILE, [
    { email: "b@acme.example", access: AccessLevel.Read },
  ]);
  const token = lib.notifier.sent[0]?.token as string;
  expect(token.length).toBeGreaterThanOrEqual(32);

  const anonymous = await lib.connections.getByToken({ org: ORG, accountId: null }, token);
  expect(anonymous).toMatchObject({ state: 0, access: AccessLevel.Read });
  expect(anonymous).not.toHaveProperty("token");
  expect(anonymous.target).not.toHaveProperty("account"); // invited by email: the account stays hidden
  expect(JSON.stringify(anonymous)).not.toContain(token);

  const target: ConnectionView = await lib.connections.getByToken({ org: ORG, accountId: B }, token);
  expect(target.token).toBe(token);
  expect(target.target.account?._id).toBe(B);
});
