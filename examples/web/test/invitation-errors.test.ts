/**
 * Every way an invitation link can fail, in Chromium: each state has its own page, message and HTTP status, and
 * no page or address ever shows the token. One browser page for the file; each test starts with no cookies.
 */
import { AccessLevel, type ConnectionTargetInput } from "@conn/core";
import type { BrowserContext, Page } from "playwright-core";
import { beforeAll, expect, it } from "vitest";
import { describeInBrowser, screenshot, useOnePage } from "./support/browser.ts";
import {
  ACCESS_PATH,
  eventually,
  freshEmail,
  invitationLink,
  OffsetClock,
  ORG,
  PATIENT_FILE,
  PEOPLE,
  shown,
  signIn,
  startSite,
  type TestSite,
  tokenHidden,
  tokenOf,
} from "./support/site.ts";

const DAY = 24 * 60 * 60 * 1000;
const clock = new OffsetClock();
const shared = useOnePage(() => startSite({ clock }));
let context: BrowserContext;
let page: Page;
let site: TestSite;
beforeAll(() => {
  ({ context, page, subject: site } = shared);
});

/** Alice invites `target` to her patient file at Read; returns the link of the email it sends. */
async function invite(target: ConnectionTargetInput, address: string, nth = 1): Promise<string> {
  const [entry] = await site.conn.connections.create(
    { org: ORG, accountId: PEOPLE.alice._id },
    PATIENT_FILE.context,
    [{ access: AccessLevel.Read, ...target }],
  );
  expect(entry).toMatchObject({ object: "connection", state: 0 });
  return invitationLink(site, address, nth);
}

/** Opens a link; returns the HTTP status of the page it ends on. */
async function open(link: string): Promise<number | undefined> {
  return (await page.goto(link))?.status();
}

const heading = () => shown(page.getByRole("heading", { level: 1 }));
const panel = () => shown(page.locator(".panel-bad").first());

describeInBrowser("the invitation page's error states", () => {
  it("expired: the page says until when it could be accepted (410)", async () => {
    const address = freshEmail("expired");
    const link = await invite({ email: address }, address);
    clock.advance(7 * DAY + 60_000);
    expect(await open(link)).toBe(410);
    expect(await heading()).toBe("This invitation has expired");
    expect(await panel()).toMatch(
      /It could be accepted until \d{1,2} \w+ \d{4} at \d\d:\d\d UTC\.\s+Ask Alice Owner/,
    );
    expect(await tokenHidden(page, tokenOf(link))).toBe(true);
    await screenshot(page, "error-expired");
  });

  it("already accepted: once accepted the link is spent (410); its acceptor is told so and pointed to the record", async () => {
    const link = await invite({ _id: PEOPLE.bob._id }, PEOPLE.bob.email);
    await signIn(page, site, PEOPLE.bob.email);
    expect(await open(link)).toBe(200);
    await page.getByRole("button", { name: "Accept invitation" }).click();
    await eventually(heading).toBe("You accepted the invitation");

    expect(await open(link)).toBe(410);
    expect(await heading()).toBe("This invitation has already been accepted");
    expect(await shown(page.locator(".panel-ok"))).toBe(
      "You accepted it already: there is nothing more to do.",
    );
    expect(await page.getByRole("link", { name: "Open Erin Example" }).getAttribute("href")).toBe(
      `/${ORG}/${PATIENT_FILE.plural}/${PATIENT_FILE.context._id}`,
    );
    expect(await tokenHidden(page, tokenOf(link))).toBe(true);

    await context.clearCookies(); // someone else holding the link
    expect(await open(link)).toBe(410);
    expect(await heading()).toBe("This invitation has already been accepted");
    expect(await panel()).toContain("An invitation link works only once.");
    expect(await tokenHidden(page, tokenOf(link))).toBe(true);
    await screenshot(page, "error-already-accepted");
    await site.conn.connections.delete(
      { org: ORG, accountId: PEOPLE.alice._id },
      await activeOf(PEOPLE.bob._id),
    );
  });

  it("declined: declining needs no sign-in; then the link says it was declined (410)", async () => {
    const address = freshEmail("declines");
    const link = await invite({ email: address }, address);
    expect(await open(link)).toBe(200);
    await page.getByRole("button", { name: "Decline" }).click();
    await eventually(heading).toBe("You declined the invitation");
    expect(await shown(page.locator(".panel-ok"))).toContain("Alice Owner's invitation is removed");
    expect(await tokenHidden(page, tokenOf(link))).toBe(true);

    expect(await open(link)).toBe(410);
    expect(await heading()).toBe("This invitation was declined");
    expect(await panel()).toBe(
      "Its link no longer works. If you need access, ask Alice Owner to invite you again.",
    );
    expect(await tokenHidden(page, tokenOf(link))).toBe(true);
    await screenshot(page, "error-declined");
  });

  it("wrong account: signed in as someone else, the page says whom it was sent to and offers to sign out (403)", async () => {
    const address = freshEmail("frank");
    const link = await invite({ email: address }, address);
    await signIn(page, site, PEOPLE.carol.email);
    expect(await open(link)).toBe(403);
    expect(await heading()).toBe("This invitation is for someone else");
    expect(await panel()).toContain(
      `Alice Owner sent it to ${address}, and you are signed in as ${PEOPLE.carol.email}.`,
    );
    expect(await page.getByRole("button", { name: "Accept invitation" }).count()).toBe(0);
    expect(await tokenHidden(page, tokenOf(link))).toBe(true);
    await screenshot(page, "error-wrong-account");

    // Signing out brings back the invitation, which stays open for the right person.
    await page.locator("main").getByRole("button", { name: "Sign out" }).click();
    await eventually(heading).toBe("Alice Owner invited you to a patient file");
  });

  it("unknown token: a well-formed token no invitation has (404)", async () => {
    const token = "A".repeat(43);
    expect(await open(`${site.url}/${ORG}/connections/${token}`)).toBe(404);
    expect(await heading()).toBe("This invitation link does not work");
    expect(await panel()).toContain("Check that you opened the whole link from the email");
    expect(await tokenHidden(page, token)).toBe(true);
    await screenshot(page, "error-unknown");
  });

  it("malformed token: too short, or with characters no token has (400)", async () => {
    for (const token of ["abc", `${"x".repeat(40)}!$`]) {
      expect(await open(`${site.url}/${ORG}/connections/${encodeURIComponent(token)}`)).toBe(400);
      expect(await heading()).toBe("This is not a valid invitation link");
      expect(await tokenHidden(page, token)).toBe(true);
    }
    await screenshot(page, "error-malformed");
  });

  it("unverified account: no Accept until the email is verified; a forced accept is refused by the library", async () => {
    const link = await invite({ _id: PEOPLE.dave._id }, PEOPLE.dave.email);
    await signIn(page, site, PEOPLE.dave.email);
    expect(await open(link)).toBe(200);
    expect(
      await page.getByRole("heading", { level: 2, name: "Verify your email address first" }).count(),
    ).toBe(1);
    expect(await page.getByRole("button", { name: "Accept invitation" }).count()).toBe(0);
    expect(await tokenHidden(page, tokenOf(link))).toBe(true);
    await screenshot(page, "error-unverified");

    // A forged accept (the form is not on the page) still carries the session's CSRF token: the library refuses it.
    const csrf = await page.locator("input[name=_csrf]").first().inputValue();
    const forced = await page.request.post(`${page.url()}/accept`, { form: { _csrf: csrf } });
    expect(forced.status()).toBe(200); // redirected back to the page, which now says why
    expect(await forced.text()).toContain(
      "Only verified accounts can do this. Verify your email address first.",
    );
    expect(await site.conn.connections.resolveAccess(ORG, PEOPLE.dave._id, PATIENT_FILE.context)).toBe(
      AccessLevel.None,
    );

    await page.getByRole("button", { name: "Verify my email address (demo)" }).click();
    await eventually(() => shown(page.getByRole("status"))).toContain("is verified");
    await page.getByRole("button", { name: "Accept invitation" }).click();
    await eventually(heading).toBe("You accepted the invitation");
    expect(await site.conn.connections.resolveAccess(ORG, PEOPLE.dave._id, PATIENT_FILE.context)).toBe(
      AccessLevel.Read,
    );
  });

  it("withdrawn and replaced: the owner's Resend and Withdraw make the earlier links say so (410)", async () => {
    const address = freshEmail("gina");
    const first = await invite({ email: address }, address);
    await signIn(page, site, PEOPLE.alice.email);
    await page.goto(`${site.url}${ACCESS_PATH}`);
    const row = page
      .getByRole("table", { name: "Invitations waiting for an answer" })
      .getByRole("row", { name: /gina/ });
    await row.getByRole("button", { name: `Resend invitation to ${address}` }).click();
    await eventually(() => shown(page.getByRole("status"))).toContain(`Invitation sent again to ${address}`);
    const second = await invitationLink(site, address, 2);
    expect(tokenOf(second)).not.toBe(tokenOf(first));
    await row.getByRole("button", { name: `Withdraw invitation to ${address}` }).click();
    await eventually(() => shown(page.getByRole("status"))).toBe(
      `The invitation to ${address} is withdrawn.`,
    );

    await context.clearCookies();
    expect(await open(first)).toBe(410);
    expect(await heading()).toBe("A newer invitation replaced this one");
    expect(await tokenHidden(page, tokenOf(first))).toBe(true);
    expect(await open(second)).toBe(410);
    expect(await heading()).toBe("This invitation was withdrawn");
    expect(await panel()).toBe("Alice Owner withdrew it, so its link no longer works.");
    expect(await tokenHidden(page, tokenOf(second))).toBe(true);
    await screenshot(page, "error-withdrawn");
  });

  it("a page of a session that ended: open the link from the email again (404)", async () => {
    expect(await open(`${site.url}/${ORG}/invitation/${"h".repeat(22)}`)).toBe(404);
    expect(await heading()).toBe("This page has expired");
    await screenshot(page, "error-session-ended");
  });
});

/** The id of the active connection of `account` to the patient file. */
async function activeOf(account: string): Promise<string> {
  const list = await site.conn.connections.list({ org: ORG, accountId: account }, { state: 1 });
  const found = list.data.find((c) => c.context._id === PATIENT_FILE.context._id);
  if (found === undefined) throw new Error(`${account} holds no active connection`);
  return found._id;
}
