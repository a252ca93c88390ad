/**
 * The "who has access" page in Chromium: who may see it, inviting a member, raising a level through the library's
 * create (upgrade), a refused address kept in its field, the CSRF check, and an accessibility audit (axe-core) of
 * the pages. One browser page for the file; each test starts with no cookies.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { AccessLevel, type ConnectionView } from "@conn/core";
import type { Page } from "playwright-core";
import { beforeAll, expect, it } from "vitest";
import { describeInBrowser, screenshot, useOnePage } from "./support/browser.ts";
import {
  ACCESS_PATH,
  eventually,
  freshEmail,
  invitationLink,
  ORG,
  PATIENT_FILE,
  PEOPLE,
  shown,
  signIn,
  startSite,
  type TestSite,
} from "./support/site.ts";

const shared = useOnePage(() => startSite());
let page: Page;
let site: TestSite;
beforeAll(() => {
  ({ page, subject: site } = shared);
});

const heading = () => shown(page.getByRole("heading", { level: 1 }));
const status = () => shown(page.getByRole("status"));
const alert = () => shown(page.getByRole("alert"));

/** The rows of the page's two tables, as text, for checks that nothing changed. */
async function tables(): Promise<string[]> {
  await page.goto(`${site.url}${ACCESS_PATH}`);
  return page.locator("tbody tr").allInnerTexts();
}

describeInBrowser("the who-has-access page", () => {
  it("only for callers with Share: others get the library's fault as a page with its status", async () => {
    const anonymous = await page.goto(`${site.url}${ACCESS_PATH}`);
    expect(anonymous?.status()).toBe(403);
    expect(await heading()).toBe("You cannot manage access to Erin Example");
    expect(await shown(page.locator("main"))).toContain("cortex.accessDenied.notLoggedIn");
    expect(await page.locator("main").getByRole("link", { name: "Sign in" }).getAttribute("href")).toBe(
      `/${ORG}/sign-in?next=${encodeURIComponent(ACCESS_PATH)}`,
    );

    await signIn(page, site, PEOPLE.bob.email);
    const bob = await page.goto(`${site.url}${ACCESS_PATH}`);
    expect(bob?.status()).toBe(403);
    expect(await heading()).toBe("You cannot manage access to Erin Example");
    const main = await shown(page.locator("main"));
    expect(main).toContain(
      "You need Share access to this record to see who has access to it and to invite people.",
    );
    expect(main).toContain("Error code: cortex.accessDenied.shareAccess (HTTP 403)");
    expect(await page.getByRole("table").count()).toBe(0);
    await screenshot(page, "access-denied");

    // Its forms are refused the same way, and nothing is created.
    const csrf = await page.locator("input[name=_csrf]").first().inputValue();
    const forced = await page.request.post(`${site.url}${ACCESS_PATH}/invite`, {
      form: { _csrf: csrf, account: PEOPLE.carol._id, access: "4" },
      maxRedirects: 0,
    });
    expect(forced.status()).toBe(403);
    expect(await forced.text()).toContain("cortex.accessDenied.shareAccess");
    const carol = await site.conn.connections.list({ org: ORG, accountId: PEOPLE.carol._id }, { state: 0 });
    expect(carol.data).toEqual([]);
  });

  it("invite a member, then raise the level: a pending invitation is re-sent, an active one upgraded", async () => {
    await signIn(page, site, PEOPLE.alice.email);
    await page.goto(`${site.url}${ACCESS_PATH}`);
    const member = page.getByRole("group", { name: "Invite a member of Acme Health" });
    await member.getByLabel("Person").selectOption(PEOPLE.carol._id);
    await member.getByLabel("Access level").selectOption(String(AccessLevel.Connected));
    await member.getByRole("button", { name: "Invite member" }).click();
    await eventually(status).toContain("Invitation sent to Carol Nurse at Connected (2).");
    await invitationLink(site, PEOPLE.carol.email, 1);

    // Raising a pending invitation re-invites (the same invitation, a new email at the new level).
    const pending = page.getByRole("table", { name: "Invitations waiting for an answer" });
    await pending
      .getByLabel("Raise to (access level for Carol Nurse)")
      .selectOption(String(AccessLevel.Read));
    await pending.getByRole("button", { name: "Raise access of Carol Nurse" }).click();
    await eventually(status).toContain("Invitation sent to Carol Nurse at Read (4).");
    const link = await invitationLink(site, PEOPLE.carol.email, 2);
    expect(await shown(page.locator("tbody tr", { hasText: "Carol" }))).toContain("Read (4)");

    // Carol accepts (through the library, as the host's own API would); Alice raises the active connection.
    const mine = await site.conn.connections.list({ org: ORG, accountId: PEOPLE.carol._id }, { state: 0 });
    expect(mine.data).toHaveLength(1);
    const token = (mine.data[0] as ConnectionView).token as string;
    expect(link.endsWith(token)).toBe(true);
    await site.conn.connections.accept({ org: ORG, accountId: PEOPLE.carol._id }, token);
    await page.reload();
    const active = page.getByRole("table", { name: "People with access" });
    await active
      .getByLabel("Raise to (access level for Carol Nurse)")
      .selectOption(String(AccessLevel.Share));
    await active.getByRole("button", { name: "Raise access of Carol Nurse" }).click();
    await eventually(status).toBe("Carol Nurse now has Share (5) access.");
    expect(await site.conn.connections.resolveAccess(ORG, PEOPLE.carol._id, PATIENT_FILE.context)).toBe(
      AccessLevel.Share,
    );
    // Share is the most Alice can give (the share chain below her Delete): there is nothing left to raise to.
    expect(await shown(page.locator("tbody tr", { hasText: "Carol" }))).toContain(
      "The highest level you can give.",
    );
    await screenshot(page, "access-raised");
    await page.getByRole("button", { name: "Revoke access of Carol Nurse" }).click();
    await eventually(status).toBe("Carol Nurse no longer has access.");
  });

  it("an address the library refuses: the message names the problem and the field keeps what was typed", async () => {
    await signIn(page, site, PEOPLE.alice.email);
    await page.goto(`${site.url}${ACCESS_PATH}`);
    const before = await tables();
    const byEmail = page.getByRole("group", { name: "Invite by email address" });
    // The browser's own check lets "dan@localhost" through; the library's does not (no domain).
    await byEmail.getByLabel("Email address").fill("dan@localhost");
    await byEmail.getByRole("button", { name: "Send invitation" }).click();
    await eventually(alert).toContain("That person cannot be invited: check the email address");
    const input = page.getByRole("group", { name: "Invite by email address" }).getByLabel("Email address");
    expect(await input.inputValue()).toBe("dan@localhost");
    expect(await input.getAttribute("aria-invalid")).toBe("true");
    expect(await input.getAttribute("aria-describedby")).toBe("flash");
    expect(await page.evaluate<string>("document.activeElement.id")).toBe("flash");
    await screenshot(page, "access-invalid-email");
    expect(await tables()).toEqual(before);
  });

  it("a form without this session's CSRF token is refused (403) and changes nothing", async () => {
    await signIn(page, site, PEOPLE.alice.email);
    const before = await tables();
    const missing = await page.request.post(`${site.url}${ACCESS_PATH}/invite`, {
      form: { email: freshEmail("csrf"), access: "4" },
      maxRedirects: 0,
    });
    expect(missing.status()).toBe(403);

    // The real form, its token swapped for another (a forged page would not know this session's).
    await page.evaluate(
      `document.querySelectorAll("input[name=_csrf]").forEach((i) => { i.value = "${"x".repeat(43)}"; })`,
    );
    const byEmail = page.getByRole("group", { name: "Invite by email address" });
    await byEmail.getByLabel("Email address").fill(freshEmail("csrf"));
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST"),
      byEmail.getByRole("button", { name: "Send invitation" }).click(),
    ]);
    expect(answer.status()).toBe(403);
    await eventually(heading).toBe("This form has expired");
    await screenshot(page, "access-csrf-refused");
    expect(await tables()).toEqual(before);
  });

  it("axe-core finds no WCAG 2.1 A or AA violation on the pages", async () => {
    const axe = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
    const audit = async (path: string) => {
      await page.goto(`${site.url}${path}`);
      await page.evaluate(axe);
      const result = await page.evaluate<{
        violations: { id: string; help: string; nodes: unknown[] }[];
        passes: unknown[];
      }>(
        `axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } })`,
      );
      expect(result.passes.length, `axe checked nothing on ${path}`).toBeGreaterThan(10);
      return result.violations.map((v) => `${path}: ${v.id} (${v.help}) ×${v.nodes.length}`);
    };
    // The audit can fail: a page with no title, no language, no landmark and an image with no text has violations.
    await page.setContent("<html><body><p>x</p><img src='data:,'></body></html>");
    await page.evaluate(axe);
    const control = await page.evaluate<{ violations: { id: string }[] }>("axe.run(document)");
    expect(control.violations.map((v) => v.id)).toEqual(
      expect.arrayContaining(["html-has-lang", "image-alt"]),
    );
    const address = freshEmail("axe");
    await site.conn.connections.create({ org: ORG, accountId: PEOPLE.alice._id }, PATIENT_FILE.context, [
      { email: address, access: AccessLevel.Read },
    ]);
    const link = new URL(await invitationLink(site, address));
    const violations = [
      ...(await audit(link.pathname)), // the invitation, anonymous: details and the sign-in forms
      ...(await audit(`/${ORG}/connections/${"A".repeat(43)}`)), // an error state
    ];
    await signIn(page, site, PEOPLE.alice.email);
    violations.push(...(await audit(ACCESS_PATH))); // tables, row forms, the invite forms
    await screenshot(page, "access-record-audited");
    expect(violations).toEqual([]);
  });
});
