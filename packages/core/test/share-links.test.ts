/**
 * Share links through the facade on the in-memory adapters: events, the token's one showing, and each of the
 * library's own share-link codes (the contract suite runs the full rules on every adapter).
 */
import { ConnectionError, ERROR_CODES, type ErrorCode } from "@conn/core";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { B, C, CTX, DAY, makeWorld, ORG, OWNER, SHARER, type World } from "./support/world.js";

/** The share-link codes seen thrown in this file. */
const seen = new Set<string>();

afterAll(() => {
  const missing = ERROR_CODES.filter((code) => code.includes(".shareLink") && !seen.has(code));
  expect(missing, "share-link codes never triggered through the facade").toEqual([]);
});

async function expectCode(promise: Promise<unknown>, code: ErrorCode, status: number): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeInstanceOf(ConnectionError);
  expect((error as ConnectionError).code).toBe(code);
  expect((error as ConnectionError).status).toBe(status);
  seen.add(code);
}

let w: World;
beforeEach(() => {
  w = makeWorld();
});

describe("share links through the facade", () => {
  it("a redemption publishes connection.created naming the link, and no event, notice or stored record holds the token", async () => {
    const link = await w.connections.createShareLink(w.as(OWNER), CTX, { access: 4, uses: 2 });
    const token = link.token as string;
    const view = await w.connections.redeemShareLink(w.as(B), token);
    const created = w.events.events.filter((e) => e.type === "connection.created");
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({
      actor: B,
      shareLink: link._id,
      connection: { _id: view._id, access: 4 },
    });
    expect(JSON.stringify(w.events.events)).not.toContain(token);
    expect(JSON.stringify(w.notifier.sent)).not.toContain(token);
    expect(JSON.stringify([...w.store.state.links.values()])).not.toContain(token);
  });

  it("an upgrade through a link publishes connection.upgraded with the access before", async () => {
    const low = await w.connections.createShareLink(w.as(OWNER), CTX, { access: 2 });
    const high = await w.connections.createShareLink(w.as(OWNER), CTX, { access: 4 });
    await w.connections.redeemShareLink(w.as(C), low.token as string);
    await w.connections.redeemShareLink(w.as(C), high.token as string);
    const upgraded = w.events.events.filter((e) => e.type === "connection.upgraded");
    expect(upgraded).toEqual([expect.objectContaining({ previousAccess: 2, shareLink: high._id })]);
  });

  it("a redemption supersedes the redeemer's lesser pending invitations on the context", async () => {
    await w.connections.create(w.as(SHARER), CTX, [{ _id: B, access: 2 }]);
    const link = await w.connections.createShareLink(w.as(OWNER), CTX, { access: 4 });
    await w.connections.redeemShareLink(w.as(B), link.token as string);
    expect((await w.connections.list(w.as(B), { state: 0 })).data).toEqual([]);
    expect(w.events.events.map((e) => e.type)).toContain("connection.superseded");
  });

  it("each share-link code, with its status", async () => {
    const domain = await w.connections.createShareLink(w.as(OWNER), CTX, {
      emailDomain: "elsewhere.example",
    });
    await expectCode(
      w.connections.redeemShareLink(w.as(B), domain.token as string),
      "cortex.accessDenied.shareLinkDomain",
      403,
    );
    const once = await w.connections.createShareLink(w.as(OWNER), CTX, { uses: 1 });
    await w.connections.redeemShareLink(w.as(B), once.token as string);
    await expectCode(
      w.connections.redeemShareLink(w.as(C), once.token as string),
      "cortex.conflict.shareLinkUsedUp",
      409,
    );
    const revoked = await w.connections.createShareLink(w.as(OWNER), CTX);
    await w.connections.revokeShareLink(w.as(OWNER), revoked._id);
    await expectCode(
      w.connections.redeemShareLink(w.as(C), revoked.token as string),
      "cortex.invalidArgument.shareLinkRevoked",
      400,
    );
    const short = await w.connections.createShareLink(w.as(OWNER), CTX, { expiresInDays: 1 });
    w.clock.advance(DAY);
    await expectCode(
      w.connections.redeemShareLink(w.as(C), short.token as string),
      "cortex.invalidArgument.shareLinkExpired",
      400,
    );
    expect(await w.connections.resolveAccess(ORG, C, CTX)).toBe(0);
  });
});
