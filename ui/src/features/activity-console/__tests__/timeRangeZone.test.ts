import { describe, expect, it } from "vitest";
import { axisTicks, formatAgo, formatRangeInput, parseRangeInput } from "../timeRange";

declare const process: { env: Record<string, string | undefined> };

function inKolkata<T>(fn: () => T): T {
  const before = process.env.TZ;
  process.env.TZ = "Asia/Kolkata";
  try {
    return fn();
  } finally {
    process.env.TZ = before;
  }
}

describe("the history range in the chosen time zone", () => {
  it("shows and reads From/To in local time or in UTC", () => {
    inKolkata(() => {
      expect(formatRangeInput("2026-11-28T08:30:00.000Z", "local")).toBe("2026-11-28 14:00");
      expect(formatRangeInput("2026-11-28T08:30:00.000Z", "utc")).toBe("2026-11-28 08:30");
      expect(formatRangeInput("2026-11-28T08:30:15.000Z", "utc")).toBe("2026-11-28 08:30:15");
      expect(parseRangeInput("2026-11-28 14:00", "local")).toBe("2026-11-28T08:30:00.000Z");
      expect(parseRangeInput("2026-11-28 14:00", "utc")).toBe("2026-11-28T14:00:00.000Z");
      expect(parseRangeInput("2026-02-30 10:00", "utc")).toBeNull();
      expect(parseRangeInput("now-1h", "utc")).toBe("now-1h");
    });
  });

  it("labels and places the histogram's ticks on the zone's round hours", () => {
    inKolkata(() => {
      const start = Date.parse("2026-11-28T00:00:00Z");
      const end = start + 6 * 3_600_000;
      expect(axisTicks(start, end, 8, "utc").map((t) => t.label)).toEqual(["00:00", "01:00", "02:00", "03:00", "04:00", "05:00"]);
      // 05:30 local is not on an hour: the first local hour tick is 06:00 (00:30 UTC).
      const local = axisTicks(start, end, 8, "local");
      expect(local[0]).toMatchObject({ label: "06:00", at: start + 30 * 60_000 });
    });
  });

  it("says how long ago with the one relative wording", () => {
    expect(formatAgo(-3_000)).toBe("just now");
    expect(formatAgo(42_000)).toBe("42 s ago");
    expect(formatAgo(3 * 3_600_000)).toBe("3 h ago");
  });
});
