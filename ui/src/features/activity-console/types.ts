/** Types mirroring the backend's JSON (collector/model.py `ActivityRow.to_dict()` and issue 3's API). */

export const ACTIVITY_LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type ActivityLogLevel = (typeof ACTIVITY_LOG_LEVELS)[number];

export const ACTIVITY_LOG_SOURCES = ["api", "comfyui", "worker", "agent", "pipeline"] as const;
export type ActivityLogSource = (typeof ACTIVITY_LOG_SOURCES)[number];

export type ActivityLogCategory = "curated" | "verbose";

/** Stream/REST mode: "curated" is the Activity view, "verbose" the Debug view (everything). */
export type ActivityLogMode = "curated" | "verbose";

export interface ActivityLogEntry {
  /** Assigned by the batch writer; the stream's resume cursor. */
  id: number | null;
  /** RFC 3339 UTC with microseconds, e.g. 2026-11-26T05:30:46.123456Z */
  timestamp: string;
  level: ActivityLogLevel;
  source: ActivityLogSource;
  message: string;
  category: ActivityLogCategory;
  fields: Record<string, unknown>;
  entity_type: string | null;
  entity_id: number | null;
  user_id: number | null;
  job_id: number | null;
  project_id: number | null;
  trace_id: string | null;
  span_id: string | null;
  trace_flags: number | null;
  severity_number: number;
  severity_text: string | null;
  service_name: string | null;
  event_name: string | null;
  resource: Record<string, unknown>;
  scope_name: string | null;
  scope_version: string | null;
  /**
   * Present (and true) only when the server shortened the entry for a list view (live tail, history,
   * context, trace): message, long `fields`/`resource` values or key lists were cut. The full entry
   * comes from `GET /api/v1/activity-logs/{id}`.
   */
  truncated?: true;
  /** Characters in the full message; sent alongside `truncated`. */
  message_length?: number;
}

export interface EntityFilter {
  type?: string;
  id?: number;
}

/** Query parameters of GET /api/v1/activity-logs (and export/histogram, which take the same filters). */
export interface ActivityLogQueryParams {
  level?: ActivityLogLevel[];
  source?: ActivityLogSource[];
  mode?: ActivityLogMode;
  entity_type?: string;
  entity_id?: number;
  job_id?: number;
  user_id?: number;
  project_id?: number;
  trace_id?: string;
  /** RFC 3339 */
  from?: string;
  /** RFC 3339 */
  to?: string;
  search?: string;
  page?: number;
  per_page?: number;
  before_id?: number;
  after_id?: number;
}

export interface PageMeta {
  page: number;
  per_page: number;
  total: number;
  /** false when `total` is a lower bound: the API stops counting at 10,000 or after a time budget */
  total_exact: boolean;
}

export interface ActivityLogPage {
  data: ActivityLogEntry[];
  meta: PageMeta;
}

export interface HistogramBucket {
  /** Bucket start, RFC 3339 */
  start: string;
  /** Bucket end, RFC 3339 (derived from the next bucket when the API omits it) */
  end: string;
  counts: Record<ActivityLogLevel, number>;
  total: number;
}

export interface ActivityLogSettings {
  retention_days_debug: number;
  retention_days_info: number;
  retention_days_warn: number;
  retention_days_error: number;
  batch_size: number;
  flush_interval_ms: number;
}

export interface IngestToken {
  id: number | string;
  name: string;
  created_at?: string | null;
  last_used_at?: string | null;
  revoked_at?: string | null;
  /** A short non-secret prefix to tell tokens apart. */
  token_prefix?: string | null;
}

export interface CreatedIngestToken extends IngestToken {
  /** The secret, returned only once at creation. */
  token: string;
}

export type ExportFormat = "json" | "text";

// --- WebSocket protocol (issue 3 item 5) ---

/**
 * The server's live-tail filter. `null` clears a field: `update_filter` is a partial change on the
 * server (absent fields stay), so every field is always sent. `mode: null` means every category,
 * which is what the console's Debug mode shows; an empty `levels`/`sources` list means "any".
 */
export interface StreamFilter {
  levels: ActivityLogLevel[];
  sources: ActivityLogSource[];
  mode: "curated" | null;
  entity_type: string | null;
  entity_id: number | null;
  search: string | null;
}

export type ClientMessage =
  | { action: "auth"; token: string }
  | ({ action: "subscribe"; after_id?: number } & StreamFilter)
  | ({ action: "update_filter" } & StreamFilter);

export type ServerMessage =
  | { type: "subscribed" }
  | { type: "entries"; entries: ActivityLogEntry[] }
  | ({ type: "entry" } & ActivityLogEntry)
  | { type: "lagged"; skipped: number }
  | { type: "error"; message: string };

export type ConnectionStatus = "idle" | "connecting" | "connected" | "disconnected";
