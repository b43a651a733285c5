import type {
  ActivityLogEntry,
  ActivityLogLevel,
  ActivityLogMode,
  ActivityLogSource,
  EntityFilter,
} from "./types";

/** One log entry processed once into what a row renders and filters on. */
export interface EntryRow {
  kind: "entry";
  /** Stable React/virtualizer key. */
  key: string;
  /** Position in arrival order: increasing along the buffer, so a row's index is found by binary search. */
  seq: number;
  id: number;
  entry: ActivityLogEntry;
  /** Lower-cased message, so search does not lower-case 100,000 strings per keystroke. */
  haystack: string;
  /** The timestamp in ms since the epoch: the tail's sort key (then `id`). */
  ts: number;
  /** Arrived more than the reorder window after a newer entry was shown: placed in time order anyway. */
  late?: boolean;
}

/** Where the server told us (via `lagged`) that entries were dropped for this client. */
export interface GapRow {
  kind: "gap";
  key: string;
  seq: number;
  skipped: number;
  /** Last entry id received before the gap (exclusive lower bound for backfill). */
  afterId: number | null;
  /** First entry id received after the gap (exclusive upper bound), once known. */
  beforeId: number | null;
  status: "idle" | "loading" | "error";
  error?: string;
  /** Newest timestamp shown when the gap was reported: where the marker sorts among entries. */
  ts: number;
}

export type ConsoleRow = EntryRow | GapRow;

let clientSeq = 0;

/** The next sequence number: rows re-placed by the reorder window take fresh, increasing ones. */
export const nextSeq = () => ++clientSeq;

/** Kept for code written before lib/time.ts: the full timestamp in the chosen zone. */
export { formatTimestamp as formatDateTime } from "../../lib/time";

export function toEntryRow(entry: ActivityLogEntry): EntryRow {
  const seq = ++clientSeq;
  return {
    kind: "entry",
    key: `e${entry.id}`,
    seq,
    id: entry.id,
    entry,
    haystack: entry.message.toLowerCase(),
    ts: Date.parse(entry.timestamp) || 0,
  };
}

export function makeGapRow(skipped: number, afterId: number | null, ts = 0): GapRow {
  const seq = ++clientSeq;
  return { kind: "gap", key: `gap${seq}`, seq, skipped, afterId, beforeId: null, status: "idle", ts };
}

/** Whether `row` sorts after the entry `e` in the tail: by timestamp, then id; a gap marker before ties. */
export function sortsAfter(row: ConsoleRow, e: EntryRow): boolean {
  if (row.ts !== e.ts) return row.ts > e.ts;
  return row.kind === "entry" && row.id > e.id;
}

export const compareEntries = (a: EntryRow, b: EntryRow) => a.ts - b.ts || a.id - b.id;


interface RowFilter {
  levels: ReadonlySet<ActivityLogLevel>;
  sources: ReadonlySet<ActivityLogSource>;
  mode: ActivityLogMode;
  search: string;
  entity: EntityFilter | null;
}

/** Builds the client-side predicate that mirrors the server-side stream filter. */
export function makeRowPredicate(filter: RowFilter): (row: ConsoleRow) => boolean {
  const needle = filter.search.trim().toLowerCase();
  const entity = filter.entity;
  return (row) => {
    // Gap markers stay visible whatever the filter: dropped entries must never be hidden.
    if (row.kind === "gap") return true;
    const e = row.entry;
    if (!filter.levels.has(e.level)) return false;
    if (!filter.sources.has(e.source)) return false;
    if (filter.mode === "curated" && e.category !== "curated") return false;
    if (needle && !row.haystack.includes(needle)) return false;
    if (entity?.type && e.entity_type !== entity.type) return false;
    if (entity?.id != null && e.entity_id !== entity.id) return false;
    return true;
  };
}
