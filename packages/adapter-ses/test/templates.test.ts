import { AccessLevel } from "@conn/core";
import { fr } from "date-fns/locale/fr";
import { describe, expect, it } from "vitest";
import {
  buildTemplateData,
  defaultObjectLabel,
  defaultTemplates,
  escapeHtml,
  html,
  stripControlChars,
} from "../src/index.js";
import { makeNotice } from "./helpers.js";

const options = { objectLabels: {}, timeZone: "UTC", locale: fr, dateFormat: "PPP" };

describe("escaping helpers", () => {
  it("escapeHtml() escapes every character that can open a tag or close an attribute", () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&\`</a>`)).toBe(
      "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#96;&lt;/a&gt;",
    );
  });

  it("html`` escapes the interpolated values but not the template", () => {
    const name = "<b>Bob</b>";
    expect(html`<p>${name} ${3}</p>`).toBe("<p>&lt;b&gt;Bob&lt;/b&gt; 3</p>");
  });

  it("stripControlChars() removes CR, LF, TAB, NUL, DEL and Unicode line separators", () => {
    expect(stripControlChars(" a\r\nb\tc\u0000d\u007fe\u2028f\u0085g ")).toBe("a b c d e f g");
  });
});

describe("buildTemplateData()", () => {
  it("derives a default object label from the object name", () => {
    expect(defaultObjectLabel("c_prescription")).toBe("prescription");
    expect(defaultObjectLabel("c_lab_result")).toBe("lab result");
    expect(defaultObjectLabel("acme__c_visit")).toBe("visit");
    expect(defaultObjectLabel("account")).toBe("account");
  });

  it("falls back to the email for the greeting, 'Someone' for the creator and the org code for the org", () => {
    const notice = makeNotice("connection-created", {
      org: { code: "acme", name: " \r\n" },
      creator: { _id: "b".repeat(24), name: null },
      access: AccessLevel.Share,
    });
    notice.recipient = { ...notice.recipient, name: { last: "Only" } };
    const data = buildTemplateData(notice, notice.recipient.email, options);
    expect(data).toMatchObject({
      recipientName: notice.recipient.email,
      creatorName: "Someone",
      orgName: "acme",
      accessName: "Share",
      expiresAtText: null,
      acceptUrl: null,
    });
  });

  it("formats the expiry with the configured locale and format", () => {
    const notice = makeNotice("invite-existing-user");
    expect(buildTemplateData(notice, notice.recipient.email, options).expiresAtText).toBe("15 janvier 2030");
  });
});

describe("default templates", () => {
  it.each(Object.keys(defaultTemplates) as Array<keyof typeof defaultTemplates>)(
    "%s renders a subject, an HTML document and a text part",
    async (kind) => {
      const notice = makeNotice(kind);
      const content = await defaultTemplates[kind](
        buildTemplateData(notice, notice.recipient.email, options),
      );
      expect(content.subject.length).toBeGreaterThan(0);
      expect(content.html).toMatch(/^<!doctype html>/);
      expect(content.html).toContain("</html>");
      expect(content.text).toContain("Hi Ada,");
      expect(content.text).not.toMatch(/<[a-z]/i);
    },
  );
});
