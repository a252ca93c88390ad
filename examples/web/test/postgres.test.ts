/**
 * The web example on PostgreSQL (`CONN_PG_URL`; required with CI set): the story of invitation-flow.test.ts over
 * plain HTTP, posting the forms a browser would, with the connections in the server and the emails in the SES
 * emulator. The browser story runs on memory; what changes here is the storage and the outbox relay behind them.
 */
import { connectPostgres } from "@conn/adapter-postgres";
import { AccessLevel } from "@conn/core";
import { expect, it } from "vitest";
import { IN_CI } from "./support/browser.ts";
import { client } from "./support/http-client.ts";
import {
  ACCESS_PATH,
  invitationLink,
  ORG,
  PATIENT_FILE,
  PEOPLE,
  RECORD_PATH,
  sesConfig,
  startSite,
} from "./support/site.ts";

const PG_URL = process.env.CONN_PG_URL ?? "";

// Runs when CONN_PG_URL is set, and always with CI set (then a missing CONN_PG_URL fails it, never skips it).
it.runIf(PG_URL !== "" || IN_CI)(
  "invite by email → link → create an account → accept → revoke, stored in PostgreSQL",
  async () => {
    if (PG_URL === "")
      throw new Error("CI is set but CONN_PG_URL is not: the PostgreSQL story must not be skipped");
    const schema = `conn_web_${process.pid}_${Math.floor(Math.random() * 0xffffff).toString(16)}`;
    const site = await startSite({
      config: sesConfig({
        persistence: { kind: "postgres", url: PG_URL },
        schema,
        tokenKey: "22".repeat(32),
        relay: { intervalMs: 20, maxAttempts: 8, batchSize: 50 },
      }),
    });
    try {
      expect(site.conn.config.persistence.kind).toBe("postgres");
      const dan = "dan@elsewhere.example";
      const owner = client(site);
      await owner.call("GET", `/${ORG}/sign-in`);
      await owner.submit(`/${ORG}/sign-in`, { email: PEOPLE.alice.email, next: ACCESS_PATH });
      const invited = await owner.submit(`${ACCESS_PATH}/invite`, { email: dan, first: "Dan", access: "4" });
      expect(invited.text).toContain(`Invitation sent to ${dan} at Read (4).`);
      expect(invited.text).toContain('<span class="tag tag-pending">Pending</span> Read (4)');

      // The relay delivers the email from the outbox; its link opens the invitation.
      const link = await invitationLink(site, dan);
      const person = client(site);
      const invitation = await person.follow(new URL(link).pathname);
      expect(invitation.text).toContain("Alice Owner invited you to a patient file");
      const path = new URL(invitation.response.url).pathname;
      await person.submit(`/${ORG}/register`, { email: dan, first: "Dan", next: path });
      const accepted = await person.submit(`${path}/accept`, {});
      expect(accepted.text).toContain("<h1>You accepted the invitation</h1>");
      const [account] = await site.world.accounts.findByEmails(ORG, [dan]);
      const danId = account?._id ?? "";
      expect(await site.conn.connections.resolveAccess(ORG, danId, PATIENT_FILE.context)).toBe(
        AccessLevel.Read,
      );

      const page = (await owner.call("GET", ACCESS_PATH)).text;
      expect(page).toContain('<span class="tag tag-active">Active</span> Read (4)');
      const revoke = /action="([^"]+\/revoke)"/.exec(page)?.[1] as string;
      const revoked = await owner.submit(revoke, {});
      expect(revoked.text).toContain("Dan no longer has access.");
      expect(await site.conn.connections.resolveAccess(ORG, danId, PATIENT_FILE.context)).toBe(
        AccessLevel.None,
      );
      expect((await person.call("GET", RECORD_PATH)).response.status).toBe(403);
    } finally {
      await site.close();
      const db = await connectPostgres({ connectionString: PG_URL, poolConfig: { max: 1 } });
      await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.close();
    }
  },
);
