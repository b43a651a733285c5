/**
 * The filters the live pane and history have in common, how the live pane's sit in the page URL
 * (`live_` prefix, next to history's own parameters), and the Sync between the two panes.
 */
import type { FilterSlice } from "./stores/activityConsoleStore";
import { ACTIVITY_LOG_LEVELS, ACTIVITY_LOG_SOURCES } from "./types";
import type { ActivityLogLevel, ActivityLogMode, ActivityLogSource } from "./types";
import { serializeHistoryFilters } from "./urlFilters";
import type { HistoryFilters } from "./urlFilters";

/** Query and filters of one pane; history's time range, trace, ids and paging are not among them. */
export interface PaneFilters {
  levels: ActivityLogLevel[];
  sources: ActivityLogSource[];
  mode: ActivityLogMode;
  search: string;
  q: string;
  entity_type?: string;
  entity_id?: number;
}

export const DEFAULT_PANE_FILTERS: PaneFilters = {
  levels: [...ACTIVITY_LOG_LEVELS],
  sources: [...ACTIVITY_LOG_SOURCES],
  mode: "curated",
  search: "",
  q: "",
};

const PANE_KEYS = ["levels", "sources", "mode", "search", "q", "entity_type", "entity_id"] as const;

/** The live pane's URL parameters: `live_level=warn,error&live_q=gpu:1` … */
export const LIVE_PARAMS = {
  levels: "live_level",
  sources: "live_source",
  mode: "live_mode",
  search: "live_search",
  q: "live_q",
  entity_type: "live_entity",
  entity_id: "live_id",
} as const satisfies Record<keyof PaneFilters, string>;

const isLiveParam = (key: string) => key.startsWith("live_");

/** `sync=off` when the panes are independent; absent (the default) when they share their filters. */
export const SYNC_PARAM = "sync";

export function isSyncOn(params: URLSearchParams): boolean {
  return params.get(SYNC_PARAM) !== "off";
}

/** Whether the URL says anything about the live pane. */
export function hasLiveParams(params: URLSearchParams): boolean {
  for (const key of params.keys()) if (isLiveParam(key)) return true;
  return false;
}

/** Known values only, in display order; `live_level=` (empty) selects none, absent selects all. */
function members<T extends string>(params: URLSearchParams, key: string, allowed: readonly T[]): T[] {
  if (!params.has(key)) return [...allowed];
  const raw = params.getAll(key).flatMap((v) => v.split(",")).map((v) => v.trim());
  return allowed.filter((a) => raw.includes(a));
}

function positiveInt(value: string | null): number | undefined {
  if (!value || !/^\d{1,15}$/.test(value)) return undefined;
  const n = Number(value);
  return n > 0 ? n : undefined;
}

/** The live pane's filters as the URL gives them; anything unknown or malformed reads as the default. */
export function parseLiveFilters(params: URLSearchParams): PaneFilters {
  const entityType = params.get(LIVE_PARAMS.entity_type)?.trim();
  const entityId = positiveInt(params.get(LIVE_PARAMS.entity_id));
  return {
    levels: members(params, LIVE_PARAMS.levels, ACTIVITY_LOG_LEVELS),
    sources: members(params, LIVE_PARAMS.sources, ACTIVITY_LOG_SOURCES),
    mode: params.get(LIVE_PARAMS.mode) === "verbose" ? "verbose" : "curated",
    search: params.get(LIVE_PARAMS.search) ?? "",
    q: (params.get(LIVE_PARAMS.q) ?? "").trim(),
    ...(entityType ? { entity_type: entityType } : {}),
    ...(entityId != null ? { entity_id: entityId } : {}),
  };
}

/** `params` with its `live_` parameters replaced by these filters (only what differs from the defaults). */
export function withLiveFilters(params: URLSearchParams, f: PaneFilters): URLSearchParams {
  const next = new URLSearchParams();
  for (const [key, value] of params) if (!isLiveParam(key)) next.append(key, value);
  if (f.levels.length !== ACTIVITY_LOG_LEVELS.length) next.set(LIVE_PARAMS.levels, f.levels.join(","));
  if (f.sources.length !== ACTIVITY_LOG_SOURCES.length) next.set(LIVE_PARAMS.sources, f.sources.join(","));
  if (f.mode !== DEFAULT_PANE_FILTERS.mode) next.set(LIVE_PARAMS.mode, f.mode);
  if (f.search) next.set(LIVE_PARAMS.search, f.search);
  if (f.q.trim()) next.set(LIVE_PARAMS.q, f.q.trim());
  if (f.entity_type) next.set(LIVE_PARAMS.entity_type, f.entity_type);
  if (f.entity_id != null) next.set(LIVE_PARAMS.entity_id, String(f.entity_id));
  return next;
}

/**
 * History's parameters for `history`, with the page's own (`live_…`, `sync`) kept from `current`:
 * history writes only its part of the URL.
 */
export function withHistoryFilters(current: URLSearchParams, history: HistoryFilters): URLSearchParams {
  const next = serializeHistoryFilters(history);
  for (const [key, value] of current) if (isLiveParam(key) || key === SYNC_PARAM) next.append(key, value);
  return next;
}

export function withSync(params: URLSearchParams, on: boolean): URLSearchParams {
  const next = new URLSearchParams(params);
  if (on) next.delete(SYNC_PARAM);
  else next.set(SYNC_PARAM, "off");
  return next;
}

export function paneFiltersOfHistory(h: HistoryFilters): PaneFilters {
  return {
    levels: [...h.levels],
    sources: [...h.sources],
    mode: h.mode,
    search: h.search,
    q: h.q.trim(),
    ...(h.entity_type ? { entity_type: h.entity_type } : {}),
    ...(h.entity_id != null ? { entity_id: h.entity_id } : {}),
  };
}

export function paneFiltersOfStore(s: FilterSlice): PaneFilters {
  return {
    levels: ACTIVITY_LOG_LEVELS.filter((l) => s.levels.has(l)),
    sources: ACTIVITY_LOG_SOURCES.filter((x) => s.sources.has(x)),
    mode: s.mode,
    search: s.searchText,
    q: s.queryText.trim(),
    ...(s.entityFilter?.type ? { entity_type: s.entityFilter.type } : {}),
    ...(s.entityFilter?.id != null ? { entity_id: s.entityFilter.id } : {}),
  };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The fields of `next` that differ from `prev` (a field gone from `next` is there as undefined). */
export function changedFields(prev: PaneFilters, next: PaneFilters): Partial<PaneFilters> {
  const patch: Partial<PaneFilters> = {};
  for (const key of PANE_KEYS) if (!same(prev[key], next[key])) Object.assign(patch, { [key]: next[key] });
  return patch;
}

export const isEmptyPatch = (patch: Partial<PaneFilters>) => Object.keys(patch).length === 0;

/** `f` with the patch applied (an undefined entity field clears it). */
export function applyPatch(f: PaneFilters, patch: Partial<PaneFilters>): PaneFilters {
  const next: PaneFilters = { ...f, ...patch };
  if (next.entity_type === undefined) delete next.entity_type;
  if (next.entity_id === undefined) delete next.entity_id;
  return next;
}

/** The store's setters for the fields of `patch`, `f` being the live filters after it. */
export function storePatchOf(f: PaneFilters, patch: Partial<PaneFilters> = f): Partial<FilterSlice> {
  const out: Partial<FilterSlice> = {};
  if ("levels" in patch) out.levels = new Set(f.levels);
  if ("sources" in patch) out.sources = new Set(f.sources);
  if ("mode" in patch) out.mode = f.mode;
  if ("search" in patch) out.searchText = f.search;
  if ("q" in patch) out.queryText = f.q;
  if ("entity_type" in patch || "entity_id" in patch || patch === f) {
    out.entityFilter = f.entity_type || f.entity_id != null ? { type: f.entity_type, id: f.entity_id } : null;
  }
  return out;
}

/** History's filters with the shared ones of `patch`, back on page 1 (its time range stays its own). */
export function historyWithPatch(h: HistoryFilters, patch: Partial<PaneFilters>): HistoryFilters {
  const pane = applyPatch(paneFiltersOfHistory(h), patch);
  return { ...h, ...pane, entity_type: pane.entity_type, entity_id: pane.entity_id, page: 1 };
}

/**
 * What one pane's change does to the other while Sync is on: the fields that changed in the
 * source pane (`before` → `after`) and still differ in the other pane (`other`); empty when the
 * other pane has them already, which is what ends the echo of a change written back.
 */
export function syncPatch(before: PaneFilters, after: PaneFilters, other: PaneFilters): Partial<PaneFilters> {
  const changed = changedFields(before, after);
  return changedFields(other, applyPatch(other, changed));
}
