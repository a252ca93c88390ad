/**
 * The web app: the invitation page and the "who has access" page, server-rendered over the `Connections` facade,
 * with the REST API of `@conn/http` mounted under `/{org}/v2` on the same cookie session. Every form carries the
 * session's CSRF token and answers with a redirect (POST, then GET); no page has a script.
 */
import { ConnectionError, isConnectionError } from "@conn/core";
import { type Authenticate, createConnectionsApp, NO_ROUTE_REASON, redactedPath } from "@conn/http";
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie } from "hono/cookie";
import { secureHeaders } from "hono/secure-headers";
import { parse as parseCookies } from "hono/utils/cookie";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { registerAccessRoutes } from "./access-routes.js";
import { registerAccountRoutes } from "./account-routes.js";
import { registerInvitationRoutes } from "./invitation-routes.js";
import { registerPageRoutes } from "./page-routes.js";
import { SESSION_COOKIE, type Session } from "./sessions.js";
import { faultPage } from "./views/faults.js";
import { type Frame, messagePage } from "./views/layout.js";
import { SITE_CSS } from "./views/style.js";
import { sendSession, type WebAppParts, type WebContext, type WebEnv } from "./web-context.js";

/** The API's own paths: `/{org}/v2` and below. */
const API_PATH = /^\/[^/]+\/v2(\/|$)/;

/** The biggest form body accepted (16 kB): the largest form here is a few hundred bytes. */
const MAX_FORM_BYTES = 16 * 1024;

/** A frame for pages rendered before (or without) a session: errors. */
function bareFrame(parts: WebAppParts, c: Context): Frame {
  const session = (c as WebContext).get("session") as Session | undefined;
  return {
    title: "",
    org: parts.world.org,
    viewer: null,
    csrf: session?.csrf ?? "",
    path: new URL(c.req.url).pathname,
    mailbox: parts.mailbox !== null,
  };
}

/** The REST API, authenticated by the same session cookie as the pages. */
function mountApi(app: Hono<WebEnv>, parts: WebAppParts): void {
  const authenticate: Authenticate = (request, org) => {
    const id = parseCookies(request.headers.get("cookie") ?? "", SESSION_COOKIE)[SESSION_COOKIE];
    const session = parts.sessions.get(id);
    return session?.org === org && session.accountId !== null ? { accountId: session.accountId } : null;
  };
  app.route(
    "/",
    createConnectionsApp({
      connections: parts.connections,
      authenticate,
      objectFromPlural: (_org, plural) => parts.world.objectFromPlural(plural),
      onUnexpectedError: (error) => (parts.onUnexpectedError ?? console.error)(error),
    }),
  );
}

/** Builds the web app over its parts. */
export function createWebApp(parts: WebAppParts): Hono<WebEnv> {
  const app = new Hono<WebEnv>();

  app.use(async (c, next) => {
    await next();
    parts.log?.(`${c.req.method} ${redactedPath(c.req.url)} ${c.res.status}`);
  });
  app.use(
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
      // Invitation links carry a token: never let one leave in a Referer header.
      referrerPolicy: "no-referrer",
      xFrameOptions: "DENY",
      strictTransportSecurity: parts.secureCookies,
    }),
  );

  mountApi(app, parts);
  // The API's unknown paths keep the API's answer: a JSON fault, not a page.
  app.all("/:org/v2/*", (c) =>
    c.json(new ConnectionError("cortex.notFound.unspecified", { reason: NO_ROUTE_REASON }).toFault(), 404),
  );

  app.get("/assets/site.css", (c) =>
    c.body(SITE_CSS, 200, { "Content-Type": "text/css; charset=utf-8", "Cache-Control": "max-age=300" }),
  );

  // Every page has a session (created on the first visit), and none may be cached: they are personal.
  app.use(async (c, next) => {
    if (API_PATH.test(c.req.path)) return next();
    const existing = parts.sessions.get(getCookie(c, SESSION_COOKIE));
    if (existing === null) sendSession(c, parts, parts.sessions.create());
    else c.set("session", existing);
    await next();
    c.header("Cache-Control", "no-store");
  });

  // Every form: a bounded body carrying this session's CSRF token.
  const formLimit = bodyLimit({
    maxSize: MAX_FORM_BYTES,
    onError: (c) => c.text("The form is too large.", 413),
  });
  app.on("POST", "*", (c, next) => (API_PATH.test(c.req.path) ? next() : formLimit(c, next)));
  app.on("POST", "*", async (c, next) => {
    if (API_PATH.test(c.req.path)) return next();
    const form = await c.req.parseBody();
    if (!parts.sessions.checkCsrf(c.get("session"), form._csrf)) {
      return c.html(
        messagePage(
          bareFrame(parts, c),
          "This form has expired",
          "Your session ended, or the form did not come from this site. Go back, reload the page, and try again.",
        ),
        403,
      );
    }
    await next();
  });

  app.get("/", (c) => c.redirect(`/${parts.world.org.code}`, 303));
  registerAccountRoutes(app, parts);
  registerInvitationRoutes(app, parts);
  registerAccessRoutes(app, parts);
  registerPageRoutes(app, parts);

  app.notFound((c) =>
    c.html(
      faultPage(
        { ...bareFrame(parts, c), title: "Page not found" },
        "Page not found",
        new ConnectionError("cortex.notFound.unspecified"),
      ),
      404,
    ),
  );
  app.onError((error, c) => {
    const known = isConnectionError(error) ? error : null;
    if (known === null) (parts.onUnexpectedError ?? console.error)(error);
    const fault = known ?? new ConnectionError("cortex.error.unspecified");
    const title =
      fault.status === 404 ? "Page not found" : fault.status >= 500 ? "Something went wrong" : "Not allowed";
    return c.html(faultPage(bareFrame(parts, c), title, fault), fault.status as ContentfulStatusCode);
  });
  return app;
}
