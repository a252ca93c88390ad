import { createInMemoryConnections } from "@conn/adapter-memory";
import { AccessLevel, type ConnectionView, isConnectionError } from "@conn/core";
import { describe, expect, it } from "vitest";

/** Host id styles the library must take as they are (docs/behaviour.md §1: opaque strings). */
const STYLES = {
  objectId: {
    alice: "5f0000000000000000000a01",
    bob: "5f0000000000000000000b02",
    file: "5f00000000000000000f11e1",
  },
  uuid: {
    alice: "7d444840-9dc0-11d1-b245-5ffdce74fad2",
    bob: "0e0a3a0e-1b1a-4c2e-9f55-8ef0d9d4b0c1",
    file: "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
  },
  integer: { alice: "1", bob: "42", file: "900719925474099" },
  slug: { alice: "user:alice.smith", bob: "user:bob_jones-2", file: "patients.file-0001" },
} as const;

function world(ids: { alice: string; bob: string; file: string }) {
  const lib = createInMemoryConnections();
  lib.orgs.put({ code: "acme", name: "Acme" });
  lib.contexts.defineObject("acme", { name: "c_patient_file", allowConnections: true });
  lib.accounts.put("acme", {
    _id: ids.alice,
    email: "alice@acme.example",
    name: { first: "Alice" },
    verified: true,
  });
  lib.accounts.put("acme", {
    _id: ids.bob,
    email: "bob@acme.example",
    name: { first: "Bob" },
    verified: true,
  });
  const file = { object: "c_patient_file", _id: ids.file };
  lib.contexts.grant("acme", ids.alice, file, AccessLevel.Delete);
  return { lib, file };
}

describe("host ids are opaque strings", () => {
  it.each(Object.entries(STYLES))(
    "%s ids go through create → accept → resolveAccess → delete",
    async (_, ids) => {
      const { lib, file } = world(ids);
      const { connections } = lib;
      const [created] = await connections.create({ org: "acme", accountId: ids.alice }, file, [
        { _id: ids.bob, access: AccessLevel.Read, roles: [ids.file] },
      ]);
      expect((created as ConnectionView).target.account?._id).toBe(ids.bob);
      expect((created as ConnectionView).context).toEqual({
        _id: ids.file,
        object: "c_patient_file",
        path: `/c_patient_files/${ids.file}`,
      });
      const { data } = await connections.list({ org: "acme", accountId: ids.bob }, { state: 0 });
      const active = await connections.accept({ org: "acme", accountId: ids.bob }, data[0]?.token as string);
      expect(active.roles).toEqual([ids.file]);
      expect(await connections.resolveAccess("acme", ids.bob, file)).toBe(AccessLevel.Read);
      await connections.delete({ org: "acme", accountId: ids.alice }, active._id);
      expect(await connections.resolveAccess("acme", ids.bob, file)).toBe(AccessLevel.None);
    },
  );

  it.each([
    ["empty", ""],
    ["a space", "bob smith"],
    ["a slash", "a/b"],
    ["129 characters", "a".repeat(129)],
    ["non-ASCII", "bøb"],
  ])("refuses a host id with %s as an invalid argument, writing nothing", async (_, bad) => {
    const { lib, file } = world(STYLES.uuid);
    const { connections } = lib;
    const alice = { org: "acme", accountId: STYLES.uuid.alice };
    const failures = await Promise.all([
      connections.create(alice, file, [{ _id: bad }]).catch((e: unknown) => e),
      connections
        .create(alice, { object: "c_patient_file", _id: bad }, [{ _id: STYLES.uuid.bob }])
        .catch((e) => e),
      connections.resolveAccess("acme", bad, file).catch((e: unknown) => e),
      connections.list({ org: "acme", accountId: bad }).catch((e: unknown) => e),
    ]);
    expect(isConnectionError(failures[0], "cortex.invalidArgument.connectionTarget")).toBe(true);
    for (const f of failures.slice(1))
      expect(isConnectionError(f, "cortex.invalidArgument.unspecified")).toBe(true);
    expect(lib.store.state.records.size).toBe(0);
  });

  it("accepts a 128-character host id", async () => {
    const long = "x".repeat(128);
    const { lib, file } = world({ ...STYLES.slug, bob: long });
    const [created] = await lib.connections.create({ org: "acme", accountId: STYLES.slug.alice }, file, [
      { _id: long, access: AccessLevel.Read },
    ]);
    expect((created as ConnectionView).target.account?._id).toBe(long);
  });
});
