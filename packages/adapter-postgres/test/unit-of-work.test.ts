import { isConnectionError } from "@conn/core";
import { expect, it } from "vitest";
import { describeEngines } from "./support/engines.js";
import { active, newId, pending, sealedNotice, T0 } from "./support/fixtures.js";

describeEngines("PostgresUnitOfWork", "uow", (ctx) => {
  /** Rows in both tables (the back door). */
  async function rowCounts(): Promise<{ connections: number; outbox: number }> {
    const { rows } = await ctx.db.query<{ connections: number; outbox: number }>(
      `SELECT (SELECT count(*)::int FROM ${ctx.s}.connections) AS connections,
              (SELECT count(*)::int FROM ${ctx.s}.connection_outbox) AS outbox`,
    );
    return rows[0] ?? { connections: -1, outbox: -1 };
  }

  it("commits the connection and its notice together", async () => {
    const record = pending();
    const result = await ctx.uow.transaction(async (tx) => {
      const [saved] = await tx.connections.savePending([record], T0);
      await tx.outbox.enqueue([{ id: newId(), org: "acme", notice: sealedNotice(), availableAt: T0 }]);
      return saved;
    });
    expect(result).toEqual(record);
    expect(await rowCounts()).toEqual({ connections: 1, outbox: 1 });
  });

  it("a transaction that throws leaves nothing behind and rethrows the same error", async () => {
    const existing = active();
    await ctx.repo.saveActive([existing]);
    const failure = new Error("work failed");
    const outcome = await ctx.uow
      .transaction(async (tx) => {
        await tx.connections.savePending([pending(), pending()], T0);
        await tx.connections.saveActive([
          active({ context: existing.context, account: existing.target.account, access: 7 }),
        ]);
        await tx.connections.deleteById("acme", existing._id);
        await tx.outbox.enqueue([{ id: newId(), org: "acme", notice: sealedNotice(), availableAt: T0 }]);
        throw failure;
      })
      .catch((e: unknown) => e);
    expect(outcome).toBe(failure);
    expect(await rowCounts()).toEqual({ connections: 1, outbox: 0 });
    expect(await ctx.repo.findById("acme", existing._id, T0)).toEqual(existing);
  });

  it("accepting inside a transaction: claim, upsert into the active connection, remove lesser invitations", async () => {
    const existing = active({ access: 4, roles: ["r1"] });
    const account = existing.target.account ?? "";
    const invite = pending({ context: existing.context, account, access: 5, roles: ["r2"] });
    const lesser = pending({ context: existing.context, account, access: 2 });
    await ctx.repo.saveActive([existing]);
    await ctx.repo.savePending([invite, lesser], T0);
    const [upgraded, removed] = await ctx.uow.transaction(async (tx) => {
      const claimed = await tx.connections.claimPending("acme", invite._id, T0);
      if (claimed === null) throw new Error("not claimed");
      const [stored] = await tx.connections.saveActive([
        { ...claimed, state: 1, tokenHash: null, tokenSeal: null, expiresAt: null },
      ]);
      const superseded = await tx.connections.deleteSuperseded("acme", [
        { context: claimed.context, account, maxAccess: stored?.access ?? 0, exceptId: claimed._id },
      ]);
      return [stored, superseded] as const;
    });
    // The invitation raised the access, so its creator is now the connection's creator.
    expect(upgraded).toEqual({
      ...existing,
      access: 5,
      roles: ["r1", "r2"],
      creator: invite.creator,
      updated: invite.updated,
    });
    expect(removed.map((r) => r._id)).toEqual([lesser._id]);
    expect(await rowCounts()).toEqual({ connections: 1, outbox: 0 });
  });

  it("a failing statement inside a transaction surfaces as a ConnectionError and rolls back", async () => {
    const invite = pending();
    const outcome = await ctx.uow
      .transaction(async (tx) => {
        await tx.connections.savePending([invite], T0);
        // The same id again as an active record: the primary key refuses it.
        await tx.connections.saveActive([active({ _id: invite._id })]);
      })
      .catch((e: unknown) => e);
    expect(isConnectionError(outcome, "cortex.conflict.connectionExists")).toBe(true);
    expect(await rowCounts()).toEqual({ connections: 0, outbox: 0 });
  });
});
