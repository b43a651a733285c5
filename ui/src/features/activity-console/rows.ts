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
}

export type ConsoleRow = EntryRow | GapRow;

let clientSeq = 0;

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
  };
}

export function makeGapRow(skipped: number, afterId: number | null): GapRow {
  const seq = ++clientSeq;
  return { kind: "gap", key: `gap${seq}`, seq, skipped, afterId, beforeId: null, status: "idle" };
}

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
