/**
 * The whole story in Chromium, as people live it: the owner invites an email address on the "who has access"
 * page, the SES emulator holds the email, the link in its HTML opens the invitation page, the person creates an
 * account and accepts, the owner sees the connection active and revokes it, and the person's access is gone.
 * Then the same accept with the keyboard alone. (The story on PostgreSQL, over HTTP: postgres.test.ts.)
 */
import { AccessLevel } from "@conn/core";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeInBrowser, launchBrowser, screenshot } from "./support/browser.ts";
import {
  ACCESS_PATH,
  eventually,
  invitationLink,
  newPage,
  ORG,
  PATIENT_FILE,
  PEOPLE,
  RECORD_PATH,
  shown,
  signIn,
  startSite,
  type TestSite,
  tokenHidden,
  tokenOf,
} from "./support/site.ts";

/**
 * Runs in the page: the focused element ("TAG label-or-text") and its outline ("solid 3px"). A string, so the test
 * type-checks without the DOM's types.
 */
const FOCUS_PROBE = `(() => {
  const el = document.activeElement;
  const style = el === null ? null : getComputedStyle(el);
  const label = el && el.id ? document.querySelector('label[for="' + el.id + '"]')?.textContent : null;
  return {
    name: ((el ? el.tagName : "") + " " + (label ?? (el ? el.textContent : "") ?? "")).replace(/\\s+/g, " ").trim(),
    outline: style === null ? "none" : style.outlineStyle + " " + style.outlineWidth,
  };
})()`;

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

/** The story on a running site, with the two screenshots of docs/getting-started.md. */
async function story(site: TestSite): Promise<void> {
  const dan = "dan@elsewhere.example"; // each story has its own site, whose links its emails carry
  const owner = await newPage(await browser.newContext());
  const person = await newPage(await browser.newContext());

  // The owner invites Dan's email address at Read.
  await signIn(owner, site, PEOPLE.alice.email);
  await owner.goto(`${site.url}${ACCESS_PATH}`);
  const byEmail = owner.getByRole("group", { name: "Invite by email address" });
  await byEmail.getByLabel("Email address").fill(dan);
  await byEmail.getByLabel("First name").fill("Dan");
  await byEmail.getByLabel("Access level").selectOption(String(AccessLevel.Read));
  await byEmail.getByRole("button", { name: "Send invitation" }).click();
  await eventually(() => shown(owner.getByRole("status"))).toContain(
    `Invitation sent to ${dan} at Read (4).`,
  );
  const pending = owner.getByRole("table", { name: "Invitations waiting for an answer" });
  await eventually(() => shown(pending.getByRole("row", { name: new RegExp(dan) }))).toContain("Pending");
  await screenshot(owner, "flow-owner-invited", "web-who-has-access");

  // The email arrives; its link opens the invitation page, and the token leaves the address bar at once.
  const link = await invitationLink(site, dan);
  expect(link).toMatch(new RegExp(`^${site.publicUrl}/${ORG}/connections/[A-Za-z0-9_-]{43}$`));
  const token = tokenOf(link);
  const opened = await person.goto(link);
  expect(opened?.status()).toBe(200);
  expect(person.url()).toMatch(new RegExp(`/${ORG}/invitation/[A-Za-z0-9_-]{22}$`));
  await eventually(() => shown(person.getByRole("heading", { level: 1 }))).toBe(
    "Alice Owner invited you to a patient file",
  );
  const facts = person.locator("dl.facts");
  await eventually(() => shown(facts)).toContain("Erin Example (patient file)");
  await eventually(() => shown(facts)).toContain("Read: can read the whole record");
  await eventually(() => shown(facts)).toContain(dan);
  await eventually(() => shown(facts)).toMatch(/Open until\s*\d{1,2} \w+ \d{4} at \d\d:\d\d UTC/);
  expect(await tokenHidden(person, token)).toBe(true);
  await screenshot(person, "flow-invitation", "web-invitation");

  // Dan creates an account (demo) with the invited address, prefilled, and accepts.
  const register = person.getByRole("form", { name: "Create an account" });
  expect(await register.getByLabel("Email address").inputValue()).toBe(dan);
  await register.getByLabel("First name").fill("Dan");
  await register.getByRole("button", { name: "Create account" }).click();
  await eventually(() => shown(person.getByRole("status"))).toContain("Welcome, Dan");
  await person.getByRole("button", { name: "Accept invitation" }).click();
  await eventually(() => shown(person.getByRole("heading", { level: 1 }))).toBe(
    "You accepted the invitation",
  );
  await eventually(() => shown(person.locator(".panel-ok"))).toContain("Read: can read the whole record");
  expect(await tokenHidden(person, token)).toBe(true);
  await person.getByRole("link", { name: "Open Erin Example" }).click();
  await person.getByText("Allergies").waitFor();
  const [account] = await site.world.accounts.findByEmails(ORG, [dan]);
  expect(await site.conn.connections.resolveAccess(ORG, account?._id ?? "", PATIENT_FILE.context)).toBe(
    AccessLevel.Read,
  );

  // The owner sees the connection active, and revokes it.
  await owner.reload();
  const active = owner.getByRole("table", { name: "People with access" }).getByRole("row", { name: /Dan/ });
  await eventually(() => shown(active)).toContain("Active");
  await eventually(() => shown(active)).toContain("Read (4)");
  await eventually(() =>
    owner.getByRole("table", { name: "Invitations waiting for an answer" }).count(),
  ).toBe(0);
  await active.getByRole("button", { name: "Revoke access of Dan" }).click();
  await eventually(() => shown(owner.getByRole("status"))).toBe("Dan no longer has access.");
  await eventually(() => owner.getByRole("row", { name: /Dan/ }).count()).toBe(0);

  // Dan's access is gone: the library says None, the record page refuses him, and so does the API.
  expect(await site.conn.connections.resolveAccess(ORG, account?._id ?? "", PATIENT_FILE.context)).toBe(
    AccessLevel.None,
  );
  const refused = await person.goto(`${site.url}${RECORD_PATH}`);
  expect(refused?.status()).toBe(403);
  await eventually(() => shown(person.getByRole("heading", { level: 1 }))).toBe(
    "You do not have access to this record",
  );
  const api = await person.request.get(`${site.url}/${ORG}/v2/connections?state=1`);
  expect((await api.json()).data).toEqual([]);

  // The token was never logged: request lines show "<token>" in its place.
  expect(site.log.join("\n")).not.toContain(token);
  expect(site.log).toContain(`GET /${ORG}/connections/<token> 303`);
  await owner.context().close();
  await person.context().close();
}

describeInBrowser("the invitation, end to end in Chromium", () => {
  it("invite by email → email → link → create an account → accept → owner sees it active → revoke → access gone", async () => {
    const site = await startSite();
    try {
      await story(site);
    } finally {
      await site.close();
    }
  });

  it("keyboard only: the link, sign-in and Accept with Tab and Enter, focus always visible", async () => {
    const site = await startSite();
    const context = await browser.newContext();
    try {
      await site.conn.connections.create({ org: ORG, accountId: PEOPLE.alice._id }, PATIENT_FILE.context, [
        { _id: PEOPLE.bob._id, access: AccessLevel.Read },
      ]);
      const link = await invitationLink(site, PEOPLE.bob.email);
      const page = await newPage(context);
      await page.goto(link);

      /** Presses Tab until the focused element's accessible name matches, checking that every focus is visible. */
      const tabTo = async (name: RegExp) => {
        for (let i = 0; i < 40; i++) {
          await page.keyboard.press("Tab");
          const focus = await page.evaluate<{ name: string; outline: string }>(FOCUS_PROBE);
          expect(focus.outline, `focus on "${focus.name}" must be visible`).toMatch(/^solid [3-9]px$/);
          if (name.test(focus.name)) return;
        }
        throw new Error(`no element matching ${name} reached with Tab`);
      };

      await tabTo(/^INPUT Email address$/);
      await page.keyboard.type(PEOPLE.bob.email);
      await page.keyboard.press("Enter");
      await eventually(() => shown(page.getByRole("status"))).toContain("Signed in as Bob Doctor");
      // The library shows the token to its target: the page, signed in as Bob, still does not.
      expect(await tokenHidden(page, tokenOf(link))).toBe(true);
      await tabTo(/^BUTTON Accept invitation$/);
      await screenshot(page, "keyboard-01-accept-focused");
      await page.keyboard.press("Enter");
      await eventually(() => shown(page.getByRole("heading", { level: 1 }))).toBe(
        "You accepted the invitation",
      );
      expect(await site.conn.connections.resolveAccess(ORG, PEOPLE.bob._id, PATIENT_FILE.context)).toBe(
        AccessLevel.Read,
      );
    } finally {
      await context.close();
      await site.close();
    }
  });
});
