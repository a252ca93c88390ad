import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MIGRATIONS } from "../src/migrations.js";

/**
 * A released migration never changes: a schema migrated by an earlier version keeps what that version ran. The
 * routines of migrations 40 to 42 are built from SQL fragments the adapters share (connection-sql.ts, outbox-sql.ts), so an edit of those would
 * change it silently; this pins the text of every migration. A new migration adds its line here; a change to a
 * released one must be a new migration instead.
 */
const RELEASED: Record<number, string> = {
  1: "3626672f44f8821b",
  2: "1b2b1828b04e2f2d",
  3: "a78d7644f78932ad",
  10: "6f3cf71799be716a",
  20: "f9f782fd4bba667f",
  21: "ffbd5c4da3543dce",
  30: "12ddf4806404323b",
  31: "7bfca21ffb423aab",
  40: "07990bea0b851e75",
  41: "95e60131512f59c3",
  42: "fc9c6e69512d576a",
  43: "a46d9628f85b2e90",
  44: "819c6875554fda0d",
  45: "85910db8e34a4fab",
  46: "06293b096ed9b221",
};

describe("released migrations", () => {
  it("keep their statements, byte for byte", () => {
    const sums = Object.fromEntries(
      MIGRATIONS.map((m) => [
        m.version,
        createHash("sha256").update(m.statements('"s"').join("\n;\n")).digest("hex").slice(0, 16),
      ]),
    );
    expect(sums).toEqual(RELEASED);
  });
});
