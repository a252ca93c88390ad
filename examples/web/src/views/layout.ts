/**
 * The page frame and the small pieces every page uses. Everything is rendered on the server with Hono's `html`
 * tag, which escapes every interpolated value; no page has a script, so every form works without JavaScript.
 */
import { AccessLevel, type Account, accessLevelName } from "@conn/core";
import { html } from "hono/html";
import type { Flash } from "../sessions.js";
import type { DemoOrg } from "../world.js";
import { displayName } from "../world.js";

/** A rendered piece of HTML (escaped). */
export type Html = ReturnType<typeof html>;

/** What each page's frame shows: the title, who is signed in, and the session's CSRF token for its forms. */
export interface Frame {
  /** The page's title (the org's name is appended). */
  title: string;
  /** The org whose pages these are. */
  org: DemoOrg;
  /** The signed-in account, or null. */
  viewer: Account | null;
  /** The session's CSRF token. */
  csrf: string;
  /** The path of this page, where sign-in and sign-out come back to. */
  path: string;
  /** A one-shot message. */
  flash?: Flash | null;
  /** Whether the demo mailbox exists (no email service configured). */
  mailbox: boolean;
}

/** The hidden field that carries the session's CSRF token in every form. */
export function csrfField(csrf: string): Html {
  return html`<input type="hidden" name="_csrf" value="${csrf}">`;
}

/** What each level lets a person do, in words. */
export const LEVEL_HELP: Readonly<Partial<Record<AccessLevel, string>>> = {
  [AccessLevel.Connected]: "can see the record's summary",
  [AccessLevel.Read]: "can read the whole record",
  [AccessLevel.Share]: "can read it and invite others",
  [AccessLevel.Update]: "can read and change it",
  [AccessLevel.Delete]: "full control, including deleting it",
};

/** "Read (4)". */
export function levelName(level: AccessLevel): string {
  return `${accessLevelName[level] ?? "Unknown"} (${level})`;
}

/** "Read: can read the whole record". */
export function levelWithHelp(level: AccessLevel): string {
  const help = LEVEL_HELP[level];
  return help === undefined ? levelName(level) : `${accessLevelName[level]}: ${help}`;
}

const dateFormat = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "long",
  timeStyle: "short",
  timeZone: "UTC",
});
const shortDateFormat = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});

/**
 * A date as people read it, in UTC (the server does not know the reader's time zone), in a `<time>` element;
 * `short` for tables ("2 Dec 2026, 12:13 UTC").
 */
export function when(date: Date, style: "long" | "short" = "long"): Html {
  const text = (style === "long" ? dateFormat : shortDateFormat).format(date);
  return html`<time datetime="${date.toISOString()}">${text} UTC</time>`;
}

/** The same date as plain text. */
export function whenText(date: Date): string {
  return `${dateFormat.format(date)} UTC`;
}

/** The one-shot message: an alert for errors, a polite status for the rest; it takes the focus when it appears. */
function flashBox(flash: Flash | null | undefined): Html {
  if (flash === null || flash === undefined) return html``;
  const role = flash.kind === "error" ? "alert" : "status";
  return html`<div id="flash" class="flash flash-${flash.kind}" role="${role}" tabindex="-1" autofocus>
  <p>${flash.text}</p>
</div>`;
}

/** The attributes of a form field the flash message is about: marked invalid and described by the message. */
export function fieldState(flash: Flash | null | undefined, id: string): Html {
  return flash?.kind === "error" && flash.field === id
    ? html` aria-invalid="true" aria-describedby="flash"`
    : html``;
}

/** The value to fill a field with again after an error, or the default. */
export function fieldValue(flash: Flash | null | undefined, name: string, fallback = ""): string {
  return flash?.values?.[name] ?? fallback;
}

function identity(frame: Frame): Html {
  const signIn = `/${frame.org.code}/sign-in?next=${encodeURIComponent(frame.path)}`;
  if (frame.viewer === null) {
    return html`<p class="who">Not signed in. <a href="${signIn}">Sign in</a></p>`;
  }
  return html`<form class="who" method="post" action="/${frame.org.code}/sign-out">
  ${csrfField(frame.csrf)}
  <input type="hidden" name="next" value="${frame.path}">
  Signed in as <strong>${displayName(frame.viewer)}</strong>
  <span class="muted">(${frame.viewer.email}${frame.viewer.verified ? "" : ", not verified"})</span>
  <button type="submit" class="link-button">Sign out</button>
</form>`;
}

/** The whole page: header with who is signed in, the flash message, the body, and the demo's footer. */
export function page(frame: Frame, body: Html): Html {
  const org = frame.org;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} – ${org.name}</title>
<link rel="stylesheet" href="/assets/site.css">
</head>
<body>
<a class="skip-link" href="#main">Skip to main content</a>
<header class="site-header">
  <div class="wrap header-row">
    <a class="brand" href="/${org.code}">${org.name}</a>
    <nav aria-label="Account">
      ${identity(frame)}
      ${frame.mailbox ? html`<p class="who"><a href="/${org.code}/demo/mailbox">Demo mailbox</a></p>` : ""}
    </nav>
  </div>
  <p class="demo-banner wrap">Demo app: sign-in has no password. Never run it as a real service.</p>
</header>
<main id="main" tabindex="-1">
  <div class="wrap">
    ${flashBox(frame.flash)}
    ${body}
  </div>
</main>
<footer class="site-footer"><div class="wrap">
  <p>An example host app of the <code>@conn</code> library: server-rendered pages, no client-side script.</p>
</div></footer>
</body>
</html>`;
}

/** A page that says one thing: a heading and a few paragraphs in a panel, then what to do next. */
export function messagePage(frame: Frame, title: string, text: string | Html, next: Html = html``): Html {
  return page(
    { ...frame, title },
    html`<h1>${title}</h1>
<div class="panel panel-bad"><p>${text}</p></div>
${next}`,
  );
}
