/** The web example on a free port, its emails in the SES emulator, and what the tests do through its pages. */
import { randomBytes } from "node:crypto";
import type { ConnectionsConfigInput } from "@conn/container";
import type { Clock } from "@conn/core";
import type { BrowserContext, Locator, Page } from "playwright-core";
import { expect, inject } from "vitest";
import { startWebServer, type WebServer } from "../../src/server.ts";
import { PATIENT_FILE } from "../../src/world.ts";

export { PATIENT_FILE, PEOPLE } from "../../src/world.ts";

/**
 * Polls what a page shows until the assertion holds (10 s at most): pages change after a click's navigation ends.
 * playwright-core has no web-first assertions of its own; this is the same idea with vitest's `expect.poll`.
 */
export function eventually<T>(read: () => Promise<T>) {
  return expect.poll(read, { timeout: 10_000, interval: 50 });
}

/** The text of an element as a person sees it (rendered, whitespace collapsed): what the tests compare. */
export function shown(locator: Locator): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: the rendered text, not the DOM's, is what people read
  return locator.innerText();
}

/** The org of the demo. */
export const ORG = "acme";
/** The record's page. */
export const RECORD_PATH = `/${ORG}/${PATIENT_FILE.plural}/${PATIENT_FILE.context._id}`;
/** Its "who has access" page. */
export const ACCESS_PATH = `${RECORD_PATH}/access`;

/** A clock that follows the system clock, moved forward by `advance` (to expire invitations). */
export class OffsetClock implements Clock {
  private offsetMs = 0;

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }

  /** Moves the time forward. */
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

/** The configuration of a test site: memory (or the given persistence), emails through the SES emulator. */
export function sesConfig(extra: Partial<ConnectionsConfigInput> = {}): ConnectionsConfigInput {
  return {
    notices: { kind: "ses", from: "no-reply@acme.example", endpoint: inject("sesEndpoint") },
    ...extra,
  };
}

/** A site under test: the server, and the request lines it logged. */
export type TestSite = WebServer & { log: string[] };

/** Starts the site with emails going to the SES emulator; `log` collects its request lines. */
export async function startSite(
  options: { clock?: Clock; config?: ConnectionsConfigInput } = {},
): Promise<TestSite> {
  const log: string[] = [];
  const server = await startWebServer({
    config: options.config ?? sesConfig(),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    log: (line) => log.push(line),
  });
  return Object.assign(server, { log });
}

/** One email as the SES emulator stores it. */
export interface StoredEmail {
  destination: { to: string[] };
  subject: string;
  body: { html: string; text: string };
}

/** The invitation link in an email's HTML part. */
export function linkIn(email: StoredEmail): string {
  const href = /href="(http[^"]*\/connections\/[^"]+)"/.exec(email.body.html)?.[1];
  if (href === undefined) throw new Error(`no invitation link in: ${email.body.html}`);
  return href.replaceAll("&amp;", "&");
}

/** The emails to `address` whose links point at `site`, oldest first. */
export async function emailsTo(site: WebServer, address: string): Promise<StoredEmail[]> {
  const store = (await (await fetch(`${inject("sesEndpoint")}/store`)).json()) as { emails: StoredEmail[] };
  return store.emails.filter(
    (e) =>
      e.destination.to.includes(address) && e.body.html.includes(`${site.publicUrl}/${ORG}/connections/`),
  );
}

/** Waits for the `count`-th email to `address` from `site` and returns its link. */
export async function invitationLink(site: WebServer, address: string, count = 1): Promise<string> {
  await expect
    .poll(async () => (await emailsTo(site, address)).length, { timeout: 10_000 })
    .toBeGreaterThanOrEqual(count);
  return linkIn((await emailsTo(site, address))[count - 1] as StoredEmail);
}

/** An email address no other test uses. */
export function freshEmail(name: string): string {
  return `${name}.${randomBytes(4).toString("hex")}@elsewhere.example`;
}

/** The token of an invitation link (its last path segment). */
export function tokenOf(link: string): string {
  return decodeURIComponent(new URL(link).pathname.split("/").pop() ?? "");
}

/** A fresh browser context (its own cookies) with a page on the site. */
export async function newPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  return page;
}

/** Signs in through the demo sign-in page, as a person would. */
export async function signIn(page: Page, site: WebServer, email: string): Promise<void> {
  await page.goto(`${site.url}/${ORG}/sign-in`);
  await page.getByRole("form", { name: "Sign in" }).getByLabel("Email address").fill(email);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await eventually(() => shown(page.getByRole("status"))).toContain("Signed in as");
}

/** True when neither the page's address nor its HTML holds the token. */
export async function tokenHidden(page: Page, token: string): Promise<boolean> {
  return !page.url().includes(token) && !(await page.content()).includes(token);
}
