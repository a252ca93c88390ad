import {
  InMemoryAccountDirectory,
  type InMemoryContextAccess,
  type InMemoryOrgDirectory,
} from "@conn/adapter-memory";
import { AccessLevel, type ConnectionView } from "@conn/core";
import { expect } from "vitest";
import { type ConnectionsContainer, TOKENS } from "../src/index.js";

/** The server URL, when the real server is to be tested; in CI the server tests must run and fail without it. */
export const PG_URL = process.env.CONN_PG_URL ?? "";
/** True in CI, where a missing server is a failure, never a skip. */
export const IN_CI = process.env.CI === "true" || process.env.CI === "1";
/** True when the PostgreSQL scenarios run. */
export const POSTGRES_ENABLED = PG_URL !== "" || IN_CI;

/** The server URL, or a clear failure when CI has none. */
export function requirePgUrl(): string {
  if (PG_URL === "")
    throw new Error("CI is set but CONN_PG_URL is not: the PostgreSQL scenarios must not be skipped");
  return PG_URL;
}

/** A schema name no other run uses. */
export function uniqueSchema(tag: string): string {
  return `conn_c_${tag}_${process.pid}_${Math.floor(Math.random() * 0xffffff).toString(16)}`;
}

/** A 32-byte test key in hex. */
export const TEST_KEY = "11".repeat(32);

export const ORG = "acme";
export const A = "5f0000000000000000000a01";
export const B = "5f0000000000000000000b02";
export const FILE = { object: "c_patient_file", _id: "5f00000000000000000f11e1" };

/** Seeds the default in-memory host ports of a container with Alice (owner) and Bob (accounts only when the directory is ours). */
export function seed(conn: ConnectionsContainer): void {
  const orgs = conn.resolve(TOKENS.OrgDirectory) as InMemoryOrgDirectory;
  const accounts = conn.resolve(TOKENS.AccountDirectory);
  const contexts = conn.resolve(TOKENS.ContextAccess) as InMemoryContextAccess;
  orgs.put({ code: ORG, name: "Acme Health", connectionUrl: "https://acme.example/c/{token}" });
  contexts.defineObject(ORG, { name: "c_patient_file", allowConnections: true });
  if (accounts instanceof InMemoryAccountDirectory) {
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
  }
  contexts.grant(ORG, A, FILE, AccessLevel.Delete);
}

/** The seed's story through the resolved facade: invite, list with token, accept, Read, delete, None. */
export async function story(conn: ConnectionsContainer): Promise<void> {
  const c = conn.connections;
  const [created] = await c.create({ org: ORG, accountId: A }, FILE, [{ _id: B, access: AccessLevel.Read }]);
  expect(created).toMatchObject({ object: "connection", state: 0, access: AccessLevel.Read });
  expect(created).not.toHaveProperty("token");
  const list = await c.list({ org: ORG, accountId: B }, { state: 0 });
  expect(list.data).toHaveLength(1);
  const token = (list.data[0] as ConnectionView).token as string;
  expect(token.length).toBeGreaterThanOrEqual(32);
  const active = await c.accept({ org: ORG, accountId: B }, token);
  expect(active).toMatchObject({ state: 1, access: AccessLevel.Read });
  expect(await c.resolveAccess(ORG, B, FILE)).toBe(AccessLevel.Read);
  await c.delete({ org: ORG, accountId: A }, active._id);
  expect(await c.resolveAccess(ORG, B, FILE)).toBe(AccessLevel.None);
}
