import { act, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import {
  Timestamp,
  formatDate,
  formatRangeLabel,
  formatRelative,
  formatRowTime,
  formatTimestamp,
  fromZoneInput,
  toZoneInput,
  useTimeZoneStore,
  zoneLabel,
} from "../time";

declare const process: { env: Record<string, string | undefined> };

const ISO = "2026-11-28T23:30:05.042Z";

// Node re-reads TZ when it changes: a zone with a half-hour offset and no daylight saving.
function inKolkata<T>(fn: () => T): T {
  const before = process.env.TZ;
  process.env.TZ = "Asia/Kolkata";
  try {
    return fn();
  } finally {
    process.env.TZ = before;
  }
}

afterEach(() => useTimeZoneStore.setState({ zone: "local" }));

describe("time formats", () => {
  it("writes a row time and a full timestamp with milliseconds in UTC", () => {
    expect(formatRowTime(ISO, "utc")).toBe("23:30:05.042");
    expect(formatTimestamp(ISO, "utc")).toBe("2026-11-28 23:30:05.042");
    expect(formatDate(ISO, "utc")).toBe("2026-11-28");
  });

  it("writes local time in the browser's zone, crossing midnight", () => {
    inKolkata(() => {
      expect(formatRowTime(ISO, "local")).toBe("05:00:05.042");
      expect(formatTimestamp(ISO, "local")).toBe("2026-11-29 05:00:05.042");
      expect(zoneLabel("local")).toBe("UTC+05:30");
    });
  });

  it("labels the zone", () => {
    expect(zoneLabel("utc")).toBe("UTC");
    expect(zoneLabel("local")).toBe("UTC+00:00");
  });

  it("shows unparsable text as it came", () => {
    expect(formatRowTime("not a time", "utc")).toBe("not a time");
    expect(formatTimestamp("", "utc")).toBe("");
  });

  it("uses the chosen zone by default", () => {
    inKolkata(() => {
      expect(formatRowTime(ISO)).toBe("05:00:05.042");
      useTimeZoneStore.getState().setZone("utc");
      expect(formatRowTime(ISO)).toBe("23:30:05.042");
    });
  });

  it("labels ranges to the minute, with the end's date only when it differs", () => {
    expect(formatRangeLabel("2026-11-28T14:00:00Z", "2026-11-28T15:30:59Z", "utc")).toBe("2026-11-28 14:00 – 15:30");
    expect(formatRangeLabel("2026-11-28T14:00:00Z", "2026-11-29T01:00:00Z", "utc")).toBe("2026-11-28 14:00 – 2026-11-29 01:00");
    expect(formatRangeLabel("2026-11-28T14:00:00Z", undefined, "utc")).toBe("2026-11-28 14:00 – now");
    expect(formatRangeLabel(null, "2026-11-28T15:00:00Z", "utc")).toBe("… – 2026-11-28 15:00");
  });

  it("says how long ago", () => {
    const now = Date.parse(ISO);
    expect(formatRelative(now - 2_000, now)).toBe("just now");
    expect(formatRelative(now - 42_000, now)).toBe("42 s ago");
    expect(formatRelative(now - 5 * 60_000 - 1, now)).toBe("5 min ago");
    expect(formatRelative(now - 3 * 3_600_000, now)).toBe("3 h ago");
    expect(formatRelative(now - 2 * 86_400_000, now)).toBe("2 d ago");
    expect(formatRelative(now + 90_000, now)).toBe("in 1 min");
    expect(formatRelative("garbage", now)).toBe("garbage");
  });

  it("reads and writes datetime-local values in the chosen zone", () => {
    expect(toZoneInput(ISO, "utc")).toBe("2026-11-28T23:30");
    expect(fromZoneInput("2026-11-28T23:30", "utc")).toBe("2026-11-28T23:30:00.000Z");
    inKolkata(() => {
      expect(toZoneInput(ISO, "local")).toBe("2026-11-29T05:00");
      expect(fromZoneInput("2026-11-29T05:00", "local")).toBe("2026-11-28T23:30:00.000Z");
    });
    expect(fromZoneInput("", "utc")).toBeUndefined();
    expect(fromZoneInput("yesterday", "utc")).toBeUndefined();
    expect(toZoneInput("nope", "utc")).toBe("");
  });

  it("re-renders a Timestamp when the zone changes", () => {
    inKolkata(() => {
      render(<p data-testid="t"><Timestamp value={ISO} format="row" /></p>);
      expect(screen.getByTestId("t")).toHaveTextContent("05:00:05.042");
      act(() => useTimeZoneStore.getState().setZone("utc"));
      expect(screen.getByTestId("t")).toHaveTextContent("23:30:05.042");
    });
  });
});
