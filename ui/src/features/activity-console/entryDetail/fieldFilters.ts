/**
 * "Filter for" / "filter out" on a value of an entry. Any attribute value (record, `resource.*`,
 * `scope.*`, the service) becomes a query term in `q` (`key:value`, `-key:value` to filter out);
 * the entry's own columns set the filters that exist for them (levels, sources, mode, entity,
 * trace, ids). An action the target's filters cannot express is not offered: `applyTo…` returns
 * null for it.
 */
import { addTerm, queryTerm } from "../query/completions";
import { DEFAULT_HISTORY_FILTERS } from "../urlFilters";
import type { HistoryFilters } from "../urlFilters";
import { ACTIVITY_LOG_LEVELS, ACTIVITY_LOG_SOURCES } from "../types";
import type { ActivityLogEntry, ActivityLogLevel, ActivityLogMode, ActivityLogSource, EntityFilter } from "../types";

export type FieldFilter =
  | { field: "level"; value: ActivityLogLevel }
  | { field: "source"; value: ActivityLogSource }
  | { field: "category"; value: ActivityLogMode }
  | { field: "entity"; type: string; id: number | null }
  | { field: "trace_id"; value: string }
  | { field: "job_id" | "user_id" | "project_id"; value: number }
  /** A message search for a value that appears in the entry's message. */
  | { field: "search"; value: string }
  /** A query term `key:value` (the key as the query language names it: `gpu`, `resource.host.name`). */
  | { field: "query"; key: string; value: string | number | boolean };

export type FilterDirection = "for" | "out";

/** What a host (live panel, history, the entry page) does with a filter action. */
export interface EntryFilterTarget {
  /** Whether the host's filters can express this; the button is shown only then. */
  supports: (filter: FieldFilter, direction: FilterDirection) => boolean;
  apply: (filter: FieldFilter, direction: FilterDirection) => void;
}

/** The API's message search takes at most this many characters. */
const MAX_SEARCH = 1000;

/**
 * A field value offered as a message search: only a string that occurs in this entry's message
 * (so the search finds this entry and those like it), not too short to mean anything.
 */
export function searchFilterFor(entry: Pick<ActivityLogEntry, "message">, value: unknown): FieldFilter | null {
  if (typeof value !== "string") return null;
  const text = value.trim();
  if (text.length < 3 || text.length > MAX_SEARCH || text.includes("\n")) return null;
  return entry.message.toLowerCase().includes(text.toLowerCase()) ? { field: "search", value: text } : null;
}

/**
 * A table row's value as a query term under `prefix` (`""` for record attributes, `resource.`,
 * `scope.`): only top-level scalar values, since arrays and maps match only `key:*`.
 */
export function queryFilterFor(prefix: string, row: { key: string; depth: number; value: unknown }): FieldFilter | null {
  if (row.depth !== 0) return null;
  const v = row.value;
  if (typeof v !== "string" && typeof v !== "boolean" && !(typeof v === "number" && Number.isFinite(v))) return null;
  return { field: "query", key: `${prefix}${row.key}`, value: v };
}

/** `q` with the action's term added. */
export function withQueryTerm(q: string, filter: Extract<FieldFilter, { field: "query" }>, direction: FilterDirection): string {
  return addTerm(q, queryTerm(filter.key, filter.value, direction === "out"));
}

/** Only `value` selected, or everything but `value`. */
function only<T>(all: readonly T[], value: T, direction: FilterDirection, current: readonly T[]): T[] {
  return direction === "for" ? [value] : all.filter((v) => v !== value && current.includes(v));
}

/** The live tail's filters, as the store holds them. */
export interface LiveFilters {
  levels: Set<ActivityLogLevel>;
  sources: Set<ActivityLogSource>;
  mode: ActivityLogMode;
  searchText: string;
  entityFilter: EntityFilter | null;
  queryText: string;
}

/**
 * The live filters after the action, or null when they cannot express it. Mode: the Activity view
 * is "curated only" and the Debug view is "every category", so "for curated" and "out verbose" both
 * mean the Activity view; "for verbose" and "out curated" have no filter.
 */
export function applyToLiveFilters(f: LiveFilters, filter: FieldFilter, direction: FilterDirection): Partial<LiveFilters> | null {
  switch (filter.field) {
    case "level":
      return { levels: new Set(only(ACTIVITY_LOG_LEVELS, filter.value, direction, [...f.levels])) };
    case "source":
      return { sources: new Set(only(ACTIVITY_LOG_SOURCES, filter.value, direction, [...f.sources])) };
    case "category":
      return (direction === "for") === (filter.value === "curated") ? { mode: "curated" } : null;
    case "entity":
      return direction === "for" ? { entityFilter: { type: filter.type, id: filter.id ?? undefined } } : null;
    case "search":
      return direction === "for" ? { searchText: filter.value } : null;
    case "query":
      return { queryText: withQueryTerm(f.queryText, filter, direction) };
    default:
      // The live tail has no trace, job, user or project filter yet.
      return null;
  }
}

/** History's filters after the action (back on page 1), or null when they cannot express it. */
export function applyToHistoryFilters(f: HistoryFilters, filter: FieldFilter, direction: FilterDirection): HistoryFilters | null {
  const next = (patch: Partial<HistoryFilters>): HistoryFilters => ({ ...f, ...patch, page: 1 });
  switch (filter.field) {
    case "level":
      return next({ levels: only(ACTIVITY_LOG_LEVELS, filter.value, direction, f.levels) });
    case "source":
      return next({ sources: only(ACTIVITY_LOG_SOURCES, filter.value, direction, f.sources) });
    case "category":
      return (direction === "for") === (filter.value === "curated") ? next({ mode: "curated" }) : null;
    case "entity":
      return direction === "for" ? next({ entity_type: filter.type, entity_id: filter.id ?? undefined }) : null;
    case "trace_id":
      return direction === "for" ? next({ trace_id: filter.value }) : null;
    case "job_id":
    case "user_id":
    case "project_id":
      return direction === "for" ? next({ [filter.field]: filter.value }) : null;
    case "search":
      return direction === "for" ? next({ search: filter.value }) : null;
    case "query":
      return next({ q: withQueryTerm(f.q, filter, direction) });
  }
}

/**
 * From the entry's own page: history's defaults with the action applied, except the mode, which
 * is Debug (every category) unless the action is about the category, so that the entry itself
 * matches whatever its category.
 */
export function historyFiltersFromEntryPage(filter: FieldFilter, direction: FilterDirection): HistoryFilters | null {
  const base: HistoryFilters = { ...DEFAULT_HISTORY_FILTERS, mode: "verbose" };
  return applyToHistoryFilters(base, filter, direction);
}
