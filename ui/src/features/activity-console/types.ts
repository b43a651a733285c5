/**
 * The console's names for the API's wire types. They are aliases of the types generated from the
 * server's OpenAPI document (src/api/schema.ts, `npm run gen:api`), so that a change in the contract
 * fails typecheck here rather than showing up as a wrong guess at run time. What the document does
 * not describe yet is a narrow hand-written type marked TODO(openapi) with the component to use.
 */
import type { components, paths } from "../../api/schema";

type Schemas = components["schemas"];
type QueryOf<Operation> = Operation extends { parameters: { query?: infer Query } } ? NonNullable<Query> : never;

/**
 * `Optional` stays optional, every other property is required: the server always sends them, but
 * the current document marks no property of its components required.
 * TODO(openapi): drop once the document lists `required` (ActivityEntry, IngestToken, Settings).
 */
type AsSent<T, Optional extends keyof T = never> = Required<Omit<T, Optional>> & Pick<T, Optional>;

/**
 * One entry as the list views and the live tail send it. `truncated` and `message_length` are
 * present only when the server shortened the entry for display; the whole entry comes from
 * `GET /api/v1/activity-logs/{id}`. TODO(openapi): ActivityEntry (the current document's Entry).
 */
export type ActivityLogEntry = AsSent<Schemas["Entry"], "truncated" | "message_length">;
export type ActivityLogLevel = ActivityLogEntry["level"];
export type ActivityLogSource = ActivityLogEntry["source"];
/** The Activity view shows "curated" entries; the Debug view ("verbose") shows every category. */
export type ActivityLogMode = ActivityLogEntry["category"];

/**
 * The members of a generated string union, in the UI's display order. Typecheck fails when the
 * list misses a member of the union or names a value the contract does not have.
 */
const everyMemberOf =
  <Union extends string>() =>
  <const List extends readonly Union[]>(
    list: List & ([Union] extends [List[number]] ? unknown : { missing: Exclude<Union, List[number]> }),
  ): List =>
    list;

export const ACTIVITY_LOG_LEVELS = everyMemberOf<ActivityLogLevel>()(["debug", "info", "warn", "error"]);
export const ACTIVITY_LOG_SOURCES = everyMemberOf<ActivityLogSource>()(["api", "comfyui", "worker", "agent", "pipeline"]);

export interface EntityFilter {
  type?: string;
  id?: number;
}

/** Query parameters of GET /api/v1/activity-logs (export and histogram take the same filters). */
export type ActivityLogQueryParams = QueryOf<paths["/api/v1/activity-logs"]["get"]>;
export type ExportFormat = NonNullable<QueryOf<paths["/api/v1/activity-logs/export"]["get"]>["format"]>;
export type PurgeQuery = QueryOf<paths["/api/v1/admin/activity-logs"]["delete"]>;

/** TODO(openapi): LogPage (the document's EntryList leaves `meta` free-form). */
export interface ActivityLogPage {
  data: ActivityLogEntry[];
  meta: {
    page: number;
    per_page: number;
    total: number;
    /** false when `total` is a lower bound: the API stops counting at 10,000 or after a time budget */
    total_exact: boolean;
  };
}

/** TODO(openapi): LogPage. A cursor slice (`after_id`), oldest first. */
export interface ActivityLogSlice {
  data: ActivityLogEntry[];
  meta: { has_more: boolean };
}

/** Context and trace responses; their `meta` is not read. TODO(openapi): ActivityEntry (then EntryList). */
export interface ActivityLogList {
  data: ActivityLogEntry[];
}

/** TODO(openapi): Histogram (the document describes the response inline, with no required property). */
export interface Histogram {
  data: HistogramBucket[];
}

export interface HistogramBucket {
  /** RFC 3339; buckets are equal and contiguous over [from, to) */
  start: string;
  end: string;
  total: number;
  counts: Record<ActivityLogLevel, number>;
}

/** TODO(openapi): PurgeResult */
export interface PurgeResult {
  deleted: number;
}

export type ActivityLogSettings = AsSent<Schemas["Settings"]>;
export type ActivityLogSettingsUpdate = Schemas["SettingsUpdate"];

export type IngestToken = AsSent<Schemas["IngestToken"], "token">;
/** The creating response is the only one with the secret. */
export type CreatedIngestToken = AsSent<Schemas["IngestToken"]>;

// --- WebSocket live tail ---

/**
 * The server's live-tail filter. `null` clears a field: `update_filter` is a partial change on the
 * server (absent fields stay), so every field is always sent. `mode: null` means every category,
 * which is what the console's Debug mode shows; an empty `levels`/`sources` list means "any".
 * TODO(openapi): LiveClientMessage
 */
export interface StreamFilter {
  levels: ActivityLogLevel[];
  sources: ActivityLogSource[];
  mode: "curated" | null;
  entity_type: string | null;
  entity_id: number | null;
  search: string | null;
}

/** TODO(openapi): LiveClientMessage */
export type ClientMessage =
  | { action: "auth"; token: string }
  | ({ action: "subscribe"; after_id?: number } & StreamFilter)
  | ({ action: "update_filter" } & StreamFilter);

/** TODO(openapi): LiveServerMessage */
export type ServerMessage =
  | { type: "subscribed" }
  | { type: "entries"; entries: ActivityLogEntry[] }
  | { type: "lagged"; skipped: number }
  | { type: "error"; message: string };

export type ConnectionStatus = "idle" | "connecting" | "connected" | "disconnected";
