/**
 * The console's names for the API's wire types. They are aliases of the types generated from the
 * server's OpenAPI document (src/api/schema.ts, `npm run gen:api`), so that a change in the contract
 * fails typecheck here rather than showing up as a wrong guess at run time.
 */
import type { components, paths } from "../../api/schema";

type Schemas = components["schemas"];
type QueryOf<Operation> = Operation extends { parameters: { query?: infer Query } } ? NonNullable<Query> : never;

/**
 * One entry as the list views and the live tail send it. `truncated` and `message_length` are
 * present only when the server shortened the entry for display; the whole entry comes from
 * `GET /api/v1/activity-logs/{id}`.
 */
export type ActivityLogEntry = Schemas["ActivityEntry"];
export type ActivityLogLevel = Schemas["Level"];
export type ActivityLogSource = Schemas["Source"];
/** The Activity view shows "curated" entries; the Debug view ("verbose") shows every category. */
export type ActivityLogMode = Schemas["Category"];

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

/**
 * `GET /api/v1/activity-logs` with `page`/`per_page`: a numbered page. `meta.total_exact` is false
 * when `total` is a lower bound (the API stops counting at 10,000 or after a time budget).
 */
export type ActivityLogPage = Omit<Schemas["LogPage"], "meta"> & { meta: Schemas["PageMeta"] };
/** `GET /api/v1/activity-logs` with `before_id`: a cursor slice, newest first. */
export type ActivityLogBeforeSlice = Omit<Schemas["LogPage"], "meta"> & { meta: Schemas["BeforeCursorMeta"] };
/** `GET /api/v1/activity-logs` with `after_id`: a cursor slice, oldest first. */
export type ActivityLogSlice = Omit<Schemas["LogPage"], "meta"> & { meta: Schemas["AfterCursorMeta"] };
/** `GET /api/v1/activity-logs/{id}`: the entry as stored, never shortened. */
export type ActivityLogEntryDetail = Schemas["EntryDetail"];
/** `GET /api/v1/activity-logs/{id}/context`. */
export type ActivityLogContext = Schemas["EntryContext"];
/** `GET /api/v1/traces/{trace_id}`. */
export type TraceEntries = Schemas["TraceEntries"];

export type Histogram = Schemas["Histogram"];
/** Buckets are equal and contiguous over [from, to); `start` and `end` are RFC 3339. */
export type HistogramBucket = Schemas["HistogramBucket"];

export type PurgeResult = Schemas["PurgeResult"];
/** An export's or a purge's row count: exact, or the planner's estimate when counting would take too long. */
export type RowEstimate = Schemas["RowEstimate"];
/** `POST /api/v1/activity-logs/export-links`: a one-time, 60 s download address. */
export type ExportLink = Schemas["ExportLink"];

export type ActivityLogSettings = Schemas["Settings"];
export type ActivityLogSettingsUpdate = Schemas["SettingsUpdate"];

export type IngestToken = Schemas["IngestToken"];
export type IngestTokenList = Schemas["IngestTokenList"];
/** The creating response is the only one with the secret. */
export type CreatedIngestToken = Schemas["CreatedIngestToken"];
/** `DELETE /api/v1/admin/ingest-tokens/{id}`. */
export type RevokedIngestToken = Schemas["RevokedIngestToken"];

/** `GET /api/v1/ingest/status`: whether records reach PostgreSQL as they arrive, and if not, why. */
export type IngestStatus = Schemas["IngestStatus"];
export type IngestState = IngestStatus["state"];

// --- WebSocket live tail ---

/**
 * The part of the live-tail filter (the contract's LogFilterFields) the console sets.
 * `update_filter` is a partial change on the server (absent fields stay, `null` clears one), so
 * every one of these fields is always sent, which is why they are required here. `mode: null`
 * means every category, which is what the console's Debug mode shows (the API's "verbose" means
 * verbose entries only); an empty `levels`/`sources` list means "any"; `q: null` is no query.
 */
export type StreamFilter = Required<Pick<Schemas["LogFilterFields"], "entity_type" | "entity_id" | "search" | "q">> & {
  levels: ActivityLogLevel[];
  sources: ActivityLogSource[];
  mode: Extract<ActivityLogMode, "curated"> | null;
};

/** A message the console sends on the live tail: auth, subscribe or update_filter. */
export type ClientMessage = Schemas["LiveClientMessage"];
/** A message the live tail sends: subscribed, entries, lagged or error. */
export type ServerMessage = Schemas["LiveServerMessage"];
export type EntriesMessage = Schemas["LiveEntriesMessage"];
export type LaggedMessage = Schemas["LiveLaggedMessage"];
export type SubscribedMessage = Schemas["LiveSubscribedMessage"];

export type ConnectionStatus = "idle" | "connecting" | "connected" | "disconnected";
