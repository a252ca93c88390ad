import { ConnectionError } from "@conn/core";

/** `text` as an SQL expression with no quote in it: its UTF-8 bytes as a hex literal (nothing but 0-9a-f), decoded. */
export function textLiteral(text: string): string {
  return `convert_from(decode('${Buffer.from(text, "utf8").toString("hex")}', 'hex'), 'UTF8')`;
}

/**
 * `text` as an SQL string constant, for a column an index must match (the planner does not match a column with
 * {@link textLiteral}'s function call: it scanned the whole table). An escape-string constant (E'…', whatever
 * standard_conforming_strings says) with every quote and backslash doubled, as node-postgres' escapeLiteral writes
 * it; a NUL, which no text value holds and which would end the statement's text early, is refused.
 */
export function stringConstant(text: string): string {
  if (text.includes("\u0000"))
    throw new ConnectionError("cortex.error.unspecified", {
      reason: "a string sent as an SQL constant holds a NUL character",
    });
  return `E'${text.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}
