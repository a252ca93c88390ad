/**
 * A fresh in-memory world for facade tests: two orgs, a handful of accounts with known host access, and objects
 * with each combination of connection settings the spec names.
 */
import { createInMemoryConnections, type InMemoryConnections } from "@conn/adapter-memory";
import {
  AccessLevel,
  type ConnectionRecord,
  type ConnectionsDeps,
  type ConnectionView,
  type ContextRef,
  type Notice,
  type Principal,
} from "@conn/core";

export const ORG = "acme";
export const ORG2 = "globex";

/** A 24-hex id with a readable one-letter prefix. */
const hex = (prefix: string, n: number) => `${prefix}${n.toString(16).padStart(23, "0")}`;
export const accountId = (n: number) => hex("a", n);
export const contextId = (n: number) => hex("c", n);
export const roleId = (n: number) => hex("e", n);
export const unknownId = (n: number) => hex("f", n);

/** Accounts of ORG (all verified unless said otherwise). */
export const OWNER = accountId(1); // host Delete (7) on every context
export const B = accountId(2);
export const C = accountId(3);
export const D = accountId(4);
export const SHARER = accountId(5); // host Share (5) on CTX
export const READER = accountId(6); // host Read (4) on CTX
export const CONNECTED = accountId(7); // host Connected (2) on CTX
export const STRANGER = accountId(8); // no access
export const UNVERIFIED = accountId(9); // not verified; host Delete on CTX
export const UNVERIFIED_TARGET = accountId(10); // not verified

export const EMAIL: Record<string, string> = {
  [OWNER]: "owner@acme.example",
  [B]: "bob@acme.example",
  [C]: "carol@acme.example",
  [D]: "dave@acme.example",
  [SHARER]: "sharer@acme.example",
  [READER]: "reader@acme.example",
  [CONNECTED]: "connected@acme.example",
  [STRANGER]: "stranger@acme.example",
  [UNVERIFIED]: "unverified@acme.example",
  [UNVERIFIED_TARGET]: "unverified-target@acme.example",
};

/** Objects and one context of each. */
export const CTX: ContextRef = { object: "c_prescription", _id: contextId(1) }; // requires accept
export const AUTO_CTX: ContextRef = { object: "c_auto", _id: contextId(2) }; // auto allowed
export const QUIET_CTX: ContextRef = { object: "c_quiet", _id: contextId(3) }; // auto, no notifications
export const CLOSED_CTX: ContextRef = { object: "c_closed", _id: contextId(4) }; // connections disabled
export const CHAIN_CTX: ContextRef = { object: "c_chain", _id: contextId(5) }; // share chain [6, 4, 2]
export const NOCHAIN_CTX: ContextRef = { object: "c_nochain", _id: contextId(6) }; // empty share chain
export const OTHER_CTX: ContextRef = { object: "c_prescription", _id: contextId(7) };
export const NOTE_CTX: ContextRef = { object: "c_note", _id: contextId(8) }; // another object, requires accept

export const ROLE1 = roleId(1);
export const ROLE2 = roleId(2);
export const ROLE3 = roleId(3);

export const START = new Date("2026-01-01T00:00:00.000Z");
export const DAY = 24 * 60 * 60 * 1000;

export type World = InMemoryConnections & {
  as(account: string | null, org?: string): Principal;
  /** Every token delivered so far, in order. */
  tokens_(): string[];
  /** The token of the last delivered notice. */
  lastToken(): string;
  /** The last delivered notice. */
  lastNotice(): Notice;
  /** The stored records, sorted by id (copies, with every field). */
  records(): ConnectionRecord[];
  /** A JSON dump of every stored record and outbox row. */
  dump(): Promise<string>;
  /** The target's own view of a connection (from its list), with the token when pending. */
  targetView(account: string, id: string): Promise<ConnectionView>;
};

export function makeWorld(
  options: { pendingConnectionExpiry?: number; deliverOnCommit?: boolean } = {},
): World {
  const lib = createInMemoryConnections({ deliverOnCommit: options.deliverOnCommit ?? true });
  const { accounts, contexts, orgs } = lib;
  const orgSettings =
    options.pendingConnectionExpiry === undefined
      ? {}
      : { pendingConnectionExpiry: options.pendingConnectionExpiry };
  orgs.put({
    code: ORG,
    name: "Acme Health",
    connectionUrl: "https://acme.example/connections/{token}",
    ...orgSettings,
  });
  orgs.put({ code: ORG2, name: "Globex", connectionUrl: "https://globex.example/invite" });

  for (const org of [ORG, ORG2]) {
    contexts.defineObject(org, { name: "c_prescription", label: "prescription", allowConnections: true });
    contexts.defineObject(org, { name: "c_auto", allowConnections: true, requireAccept: false });
    contexts.defineObject(org, {
      name: "c_quiet",
      allowConnections: true,
      requireAccept: false,
      sendNotifications: false,
    });
    contexts.defineObject(org, { name: "c_closed", allowConnections: false });
    contexts.defineObject(org, { name: "c_chain", allowConnections: true, shareChain: [6, 4, 2] });
    contexts.defineObject(org, { name: "c_nochain", allowConnections: true, shareChain: [] });
    contexts.defineObject(org, { name: "c_note", plural: "c_notes_plural", allowConnections: true });
  }

  const names: Record<string, { first: string; last: string }> = {
    [OWNER]: { first: "Olga", last: "Owner" },
    [B]: { first: "Bob", last: "Doctor" },
    [C]: { first: "Carol", last: "Nurse" },
  };
  for (const [id, email] of Object.entries(EMAIL)) {
    accounts.put(ORG, {
      _id: id,
      email,
      name: names[id] ?? { first: "Some", last: "One" },
      verified: id !== UNVERIFIED && id !== UNVERIFIED_TARGET,
    });
  }
  // B and OWNER also exist in the second org, with the same ids.
  accounts.put(ORG2, { _id: OWNER, email: EMAIL[OWNER] as string, name: { first: "O" }, verified: true });
  accounts.put(ORG2, { _id: B, email: EMAIL[B] as string, name: { first: "B" }, verified: true });

  for (const ctx of [CTX, AUTO_CTX, QUIET_CTX, CLOSED_CTX, CHAIN_CTX, NOCHAIN_CTX, OTHER_CTX, NOTE_CTX]) {
    contexts.grant(ORG, OWNER, ctx, AccessLevel.Delete);
    contexts.grant(ORG2, OWNER, ctx, AccessLevel.Delete);
  }
  contexts.grant(ORG, SHARER, CTX, AccessLevel.Share);
  contexts.grant(ORG, READER, CTX, AccessLevel.Read);
  contexts.grant(ORG, CONNECTED, CTX, AccessLevel.Connected);
  contexts.grant(ORG, UNVERIFIED, CTX, AccessLevel.Delete);
  // The owner may auto-connect B and C and the unverified target (Share on their accounts), but not D.
  for (const target of [B, C, UNVERIFIED_TARGET]) {
    contexts.grant(ORG, OWNER, { object: "account", _id: target }, AccessLevel.Share);
  }

  const world: World = {
    ...lib,
    as: (account, org = ORG) => ({ org, accountId: account }),
    tokens_: () => lib.notifier.sent.flatMap((n) => (n.token === null ? [] : [n.token])),
    lastToken: () => {
      const token = lib.notifier.sent.at(-1)?.token;
      if (typeof token !== "string") throw new Error("no token delivered");
      return token;
    },
    lastNotice: () => {
      const notice = lib.notifier.sent.at(-1);
      if (notice === undefined) throw new Error("no notice delivered");
      return notice;
    },
    records: () =>
      [...lib.store.state.records.values()]
        .map((r) => structuredClone(r))
        .sort((a, b) => (a._id < b._id ? -1 : 1)),
    dump: async () => {
      const rows = (await lib.store.outbox.rows()).sort((a, b) => (a.id < b.id ? -1 : 1));
      return JSON.stringify({ records: world.records(), outbox: rows });
    },
    targetView: async (account, id) => {
      const list = await lib.connections.list({ org: ORG, accountId: account }, { limit: 1000 });
      const view = list.data.find((v) => v._id === id);
      if (view === undefined) throw new Error(`connection ${id} not in ${account}'s list`);
      return view;
    },
  };
  return world;
}

/** The ports of a world, to build a facade with one of them replaced. */
export function portsOf(world: World): ConnectionsDeps {
  return {
    store: world.store,
    accounts: world.accounts,
    contexts: world.contexts,
    orgs: world.orgs,
    tokens: world.tokens,
    ids: world.ids,
    clock: world.clock,
    events: world.events,
  };
}
