/**
 * Debian's Chromium driven by playwright-core (no browser download). `.ci/run` installs it with apt when missing;
 * with CI set, a missing browser fails the browser tests, and elsewhere it skips them with that reason.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe } from "vitest";

/** The browser binary (`CONN_CHROMIUM` overrides Debian's). */
export const CHROMIUM = process.env.CONN_CHROMIUM || "/usr/bin/chromium";
/** True in CI, where a missing browser is a failure, never a skip. */
export const IN_CI = process.env.CI === "true" || process.env.CI === "1";

/** Where each test's screenshot goes. */
export const OUTPUT_DIR = fileURLToPath(new URL("../../test-output/", import.meta.url));
/** Where the screenshots shown in docs/getting-started.md live. */
export const DOCS_DIR = fileURLToPath(new URL("../../../../docs/", import.meta.url));

/**
 * `describe` for browser tests: they run when Chromium is installed or CI is set (and then fail if it is
 * missing); otherwise they are skipped, because there is no browser to drive (`apt-get install -y chromium`).
 */
export const describeInBrowser = existsSync(CHROMIUM) || IN_CI ? describe : describe.skip;

/** Launches Chromium headless, with the flags that keep it off the network it cannot reach here. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}: install it with "apt-get install -y chromium" (.ci/run does)`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * Saves what the page shows as `test-output/<name>.png`. A `docsName` makes it a full-page picture, which
 * `CONN_UPDATE_DOCS_SCREENSHOTS=1` also writes into docs/ (the two pictures of docs/getting-started.md).
 */
export async function screenshot(page: Page, name: string, docsName?: string): Promise<void> {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const picture = await page.screenshot({
    path: `${OUTPUT_DIR}${name}.png`,
    fullPage: docsName !== undefined,
  });
  if (docsName !== undefined && process.env.CONN_UPDATE_DOCS_SCREENSHOTS === "1") {
    writeFileSync(`${DOCS_DIR}${docsName}.png`, picture);
  }
}

/** What {@link useOnePage} gives a test file: one browser, one context, one page, and the thing under test. */
export interface OnePage<T> {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  subject: T;
}

/**
 * One browser, context and page for the whole file (opening pages is the slow part), plus `start()`'s subject
 * (the site); each test begins with no cookies. Read the fields inside tests, once `beforeAll` has run.
 */
export function useOnePage<T extends { close(): Promise<void> }>(start: () => Promise<T>): OnePage<T> {
  const shared = {} as OnePage<T>;
  beforeAll(async () => {
    [shared.browser, shared.subject] = await Promise.all([launchBrowser(), start()]);
    shared.context = await shared.browser.newContext();
    shared.page = await shared.context.newPage();
    shared.page.setDefaultTimeout(10_000);
  });
  afterAll(async () => {
    await shared.browser?.close();
    await shared.subject?.close();
  });
  beforeEach(async () => {
    await shared.context.clearCookies();
  });
  return shared;
}
