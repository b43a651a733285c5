import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { apiFetch, apiJson } from "../../../lib/api";
import { ACTIVITY_LOG_LEVELS } from "../types";
import type {
  ActivityLogEntry,
  ActivityLogLevel,
  ActivityLogPage,
  ActivityLogQueryParams,
  ActivityLogSettings,
  CreatedIngestToken,
  ExportFormat,
  HistogramBucket,
  IngestToken,
} from "../types";
import { normalizeEntry } from "../rows";

const normalizeList = (list: unknown): ActivityLogEntry[] =>
  Array.isArray(list) ? list.map((e) => normalizeEntry(e as Record<string, unknown>)) : [];

/** Some endpoints may wrap their payload in `{ data }`; accept both. */
function unwrap<T>(body: unknown): T {
  if (body && typeof body === "object" && "data" in body && !("meta" in body)) return (body as { data: T }).data;
  return body as T;
}

export async function fetchActivityLogs(params: ActivityLogQueryParams, signal?: AbortSignal): Promise<ActivityLogPage> {
  const body = await apiJson<{ data?: unknown; meta?: Partial<ActivityLogPage["meta"]> }>("/activity-logs", {
    params,
    signal,
  });
  const data = normalizeList(body?.data);
  return {
    data,
    meta: {
      page: body?.meta?.page ?? params.page ?? 1,
      per_page: body?.meta?.per_page ?? params.per_page ?? 25,
      total: body?.meta?.total ?? data.length,
      total_exact: body?.meta?.total_exact ?? true,
    },
  };
}

/** Paginated history from `GET /api/v1/activity-logs`; the key holds every filter. */
export function useActivityLogHistory(params: ActivityLogQueryParams, options: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: ["activity-logs", params],
    queryFn: ({ signal }) => fetchActivityLogs(params, signal),
    placeholderData: keepPreviousData,
    enabled: options.enabled ?? true,
  });
}

/**
 * Histogram buckets. The API's exact bucket shape is not fixed yet, so this accepts
 * `{start|bucket|timestamp, end?, counts:{level:n}}`, flat `{start, debug, info, …}` and
 * `{start, level, count}` rows, wrapped in `data`/`buckets` or bare.
 */
export function normalizeHistogram(body: unknown): HistogramBucket[] {
  const obj = body as Record<string, unknown> | unknown[];
  const list = (Array.isArray(obj) ? obj : (obj?.buckets ?? obj?.data ?? [])) as Record<string, unknown>[];
  const byStart = new Map<string, HistogramBucket>();
  for (const item of list) {
    const start = String(item.start ?? item.bucket ?? item.timestamp ?? item.from ?? "");
    if (!start) continue;
    let bucket = byStart.get(start);
    if (!bucket) {
      bucket = {
        start,
        end: String(item.end ?? item.to ?? ""),
        counts: { debug: 0, info: 0, warn: 0, error: 0 },
        total: 0,
      };
      byStart.set(start, bucket);
    }
    const counts = (item.counts ?? item.levels ?? item) as Record<string, unknown>;
    if (typeof item.level === "string" && item.count != null) {
      const level = item.level as ActivityLogLevel;
      if (level in bucket.counts) bucket.counts[level] += Number(item.count) || 0;
    } else {
      for (const level of ACTIVITY_LOG_LEVELS) bucket.counts[level] += Number(counts[level] ?? 0) || 0;
    }
  }
  const buckets = [...byStart.values()].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  buckets.forEach((b, i) => {
    b.total = ACTIVITY_LOG_LEVELS.reduce((n, l) => n + b.counts[l], 0);
    if (!b.end) b.end = buckets[i + 1]?.start ?? b.start;
  });
  return buckets;
}

export function useActivityLogHistogram(params: ActivityLogQueryParams, buckets = 60) {
  const { page: _p, per_page: _pp, ...filters } = params;
  return useQuery({
    queryKey: ["activity-logs", "histogram", filters, buckets],
    queryFn: async ({ signal }) =>
      normalizeHistogram(await apiJson<unknown>("/activity-logs/histogram", { params: { ...filters, buckets }, signal })),
    placeholderData: keepPreviousData,
  });
}

/** `{data:[…]}`, a bare array, or `{before, entry, after}`: returned oldest first. */
export function normalizeEntryList(body: unknown): ActivityLogEntry[] {
  if (Array.isArray(body)) return normalizeList(body);
  const obj = (body ?? {}) as Record<string, unknown>;
  if (Array.isArray(obj.data)) return normalizeList(obj.data);
  if (Array.isArray(obj.entries)) return normalizeList(obj.entries);
  if (obj.entry || obj.before || obj.after) {
    return [
      ...normalizeList(obj.before),
      ...(obj.entry ? normalizeList([obj.entry]) : []),
      ...normalizeList(obj.after),
    ];
  }
  return [];
}

const byTimeThenId = (a: ActivityLogEntry, b: ActivityLogEntry) =>
  a.timestamp === b.timestamp ? (a.id ?? 0) - (b.id ?? 0) : a.timestamp < b.timestamp ? -1 : 1;

export function useActivityLogContext(id: number | null, before = 25, after = 25) {
  return useQuery({
    queryKey: ["activity-logs", "context", id, before, after],
    queryFn: async ({ signal }) =>
      normalizeEntryList(await apiJson<unknown>(`/activity-logs/${id}/context`, { params: { before, after }, signal })).sort(
        byTimeThenId,
      ),
    enabled: id != null,
  });
}

export function useTrace(traceId: string | null) {
  return useQuery({
    queryKey: ["traces", traceId],
    queryFn: async ({ signal }) =>
      normalizeEntryList(await apiJson<unknown>(`/traces/${encodeURIComponent(traceId ?? "")}`, { signal })).sort(
        byTimeThenId,
      ),
    enabled: !!traceId,
  });
}

/** Cache key of one full entry; outside `["activity-logs", …]` so list invalidations leave it alone. */
export const fullEntryQueryKey = (id: number | null) => ["activity-log-entry", id] as const;

/** `GET /api/v1/activity-logs/{id}`: the entry as stored, never shortened. */
export async function fetchFullEntry(id: number, signal?: AbortSignal): Promise<ActivityLogEntry> {
  const body = await apiJson<{ data?: unknown }>(`/activity-logs/${id}`, { signal });
  if (!body?.data || typeof body.data !== "object") throw new Error(`The server sent no entry for #${id}`);
  return normalizeEntry(body.data as Record<string, unknown>);
}

/**
 * The full version of a shortened entry. It is never fetched by itself (it can be megabytes): the
 * caller starts it with `refetch()` when the user asks. A disabled query still returns what the
 * cache holds, so a row collapsed and expanded again shows the full entry without a new request;
 * the cache drops it after the default gcTime once no expanded row shows it.
 */
export function useFullEntry(id: number | null) {
  return useQuery({
    queryKey: fullEntryQueryKey(id),
    queryFn: ({ signal }) => fetchFullEntry(id!, signal),
    enabled: false,
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
    const body = await apiJson<{ data?: unknown; meta?: { has_more?: boolean } }>("/activity-logs", {
      params: { ...filters, per_page: perPage, after_id: cursor },
    });
    const data = normalizeList(body?.data);
    let reachedEnd = false;
    for (const e of data) {
      if (e.id == null) continue;
      if (beforeId != null && e.id >= beforeId) {
        reachedEnd = true;
        break;
      }
      out.push(e);
      cursor = Math.max(cursor, e.id);
    }
    if (reachedEnd || data.length === 0 || body?.meta?.has_more === false || data.length < perPage) {
      return { entries: out, complete: true };
    }
  }
  return { entries: out, complete: false };
}

// --- Export ---

export interface ExportProgress {
  bytes: number;
  /** From Content-Length when the server sends one (a streamed export usually does not). */
  totalBytes: number | null;
}

function filenameFromDisposition(header: string | null, fallback: string): string {
  if (!header) return fallback;
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (star?.[1]) return decodeURIComponent(star[1]);
  const plain = /filename="?([^";]+)"?/i.exec(header);
  return plain?.[1] ?? fallback;
}

/** Streams `GET /activity-logs/export` reporting bytes as they arrive, then saves the file. */
export async function exportActivityLogs(
  params: ActivityLogQueryParams,
  format: ExportFormat,
  onProgress: (p: ExportProgress) => void,
  signal?: AbortSignal,
): Promise<{ filename: string; bytes: number }> {
  const { page: _p, per_page: _pp, ...filters } = params;
  const res = await apiFetch("/activity-logs/export", { params: { ...filters, format }, signal });
  const length = Number(res.headers.get("Content-Length"));
  const totalBytes = Number.isFinite(length) && length > 0 ? length : null;
  const chunks: BlobPart[] = [];
  let bytes = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      bytes += value.byteLength;
      onProgress({ bytes, totalBytes });
    }
  } else {
    const blob = await res.blob();
    chunks.push(blob);
    bytes = blob.size;
    onProgress({ bytes, totalBytes });
  }
  const ext = format === "json" ? "ndjson" : "log";
  const filename = filenameFromDisposition(res.headers.get("Content-Disposition"), `activity-logs.${ext}`);
  const blob = new Blob(chunks, { type: format === "json" ? "application/x-ndjson" : "text/plain" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return { filename, bytes };
}

// --- Admin: settings, purge, ingest tokens ---

export function useActivityLogSettings(enabled = true) {
  return useQuery({
    queryKey: ["admin", "activity-log-settings"],
    queryFn: async ({ signal }) =>
      unwrap<ActivityLogSettings>(await apiJson<unknown>("/admin/activity-logs/settings", { signal })),
    enabled,
  });
}

export function useUpdateActivityLogSettings() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (patch: Partial<ActivityLogSettings>) =>
      unwrap<ActivityLogSettings>(await apiJson<unknown>("/admin/activity-logs/settings", { method: "PUT", body: patch })),
    onSuccess: (settings) => {
      client.setQueryData(["admin", "activity-log-settings"], settings);
      return client.invalidateQueries({ queryKey: ["admin", "activity-log-settings"] });
    },
  });
}

export function usePurgeActivityLogs() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (params: { before: string; level?: ActivityLogLevel }) => {
      const body = await apiJson<unknown>("/admin/activity-logs", { method: "DELETE", params });
      if (typeof body === "number") return body;
      const obj = (unwrap<Record<string, unknown>>(body) ?? {}) as Record<string, unknown>;
      return Number(obj.deleted ?? obj.count ?? obj.purged ?? 0);
    },
    onSuccess: () => client.invalidateQueries({ queryKey: ["activity-logs"] }),
  });
}

export function useIngestTokens() {
  return useQuery({
    queryKey: ["admin", "ingest-tokens"],
    queryFn: async ({ signal }) => {
      const body = await apiJson<unknown>("/admin/ingest-tokens", { signal });
      const list = Array.isArray(body) ? body : ((body as { data?: unknown })?.data ?? []);
      return list as IngestToken[];
    },
  });
}

export function useCreateIngestToken() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (name: string) =>
      unwrap<CreatedIngestToken>(await apiJson<unknown>("/admin/ingest-tokens", { method: "POST", body: { name } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["admin", "ingest-tokens"] }),
  });
}

export function useRevokeIngestToken() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: IngestToken["id"]) =>
      apiJson<unknown>(`/admin/ingest-tokens/${encodeURIComponent(String(id))}`, { method: "DELETE" }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["admin", "ingest-tokens"] }),
  });
}
