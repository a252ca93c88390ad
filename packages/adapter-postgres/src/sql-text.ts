/** `text` as an SQL expression with no quote in it: its UTF-8 bytes as a hex literal (nothing but 0-9a-f), decoded. */
export function textLiteral(text: string): string {
  return `convert_from(decode('${Buffer.from(text, "utf8").toString("hex")}', 'hex'), 'UTF8')`;
}
