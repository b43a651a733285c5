import { createElement, Fragment } from "react";
import { create } from "zustand";
import { persist } from "zustand/middleware";

/**
 * The one way the console writes times: a row's clock, a full timestamp with milliseconds, a range
 * label and "X ago", all in the time zone the user chose (the browser's local zone or UTC).
 */
export type TimeZoneChoice = "local" | "utc";

interface TimeZoneState {
  zone: TimeZoneChoice;
  setZone: (zone: TimeZoneChoice) => void;
}

export const useTimeZoneStore = create<TimeZoneState>()(
  persist(
    (set) => ({
      zone: "local",
      setZone: (zone) => set({ zone }),
    }),
    { name: "activity-console:time-zone" },
  ),
);

/** The chosen zone now, for code outside React's render (titles, exports); components subscribe instead. */
export const currentTimeZone = (): TimeZoneChoice => useTimeZoneStore.getState().zone;

export const useTimeZone = (): TimeZoneChoice => useTimeZoneStore((s) => s.zone);

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

function toMs(value: string | number | Date): number {
  if (value instanceof Date) return value.getTime();
  return typeof value === "number" ? value : Date.parse(value);
}

export interface Parts {
  year: number;
  month: number;
  day: number;
  hours: number;
  minutes: number;
  seconds: number;
  ms: number;
}

// Date's own getters rather than Intl: a row's time is formatted for every rendered row, and these
// cost nothing.
export function zoneParts(ms: number, zone: TimeZoneChoice): Parts {
  return partsOf(ms, zone);
}

function partsOf(ms: number, zone: TimeZoneChoice): Parts {
  const d = new Date(ms);
  return zone === "utc"
    ? {
        year: d.getUTCFullYear(),
        month: d.getUTCMonth() + 1,
        day: d.getUTCDate(),
        hours: d.getUTCHours(),
        minutes: d.getUTCMinutes(),
        seconds: d.getUTCSeconds(),
        ms: d.getUTCMilliseconds(),
      }
    : {
        year: d.getFullYear(),
        month: d.getMonth() + 1,
        day: d.getDate(),
        hours: d.getHours(),
        minutes: d.getMinutes(),
        seconds: d.getSeconds(),
        ms: d.getMilliseconds(),
      };
}

const datePart = (p: Parts) => `${p.year}-${pad(p.month)}-${pad(p.day)}`;
const minutePart = (p: Parts) => `${pad(p.hours)}:${pad(p.minutes)}`;
const clockPart = (p: Parts) => `${minutePart(p)}:${pad(p.seconds)}.${pad(p.ms, 3)}`;

/** A row's time, `HH:MM:SS.mmm`; unparsable text is shown as it came. */
export function formatRowTime(value: string | number, zone: TimeZoneChoice = currentTimeZone()): string {
  const ms = toMs(value);
  return Number.isNaN(ms) ? String(value) : clockPart(partsOf(ms, zone));
}

/** A full timestamp, `YYYY-MM-DD HH:MM:SS.mmm`; unparsable text is shown as it came. */
export function formatTimestamp(value: string | number, zone: TimeZoneChoice = currentTimeZone()): string {
  const ms = toMs(value);
  if (Number.isNaN(ms)) return String(value);
  const p = partsOf(ms, zone);
  return `${datePart(p)} ${clockPart(p)}`;
}

/** A calendar day, `YYYY-MM-DD` (creation dates in admin tables). */
export function formatDate(value: string | number, zone: TimeZoneChoice = currentTimeZone()): string {
  const ms = toMs(value);
  return Number.isNaN(ms) ? String(value) : datePart(partsOf(ms, zone));
}

/**
 * A time range to the minute: `2026-11-28 14:00 – 15:30`, the end's date only when it differs;
 * an open end reads "now" and an open start "…".
 */
export function formatRangeLabel(
  from: string | number | null | undefined,
  to: string | number | null | undefined,
  zone: TimeZoneChoice = currentTimeZone(),
): string {
  const fromMs = from == null ? NaN : toMs(from);
  const toMsValue = to == null ? NaN : toMs(to);
  const start = Number.isNaN(fromMs) ? null : partsOf(fromMs, zone);
  const end = Number.isNaN(toMsValue) ? null : partsOf(toMsValue, zone);
  const startText = start ? `${datePart(start)} ${minutePart(start)}` : "…";
  if (!end) return `${startText} – now`;
  const sameDay = start !== null && datePart(start) === datePart(end);
  return `${startText} – ${sameDay ? minutePart(end) : `${datePart(end)} ${minutePart(end)}`}`;
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago" (and "in …" for a time ahead of `now`). */
export function formatRelative(value: string | number, now: number = Date.now()): string {
  const ms = toMs(value);
  if (Number.isNaN(ms)) return String(value);
  const diff = now - ms;
  const abs = Math.abs(diff);
  if (abs < 5_000) return "just now";
  let text: string;
  if (abs < 60_000) text = `${Math.floor(abs / 1000)} s`;
  else if (abs < 3_600_000) text = `${Math.floor(abs / 60_000)} min`;
  else if (abs < 86_400_000) text = `${Math.floor(abs / 3_600_000)} h`;
  else text = `${Math.floor(abs / 86_400_000)} d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** The browser's zone as an IANA name (`Europe/Paris`), when the platform knows it. */
export function localZoneName(): string | undefined {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}

/** `UTC`, or the local offset at `at` (`UTC+01:00`, `UTC-05:30`; it changes with daylight saving). */
export function zoneLabel(zone: TimeZoneChoice, at: number = Date.now()): string {
  if (zone === "utc") return "UTC";
  const offset = -new Date(at).getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** `<input type="datetime-local">` value (to the minute, in `zone`) for an RFC 3339 instant. */
export function toZoneInput(iso: string | undefined, zone: TimeZoneChoice = currentTimeZone()): string {
  if (!iso) return "";
  const ms = toMs(iso);
  if (Number.isNaN(ms)) return "";
  const p = partsOf(ms, zone);
  return `${datePart(p)}T${minutePart(p)}`;
}

/** The instant (RFC 3339, UTC) a `datetime-local` value means in `zone`; undefined when empty or invalid. */
export function fromZoneInput(value: string, zone: TimeZoneChoice = currentTimeZone()): string | undefined {
  if (!value) return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return undefined;
  const [y = 0, mo = 1, d = 1, h = 0, mi = 0, s = 0] = m.slice(1).map((x) => Number(x ?? 0));
  const date = zone === "utc" ? new Date(Date.UTC(y, mo - 1, d, h, mi, s)) : new Date(y, mo - 1, d, h, mi, s);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

interface TimestampProps {
  value: string;
  /** `row`: HH:MM:SS.mmm; `full` (default): date and time with ms; `date`: the day only. */
  format?: "row" | "full" | "date";
}

/** A time as text in the chosen zone; re-renders when the zone changes. */
export function Timestamp({ value, format = "full" }: TimestampProps) {
  const zone = useTimeZone();
  const text = format === "row" ? formatRowTime(value, zone) : format === "date" ? formatDate(value, zone) : formatTimestamp(value, zone);
  return createElement(Fragment, null, text);
}
