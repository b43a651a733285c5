/**
 * The history pane's time range: relative (`now-1h`) or absolute (RFC 3339) ends, kept in the URL
 * as typed and turned into instants only when a query is sent, so a refresh moves a relative window.
 */

import { currentTimeZone, formatRelative, fromZoneInput, toZoneInput, zoneParts } from "../../lib/time";
import type { TimeZoneChoice } from "../../lib/time";

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

const RELATIVE = /^now(?:-(\d{1,6})([smhdw]))?$/;

export interface RangePreset {
  /** The URL value of "From" (with "To" left open). */
  from: string;
  label: string;
}

export const RANGE_PRESETS: readonly RangePreset[] = [
  { from: "now-15m", label: "15m" },
  { from: "now-1h", label: "1h" },
  { from: "now-6h", label: "6h" },
  { from: "now-24h", label: "24h" },
  { from: "now-7d", label: "7d" },
];

/** Auto-refresh choices; the URL holds `refresh=<value>`, off is its absence. */
export const REFRESH_INTERVALS = [
  { value: "10s", label: "10 s", ms: 10_000 },
  { value: "30s", label: "30 s", ms: 30_000 },
  { value: "1m", label: "1 min", ms: 60_000 },
] as const;
export type RefreshInterval = (typeof REFRESH_INTERVALS)[number]["value"];

export function refreshIntervalMs(value: string | undefined): number | null {
  return REFRESH_INTERVALS.find((r) => r.value === value)?.ms ?? null;
}

export function isRelativeTime(value: string): boolean {
  return RELATIVE.test(value.trim());
}

/** Whether a URL value is a usable range end: `now`, `now-<n><s|m|h|d|w>` or a timestamp. */
export function isTimeExpression(value: string): boolean {
  return isRelativeTime(value) || !Number.isNaN(Date.parse(value));
}

/** The instant (RFC 3339, UTC) a range end stands for at `now`; undefined for an open or unreadable end. */
export function resolveTime(value: string | undefined, now: number): string | undefined {
  if (!value) return undefined;
  const m = RELATIVE.exec(value.trim());
  if (m) {
    const offset = m[1] ? Number(m[1]) * UNIT_MS[m[2] as Unit] : 0;
    return new Date(now - offset).toISOString();
  }
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

/** The inline message for an impossible range (no request is sent for one), else null. */
export function rangeError(from: string | undefined, to: string | undefined, now: number): string | null {
  const start = resolveTime(from, now);
  const end = resolveTime(to ?? "now", now);
  if (!start || !end) return null;
  if (Date.parse(end) <= Date.parse(start)) {
    return to ? "“To” must be after “From”." : "“From” is in the future: nothing can match yet.";
  }
  return null;
}

/** The preset the range is, if any (highlighted among the quick ranges). */
export function activePreset(from: string | undefined, to: string | undefined): RangePreset | undefined {
  if (to && to.trim() !== "now") return undefined;
  return RANGE_PRESETS.find((p) => p.from === from?.trim());
}

const pad = (n: number) => String(n).padStart(2, "0");

/** How a range end is shown in its text box: relative as typed, absolute in the chosen time zone. */
export function formatRangeInput(value: string | undefined, zone: TimeZoneChoice = currentTimeZone()): string {
  if (!value) return "";
  if (isRelativeTime(value)) return value.trim();
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return "";
  const seconds = d.getUTCSeconds() ? `:${pad(d.getUTCSeconds())}` : "";
  return `${toZoneInput(value, zone).replace("T", " ")}${seconds}`;
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/;

/**
 * What the user typed into From/To, as the URL keeps it: relative as is, a local date-time
 * (`2026-11-28 14:00`) or a timestamp with zone as RFC 3339 UTC. `undefined` for empty, `null`
 * for text that is no time.
 */
export function parseRangeInput(text: string, zone: TimeZoneChoice = currentTimeZone()): string | undefined | null {
  const value = text.trim();
  if (!value) return undefined;
  if (isRelativeTime(value)) return value;
  const local = LOCAL.exec(value);
  if (local) {
    const [, y, mo, d, h = "00", mi = "00", s = "00"] = local;
    // A day the month does not have (Feb 30) would roll over: refuse it.
    if (new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d))).getUTCMonth() !== Number(mo) - 1) return null;
    return fromZoneInput(`${y}-${mo}-${d}T${h}:${mi}:${s}`, zone) ?? null;
  }
  // Only forms with an explicit zone: anything else Date.parse reads differently per browser.
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value)) {
    const t = Date.parse(value);
    return Number.isNaN(t) ? null : new Date(t).toISOString();
  }
  return null;
}

/** "updated X ago" wording, `ms` after the fact (lib/time's relative format). */
export function formatAgo(ms: number): string {
  return formatRelative(0, Math.max(0, ms));
}

/**
 * A zoomed-out range: twice the span around the same centre, its end no later than now (there is
 * nothing to see after it), as absolute ends.
 */
export function zoomOutRange(from: string, to: string, now: number): { from: string; to?: string } {
  const start = Date.parse(from);
  const end = Date.parse(to);
  const span = Math.max(60_000, end - start);
  let nextEnd = end + span / 2;
  let nextStart = start - span / 2;
  if (nextEnd >= now) {
    nextStart -= nextEnd - now;
    nextEnd = now;
    return { from: new Date(nextStart).toISOString() };
  }
  return { from: new Date(nextStart).toISOString(), to: new Date(nextEnd).toISOString() };
}

// --- histogram axis ---

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TICK_STEPS = [
  MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR,
  DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY,
];

export interface AxisTick {
  at: number;
  /** 0–100: where on the axis. */
  percent: number;
  label: string;
}

/** Minutes to add to UTC for the zone's wall clock at `t`. */
const zoneOffset = (t: number, zone: TimeZoneChoice) => (zone === "utc" ? 0 : -new Date(t).getTimezoneOffset());

function zoneMidnight(t: number, zone: TimeZoneChoice): number {
  const d = new Date(t);
  if (zone === "utc") d.setUTCHours(0, 0, 0, 0);
  else d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/**
 * Ticks for [start, end): the smallest step that gives at most `maxTicks`, on round local times,
 * labelled by what the step counts (seconds never, minutes and hours as HH:mm, days as "Nov 28");
 * a tick at local midnight of a sub-day step shows the date instead, so a span over days is readable.
 */
export function axisTicks(start: number, end: number, maxTicks = 8, zone: TimeZoneChoice = currentTimeZone()): AxisTick[] {
  const span = end - start;
  if (!(span > 0)) return [];
  const step = TICK_STEPS.find((s) => span / s <= maxTicks) ?? TICK_STEPS[TICK_STEPS.length - 1]!;
  const ticks: AxisTick[] = [];
  let t: number;
  if (step < DAY) {
    // Round in local time: offset by the zone so e.g. 3-hour ticks fall on 00, 03, 06 local.
    const offset = -zoneOffset(start, zone) * MINUTE;
    t = Math.ceil((start - offset) / step) * step + offset;
  } else {
    t = zoneMidnight(start, zone);
    if (t < start) t = zoneMidnight(t + DAY + HOUR, zone);
  }
  const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", ...(zone === "utc" ? { timeZone: "UTC" } : {}) });
  while (t < end && ticks.length <= maxTicks * 2) {
    const p = zoneParts(t, zone);
    const midnight = p.hours === 0 && p.minutes === 0;
    const label = step >= DAY || (midnight && span > DAY / 2) ? dayFormat.format(new Date(t)) : `${pad(p.hours)}:${pad(p.minutes)}`;
    ticks.push({ at: t, percent: ((t - start) / span) * 100, label });
    // Day steps walk the calendar (a day is 23 or 25 hours across a clock change).
    t = step >= DAY ? zoneMidnight(t + step + 2 * HOUR, zone) : t + step;
  }
  return ticks;
}
