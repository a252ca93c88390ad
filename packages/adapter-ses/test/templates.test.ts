import { AccessLevel } from "@conn/core";
import { enUS } from "date-fns/locale/en-US";
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

describe("the access-ending email", () => {
  const utc = { objectLabels: {}, timeZone: "UTC", locale: enUS, dateFormat: "PPPp zzz" };
  const render = async (notice: ReturnType<typeof makeNotice>) =>
    defaultTemplates["access-ending"](buildTemplateData(notice, notice.recipient.email, utc));

  it("to the target: states the record, the level, the end instant and who gave it; no link, no token", async () => {
    const notice = makeNotice("access-ending", { access: AccessLevel.Update });
    const content = await render(notice);
    const end = "February 1st, 2030 at 5:30 PM GMT+0";
    expect(content.subject).toBe(`Your Update access to a shared prescription on Acme Health ends on ${end}`);
    expect(content.text).toContain(
      `Your Update access to a shared prescription on Acme Health, given by Grace Hopper, ends on ${end}.`,
    );
    expect(content.text).toContain(`Record: prescription ${notice.context._id}`);
    expect(content.text).toContain("Access: Update");
    expect(content.html).toContain(`<strong>${end}</strong>`);
    expect(content.html).toContain(notice.context._id);
    expect(`${content.text}${content.html}`).not.toMatch(/https?:\/\/|href=/);
  });

  it("to the creator: names whose access ends; without a name, 'someone'", async () => {
    const notice = makeNotice("access-ending");
    notice.accessEnding = {
      endsAt: new Date("2030-02-01T17:30:00Z"),
      audience: "creator",
      target: { account: "t1", name: { first: "Alan", last: "Turing" } },
    };
    const named = await render(notice);
    expect(named.subject).toBe(
      "The Read access you gave Alan Turing to a shared prescription on Acme Health ends on February 1st, 2030 at 5:30 PM GMT+0",
    );
    expect(named.text).toContain(
      "To keep it, share the prescription with Alan Turing again with a later end",
    );
    notice.accessEnding = { ...notice.accessEnding, target: { account: "t1", name: null } };
    expect((await render(notice)).subject).toContain("you gave someone to a shared prescription");
  });

  it("formats the end in the configured time zone and locale", () => {
    const notice = makeNotice("access-ending");
    const data = buildTemplateData(notice, notice.recipient.email, options);
    expect(data).toMatchObject({
      accessEndsAtText: "1 février 2030",
      audience: "target",
      targetName: "Ada Lovelace",
    });
    expect(data.accessEndsAt).toEqual(new Date("2030-02-01T17:30:00Z"));
  });

  it("escapes a hostile target name in the HTML and strips its line breaks", async () => {
    const notice = makeNotice("access-ending");
    notice.accessEnding = {
      endsAt: new Date("2030-02-01T17:30:00Z"),
      audience: "creator",
      target: { account: "t1", name: { first: "<script>x</script>\r\nBcc: evil@example.com", last: "&" } },
    };
    const content = await render(notice);
    expect(content.html).not.toContain("<script>");
    expect(content.html).toContain("&lt;script&gt;x&lt;/script&gt; Bcc: evil@example.com &amp;");
    expect(content.subject).not.toMatch(/[\r\n]/);
  });

  it("a notice of another kind carries no end: the access-ending fields are null", () => {
    const notice = makeNotice("connection-created");
    expect(buildTemplateData(notice, notice.recipient.email, options)).toMatchObject({
      accessEndsAt: null,
      accessEndsAtText: null,
      audience: null,
      targetName: null,
    });
  });
});
