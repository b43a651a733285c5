import { REFRESH_INTERVALS, isTimeExpression, resolveTime } from "./timeRange";
import type { RefreshInterval } from "./timeRange";
import { ACTIVITY_LOG_LEVELS, ACTIVITY_LOG_SOURCES } from "./types";
import type { ActivityLogLevel, ActivityLogMode, ActivityLogQueryParams, ActivityLogSource } from "./types";

/** The history pane's filters; mirrored in the page URL so a view can be shared. */
export interface HistoryFilters {
  levels: ActivityLogLevel[];
  sources: ActivityLogSource[];
  mode: ActivityLogMode;
  /** RFC 3339, or relative to the query's time (`now-1h`): kept as given, resolved per query. */
  from?: string;
  /** Like `from`; open means now. */
  to?: string;
  /** Auto-refresh interval; absent is off. */
  refresh?: RefreshInterval;
  search: string;
  /** Query-language text (docs/query.md); empty is no query. */
  q: string;
  entity_type?: string;
  entity_id?: number;
  trace_id?: string;
  job_id?: number;
  user_id?: number;
  project_id?: number;
  page: number;
  per_page: number;
}

export const PAGE_SIZES = [25, 50, 100] as const;

export const DEFAULT_HISTORY_FILTERS: HistoryFilters = {
  levels: [...ACTIVITY_LOG_LEVELS],
  sources: [...ACTIVITY_LOG_SOURCES],
  mode: "curated",
  search: "",
  q: "",
  page: 1,
  per_page: 25,
};

/** Accepts both `level=warn&level=error` and `level=warn,error`. */
function multi<T extends string>(params: URLSearchParams, key: string, allowed: readonly T[]): T[] {
  const raw = params.getAll(key).flatMap((v) => v.split(",")).map((v) => v.trim());
  if (!params.has(key)) return [...allowed];
  return allowed.filter((a) => raw.includes(a));
}

function positiveInt(value: string | null): number | undefined {
  if (value == null || value === "") return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function rangeEnd(value: string | null): string | undefined {
  return value && isTimeExpression(value) ? value : undefined;
}

function refreshInterval(value: string | null): RefreshInterval | undefined {
  return REFRESH_INTERVALS.find((r) => r.value === value)?.value;
}

export function parseHistoryFilters(params: URLSearchParams): HistoryFilters {
  const perPage = positiveInt(params.get("per_page"));
  return {
    levels: multi(params, "level", ACTIVITY_LOG_LEVELS),
    sources: multi(params, "source", ACTIVITY_LOG_SOURCES),
    mode: params.get("mode") === "verbose" ? "verbose" : "curated",
    from: rangeEnd(params.get("from")),
    to: rangeEnd(params.get("to")),
    refresh: refreshInterval(params.get("refresh")),
    search: params.get("search") ?? "",
    q: params.get("q") ?? "",
    entity_type: params.get("entity_type") || undefined,
    entity_id: positiveInt(params.get("entity_id")),
    trace_id: params.get("trace_id") || undefined,
    job_id: positiveInt(params.get("job_id")),
    user_id: positiveInt(params.get("user_id")),
    project_id: positiveInt(params.get("project_id")),
    page: positiveInt(params.get("page")) ?? 1,
    per_page: perPage && (PAGE_SIZES as readonly number[]).includes(perPage) ? perPage : DEFAULT_HISTORY_FILTERS.per_page,
  };
}

/** Only what differs from the defaults goes into the URL, so shared links stay short. */
export function serializeHistoryFilters(f: HistoryFilters): URLSearchParams {
  const p = new URLSearchParams();
  if (f.levels.length !== ACTIVITY_LOG_LEVELS.length) p.set("level", f.levels.join(","));
  if (f.sources.length !== ACTIVITY_LOG_SOURCES.length) p.set("source", f.sources.join(","));
  if (f.mode !== DEFAULT_HISTORY_FILTERS.mode) p.set("mode", f.mode);
  if (f.from) p.set("from", f.from);
  if (f.to) p.set("to", f.to);
  if (f.search) p.set("search", f.search);
  if (f.q.trim()) p.set("q", f.q);
  if (f.entity_type) p.set("entity_type", f.entity_type);
  if (f.entity_id != null) p.set("entity_id", String(f.entity_id));
  if (f.trace_id) p.set("trace_id", f.trace_id);
  if (f.job_id != null) p.set("job_id", String(f.job_id));
  if (f.user_id != null) p.set("user_id", String(f.user_id));
  if (f.project_id != null) p.set("project_id", String(f.project_id));
  if (f.page !== 1) p.set("page", String(f.page));
  if (f.per_page !== DEFAULT_HISTORY_FILTERS.per_page) p.set("per_page", String(f.per_page));
  if (f.refresh) p.set("refresh", f.refresh);
  return p;
}

/**
 * The REST query for these filters (an empty level/source selection matches nothing, so it is sent
 * as-is), with a relative range resolved at `now`.
 */
export function toQueryParams(f: HistoryFilters, now: number = Date.now()): ActivityLogQueryParams {
  const from = resolveTime(f.from, now);
  const to = resolveTime(f.to, now);
  return {
    ...(f.levels.length !== ACTIVITY_LOG_LEVELS.length ? { level: f.levels } : {}),
    ...(f.sources.length !== ACTIVITY_LOG_SOURCES.length ? { source: f.sources } : {}),
    // Debug mode means every category, i.e. no mode filter (the API's "verbose" is verbose only).
    ...(f.mode === "curated" ? { mode: "curated" as const } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    ...(f.search ? { search: f.search } : {}),
    ...(f.q.trim() ? { q: f.q } : {}),
    ...(f.entity_type ? { entity_type: f.entity_type } : {}),
    ...(f.entity_id != null ? { entity_id: f.entity_id } : {}),
    ...(f.trace_id ? { trace_id: f.trace_id } : {}),
    ...(f.job_id != null ? { job_id: f.job_id } : {}),
    ...(f.user_id != null ? { user_id: f.user_id } : {}),
    ...(f.project_id != null ? { project_id: f.project_id } : {}),
    page: f.page,
    per_page: f.per_page,
  };
}

/** `<input type="datetime-local">` value (in the chosen time zone) ↔ RFC 3339 UTC. */
export { toZoneInput as toLocalInput, fromZoneInput as fromLocalInput } from "../../lib/time";
