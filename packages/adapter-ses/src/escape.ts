const HTML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

/** Escapes `& < > " ' \`` so a value is safe as HTML text and inside a quoted attribute. */
export function escapeHtml(value: string | number): string {
  return String(value).replace(/[&<>"'`]/g, (ch) => HTML_ESCAPES[ch] ?? ch);
}

/** A tagged template that HTML-escapes every interpolated value: `` html`<p>Hi ${name}</p>` ``. */
export function html(strings: TemplateStringsArray, ...values: ReadonlyArray<string | number>): string {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) {
    out += escapeHtml(values[i] ?? "") + (strings[i + 1] ?? "");
  }
  return out;
}

// C0 controls (CR, LF, TAB, NUL, …), DEL, C1 controls, and the Unicode line/paragraph separators.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/** Replaces every run of control characters (CR, LF, TAB, NUL, …) with one space and trims the result. */
export function stripControlChars(value: string): string {
  return value.replace(CONTROL_CHARS, " ").replace(/ {2,}/g, " ").trim();
}

/** Turns any string into a valid SES tag value (`[A-Za-z0-9_-]`, at most 256 characters), or null when nothing is left. */
export function toTagValue(value: string): string | null {
  const cleaned = value.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 256);
  return cleaned.length > 0 ? cleaned : null;
}

/** Replaces every occurrence of each secret in `text` with `[redacted]`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join("[redacted]");
  }
  return out;
}
