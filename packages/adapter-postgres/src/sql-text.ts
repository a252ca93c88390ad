/** The tag of {@link textLiteral}'s dollar quote. */
const TAG = "$c$";

/**
 * `text` as an SQL string literal whose meaning no setting changes (`standard_conforming_strings`, say): dollar-quoted,
 * `$c$…$c$`, where nothing inside is an escape, when the text cannot end the quote early; otherwise (it holds `$c$`,
 * or ends with `$c`) its UTF-8 bytes as a hex literal (nothing but 0-9a-f), decoded. The quote ends at the first `$c$`
 * after it opens: the text followed by the closing tag must hold that tag at its end only.
 */
export function textLiteral(text: string): string {
  if ((text + TAG).indexOf(TAG) === text.length) return `${TAG}${text}${TAG}`;
  return `convert_from(decode('${Buffer.from(text, "utf8").toString("hex")}', 'hex'), 'UTF8')`;
}

/**
 * A pattern (a RegExp source) that matches a literal {@link textLiteral} wrote, either form: group 1 is a dollar-quoted
 * text, group 2 a hex one (see {@link literalText}). For audits of the statements the adapter sends.
 */
export const TEXT_LITERAL = String.raw`(?:\$c\$([\s\S]*?)\$c\$|convert_from\(decode\('([0-9a-f]*)', 'hex'\), 'UTF8'\))`;

/** The text of a literal matched by {@link TEXT_LITERAL}, from its two groups. */
export function literalText(dollarQuoted: string | undefined, hex: string | undefined): string {
  return dollarQuoted ?? Buffer.from(hex ?? "", "hex").toString("utf8");
}

/**
 * The definition of a PL/pgSQL routine of one jsonb argument that returns nothing and keeps generic plans for its
 * statements (`plan_cache_mode` set for the routine only), as the adapter's routines of migrations 41-46 are written:
 * `declare` is its DECLARE section's lines (each "\n      name type;", none for no section), `body` its statements.
 */
export function jsonbRoutine(name: string, declare: string, body: string): string {
  return `CREATE FUNCTION ${name}(jsonb) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET plan_cache_mode = force_generic_plan
    AS $routine$${
      declare === ""
        ? ""
        : `
    DECLARE${declare}`
    }
    BEGIN
      ${body}
    END
    $routine$`;
}
