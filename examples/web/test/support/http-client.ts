/** The pages over plain HTTP, for the tests that need no browser. */

/**
 * A client that posts the forms a browser would: one cookie jar, no automatic redirects, and the CSRF token of the
 * last page it read sent with each form.
 */
export function client(site: { url: string }) {
  let cookie = "";
  let csrf = "";
  const call = async (method: string, path: string, form?: Record<string, string>) => {
    const response = await fetch(`${site.url}${path}`, {
      method,
      redirect: "manual",
      headers: {
        cookie,
        ...(form === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" }),
      },
      ...(form === undefined ? {} : { body: new URLSearchParams({ _csrf: csrf, ...form }).toString() }),
    });
    const set = response.headers.get("set-cookie");
    if (set !== null) cookie = set.split(";")[0] ?? "";
    const text = await response.text();
    csrf = /name="_csrf" value="([^"]+)"/.exec(text)?.[1] ?? csrf;
    return { response, text, location: response.headers.get("location") };
  };
  /** GET a path, then follow its redirect once (as a browser does after a 303). */
  const follow = async (path: string) => {
    const first = await call("GET", path);
    return first.location === null ? first : call("GET", first.location);
  };
  /** POST a form, then follow the 303 to the page it leads to. */
  const submit = async (path: string, form: Record<string, string>) => {
    const posted = await call("POST", path, form);
    if (posted.response.status !== 303) return posted;
    return call("GET", posted.location as string);
  };
  return { call, follow, submit, cookie: () => cookie };
}
