/** The demo's sign-in and registration forms (DEMO ONLY: an email address is all it takes to be someone). */
import type { Account } from "@conn/core";
import { html } from "hono/html";
import { displayName } from "../world.js";
import { csrfField, type Frame, fieldState, fieldValue, type Html, page } from "./layout.js";

/** The two forms side by side: sign in with an email address, or create an account. */
export function signInForms(frame: Frame, next: string, email: string, headingLevel: 2 | 3 = 2): Html {
  const org = frame.org.code;
  const flash = frame.flash;
  const heading = (id: string, text: string) =>
    headingLevel === 2 ? html`<h2 id="${id}">${text}</h2>` : html`<h3 id="${id}">${text}</h3>`;
  return html`<p class="demo-note">Demo sign-in: an email address is enough, there is no password.</p>
<div class="columns">
  <form method="post" action="/${org}/sign-in" class="panel" aria-labelledby="sign-in-heading">
    ${heading("sign-in-heading", "Sign in")}
    ${csrfField(frame.csrf)}
    <input type="hidden" name="next" value="${next}">
    <label for="sign-in-email">Email address</label>
    <input type="email" id="sign-in-email" name="email" autocomplete="email" required
      value="${fieldValue(flash, "email", email)}"${fieldState(flash, "sign-in-email")}>
    <p class="actions"><button type="submit">Sign in</button></p>
  </form>
  <form method="post" action="/${org}/register" class="panel" aria-labelledby="register-heading">
    ${heading("register-heading", "Create an account")}
    ${csrfField(frame.csrf)}
    <input type="hidden" name="next" value="${next}">
    <label for="register-email">Email address</label>
    <input type="email" id="register-email" name="email" autocomplete="email" required
      value="${fieldValue(flash, "email", email)}"${fieldState(flash, "register-email")}>
    <label for="register-first">First name</label>
    <input type="text" id="register-first" name="first" autocomplete="given-name" required maxlength="100"
      value="${fieldValue(flash, "first")}"${fieldState(flash, "register-first")}>
    <label for="register-last">Last name <span class="hint">optional</span></label>
    <input type="text" id="register-last" name="last" autocomplete="family-name" maxlength="100"
      value="${fieldValue(flash, "last")}">
    <p class="actions"><button type="submit">Create account</button></p>
  </form>
</div>`;
}

/** The sign-in page: the demo warning, the two forms, and the demo's accounts to try. */
export function signInPage(frame: Frame, next: string, people: readonly Account[]): Html {
  return page(
    frame,
    html`<h1>Sign in</h1>
<div class="panel panel-warn">
  <p><strong>Demo only.</strong> There is no password: whoever types an email address of ${frame.org.name} is
  signed in as that person. A real app signs people in its own way, then passes their account id to the library.</p>
</div>
${signInForms(frame, next, "")}
<h2>Accounts of the demo</h2>
<ul>
  ${people.map(
    (p) =>
      html`<li>${displayName(p)}: <code>${p.email}</code>${p.verified ? "" : " (email not verified)"}</li>`,
  )}
</ul>`,
  );
}
