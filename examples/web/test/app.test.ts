/**
 * The web app over HTTP, without a browser: its headers, the token leaving the address at once, the request log,
 * the REST API on the same session, the demo mailbox, and the edges of the forms. Emails go to the demo mailbox.
 */
import { AccessLevel } from "@conn/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWebServer, type WebServer } from "../src/server.ts";
import { client } from "./support/http-client.ts";
import { ACCESS_PATH, ORG, PATIENT_FILE, PEOPLE } from "./support/site.ts";

let site: WebServer;
const log: string[] = [];

beforeAll(async () => {
  site = await startWebServer({ config: {}, log: (line) => log.push(line) });
});
afterAll(async () => {
  await site?.close();
});

describe("the web app over HTTP", () => {
  it("every page: a strict CSP, no referrer, not cached, not framed, and an HttpOnly SameSite=Lax session cookie", async () => {
    const { response } = await client(site).call("GET", `/${ORG}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-security-policy")).toBe(
      "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("strict-transport-security")).toBeNull(); // plain HTTP here
    expect(response.headers.get("set-cookie")).toMatch(
      /^conn_demo_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/,
    );
    expect((await client(site).call("GET", "/")).location).toBe(`/${ORG}`);
  });

  it("an invitation link redirects at once to a page without the token, and the request log shows <token>", async () => {
    const token = "T".repeat(43);
    const { response, location, text } = await client(site).call("GET", `/${ORG}/connections/${token}`);
    expect(response.status).toBe(303);
    expect(location).toMatch(new RegExp(`^/${ORG}/invitation/[A-Za-z0-9_-]{22}$`));
    expect(text).toBe("");
    expect(log).toContain(`GET /${ORG}/connections/<token> 303`);
    expect(log.join("\n")).not.toContain(token);
  });

  it("the REST API is mounted on the same session: anonymous is refused, signed in it answers; unknown paths are JSON", async () => {
    const browser = client(site);
    const anonymous = await browser.call("GET", `/${ORG}/v2/connections`);
    expect(anonymous.response.status).toBe(403);
    expect(JSON.parse(anonymous.text)).toMatchObject({ errCode: "cortex.accessDenied.notLoggedIn" });
    await browser.call("GET", `/${ORG}/sign-in`);
    const signedIn = await browser.call("POST", `/${ORG}/sign-in`, {
      email: PEOPLE.bob.email,
      next: `/${ORG}`,
    });
    expect(signedIn.response.status).toBe(303);
    const mine = await browser.call("GET", `/${ORG}/v2/connections`);
    expect(mine.response.status).toBe(200);
    expect(JSON.parse(mine.text)).toEqual({ object: "list", data: [], hasMore: false });
    const unknown = await browser.call("GET", `/${ORG}/v2/nothing/here`);
    expect(unknown.response.status).toBe(404);
    expect(JSON.parse(unknown.text)).toMatchObject({
      object: "fault",
      errCode: "cortex.notFound.unspecified",
    });
  });

  it("sign-in rotates the session id, and `next` never leaves the site", async () => {
    const browser = client(site);
    await browser.call("GET", `/${ORG}/sign-in`);
    const before = browser.cookie();
    const { location } = await browser.call("POST", `/${ORG}/sign-in`, {
      email: PEOPLE.alice.email,
      next: "//evil.example/steal",
    });
    expect(location).toBe(`/${ORG}`);
    expect(browser.cookie()).not.toBe(before);
    const old = await fetch(`${site.url}/${ORG}/v2/connections`, { headers: { cookie: before } });
    expect(old.status).toBe(403); // the pre-sign-in id is worth nothing
  });

  it("without an email service, the demo mailbox shows the invitation and its link, which opens the invitation", async () => {
    expect(site.mailbox).not.toBeNull();
    await site.conn.connections.create({ org: ORG, accountId: PEOPLE.alice._id }, PATIENT_FILE.context, [
      { email: "mia@elsewhere.example", access: AccessLevel.Read },
    ]);
    const browser = client(site);
    const { text } = await browser.call("GET", `/${ORG}/demo/mailbox`);
    expect(text).toContain("Demo only.");
    const link = new RegExp(`href="(${site.url}/${ORG}/connections/[A-Za-z0-9_-]{43})"`).exec(text)?.[1];
    expect(link).toBeDefined();
    const opened = await browser.call("GET", new URL(link as string).pathname);
    const page = await browser.call("GET", opened.location as string);
    expect(page.response.status).toBe(200);
    expect(page.text).toContain("Alice Owner invited you to a patient file");
    expect(page.text).toContain("mia@elsewhere.example");
  });

  it("a link accepted through the API, not the page: 'can no longer be used', and to its acceptor 'already accepted'", async () => {
    await site.conn.connections.create({ org: ORG, accountId: PEOPLE.alice._id }, PATIENT_FILE.context, [
      { _id: PEOPLE.carol._id, access: AccessLevel.Read },
    ]);
    const token = site.mailbox?.list(ORG).find((n) => n.recipient.email === PEOPLE.carol.email)
      ?.token as string;
    await site.conn.connections.accept({ org: ORG, accountId: PEOPLE.carol._id }, token);

    const stranger = client(site);
    const page = await stranger.call(
      "GET",
      (await stranger.call("GET", `/${ORG}/connections/${token}`)).location as string,
    );
    expect(page.response.status).toBe(410);
    expect(page.text).toContain("<h1>This invitation can no longer be used</h1>");
    expect(page.text).not.toContain(token);

    const carol = client(site);
    await carol.call("GET", `/${ORG}/sign-in`);
    await carol.call("POST", `/${ORG}/sign-in`, { email: PEOPLE.carol.email });
    const hers = await carol.call(
      "GET",
      (await carol.call("GET", `/${ORG}/connections/${token}`)).location as string,
    );
    expect(hers.response.status).toBe(410);
    expect(hers.text).toContain("You accepted it already: there is nothing more to do.");
    expect(hers.text).toContain(`href="/${ORG}/${PATIENT_FILE.plural}/${PATIENT_FILE.context._id}"`);
  });

  it("registration refuses a bad address, a missing first name and a taken address, keeping what was typed", async () => {
    const browser = client(site);
    await browser.call("GET", `/${ORG}/sign-in`);
    const cases = [
      [
        { email: "not an address", first: "Ann" },
        "Enter an email address, like name@example.com.",
        "register-email",
      ],
      [{ email: "ann@elsewhere.example", first: "" }, "Enter your first name.", "register-first"],
      [
        { email: PEOPLE.bob.email, first: "Bob" },
        "An account with this email address exists already",
        "register-email",
      ],
    ] as const;
    for (const [form, message, field] of cases) {
      const page = await browser.submit(`/${ORG}/register`, { ...form, last: "", next: `/${ORG}/sign-in` });
      expect(page.text).toContain(message);
      expect(page.text).toMatch(new RegExp(`id="${field}"[^>]*aria-invalid="true"`));
      expect(page.text).toContain(`value="${form.email}"`);
    }
    expect(await site.world.accounts.findByEmails(ORG, ["ann@elsewhere.example"])).toEqual([]);
  });

  it("a form body over 16 kB is refused (413); an unknown org or record is a 404 page", async () => {
    const browser = client(site);
    await browser.call("GET", `/${ORG}/sign-in`);
    const big = await browser.call("POST", `/${ORG}/sign-in`, { email: "x".repeat(17 * 1024) });
    expect(big.response.status).toBe(413);
    for (const path of ["/globex", `/globex/${PATIENT_FILE.plural}/x`, `/${ORG}/c_nothing/x/access`]) {
      const { response, text } = await browser.call("GET", path);
      expect(response.status, path).toBe(404);
      expect(text).toContain("<h1>Page not found</h1>");
    }
    expect((await browser.call("GET", ACCESS_PATH)).response.status).toBe(403);
  });
});
