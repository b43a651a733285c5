import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { apiJson } from "../../../lib/api";
import type {
  ActivityLogContext,
  ActivityLogEntry,
  ActivityLogEntryDetail,
  ActivityLogBeforeSlice,
  ActivityLogPage,
  ActivityLogQueryParams,
  ActivityLogSettings,
  ActivityLogSettingsUpdate,
  ActivityLogSlice,
  CreatedIngestToken,
  Histogram,
  IngestToken,
  IngestTokenList,
  PurgeQuery,
  PurgeResult,
  RevokedIngestToken,
  TraceEntries,
} from "../types";

export function fetchActivityLogs(params: ActivityLogQueryParams, signal?: AbortSignal): Promise<ActivityLogPage> {
  return apiJson<ActivityLogPage>("/activity-logs", { params, signal });
}

/**
 * The `count` most recent entries matching `filters`, newest first (the list's order): the first
 * page, then `before_id` cursor slices, which stay put while new entries arrive (a second numbered
 * page would shift under them).
 */
export async function fetchRecentEntries(
  filters: ActivityLogQueryParams,
  count: number,
  signal?: AbortSignal,
  perPage = 100,
): Promise<ActivityLogEntry[]> {
  const first = await fetchActivityLogs({ ...filters, page: 1, per_page: Math.min(perPage, count) }, signal);
  const out = first.data.slice(0, count);
  let more = first.data.length === Math.min(perPage, count);
  while (more && out.length < count) {
    const { data, meta } = await apiJson<ActivityLogBeforeSlice>("/activity-logs", {
      params: { ...filters, per_page: Math.min(perPage, count - out.length), before_id: out[out.length - 1]!.id },
      signal,
    });
    out.push(...data.slice(0, count - out.length));
    more = meta.has_more && data.length > 0;
  }
  return out;
}

/**
 * Paginated history from `GET /api/v1/activity-logs`; the key holds every filter, and `refresh`
 * (bumped by the refresh button and auto-refresh) so that refreshing an absolute range refetches too.
 */
export function useActivityLogHistory(params: ActivityLogQueryParams, options: { enabled?: boolean; refresh?: number } = {}) {
  return useQuery({
    queryKey: ["activity-logs", params, options.refresh ?? 0],
    queryFn: ({ signal }) => fetchActivityLogs(params, signal),
    placeholderData: keepPreviousData,
    enabled: options.enabled ?? true,
  });
}

/** `GET /api/v1/activity-logs/histogram` for the table's filters (never its pagination). */
export function useActivityLogHistogram(
  params: ActivityLogQueryParams,
  options: { buckets?: number; enabled?: boolean; refresh?: number } = {},
) {
  const { page: _p, per_page: _pp, ...filters } = params;
  const buckets = options.buckets ?? 60;
  return useQuery({
    queryKey: ["activity-logs", "histogram", filters, buckets, options.refresh ?? 0],
    queryFn: ({ signal }) => apiJson<Histogram>("/activity-logs/histogram", { params: { ...filters, buckets }, signal }),
    placeholderData: keepPreviousData,
    enabled: options.enabled ?? true,
  });
}

const byTimeThenId = (a: ActivityLogEntry, b: ActivityLogEntry) =>
  a.timestamp === b.timestamp ? a.id - b.id : a.timestamp < b.timestamp ? -1 : 1;

export function useActivityLogContext(id: number, before = 25, after = 25) {
  return useQuery({
    queryKey: ["activity-logs", "context", id, before, after],
    queryFn: async ({ signal }) =>
      (await apiJson<ActivityLogContext>(`/activity-logs/${id}/context`, { params: { before, after }, signal })).data.sort(
        byTimeThenId,
      ),
  });
}

export function useTrace(traceId: string) {
  return useQuery({
    queryKey: ["traces", traceId],
    queryFn: async ({ signal }) =>
      (await apiJson<TraceEntries>(`/traces/${encodeURIComponent(traceId)}`, { signal })).data.sort(byTimeThenId),
    enabled: !!traceId,
  });
}

/** Cache key of one full entry; outside `["activity-logs", …]` so list invalidations leave it alone. */
const fullEntryQueryKey = (id: number) => ["activity-log-entry", id] as const;

/** `GET /api/v1/activity-logs/{id}`: the entry as stored, never shortened. */
async function fetchFullEntry(id: number, signal?: AbortSignal): Promise<ActivityLogEntry> {
  return (await apiJson<ActivityLogEntryDetail>(`/activity-logs/${id}`, { signal })).data;
}

/**
 * The full version of a shortened entry. It is never fetched by itself (it can be megabytes): the
 * caller starts it with `refetch()` when the user asks. A disabled query still returns what the
 * cache holds, so a row collapsed and expanded again shows the full entry without a new request;
 * the cache drops it after the default gcTime once no expanded row shows it.
 */
export function useFullEntry(id: number) {
  return useQuery({
    queryKey: fullEntryQueryKey(id),
    queryFn: ({ signal }) => fetchFullEntry(id, signal),
    enabled: false,
  });
}

/** The entry's own page: `GET /api/v1/activity-logs/{id}`, fetched at once (same cache as `useFullEntry`). */
export function useEntry(id: number | null) {
  return useQuery({
    queryKey: fullEntryQueryKey(id ?? 0),
    queryFn: ({ signal }) => fetchFullEntry(id!, signal),
    enabled: id != null,
  });
}

/**
 * Entries strictly between two ids, to backfill a `lagged` gap. Walks the API's `after_id` cursor
 * (oldest first; the API refuses `after_id` and `before_id` together) and stops at `beforeId`,
 * when the API has no more, or after `maxPages` so a huge gap cannot flood the buffer.
 */
export async function fetchGapEntries(
  filters: ActivityLogQueryParams,
  afterId: number | null,
  beforeId: number | null,
  maxPages = 20,
  perPage = 100,
): Promise<{ entries: ActivityLogEntry[]; complete: boolean }> {
  const out: ActivityLogEntry[] = [];
  let cursor = afterId ?? 0;
  for (let page = 0; page < maxPages; page++) {
    const { data, meta } = await apiJson<ActivityLogSlice>("/activity-logs", {
      params: { ...filters, per_page: perPage, after_id: cursor },
    });
    let reachedEnd = false;
    for (const e of data) {
      if (beforeId != null && e.id >= beforeId) {
        reachedEnd = true;
        break;
      }
      out.push(e);
      cursor = Math.max(cursor, e.id);
    }
    if (reachedEnd || data.length === 0 || !meta.has_more || data.length < perPage) {
      return { entries: out, complete: true };
    }
  }
  return { entries: out, complete: false };
}

// --- Admin: settings, purge, ingest tokens ---

export function useActivityLogSettings(enabled = true) {
  return useQuery({
    queryKey: ["admin", "activity-log-settings"],
    queryFn: ({ signal }) => apiJson<ActivityLogSettings>("/admin/activity-logs/settings", { signal }),
    enabled,
  });
}

export function useUpdateActivityLogSettings() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (patch: ActivityLogSettingsUpdate) =>
      apiJson<ActivityLogSettings>("/admin/activity-logs/settings", { method: "PUT", body: patch }),
    onSuccess: (settings) => {
      client.setQueryData(["admin", "activity-log-settings"], settings);
      return client.invalidateQueries({ queryKey: ["admin", "activity-log-settings"] });
    },
  });
}

/** Resolves to the number of entries deleted. */
export function usePurgeActivityLogs() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (params: PurgeQuery) =>
      (await apiJson<PurgeResult>("/admin/activity-logs", { method: "DELETE", params })).deleted,
    onSuccess: () => client.invalidateQueries({ queryKey: ["activity-logs"] }),
  });
}

export function useIngestTokens() {
  return useQuery({
    queryKey: ["admin", "ingest-tokens"],
    queryFn: async ({ signal }) => (await apiJson<IngestTokenList>("/admin/ingest-tokens", { signal })).data,
  });
}

export function useCreateIngestToken() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (name: string) => apiJson<CreatedIngestToken>("/admin/ingest-tokens", { method: "POST", body: { name } }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["admin", "ingest-tokens"] }),
  });
}

export function useRevokeIngestToken() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: IngestToken["id"]) => apiJson<RevokedIngestToken>(`/admin/ingest-tokens/${id}`, { method: "DELETE" }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["admin", "ingest-tokens"] }),
  });
}
