import { formatTimestamp, zoneLabel } from "../../../lib/time";
import type { TimeZoneChoice } from "../../../lib/time";
import type { RowEstimate } from "../types";

const UNIT_WORDS = { s: "second", m: "minute", h: "hour", d: "day", w: "week" } as const;
const RELATIVE = /^now-(\d{1,6})([smhdw])$/;

/** `now-15m` → "the last 15 minutes"; anything else → null. */
function relativeWords(value: string | undefined): string | null {
  const m = value ? RELATIVE.exec(value.trim()) : null;
  if (!m) return null;
  const n = Number(m[1]);
  const unit = UNIT_WORDS[m[2] as keyof typeof UNIT_WORDS];
  return n === 1 ? `the last ${unit}` : `the last ${n} ${unit}s`;
}

const isNow = (value: string | undefined) => value?.trim() === "now";

/**
 * The export's range in words, in the console's time zone: `from`/`to` as the URL holds them
 * (relative or absolute), `resolved` the instants the request will carry.
 */
export function describeExportRange(
  from: string | undefined,
  to: string | undefined,
  resolved: { from?: string; to?: string },
  zone: TimeZoneChoice,
  now: number = Date.now(),
): string {
  const label = zoneLabel(zone, now);
  const at = (iso: string) => formatTimestamp(iso, zone);
  const openEnd = !to || isNow(to);
  if (!resolved.from && openEnd) return "All time: every stored entry, up to now";
  const relative = relativeWords(from);
  if (relative && openEnd && resolved.from) return `${capitalise(relative)}: from ${at(resolved.from)} to now (${label})`;
  if (!resolved.from && resolved.to) return `Everything before ${at(resolved.to)} (${label})`;
  if (resolved.from && openEnd) return `From ${at(resolved.from)} to now (${label})`;
  return `From ${at(resolved.from ?? "")} to ${at(resolved.to ?? "")} (${label})`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** "12,345 entries", "about 2,400,000 entries", "1 entry". */
export function describeEstimate(estimate: RowEstimate): string {
  const n = estimate.rows.toLocaleString("en-US");
  const noun = estimate.rows === 1 ? "entry" : "entries";
  return estimate.exact ? `${n} ${noun}` : `about ${n} ${noun} (estimated)`;
}
