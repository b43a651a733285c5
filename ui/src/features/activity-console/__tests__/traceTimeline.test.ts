import { describe, expect, it } from "vitest";
import type { ActivityLogEntry } from "../types";
import { buildTraceTimeline, formatDuration, parseMicros, tickStep } from "../traceTimeline";

let nextId = 1;
function entry(timestamp: string, over: Partial<ActivityLogEntry> = {}): ActivityLogEntry {
  return {
    admin_only: false,
    category: "verbose",
    entity_id: null,
    entity_type: null,
    event_name: null,
    fields: {},
    id: nextId++,
    job_id: null,
    level: "info",
    message: "m",
    project_id: null,
    resource: {},
    scope_name: null,
    scope_version: null,
    service_name: "api-gw",
    severity_number: 9,
    severity_text: null,
    source: "api",
    span_id: "aaaaaaaaaaaaaaaa",
    timestamp,
    trace_flags: null,
    trace_id: "0".repeat(32),
    user_id: null,
    ...over,
  } as ActivityLogEntry;
}

describe("parseMicros", () => {
  it("keeps microseconds Date.parse drops", () => {
    expect(parseMicros("2026-01-01T00:00:00.000250+00:00") - parseMicros("2026-01-01T00:00:00+00:00")).toBeCloseTo(0.25, 6);
    expect(parseMicros("2026-01-01T00:00:01Z")).toBe(Date.parse("2026-01-01T00:00:01Z"));
  });
});

describe("buildTraceTimeline", () => {
  it("groups entries in lanes by service and span, in order of first appearance", () => {
    const t = buildTraceTimeline(
      [
        entry("2026-01-01T00:00:00.000Z", { service_name: "api-gw", span_id: "1111111111111111" }),
        entry("2026-01-01T00:00:00.010Z", { service_name: "worker", span_id: "2222222222222222" }),
        entry("2026-01-01T00:00:00.020Z", { service_name: "api-gw", span_id: "1111111111111111" }),
        entry("2026-01-01T00:00:00.030Z", { service_name: "api-gw", span_id: "3333333333333333" }),
      ],
      "utc",
    );
    expect(t.lanes.map((l) => [l.service, l.spanId, l.marks.length])).toEqual([
      ["api-gw", "1111111111111111", 2],
      ["worker", "2222222222222222", 1],
      ["api-gw", "3333333333333333", 1],
    ]);
    expect(t.totalMs).toBe(30);
    t.marks.forEach((m, i) => expect(m.pct).toBeCloseTo((i * 100) / 3, 9));
  });

  it("puts entries with no span id in one lane per service, and falls back to the source", () => {
    const t = buildTraceTimeline(
      [
        entry("2026-01-01T00:00:00Z", { span_id: null, service_name: null, source: "worker" }),
        entry("2026-01-01T00:00:01Z", { span_id: null, service_name: null, source: "worker" }),
        entry("2026-01-01T00:00:02Z", { span_id: null }),
      ],
      "utc",
    );
    expect(t.lanes.map((l) => [l.service, l.spanId, l.marks.length])).toEqual([
      ["Worker", null, 2],
      ["api-gw", null, 1],
    ]);
  });

  it("gives the gap to the previous entry of the whole trace, sorted by time", () => {
    const t = buildTraceTimeline(
      [
        entry("2026-01-01T00:00:00.500Z", { service_name: "b" }),
        entry("2026-01-01T00:00:00.000Z", { service_name: "a" }),
        entry("2026-01-01T00:00:02.000Z", { service_name: "a" }),
      ],
      "utc",
    );
    expect(t.marks.map((m) => m.gapMs)).toEqual([null, 500, 1500]);
    expect(t.marks.map((m) => m.entry.service_name)).toEqual(["a", "b", "a"]);
  });

  it("labels a trace inside one millisecond with offsets from its start", () => {
    const t = buildTraceTimeline(
      [entry("2026-01-01T00:00:00.000100Z"), entry("2026-01-01T00:00:00.000400Z"), entry("2026-01-01T00:00:00.000900Z")],
      "utc",
    );
    expect(t.totalMs).toBeCloseTo(0.8, 6);
    expect(t.marks[1]!.pct).toBeCloseTo(37.5, 6);
    expect(t.ticks[0]).toEqual({ pct: 0, label: "+0 µs" });
    expect(t.ticks.map((x) => x.label)).toContain("+200 µs");
    expect(formatDuration(t.marks[2]!.gapMs!)).toBe("500 µs");
  });

  it("labels a trace over hours with round clock times in the chosen zone", () => {
    const t = buildTraceTimeline([entry("2026-01-01T10:17:00Z"), entry("2026-01-01T15:40:00Z")], "utc");
    expect(tickStep(t.totalMs)).toBe(60 * 60 * 1000);
    expect(t.ticks.map((x) => x.label)).toEqual(["11:00", "12:00", "13:00", "14:00", "15:00"]);
    for (const tick of t.ticks) expect(tick.pct).toBeGreaterThan(0);
    expect(formatDuration(t.totalMs)).toBe("5 h 23 min");
  });

  it("labels seconds-long traces with seconds and millisecond traces with milliseconds", () => {
    const secs = buildTraceTimeline([entry("2026-01-01T00:00:00Z"), entry("2026-01-01T00:00:04Z")], "utc");
    expect(secs.ticks.map((x) => x.label)).toEqual(["00:00:00", "00:00:01", "00:00:02", "00:00:03", "00:00:04"]);
    const ms = buildTraceTimeline([entry("2026-01-01T00:00:00Z"), entry("2026-01-01T00:00:00.050Z")], "utc");
    expect(ms.ticks[1]!.label).toBe("00:00:00.010");
  });

  it("draws a single entry at the start of a one-millisecond axis", () => {
    const t = buildTraceTimeline([entry("2026-01-01T00:00:00Z", { span_id: null })], "utc");
    expect(t.totalMs).toBe(0);
    expect(t.lanes).toHaveLength(1);
    expect(t.marks[0]).toMatchObject({ pct: 0, gapMs: null });
    expect(t.ticks.length).toBeGreaterThan(1);
  });

  it("has nothing to draw for no entries", () => {
    expect(buildTraceTimeline([], "utc")).toMatchObject({ lanes: [], ticks: [], marks: [] });
  });
});
