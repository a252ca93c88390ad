/**
 * Debian's Chromium driven by playwright-core (no browser download). `.ci/run` installs it with apt when missing;
 * with CI set, a missing browser fails the browser tests, and elsewhere it skips them with that reason.
 */
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { describe } from "vitest";

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
 * Saves a full-page screenshot as `test-output/<name>.png`; with `CONN_UPDATE_DOCS_SCREENSHOTS=1` a `docsName`
 * also goes into docs/ (the two pictures of docs/getting-started.md).
 */
export async function screenshot(page: Page, name: string, docsName?: string): Promise<void> {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  await page.screenshot({ path: `${OUTPUT_DIR}${name}.png`, fullPage: true });
  if (docsName !== undefined && process.env.CONN_UPDATE_DOCS_SCREENSHOTS === "1") {
    await page.screenshot({ path: `${DOCS_DIR}${docsName}.png`, fullPage: true });
  }
}
