import { literalText, TEXT_LITERAL, textLiteral } from "@conn/adapter-postgres";
import { describe, expect, it } from "vitest";
import { refresher } from "../src/replay.js";

/** The adapter's literal of a value's JSON, either form (the hex one when `hex`). */
const literal = (value: unknown, hex = false) => {
  const json = JSON.stringify(value);
  return hex
    ? `convert_from(decode('${Buffer.from(json, "utf8").toString("hex")}', 'hex'), 'UTF8')`
    : textLiteral(json);
};
const decode = (text: string) =>
  [...text.matchAll(new RegExp(TEXT_LITERAL, "g"))].map((m) => JSON.parse(literalText(m[1], m[2])));

const context = "c80000000000000000000001";
const id = "6b11807a87b2f7215b8be198";
const message = "6b11807ad22d64474c7fe4bb";
const hash = "XhFXIj69bJJkiZYS7ZWot-XnL8Xw4EQlHQHlgsYAjBs";
const trips = [
  `BEGIN;\nSELECT * FROM s.find(${literal(["bench", "c_file", context, "d0"], true)})`,
  `SELECT s.save(${literal([[{ id, context_id: context, token_hash: hash, creator: "d0", expected_id: id }], "2026-12-03T00:00:00Z"])});\nSELECT s.enqueue(${literal([{ id: message, org: "bench", notice: { connectionId: id } }])});\nCOMMIT`,
];

describe("refresher", () => {
  it("gives every identifier a fresh value of the same shape, the same in every trip, and keeps the rest", () => {
    const fresh = refresher(trips);
    expect([...fresh.identifiers].sort()).toEqual([context, id, message, hash].sort());
    const next = fresh.next();
    const [find] = decode(next[0] ?? "");
    const [save, enqueue] = decode(next[1] ?? "");
    const newContext = find[2];
    const row = save[0][0];
    expect(newContext).not.toBe(context);
    expect(newContext).toMatch(/^[0-9a-f]{24}$/);
    expect(row.context_id).toBe(newContext);
    expect(row.id).not.toBe(id);
    expect(row.expected_id).toBe(row.id);
    expect(enqueue[0].notice.connectionId).toBe(row.id);
    expect(enqueue[0].id).not.toBe(message);
    expect(row.token_hash).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(row.token_hash).not.toBe(hash);
    expect(row.creator).toBe("d0");
    expect(find.slice(0, 2)).toEqual(["bench", "c_file"]);
    expect(save[1]).toBe("2026-12-03T00:00:00Z");
    expect(next[0]?.startsWith("BEGIN;\nSELECT * FROM s.find($c$")).toBe(true);
    expect(next[1]?.endsWith(";\nCOMMIT")).toBe(true);
    // Each copy is fresh again.
    expect(decode(fresh.next()[1] ?? "")[0][0][0].id).not.toBe(row.id);
  });

  it("refuses round trips with nothing to refresh", () => {
    expect(() => refresher([`SELECT s.f(${literal({ org: "bench" })})`])).toThrow(/no identifier/);
  });
});
