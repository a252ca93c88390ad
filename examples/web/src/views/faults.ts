/** Faults as people read them: a sentence per library error code, and the page that shows a fault with its status. */
import type { ConnectionError } from "@conn/core";
import { html } from "hono/html";
import { type Frame, type Html, messagePage } from "./layout.js";

/** What each code means on these pages; anything else shows the library's own message. */
const FAULT_TEXT: Readonly<Record<string, string>> = {
  "cortex.accessDenied.shareAccess":
    "You need Share access to this record to see who has access to it and to invite people.",
  "cortex.accessDenied.notLoggedIn": "Sign in to continue.",
  "cortex.accessDenied.connection":
    "You cannot change this access: only the person who gave it, the person who holds it, or someone with more access than they have can.",
  "cortex.accessDenied.connectionRequiresVerification":
    "Only verified accounts can do this. Verify your email address first.",
  "cortex.accessDenied.connectionsDisabled": "This kind of record cannot be shared.",
  "cortex.invalidArgument.connectionTarget":
    "That person cannot be invited: check the email address (like name@example.com). You cannot invite yourself.",
  "cortex.invalidArgument.noConnectionTargets": "Choose a person, or enter an email address.",
  "cortex.invalidArgument.connectionToken": "This invitation can no longer be used.",
  "cortex.invalidArgument.unspecified": "Something in the form is not valid. Check it and try again.",
  "cortex.notFound.account": "That account does not exist.",
  "cortex.notFound.unspecified": "It was not found: it may have been removed already.",
  "cortex.conflict.connectionExists": "They already have this access.",
  "cortex.error.unspecified": "Something went wrong on our side. Try again in a moment.",
  "cortex.error.unavailable": "The service is busy or down for a moment. Try again shortly.",
};

/** The sentence for a fault code (the library's message when the code has none). */
export function faultText(code: string, fallback = "Something went wrong. Try again."): string {
  return FAULT_TEXT[code] ?? fallback;
}

/** The sentence for a fault. */
export function faultMessage(error: ConnectionError): string {
  return faultText(error.code, error.message);
}

/** A fault as a page: its title, the sentence, what to do next, and the code for whoever helps. */
export function faultPage(frame: Frame, title: string, error: ConnectionError, next: Html = html``): Html {
  return messagePage(
    frame,
    title,
    faultMessage(error),
    html`${next}<p class="muted">Error code: <code>${error.code}</code> (HTTP ${error.status})</p>`,
  );
}
