import type { ActivityLogEntry, ActivityLogLevel } from "./types";
import { SOURCE_LABELS } from "./constants";
import { zoneParts, type TimeZoneChoice } from "../../lib/time";

/**
 * The trace view's timeline, computed once from the trace's entries: lanes by service and span,
 * each entry's position on a shared time axis, the gap to the entry before it, and labelled ticks.
 */
export interface TimelineMark {
  entry: ActivityLogEntry;
  /** Milliseconds (with microseconds) since the trace's first entry. */
  offsetMs: number;
  /** Position on the axis, 0–100. */
  pct: number;
  /** Time since the previous entry of the whole trace; null for the first. */
  gapMs: number | null;
  level: ActivityLogLevel;
}

export interface TimelineLane {
  key: string;
  service: string;
  spanId: string | null;
  marks: TimelineMark[];
}

export interface TimelineTick {
  pct: number;
  label: string;
}

export interface TraceTimeline {
  startMs: number;
  endMs: number;
  totalMs: number;
  lanes: TimelineLane[];
  ticks: TimelineTick[];
  /** Every mark in time order (the order keyboard users and the gaps follow). */
  marks: TimelineMark[];
}

/**
 * An ISO timestamp as epoch milliseconds keeping the microseconds the server sends, which
 * `Date.parse` drops: a trace inside one millisecond would otherwise collapse to a single point.
 */
export function parseMicros(iso: string): number {
  const [whole, fraction] = splitTime(iso);
  return whole + fraction;
}

/**
 * Whole milliseconds and the fraction apart: an epoch in milliseconds has too few bits left for
 * microseconds, so offsets inside a trace are taken on the two parts separately.
 */
function splitTime(iso: string): [number, number] {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(.*)$/.exec(iso);
  if (!m) return [Date.parse(iso), 0];
  const digits = (m[2] ?? "").padEnd(3, "0");
  const whole = Date.parse(`${m[1]}.${digits.slice(0, 3)}${m[3] || "Z"}`);
  const fraction = digits.length > 3 ? Number(`0.${digits.slice(3)}`) : 0;
  return [whole, fraction];
}

/** A duration as people read it: µs below a millisecond, ms below a second, then s, min, h. */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${Number(ms.toFixed(ms < 10 ? 2 : ms < 100 ? 1 : 0))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number(s.toFixed(s < 10 ? 3 : 2))} s`;
  const min = s / 60;
  if (min < 60) return `${Math.floor(min)} min ${Math.round(s - Math.floor(min) * 60)} s`;
  const h = min / 60;
  return `${Math.floor(h)} h ${Math.round(min - Math.floor(h) * 60)} min`;
}

const MS = 1;
const SECOND = 1000 * MS;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const STEPS = [
  0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500,
  SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND,
  MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY,
];

/** The smallest round step that gives at most `maxTicks` ticks over `totalMs`. */
export function tickStep(totalMs: number, maxTicks = 6): number {
  for (const step of STEPS) if (totalMs / step <= maxTicks) return step;
  return Math.ceil(totalMs / maxTicks / DAY) * DAY;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

function tickLabel(offsetMs: number, step: number, zone: TimeZoneChoice, startMs: number): string {
  // Below a millisecond the clock cannot tell ticks apart: they say how far from the start they are.
  if (step < 1) return `+${formatDuration(offsetMs)}`;
  const p = zoneParts(Math.round(startMs + offsetMs), zone);
  const clock = `${pad(p.hours)}:${pad(p.minutes)}`;
  if (step >= DAY) return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
  if (step >= MINUTE) return clock;
  if (step >= SECOND) return `${clock}:${pad(p.seconds)}`;
  return `${clock}:${pad(p.seconds)}.${pad(p.ms, 3)}`;
}

/** The zone's offset from UTC at `ms`, so that minute and hour ticks fall on the zone's round times. */
function zoneOffsetMs(ms: number, zone: TimeZoneChoice): number {
  return zone === "utc" ? 0 : -new Date(ms).getTimezoneOffset() * MINUTE;
}

export function buildTraceTimeline(entries: readonly ActivityLogEntry[], zone: TimeZoneChoice): TraceTimeline {
  const parts = entries.map((entry) => ({ entry, t: splitTime(entry.timestamp) }));
  if (parts.length === 0) return { startMs: 0, endMs: 0, totalMs: 0, lanes: [], ticks: [], marks: [] };
  const [w0, f0] = parts.reduce((min, p) => (p.t[0] < min[0] || (p.t[0] === min[0] && p.t[1] < min[1]) ? p.t : min), parts[0]!.t);
  // `ms` is the offset from the first entry, exact to the microsecond.
  const timed = parts
    .map(({ entry, t }) => ({ entry, ms: t[0] - w0 + (t[1] - f0) }))
    .sort((a, b) => a.ms - b.ms || a.entry.id - b.entry.id);
  const startMs = w0 + f0;
  const totalMs = timed[timed.length - 1]!.ms;
  const endMs = startMs + totalMs;
  // A single instant still needs a width to draw on; one millisecond keeps its ticks readable.
  const domain = totalMs > 0 ? totalMs : 1;

  const lanes = new Map<string, TimelineLane>();
  const marks: TimelineMark[] = [];
  let prev: number | null = null;
  for (const { entry, ms } of timed) {
    const service = entry.service_name || SOURCE_LABELS[entry.source] || entry.source;
    const spanId = entry.span_id || null;
    const key = `${service}\u0000${spanId ?? ""}`;
    let lane = lanes.get(key);
    if (!lane) {
      lane = { key, service, spanId, marks: [] };
      lanes.set(key, lane);
    }
    const mark: TimelineMark = {
      entry,
      offsetMs: ms,
      pct: (ms / domain) * 100,
      gapMs: prev === null ? null : ms - prev,
      level: entry.level,
    };
    lane.marks.push(mark);
    marks.push(mark);
    prev = ms;
  }

  const step = tickStep(domain);
  const offset = zoneOffsetMs(w0, zone);
  const ticks: TimelineTick[] = [];
  // Sub-millisecond ticks count from the start; longer ones sit on the zone's round times.
  // `first` is relative to the start, like the marks.
  const first = step < 1 ? 0 : Math.ceil((w0 + offset) / step) * step - offset - w0 - f0;
  for (let i = 0, t = first; t <= domain + 1e-9 && i < 50; i++, t = first + i * step) {
    ticks.push({ pct: (t / domain) * 100, label: tickLabel(t, step, zone, startMs) });
  }
  return { startMs, endMs, totalMs, lanes: [...lanes.values()], ticks, marks };
}
