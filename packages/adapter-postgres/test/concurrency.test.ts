import { AccessLevel, type ConnectionRecord, ConnectionState, isConnectionError } from "@conn/core";
import { expect, it } from "vitest";
import { describeEngines } from "./support/engines.js";
import { active, context, newId, pending, T0 } from "./support/fixtures.js";

// PGlite runs one transaction at a time, so row locks never contend there: these run against the server only.
describeEngines(
  "concurrency",
  "conc",
  (ctx) => {
    /** Rows of the connections table matching a condition (the back door). */
    async function count(where: string, params: unknown[]): Promise<number> {
      const { rows } = await ctx.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${ctx.s}.connections WHERE ${where}`,
        params,
      );
      return rows[0]?.n ?? -1;
    }

    it("50 parallel claimPending of one id: exactly one wins", async () => {
      const record = pending();
      await ctx.repo.savePending([record], T0);
      const results = await Promise.all(
        Array.from({ length: 50 }, () => ctx.repo.claimPending("acme", record._id, T0)),
      );
      const winners = results.filter((r): r is ConnectionRecord => r !== null);
      expect(winners).toEqual([record]);
      expect(await count("id = $1", [record._id])).toBe(0);
    });

    it("50 parallel accepts of one invitation (each a transaction): one transition, one active row", async () => {
      const invite = pending({ access: AccessLevel.Read });
      const account = invite.target.account ?? "";
      await ctx.repo.savePending([invite], T0);
      const outcomes = await Promise.all(
        Array.from({ length: 50 }, () =>
          ctx.uow.transaction(async (tx) => {
            const claimed = await tx.connections.claimPending("acme", invite._id, T0);
            if (claimed === null) return null;
            const [stored] = await tx.connections.saveActive([
              {
                ...claimed,
                state: ConnectionState.Active,
                tokenHash: null,
                tokenSeal: null,
                expiresAt: null,
              },
            ]);
            await tx.connections.deleteSuperseded("acme", [
              { context: claimed.context, account, maxAccess: stored?.access ?? 0, exceptId: claimed._id },
            ]);
            return stored ?? null;
          }),
        ),
      );
      expect(outcomes.filter((o) => o !== null).length).toBe(1);
      expect(await count("org = 'acme' AND context_id = $1 AND state = 1", [invite.context._id])).toBe(1);
      expect(await count("org = 'acme' AND context_id = $1 AND state = 0", [invite.context._id])).toBe(0);
      expect(await ctx.repo.activeAccess("acme", invite.context, account)).toBe(AccessLevel.Read);
    });

    it("parallel saveActive for the same (context, account): one row, highest access, union of roles", async () => {
      const ctxRef = context();
      const account = newId();
      const inputs = Array.from({ length: 30 }, (_, i) =>
        active({ context: ctxRef, account, access: (2 + (i % 6)) as AccessLevel, roles: [`r${i % 5}`] }),
      );
      const results = await Promise.all(inputs.map((record) => ctx.repo.saveActive([record])));
      expect(await count("context_id = $1 AND target_account = $2", [ctxRef._id, account])).toBe(1);
      const stored = await ctx.repo.findById("acme", results[0]?.[0]?._id ?? "", T0);
      expect(stored?.access).toBe(AccessLevel.Delete);
      expect([...(stored?.roles ?? [])].sort()).toEqual(["r0", "r1", "r2", "r3", "r4"]);
      // Every caller got the one stored id back.
      expect(new Set(results.map((r) => r[0]?._id)).size).toBe(1);
    });

    it("parallel identical savePending by one creator: one pending invitation", async () => {
      const ctxRef = context();
      const creator = newId();
      const account = newId();
      await Promise.all(
        Array.from({ length: 30 }, () =>
          ctx.uow.transaction((tx) =>
            tx.connections.savePending([pending({ context: ctxRef, creator, account })], T0),
          ),
        ),
      );
      expect(await count("context_id = $1 AND creator = $2", [ctxRef._id, creator])).toBe(1);
    });

    it("accept racing delete: the invitation ends either active (accept first) or gone (delete first), never both", async () => {
      for (let round = 0; round < 20; round++) {
        const invite = pending();
        await ctx.repo.savePending([invite], T0);
        const [accepted, deleted] = await Promise.all([
          ctx.uow.transaction(async (tx) => {
            const claimed = await tx.connections.claimPending("acme", invite._id, T0);
            if (claimed === null) return null;
            const [stored] = await tx.connections.saveActive([
              {
                ...claimed,
                state: ConnectionState.Active,
                tokenHash: null,
                tokenSeal: null,
                expiresAt: null,
              },
            ]);
            return stored ?? null;
          }),
          ctx.repo.deleteById("acme", invite._id),
        ]);
        const rows = await count("id = $1", [invite._id]);
        if (accepted === null) {
          // Delete won: the pending invitation is gone and nothing became active.
          expect(deleted?.state).toBe(ConnectionState.Pending);
          expect(rows).toBe(0);
        } else if (deleted === null) {
          // Accept won and the delete found nothing to remove at its snapshot... or ran before: either way one row.
          expect(rows).toBe(1);
        } else {
          // Accept committed first, then the delete removed the active connection.
          expect(deleted.state).toBe(ConnectionState.Active);
          expect(rows).toBe(0);
        }
      }
    });

    it("a unique violation under a race surfaces as a ConnectionError, never as null", async () => {
      const invite = pending();
      await ctx.repo.savePending([invite], T0);
      // Many writers try to use the pending id for an active record on another context: the primary key refuses.
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, () => ctx.repo.saveActive([active({ _id: invite._id })])),
      );
      for (const outcome of outcomes) {
        expect(outcome.status).toBe("rejected");
        if (outcome.status === "rejected") {
          expect(isConnectionError(outcome.reason, "cortex.conflict.connectionExists")).toBe(true);
        }
      }
    });
  },
  { engines: ["postgres"], maxClients: 30 },
);
