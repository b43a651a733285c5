// A stand-in for the aiohttp API (the contract in src/api/openapi.json) serving ui/dist, for
// screenshots and benchmarks without a database: `npm run build && node scripts/mock-api.mjs [port]`.
// Any email/password signs in; "creator@…" gets the creator role. Entries are generated.
// Every JSON response follows the response schema the document declares for its path, method and
// status (src/api/__tests__/mock-api.test.ts checks that); bounds come from the document itself.
// In-process: `startMockApi(port)` (port 0: any free one) returns the listening-to-be http.Server;
// closing it also ends the live-tail connections.
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";

// Paths from this file's own (not `new URL(…, import.meta.url)`, which Vite rewrites when a test imports it).
const scripts = dirname(fileURLToPath(import.meta.url));
const dist = join(scripts, "..", "dist");

const apiDocument = JSON.parse(readFileSync(join(scripts, "..", "src", "api", "openapi.json"), "utf8"));
const schemas = apiDocument.components.schemas;
const resolveRef = (schema) => (schema.$ref ? resolveRef(schemas[schema.$ref.split("/").pop()]) : schema);
/** The values the API description allows for a property of an entry. */
const entryEnum = (property) => resolveRef(schemas.ActivityEntry.properties[property]).enum;
const LEVELS = entryEnum("level");
const SOURCES = entryEnum("source");
/** The live tail's filter fields, as its `subscribed` message lists them. */
const FILTER_FIELDS = Object.keys(schemas.LogFilterFields.properties);
/** When the mock's users were created (the document requires `created_at`). */
const USERS_CREATED_AT = new Date(Date.now() - 86400e3 * 30).toISOString();
const TOKEN_LIFETIME_S = 12 * 3600;
/** GET /api/v1/ingest/status in each state the mock can be started in (`ingest`, $MOCK_INGEST), to look at the console's banner. */
const INGEST_STATUSES = {
  direct: { state: "direct", message: "", database_unavailable_s: 0, spooled_records: 0, spooled_bytes: 0, spool_enabled: true },
  spooling: { state: "spooling", message: "PostgreSQL unavailable for 42 s; 18,300 records spooled, 210 MB", database_unavailable_s: 42, spooled_records: 18300, spooled_bytes: 210e6, spool_enabled: true },
  replaying: { state: "replaying", message: "9,100 records spooled, 104 MB; replaying the spool", database_unavailable_s: 0, spooled_records: 9100, spooled_bytes: 104e6, spool_enabled: true },
  refusing: { state: "refusing", message: "PostgreSQL unavailable for 42 s; ingest answers retry-later (no spool)", database_unavailable_s: 42, spooled_records: 0, spooled_bytes: 0, spool_enabled: false },
  failed: { state: "failed", message: "the batch writer stopped unexpectedly; restart the server (the spool keeps what arrives meanwhile)", database_unavailable_s: 0, spooled_records: 0, spooled_bytes: 0, spool_enabled: true },
};

const MESSAGES = {
  api: ["POST /api/v1/jobs 201 in 38 ms", "user signed in", "GET /api/v1/projects/7 200 in 4 ms", "WebSocket client connected"],
  comfyui: ["prompt queued on instance gpu-2", "KSampler step 20/30", "execution finished in 12.4 s", "model checkpoint loaded: sdxl_base_1.0"],
  worker: ["job 4121 started", "job 4121 rendering frame 118/240", "job 4120 finished", "uploading outputs to storage (48.2 MB)"],
  agent: ["heartbeat from gpu-2 (load 0.73)", "disk usage 81% on /scratch", "GPU temperature 79 °C", "agent restarted after update"],
  pipeline: ["stage 'denoise' completed", "pipeline run 88 queued", "retrying stage 'upscale' (attempt 2)", "artifact published: shot_012_v3.exr"],
};
const withoutMessages = SOURCES.filter((source) => !MESSAGES[source]);
if (withoutMessages.length) throw new Error(`the mock has no messages for the source(s) ${withoutMessages.join(", ")}`);
const hex = (n) => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join("");

// The server shortens entries in the live tail, list, context and trace responses: the message to
// 8,192 characters; in fields/resource, strings to 1,024 characters, objects/arrays whose JSON is
// longer than 1,024 to the start of that JSON, and maps to their first 50 keys.
const MESSAGE_LIMIT = 8192;
const VALUE_LIMIT = 1024;
const KEY_LIMIT = 50;
const cutChars = (text, limit) => [...text].slice(0, limit).join("");

function shortenMap(map) {
  const keys = Object.keys(map);
  let cut = keys.length > KEY_LIMIT;
  const out = {};
  for (const key of keys.slice(0, KEY_LIMIT)) {
    let value = map[key];
    if (typeof value === "string" && value.length > VALUE_LIMIT) {
      const shortened = cutChars(value, VALUE_LIMIT);
      cut ||= shortened !== value;
      value = shortened;
    } else if (value !== null && typeof value === "object") {
      const json = JSON.stringify(value);
      if (json.length > VALUE_LIMIT) {
        value = cutChars(json, VALUE_LIMIT);
        cut = true;
      }
    }
    out[key] = value;
  }
  return cut ? out : map;
}

/** The entry as list views carry it; the same object when nothing needed cutting. */
function forDisplay(entry) {
  const message = entry.message.length > MESSAGE_LIMIT ? cutChars(entry.message, MESSAGE_LIMIT) : entry.message;
  const fields = shortenMap(entry.fields);
  const resource = shortenMap(entry.resource);
  if (message === entry.message && fields === entry.fields && resource === entry.resource) return entry;
  return { ...entry, message, fields, resource, truncated: true, message_length: [...entry.message].length };
}

const PY_FILES = ["worker/runner.py", "worker/render.py", "pipeline/stages.py", "comfy/execution.py", "comfy/nodes.py", "torch/nn/modules/module.py"];
const PY_FUNCS = ["run_job", "render_frame", "execute", "recursive_execute", "sample", "forward", "_call_impl", "decode"];

/** A worker crash with a stack trace and captured stderr far beyond the list views' limits. */
function makeCrashDetails(id) {
  const frames = [];
  for (let i = 0; i < 400; i++) {
    const file = PY_FILES[(id + i) % PY_FILES.length];
    const func = PY_FUNCS[(id * 7 + i) % PY_FUNCS.length];
    frames.push(`  File "/opt/render/${file}", line ${40 + ((id + i * 13) % 900)}, in ${func}\n    result = ${func}(ctx, frame=${i}, attempt=${1 + (i % 3)})`);
  }
  const message = [
    `job ${4100 + (id % 30)} failed: RuntimeError: CUDA error: an illegal memory access was encountered`,
    "Traceback (most recent call last):",
    ...frames,
    "RuntimeError: CUDA error: an illegal memory access was encountered",
  ].join("\n");
  const stderr = Array.from({ length: 120 }, (_, i) => `[stderr ${String(i).padStart(3, "0")}] cudaMemcpyAsync returned 700 on stream ${i % 4}`).join("\n");
  const locals = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`tensor_${i}`, { shape: [1, 4, 128, 128], dtype: "float16", device: "cuda:0" }]));
  return {
    level: "error", source: "worker", category: "curated", severity_number: 17, severity_text: "ERROR",
    service_name: "worker", resource: { "service.name": "worker" },
    message, fields: { exit_code: 1, host: "gpu-2", stderr, locals },
  };
}

/**
 * Generated entries: `stored` as list views serve them (shortened like the server does, see
 * forDisplay), `fullById` the full version of every stored entry that forDisplay shortened, for
 * GET /api/v1/activity-logs/{id}. Starts with 600 entries of the last hour.
 */
function createEntryStore() {
  let nextId = 1;
  const stored = [];
  const fullById = new Map();
  const traces = Array.from({ length: 6 }, () => hex(32));

  function makeEntry(ts = new Date()) {
    const source = SOURCES[Math.floor(Math.random() * SOURCES.length)];
    const r = Math.random();
    const level = r < 0.3 ? "debug" : r < 0.8 ? "info" : r < 0.93 ? "warn" : "error";
    const msgs = MESSAGES[source];
    let message = msgs[Math.floor(Math.random() * msgs.length)];
    if (level === "error") message = source === "worker" ? "job 4119 failed: CUDA out of memory (tried to allocate 2.0 GiB)" : `${message} — failed`;
    const withTrace = Math.random() < 0.5;
    const entity = Math.random() < 0.4;
    const id = nextId++;
    const entry = {
      id,
      timestamp: ts.toISOString().replace("Z", "") + String(Math.floor(Math.random() * 1000)).padStart(3, "0") + "Z",
      level, source, message,
      category: level === "debug" ? "verbose" : "curated",
      fields: Math.random() < 0.6 ? { duration_ms: Math.round(Math.random() * 900), host: "gpu-2" } : {},
      entity_type: entity ? "job" : null, entity_id: entity ? 4100 + Math.floor(Math.random() * 30) : null,
      user_id: null, job_id: entity ? 4121 : null, project_id: null,
      trace_id: withTrace ? traces[Math.floor(Math.random() * traces.length)] : null,
      span_id: withTrace ? hex(16) : null, trace_flags: withTrace ? 1 : null,
      severity_number: { debug: 5, info: 9, warn: 13, error: 17 }[level], severity_text: level.toUpperCase(),
      service_name: source, event_name: null, resource: { "service.name": source }, scope_name: "mock", scope_version: null,
      admin_only: false,
    };
    // Every 250th entry is a crash too large for list views: it is served shortened, the full one by id.
    if (id % 250 === 0) Object.assign(entry, makeCrashDetails(id));
    const display = forDisplay(entry);
    if (display !== entry) fullById.set(entry.id, entry);
    stored.push(display);
    if (stored.length > 20000) fullById.delete(stored.shift().id);
    return display;
  }
  for (let i = 600; i > 0; i--) makeEntry(new Date(Date.now() - i * 6000));
  return {
    stored, fullById, makeEntry,
    get nextId() { return nextId; },
  };
}

function matches(e, q) {
  const levels = q.getAll("level").flatMap((v) => v.split(","));
  const sources = q.getAll("source").flatMap((v) => v.split(","));
  if (levels.length && !levels.includes(e.level)) return false;
  if (sources.length && !sources.includes(e.source)) return false;
  if (q.get("mode") && e.category !== q.get("mode")) return false;
  if (q.get("search") && !e.message.toLowerCase().includes(q.get("search").toLowerCase())) return false;
  if (q.get("trace_id") && e.trace_id !== q.get("trace_id")) return false;
  if (q.get("entity_type") && e.entity_type !== q.get("entity_type")) return false;
  if (q.get("from") && e.timestamp < q.get("from")) return false;
  if (q.get("to") && e.timestamp >= q.get("to")) return false;
  return true;
}

/** An error answered as the document's `Error` body. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
const badRequest = (message) => new ApiError(400, "bad_request", message);
const notFound = (message) => new ApiError(404, "not_found", message);

/** Integer query parameter `name` of `GET path`, within the bounds the document declares; its default when absent. */
function intParam(q, path, name) {
  const parameter = apiDocument.paths[path].get.parameters.find((p) => p.name === name && p.in === "query");
  if (!parameter) throw new Error(`the document declares no query parameter ${name} for GET ${path}`);
  const { minimum, maximum, default: fallback } = parameter.schema;
  const raw = q.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^-?\d+$/.test(raw)) throw badRequest(`${name} must be an integer`);
  const value = Number(raw);
  if (minimum !== undefined && value < minimum) throw badRequest(`${name} must be at least ${minimum}`);
  if (maximum !== undefined && value > maximum) throw badRequest(`${name} must be at most ${maximum}`);
  return value;
}

/** A settings update's problems, as the server words pydantic's, with the bounds the document declares. */
function settingsProblems(body) {
  const properties = schemas.SettingsUpdate.properties;
  if (Object.keys(body).length === 0) return ["body: Value error, give at least one setting to change"];
  const problems = [];
  for (const [key, value] of Object.entries(body)) {
    const schema = properties[key];
    if (!schema) problems.push(`${key}: Extra inputs are not permitted`);
    else if (!Number.isInteger(value)) problems.push(`${key}: Input should be a valid integer`);
    else if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${key}: Input should be greater than or equal to ${schema.minimum}`);
    else if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${key}: Input should be less than or equal to ${schema.maximum}`);
  }
  return problems;
}

/** A string field of a request body within the lengths the document's schema for it declares. */
function stringProblem(body, schemaName, key) {
  const { minLength = 0, maxLength = Infinity } = schemas[schemaName].properties[key];
  const value = body[key];
  if (value === undefined) return `${key}: Field required`;
  if (typeof value !== "string") return `${key}: Input should be a valid string`;
  if (value.length < minLength) return `${key}: String should have at least ${minLength} character${minLength === 1 ? "" : "s"}`;
  if (value.length > maxLength) return `${key}: String should have at most ${maxLength} characters`;
  return null;
}

const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};
const error = (res, status, code, message) => json(res, status, { error: { code, message } });
/** The request's JSON object body ({} when empty). */
const readBody = (req) =>
  new Promise((resolve, reject) => {
    let b = "";
    req.on("data", (c) => (b += c));
    req.on("error", reject);
    req.on("end", () => {
      let body;
      try {
        body = b ? JSON.parse(b) : {};
      } catch {
        return reject(badRequest("the request body is not valid JSON"));
      }
      if (body === null || typeof body !== "object" || Array.isArray(body)) return reject(badRequest("the request body must be a JSON object"));
      resolve(body);
    });
  });

/**
 * Starts the mock on 127.0.0.1:`port` (0: a free one; `server.address().port` tells which, once it
 * is listening) with its own entries, settings and tokens. `rate`: entries per second on the live tail;
 * `ingest`: the state GET /api/v1/ingest/status reports (a key of INGEST_STATUSES).
 * Closing the returned server also ends its live-tail connections.
 */
export function startMockApi(port = 4173, { rate = Number(process.env.MOCK_RATE ?? 25), ingest = process.env.MOCK_INGEST ?? "direct" } = {}) {
  const ingestStatus = INGEST_STATUSES[ingest];
  if (!ingestStatus) throw new Error(`unknown ingest state ${ingest}; one of ${Object.keys(INGEST_STATUSES).join(", ")}`);
  const entries = createEntryStore();
  const { stored, fullById, makeEntry } = entries;
  let settings = { retention_days_debug: 3, retention_days_info: 14, retention_days_warn: 30, retention_days_error: 90, batch_size: 500, flush_interval_ms: 1000, updated_at: null };
  let tokens = [{ id: 1, name: "worker-eu-1", token_prefix: "act_3f9a", created_at: new Date(Date.now() - 86400e3 * 9).toISOString(), last_used_at: new Date().toISOString(), revoked_at: null }];

  const links = new Map();

  function streamExport(res, q) {
    const rows = stored.filter((e) => matches(e, q));
    const fmt = q.get("format") ?? "json";
    res.writeHead(200, { "Content-Type": fmt === "json" ? "application/x-ndjson" : "text/plain", "Content-Disposition": `attachment; filename="activity-logs.${fmt === "json" ? "ndjson" : "log"}"` });
    for (const shortened of rows) {
      const e = fullById.get(shortened.id) ?? shortened;
      res.write(fmt === "json" ? JSON.stringify(e) + "\n" : `${e.timestamp} ${e.level} ${e.source} ${e.message}\n`);
    }
    return res.end();
  }

  async function api(req, res, p, q) {
    if (p === "/api/v1/auth/login" && req.method === "POST") {
      const body = await readBody(req);
      const problems = ["email", "password"].map((key) => stringProblem(body, "LoginBody", key)).filter(Boolean);
      if (problems.length) throw badRequest(problems.join("; "));
      const role = body.email.startsWith("creator") ? "creator" : "admin";
      return json(res, 200, {
        token: "mock." + Buffer.from(body.email).toString("base64url"),
        token_type: "Bearer",
        expires_at: Math.floor(Date.now() / 1000) + TOKEN_LIFETIME_S,
        user: { id: 1, email: body.email, role, created_at: USERS_CREATED_AT },
      });
    }
    if (p === "/api/v1/ingest/status" && req.method === "GET") return json(res, 200, ingestStatus);
    const link = /^\/api\/v1\/activity-logs\/export-links\/([^/]+)$/.exec(p);
    if (link && req.method === "GET") {
      const made = links.get(link[1]);
      if (made === null) throw new ApiError(410, "gone", "this export link was already used; start the export again");
      if (!made) throw new ApiError(403, "forbidden", "this is not a valid export link");
      links.set(link[1], null);
      if (made.expires < Date.now()) throw new ApiError(410, "gone", "this export link has expired (links last 60 s); start the export again");
      return streamExport(res, made.query);
    }
    if (!req.headers.authorization) throw new ApiError(401, "unauthenticated", "sign in first");
    const newestFirst = () => stored.filter((e) => matches(e, q)).reverse();
    if (p === "/api/v1/auth/me") return json(res, 200, { user: { id: 1, email: "admin@localhost", role: "admin", created_at: USERS_CREATED_AT, project_ids: [], projects: [] } });
    if (p === "/api/v1/activity-logs") {
      const perPage = intParam(q, p, "per_page");
      const after = intParam(q, p, "after_id");
      if (after !== undefined) {
        const rows = stored.filter((e) => e.id > after && matches(e, q)).slice(0, perPage + 1);
        const data = rows.slice(0, perPage);
        return json(res, 200, { data, meta: { per_page: perPage, has_more: rows.length > perPage, after_id: after, next_after_id: data.at(-1)?.id ?? after } });
      }
      const before = intParam(q, p, "before_id");
      if (before !== undefined) {
        const all = newestFirst();
        const at = all.findIndex((e) => e.id === before);
        const older = at >= 0 ? all.slice(at + 1) : all.filter((e) => e.id < before);
        const data = older.slice(0, perPage);
        const hasMore = older.length > perPage;
        return json(res, 200, { data, meta: { per_page: perPage, has_more: hasMore, before_id: before, next_before_id: hasMore ? data.at(-1).id : null } });
      }
      const all = newestFirst();
      const page = intParam(q, p, "page");
      return json(res, 200, { data: all.slice((page - 1) * perPage, page * perPage), meta: { page, per_page: perPage, total: all.length, total_exact: true } });
    }
    if (p === "/api/v1/activity-logs/histogram") {
      const n = intParam(q, p, "buckets");
      const to = q.get("to") ? Date.parse(q.get("to")) : Date.now();
      const from = q.get("from") ? Date.parse(q.get("from")) : to - 3600e3;
      if (Number.isNaN(from) || Number.isNaN(to)) throw badRequest("from and to must be RFC 3339 timestamps");
      if (to <= from) throw badRequest("from must be before to");
      const width = (to - from) / n;
      const data = Array.from({ length: n }, (_, i) => ({ start: new Date(from + i * width).toISOString(), end: new Date(from + (i + 1) * width).toISOString(), total: 0, counts: Object.fromEntries(LEVELS.map((level) => [level, 0])) }));
      for (const e of stored) {
        if (!matches(e, q)) continue;
        const i = Math.floor((Date.parse(e.timestamp) - from) / width);
        if (i >= 0 && i < n) { data[i].counts[e.level]++; data[i].total++; }
      }
      const meta = { from: new Date(from).toISOString(), to: new Date(to).toISOString(), buckets: n, bucket_seconds: width / 1000 };
      return json(res, 200, { data, meta });
    }
    if (p === "/api/v1/activity-logs/export") return streamExport(res, q);
    if (p === "/api/v1/activity-logs/export/estimate") {
      return json(res, 200, { rows: stored.filter((e) => matches(e, q)).length, exact: true });
    }
    if (p === "/api/v1/activity-logs/export-links" && req.method === "POST") {
      // Like the server's: one-time and short-lived (here a random id remembered with its query).
      const id = hex(24);
      links.set(id, { query: new URLSearchParams(q), expires: Date.now() + 60_000 });
      return json(res, 201, { url: `/api/v1/activity-logs/export-links/${id}`, expires_at: new Date(Date.now() + 60_000).toISOString() });
    }
    let m = /^\/api\/v1\/activity-logs\/(\d+)$/.exec(p);
    if (m) {
      const id = Number(m[1]);
      const entry = fullById.get(id) ?? stored.find((e) => e.id === id);
      if (!entry) throw notFound(`no activity log entry ${id}`);
      return json(res, 200, { data: entry });
    }
    m = /^\/api\/v1\/activity-logs\/(\d+)\/context$/.exec(p);
    if (m) {
      const anchorId = Number(m[1]);
      const i = stored.findIndex((e) => e.id === anchorId);
      if (i < 0) throw notFound(`no activity log entry ${anchorId}`);
      const contextPath = "/api/v1/activity-logs/{log_id}/context";
      const start = Math.max(0, i - intParam(q, contextPath, "before"));
      const end = i + 1 + intParam(q, contextPath, "after");
      const data = stored.slice(start, end);
      return json(res, 200, { data, meta: { anchor_id: anchorId, before: i - start, after: data.length - (i - start) - 1 } });
    }
    m = /^\/api\/v1\/traces\/([^/]+)$/.exec(p);
    if (m) {
      if (!/^[0-9a-fA-F]{32}$/.test(m[1])) throw badRequest("the trace id must be 32 hexadecimal characters");
      const traceId = m[1].toLowerCase();
      // The newest entries up to `limit`, and never more than 200 (the mock's stand-in for the server's size cap).
      const limit = Math.min(200, intParam(q, "/api/v1/traces/{trace_id}", "limit"));
      const all = stored.filter((e) => e.trace_id === traceId);
      const data = all.slice(-limit);
      return json(res, 200, { data, meta: { trace_id: traceId, count: data.length, truncated: all.length > data.length } });
    }
    if (p === "/api/v1/admin/activity-logs/settings") {
      if (req.method === "PUT") {
        const body = await readBody(req);
        const problems = settingsProblems(body);
        if (problems.length) throw badRequest(problems.join("; "));
        settings = { ...settings, ...body, updated_at: new Date().toISOString() };
      }
      return json(res, 200, settings);
    }
    if ((p === "/api/v1/admin/activity-logs" && req.method === "DELETE") || p === "/api/v1/admin/activity-logs/purge-estimate") {
      const before = q.get("before");
      const cutoff = before ? Date.parse(before) : NaN;
      if (Number.isNaN(cutoff)) throw badRequest("before is required (an RFC 3339 timestamp)");
      const asked = q.getAll("level").flatMap((v) => v.split(",")).filter(Boolean);
      const unknown = asked.filter((level) => !LEVELS.includes(level));
      if (unknown.length) throw badRequest(`level: unknown level(s) ${unknown.join(", ")}; one of ${LEVELS.join(", ")}`);
      // Counts what a purge would delete; the mock keeps its entries.
      const byLevel = Object.fromEntries(LEVELS.filter((level) => !asked.length || asked.includes(level)).map((level) => [level, 0]));
      for (const e of stored) if (e.level in byLevel && Date.parse(e.timestamp) < cutoff) byLevel[e.level]++;
      const deleted = Object.values(byLevel).reduce((a, b) => a + b, 0);
      if (p.endsWith("/purge-estimate")) return json(res, 200, { rows: deleted, exact: true });
      return json(res, 200, { deleted, by_level: byLevel, before: new Date(cutoff).toISOString() });
    }
    if (p === "/api/v1/admin/ingest-tokens") {
      if (req.method === "POST") {
        const body = await readBody(req);
        const problem = stringProblem(body, "NewIngestToken", "name");
        if (problem) throw badRequest(problem);
        const t = { id: tokens.length + 1, name: body.name, token_prefix: "act_" + hex(4), created_at: new Date().toISOString(), last_used_at: null, revoked_at: null };
        tokens.push(t);
        return json(res, 201, { ...t, token: t.token_prefix + hex(40) });
      }
      return json(res, 200, { data: tokens });
    }
    m = /^\/api\/v1\/admin\/ingest-tokens\/(\d+)$/.exec(p);
    if (m && req.method === "DELETE") {
      const id = Number(m[1]);
      const token = tokens.find((t) => t.id === id && t.revoked_at === null);
      if (!token) throw notFound(`no active ingest token with id ${id}`);
      tokens = tokens.map((t) => (t === token ? { ...t, revoked_at: new Date().toISOString() } : t));
      return json(res, 200, { id: token.id, name: token.name });
    }
    throw notFound(`no route ${req.method} ${p}`);
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    const p = url.pathname;
    if (p.startsWith("/api/")) {
      try {
        return await api(req, res, p, url.searchParams);
      } catch (e) {
        if (res.headersSent) return res.destroy();
        if (e instanceof ApiError) return error(res, e.status, e.code, e.message);
        console.error(e);
        return error(res, 500, "internal", "the mock failed; see its output");
      }
    }
    // Static files with the client-side-route fallback the aiohttp server will have.
    let file = normalize(join(dist, p));
    if (!file.startsWith(dist) || !existsSync(file) || statSync(file).isDirectory()) file = join(dist, "index.html");
    if (!existsSync(file)) return error(res, 404, "not_found", "no ui/dist: run `npm run build` first");
    const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".map": "application/json" };
    res.writeHead(200, { "Content-Type": types[extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(res);
  });

  const wss = new WebSocketServer({ server, path: "/ws/activity-logs" });
  wss.on("connection", (socket) => {
    let filter = null;
    let authed = false;
    let sentLag = false;
    const send = (message) => socket.send(JSON.stringify(message));
    const q = () => {
      const s = new URLSearchParams();
      for (const l of filter?.levels ?? []) s.append("level", l);
      for (const x of filter?.sources ?? []) s.append("source", x);
      if (filter?.mode) s.set("mode", filter.mode);
      if (filter?.search) s.set("search", filter.search);
      if (filter?.entity_type) s.set("entity_type", filter.entity_type);
      return s;
    };
    socket.on("message", (raw) => {
      let msg;
      try {
        msg = JSON.parse(String(raw));
      } catch {
        return send({ type: "error", message: "the message is not valid JSON" });
      }
      if (msg?.action === "auth") { authed = typeof msg.token === "string" && msg.token !== ""; if (!authed) socket.close(1008); return; }
      if (!authed) return socket.close(1008);
      if (msg?.action === "subscribe" || msg?.action === "update_filter") {
        const { action, after_id, ...rest } = msg;
        const unknown = Object.keys(rest).filter((key) => !FILTER_FIELDS.includes(key));
        if (unknown.length) return send({ type: "error", message: `${unknown.join(", ")}: Extra inputs are not permitted` });
        // The filter in force, every field named (null: unset), as the server describes it.
        const merged = { ...(filter ?? {}), ...rest };
        filter = Object.fromEntries(FILTER_FIELDS.map((key) => [key, merged[key] ?? null]));
        send({ type: "subscribed", filter });
        if (action === "subscribe") {
          const query = q();
          const replay = after_id != null ? stored.filter((e) => e.id > after_id && matches(e, query)) : stored.slice(-150).filter((e) => matches(e, query));
          if (replay.length) send({ type: "entries", entries: replay });
        }
        return;
      }
      send({ type: "error", message: `unknown action ${JSON.stringify(msg?.action ?? null)}` });
    });
    const timer = setInterval(() => {
      if (!filter) return;
      const batch = [];
      for (let i = 0; i < Math.max(1, Math.round(rate / 10)); i++) batch.push(makeEntry());
      const query = q();
      const visible = batch.filter((e) => matches(e, query));
      // Once, play a slow reader: drop a batch and say how many matching entries were skipped (at least one).
      if (!sentLag && entries.nextId > 800 && visible.length) {
        sentLag = true;
        send({ type: "lagged", skipped: visible.length });
        return;
      }
      if (visible.length) send({ type: "entries", entries: visible });
    }, 100);
    socket.on("close", () => clearInterval(timer));
  });

  // Upgraded connections would keep close() waiting: end them first.
  const close = server.close.bind(server);
  server.close = (callback) => {
    for (const socket of wss.clients) socket.terminate();
    wss.close();
    return close(callback);
  };
  server.listen(port, "127.0.0.1");
  return server;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const server = startMockApi(Number(process.argv[2] ?? 4173));
  server.on("listening", () => console.log(`mock API + console on http://127.0.0.1:${server.address().port}`));
}
