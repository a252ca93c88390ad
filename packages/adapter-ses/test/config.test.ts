import { SESv2Client } from "@aws-sdk/client-sesv2";
import { describe, expect, it } from "vitest";
import { SesNotifier, SesNotifierConfigError, type SesNotifierOptions } from "../src/index.js";

/** The configuration error `new SesNotifier(options)` throws (fails the test when it does not throw). */
function configError(options: unknown): SesNotifierConfigError {
  try {
    new SesNotifier(options as SesNotifierOptions);
  } catch (err) {
    if (err instanceof SesNotifierConfigError) return err;
    throw err;
  }
  throw new Error("expected new SesNotifier() to throw");
}

describe("new SesNotifier(options)", () => {
  it("accepts a minimal configuration", () => {
    const notifier = new SesNotifier({ from: "no-reply@acme.example", region: "eu-west-1" });
    expect(notifier.client).toBeInstanceOf(SESv2Client);
  });

  it("uses a pre-built client as given", () => {
    const client = new SESv2Client({ region: "eu-west-1" });
    expect(new SesNotifier({ from: "no-reply@acme.example", client }).client).toBe(client);
  });

  it("names `from` when it is missing", () => {
    const err = configError({ region: "eu-west-1" });
    expect(err.message).toMatch(/^Invalid SesNotifier configuration:/);
    expect(err.issues.map((i) => i.path)).toEqual(["from"]);
    expect(err.message).toContain("  - from: is required");
  });

  it.each([
    ["not an address", "no-reply"],
    ["CR/LF header injection", "no-reply@acme.example\r\nBcc: victim@example.com"],
    ["a display name with angle brackets", "A <b> <no-reply@acme.example>"],
  ])("refuses `from` with %s", (_, from) => {
    const err = configError({ from });
    expect(err.issues.map((i) => i.path)).toEqual(["from"]);
    expect(err.message).toContain("must be an email address");
  });

  it("refuses a bad reply-to address and names it by index", () => {
    const err = configError({ from: "a@acme.example", replyTo: ["ok@acme.example", "nope"] });
    expect(err.issues.map((i) => i.path)).toEqual(["replyTo.1"]);
  });

  it("refuses tag names and values outside SES's charset, and the notifier's own tag names", () => {
    const err = configError({
      from: "a@acme.example",
      tags: { env: "prod eu", "bad name": "x", connection_id: "x" },
    });
    expect(err.message).toContain("tags.env: tag values: letters, digits, '_' and '-' only");
    expect(err.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(["tags.env", "tags.bad name", "tags.connection_id"]),
    );
  });

  it.each([
    ["timeZone", { timeZone: "Mars/Olympus_Mons" }, "IANA time zone"],
    ["locale", { locale: "fr" }, "date-fns Locale"],
    ["endpoint", { endpoint: "ftp://ses.local" }, "http(s) URL"],
    ["configurationSetName", { configurationSetName: "has spaces" }, "letters, digits"],
    ["maxAttempts", { maxAttempts: 0 }, ""],
    ["dateFormat", { dateFormat: "YYYY-MM-DD" }, "date-fns format pattern"],
    ["templates.invite-new-user", { templates: { "invite-new-user": "<p>hi</p>" } }, "must be a function"],
    ["credentials", { credentials: { accessKeyId: "AKIA" } }, "credentials provider"],
  ])("names `%s` when it is invalid", (path, extra, hint) => {
    const err = configError({ from: "a@acme.example", ...extra });
    expect(err.issues.map((i) => i.path)).toEqual([path]);
    const line = err.message.split("\n").find((l) => l.startsWith(`  - ${path}: `));
    expect(line).toContain(hint);
  });

  it("names an unknown setting (a typo) instead of ignoring it", () => {
    const err = configError({ from: "a@acme.example", regoin: "eu-west-1" });
    expect(err.message).toContain("regoin");
  });

  it("refuses client settings next to a pre-built client", () => {
    const err = configError({ from: "a@acme.example", client: new SESv2Client({}), region: "eu-west-1" });
    expect(err.issues.map((i) => i.path)).toEqual(["region"]);
  });

  it("never puts a secret access key in its message", () => {
    const err = configError({
      from: "a@acme.example",
      credentials: { accessKeyId: "", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET" },
    });
    expect(err.message).toContain("credentials");
    expect(err.message).not.toContain("SECRET");
    expect(JSON.stringify(err.issues)).not.toContain("SECRET");
  });
});
