/**
 * The demo's world: one org, its people and one shared record, over the in-memory host ports of
 * `@conn/adapter-memory`. A real host answers the same questions from its own tables (docs/host-integration.md).
 */
import { InMemoryAccountDirectory, InMemoryContextAccess, InMemoryOrgDirectory } from "@conn/adapter-memory";
import { AccessLevel, type Account, type ContextRef } from "@conn/core";

/** A record of the demo: what the record page shows, by the level the viewer holds. */
export interface DemoRecord {
  /** The context the library shares. */
  context: ContextRef;
  /** The plural name in URLs, e.g. `c_patient_files`. */
  plural: string;
  /** A human label of its object, e.g. "patient file". */
  label: string;
  /** The record's title. */
  title: string;
  /** Shown from Connected (2) up. */
  summary: string;
  /** Shown from Read (4) up. */
  details: readonly { name: string; value: string }[];
  /** Who holds what on it by the host's own rules (the owner holds Delete). */
  owners: Readonly<Record<string, AccessLevel>>;
}

/** An org of the demo, with what its pages show. */
export interface DemoOrg {
  code: string;
  name: string;
  /** Days an invitation stays open (the library clamps it to 1..90). */
  pendingConnectionExpiry: number;
}

/** The demo's org. */
export const ACME: DemoOrg = { code: "acme", name: "Acme Health", pendingConnectionExpiry: 7 };

/** The demo's people: Alice owns the record, Bob and Carol are colleagues, Dave has not verified his email. */
export const PEOPLE = {
  alice: {
    _id: "5f0000000000000000000a01",
    email: "alice@acme.example",
    name: { first: "Alice", last: "Owner" },
    verified: true,
  },
  bob: {
    _id: "5f0000000000000000000b02",
    email: "bob@acme.example",
    name: { first: "Bob", last: "Doctor" },
    verified: true,
  },
  carol: {
    _id: "5f0000000000000000000c03",
    email: "carol@acme.example",
    name: { first: "Carol", last: "Nurse" },
    verified: true,
  },
  dave: {
    _id: "5f0000000000000000000d04",
    email: "dave@acme.example",
    name: { first: "Dave", last: "Unverified" },
    verified: false,
  },
} as const satisfies Record<string, Account>;

/** Erin Example's patient file, owned by Alice. */
export const PATIENT_FILE: DemoRecord = {
  context: { object: "c_patient_file", _id: "5f00000000000000000f11e1" },
  plural: "c_patient_files",
  label: "patient file",
  title: "Erin Example",
  summary: "Born 2 March 1984 · general practice, Springfield",
  details: [
    { name: "Allergies", value: "penicillin" },
    { name: "Current medication", value: "none" },
    { name: "Last visit", value: "12 January 2026: annual check-up, all normal" },
  ],
  owners: { [PEOPLE.alice._id]: AccessLevel.Delete },
};

/** The demo's records. */
export const RECORDS: readonly DemoRecord[] = [PATIENT_FILE];

/** The host ports over the demo world, and the look-ups the pages need. */
export interface DemoWorld {
  /** The org (one in this demo). */
  org: DemoOrg;
  /** Accounts; registration adds to them. */
  accounts: InMemoryAccountDirectory;
  /** The host's own access rules and object settings. */
  contexts: InMemoryContextAccess;
  /** Org settings; `connectionUrl` is set once the server knows its URL. */
  orgs: InMemoryOrgDirectory;
  /** Every account of the org, in the order they were added (for the sign-in hints and the invite form). */
  people(): Promise<Account[]>;
  /** Adds an account (demo registration). */
  addAccount(account: Account): Account;
  /** The record of a URL's plural name and id, or null. */
  record(plural: string, id: string): DemoRecord | null;
  /** The record of a context, or null. */
  recordOf(context: { object: string; _id: string }): DemoRecord | null;
  /** The object a URL's plural name stands for, or null. */
  objectFromPlural(plural: string): string | null;
}

/** Builds the world: the org, its people and its records, over fresh in-memory host ports. */
export function createDemoWorld(): DemoWorld {
  const accounts = new InMemoryAccountDirectory();
  const contexts = new InMemoryContextAccess();
  const orgs = new InMemoryOrgDirectory();
  const ids: string[] = [];
  const org = ACME;

  orgs.put({ code: org.code, name: org.name, pendingConnectionExpiry: org.pendingConnectionExpiry });
  const addAccount = (account: Account): Account => {
    const stored = accounts.put(org.code, account);
    if (!ids.includes(stored._id)) ids.push(stored._id);
    return stored;
  };
  for (const person of Object.values(PEOPLE)) addAccount(structuredClone(person) as Account);
  for (const record of RECORDS) {
    contexts.defineObject(org.code, {
      name: record.context.object,
      plural: record.plural,
      label: record.label,
      allowConnections: true,
    });
    for (const [account, level] of Object.entries(record.owners))
      contexts.grant(org.code, account, record.context, level);
  }

  return {
    org,
    accounts,
    contexts,
    orgs,
    people: () => accounts.findByIds(org.code, ids),
    addAccount,
    record: (plural, id) => RECORDS.find((r) => r.plural === plural && r.context._id === id) ?? null,
    recordOf: (context) =>
      RECORDS.find((r) => r.context.object === context.object && r.context._id === context._id) ?? null,
    objectFromPlural: (plural) => RECORDS.find((r) => r.plural === plural)?.context.object ?? null,
  };
}

/** "Alice Owner", or the email address when the account has no name. */
export function displayName(account: Pick<Account, "email" | "name"> | null | undefined): string {
  if (account === null || account === undefined) return "Someone";
  const name = [account.name?.first, account.name?.last].filter((p) => p !== undefined && p !== "").join(" ");
  return name === "" ? account.email : name;
}
