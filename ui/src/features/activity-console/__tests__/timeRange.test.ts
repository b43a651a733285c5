import { describe, expect, it } from "vitest";
import {
  activePreset,
  axisTicks,
  formatAgo,
  formatRangeInput,
  isTimeExpression,
  parseRangeInput,
  rangeError,
  refreshIntervalMs,
  resolveTime,
  zoomOutRange,
} from "../timeRange";

const NOW = Date.parse("2026-11-28T15:00:00.000Z");
const MIN = 60_000;
const HOUR = 60 * MIN;

describe("time range ends", () => {
  it("resolves relative ends at the given instant and keeps absolute ones", () => {
    expect(resolveTime("now-15m", NOW)).toBe("2026-11-28T14:45:00.000Z");
    expect(resolveTime("now-1h", NOW)).toBe("2026-11-28T14:00:00.000Z");
    expect(resolveTime("now-7d", NOW)).toBe("2026-11-21T15:00:00.000Z");
    expect(resolveTime("now", NOW)).toBe("2026-11-28T15:00:00.000Z");
    // Each query resolves again: the window moves with the clock.
    expect(resolveTime("now-1h", NOW + 10 * MIN)).toBe("2026-11-28T14:10:00.000Z");
    expect(resolveTime("2026-11-26T05:00:00Z", NOW)).toBe("2026-11-26T05:00:00.000Z");
    expect(resolveTime(undefined, NOW)).toBeUndefined();
    expect(resolveTime("yesterday", NOW)).toBeUndefined();
  });

  it("accepts only now, now-<n><unit> and timestamps from the URL", () => {
    for (const ok of ["now", "now-30s", "now-6h", "now-2w", "2026-11-26T05:00:00.000Z"]) expect(isTimeExpression(ok)).toBe(true);
    for (const bad of ["now+1h", "now-1y", "now-h", "now-", "soon", "now-1h; drop"]) expect(isTimeExpression(bad)).toBe(false);
  });

  it("reads typed text: relative as is, local date-times and zoned timestamps as UTC, else refuses", () => {
    expect(parseRangeInput(" now-6h ")).toBe("now-6h");
    expect(parseRangeInput("")).toBeUndefined();
    expect(parseRangeInput("2026-11-28 14:00")).toBe(new Date(2026, 10, 28, 14, 0).toISOString());
    expect(parseRangeInput("2026-11-28T14:00:30")).toBe(new Date(2026, 10, 28, 14, 0, 30).toISOString());
    expect(parseRangeInput("2026-11-28T14:00:00+02:00")).toBe("2026-11-28T12:00:00.000Z");
    expect(parseRangeInput("2026-02-30 10:00")).toBeNull();
    expect(parseRangeInput("last tuesday")).toBeNull();
    expect(parseRangeInput("11/28/2026")).toBeNull();
  });

  it("shows relative ends as typed and absolute ones in local time, round-tripping", () => {
    expect(formatRangeInput("now-1h")).toBe("now-1h");
    const iso = new Date(2026, 10, 28, 9, 5).toISOString();
    expect(formatRangeInput(iso)).toBe("2026-11-28 09:05");
    expect(parseRangeInput(formatRangeInput(iso))).toBe(iso);
    expect(formatRangeInput(undefined)).toBe("");
  });

  it("says in words when To is not after From", () => {
    expect(rangeError("2026-11-28T14:00:00Z", "2026-11-28T13:00:00Z", NOW)).toBe("“To” must be after “From”.");
    expect(rangeError("now-1h", "now-2h", NOW)).toBe("“To” must be after “From”.");
    expect(rangeError("2026-11-28T14:00:00Z", "2026-11-28T14:00:00Z", NOW)).toBe("“To” must be after “From”.");
    expect(rangeError("2026-11-29T00:00:00Z", undefined, NOW)).toMatch(/future/);
    expect(rangeError("now-1h", undefined, NOW)).toBeNull();
    expect(rangeError(undefined, "now-1h", NOW)).toBeNull();
  });

  it("highlights a preset only when the range is exactly it", () => {
    expect(activePreset("now-1h", undefined)?.label).toBe("1h");
    expect(activePreset("now-1h", "now")?.label).toBe("1h");
    expect(activePreset("now-1h", "now-5m")).toBeUndefined();
    expect(activePreset("now-2h", undefined)).toBeUndefined();
    expect(activePreset(new Date(NOW - HOUR).toISOString(), undefined)).toBeUndefined();
  });

  it("knows the auto-refresh intervals", () => {
    expect(refreshIntervalMs("10s")).toBe(10_000);
    expect(refreshIntervalMs("1m")).toBe(60_000);
    expect(refreshIntervalMs(undefined)).toBeNull();
    expect(refreshIntervalMs("1s")).toBeNull();
  });

  it("words the age of the last update", () => {
    expect(formatAgo(900)).toBe("just now");
    expect(formatAgo(12_000)).toBe("12 s ago");
    expect(formatAgo(3 * MIN + 5_000)).toBe("3 min ago");
    expect(formatAgo(2 * HOUR)).toBe("2 h ago");
    expect(formatAgo(-5)).toBe("just now");
  });

  it("zooms out to twice the span around the centre, never past now", () => {
    expect(zoomOutRange("2026-11-28T10:00:00.000Z", "2026-11-28T11:00:00.000Z", NOW)).toEqual({
      from: "2026-11-28T09:30:00.000Z",
      to: "2026-11-28T11:30:00.000Z",
    });
    // Ending at now: the window keeps its end at now (open "To") and grows backwards.
    expect(zoomOutRange("2026-11-28T14:30:00.000Z", "2026-11-28T15:00:00.000Z", NOW)).toEqual({ from: "2026-11-28T14:00:00.000Z" });
  });
});

describe("histogram axis", () => {
  const local = (h: number, m = 0, day = 28) => new Date(2026, 10, day, h, m).getTime();

  it("picks minute ticks for an hour, on round local minutes", () => {
    const ticks = axisTicks(local(14, 3), local(15, 3));
    expect(ticks.map((t) => t.label)).toEqual(["14:10", "14:20", "14:30", "14:40", "14:50", "15:00"]);
    expect(ticks[0]!.percent).toBeCloseTo((7 / 60) * 100);
    expect(ticks.every((t) => t.percent >= 0 && t.percent < 100)).toBe(true);
  });

  it("picks hour ticks for a day and shows the date at midnight", () => {
    const ticks = axisTicks(local(12), local(12, 0, 29));
    expect(ticks.length).toBeLessThanOrEqual(8);
    expect(ticks[0]!.label).toBe("12:00");
    const midnight = ticks.find((t) => t.at === local(0, 0, 29));
    expect(midnight?.label).toMatch(/29/);
    expect(midnight?.label).not.toMatch(/:/);
  });

  it("picks day ticks for a week, labelled by date", () => {
    const ticks = axisTicks(local(15, 0, 21), local(15, 0, 28));
    expect(ticks).toHaveLength(7);
    expect(ticks.every((t) => !t.label.includes(":"))).toBe(true);
    expect(new Date(ticks[0]!.at).getHours()).toBe(0);
  });

  it("gives nothing for an empty span", () => {
    expect(axisTicks(NOW, NOW)).toEqual([]);
  });
});
