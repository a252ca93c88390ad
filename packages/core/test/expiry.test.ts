import { afterEach, describe, expect, it } from "vitest";
import { expiresAt } from "../src/index.js";

const HOUR = 3_600_000;
const savedTz = process.env.TZ;

describe("expiresAt(created, days)", () => {
  afterEach(() => {
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  });

  // Node reads TZ again when it changes, so local-calendar arithmetic (addDays) would follow it here.
  it.each([
    ["America/New_York", "2026-03-07T15:00:00.000Z"], // the day before clocks go forward
    ["America/New_York", "2026-10-31T15:00:00.000Z"], // the day before clocks go back
    ["Europe/Berlin", "2026-03-28T12:00:00.000Z"],
    ["Australia/Lord_Howe", "2026-04-04T12:00:00.000Z"], // a half-hour change
  ])("is N × 24 hours after creation in %s across a daylight-saving change (%s)", (tz, created) => {
    process.env.TZ = tz;
    const start = new Date(created);
    expect(expiresAt(start, 7).getTime() - start.getTime()).toBe(7 * 24 * HOUR);
    expect(expiresAt(start, 1).getTime() - start.getTime()).toBe(24 * HOUR);
  });

  it("clamps the days to 1..90 and defaults to 7", () => {
    const start = new Date("2026-01-01T00:00:00.000Z");
    expect(expiresAt(start, undefined).getTime() - start.getTime()).toBe(7 * 24 * HOUR);
    expect(expiresAt(start, 0).getTime() - start.getTime()).toBe(24 * HOUR);
    expect(expiresAt(start, 365).getTime() - start.getTime()).toBe(90 * 24 * HOUR);
  });
});
