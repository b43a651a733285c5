// A stand-in for the aiohttp API (the contract in src/api/openapi.json) serving ui/dist, for
// screenshots and benchmarks without a database: `npm run build && node scripts/mock-api.mjs [port]`.
// Any email/password signs in; "creator@…" gets the creator role. Entries are generated.
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";

const port = Number(process.argv[2] ?? 4173);
const rate = Number(process.env.MOCK_RATE ?? 25); // entries per second on the live tail
const dist = fileURLToPath(new URL("../dist", import.meta.url));

const apiDocument = JSON.parse(readFileSync(new URL("../src/api/openapi.json", import.meta.url), "utf8"));
const resolveRef = (schema) =>
  schema.$ref ? resolveRef(apiDocument.components.schemas[schema.$ref.split("/").pop()]) : schema;
/** The values the API description allows for a property of an entry. */
const entryEnum = (property) => resolveRef(apiDocument.components.schemas.ActivityEntry.properties[property]).enum;
const LEVELS = entryEnum("level");
const SOURCES = entryEnum("source");

const MESSAGES = {
  api: ["POST /api/v1/jobs 201 in 38 ms", "user signed in", "GET /api/v1/projects/7 200 in 4 ms", "WebSocket client connected"],
  comfyui: ["prompt queued on instance gpu-2", "KSampler step 20/30", "execution finished in 12.4 s", "model checkpoint loaded: sdxl_base_1.0"],
  worker: ["job 4121 started", "job 4121 rendering frame 118/240", "job 4120 finished", "uploading outputs to storage (48.2 MB)"],
  agent: ["heartbeat from gpu-2 (load 0.73)", "disk usage 81% on /scratch", "GPU temperature 79 °C", "agent restarted after update"],
  pipeline: ["stage 'denoise' completed", "pipeline run 88 queued", "retrying stage 'upscale' (attempt 2)", "artifact published: shot_012_v3.exr"],
};
const withoutMessages = SOURCES.filter((source) => !MESSAGES[source]);
if (withoutMessages.length) throw new Error(`the mock has no messages for the source(s) ${withoutMessages.join(", ")}`);
let nextId = 1;
/** Entries as list views serve them: shortened like the server does (see forDisplay). */
const stored = [];
/** The full version of every stored entry that forDisplay shortened, for GET /api/v1/activity-logs/{id}. */
const fullById = new Map();
const hex = (n) => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join("");
const traces = Array.from({ length: 6 }, () => hex(32));

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

let settings = { retention_days_debug: 3, retention_days_info: 14, retention_days_warn: 30, retention_days_error: 90, batch_size: 500, flush_interval_ms: 1000, updated_at: null };
let tokens = [{ id: 1, name: "worker-eu-1", token_prefix: "act_3f9a", created_at: new Date(Date.now() - 86400e3 * 9).toISOString(), last_used_at: new Date().toISOString(), revoked_at: null }];

const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};
const error = (res, status, code, message) => json(res, status, { error: { code, message } });
const readBody = (req) => new Promise((resolve) => { let b = ""; req.on("data", (c) => (b += c)); req.on("end", () => resolve(b ? JSON.parse(b) : {})); });

const server = createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const p = url.pathname;
  const q = url.searchParams;
  if (p.startsWith("/api/")) {
    if (p === "/api/v1/auth/login" && req.method === "POST") {
      const body = await readBody(req);
      const role = String(body.email).startsWith("creator") ? "creator" : "admin";
      return json(res, 200, { token: "mock." + Buffer.from(body.email ?? "").toString("base64url"), user: { id: 1, email: body.email, role } });
    }
    if (!req.headers.authorization) return error(res, 401, "unauthorized", "sign in first");
    const newestFirst = () => stored.filter((e) => matches(e, q)).reverse();
    if (p === "/api/v1/auth/me") return json(res, 200, { user: { id: 1, email: "admin@localhost", role: "admin", project_ids: [] } });
    if (p === "/api/v1/activity-logs") {
      const perPage = Number(q.get("per_page") ?? 25);
      if (q.get("after_id")) {
        const after = Number(q.get("after_id"));
        const rows = stored.filter((e) => e.id > after && matches(e, q)).slice(0, perPage + 1);
        return json(res, 200, { data: rows.slice(0, perPage), meta: { per_page: perPage, has_more: rows.length > perPage } });
      }
      const all = newestFirst();
      const page = Number(q.get("page") ?? 1);
      return json(res, 200, { data: all.slice((page - 1) * perPage, page * perPage), meta: { page, per_page: perPage, total: all.length, total_exact: true } });
    }
    if (p === "/api/v1/activity-logs/histogram") {
      const n = Number(q.get("buckets") ?? 60);
      const to = q.get("to") ? Date.parse(q.get("to")) : Date.now();
      const from = q.get("from") ? Date.parse(q.get("from")) : to - 3600e3;
      const width = (to - from) / n;
      const data = Array.from({ length: n }, (_, i) => ({ start: new Date(from + i * width).toISOString(), end: new Date(from + (i + 1) * width).toISOString(), total: 0, counts: Object.fromEntries(LEVELS.map((level) => [level, 0])) }));
      for (const e of stored) {
        if (!matches(e, q)) continue;
        const i = Math.floor((Date.parse(e.timestamp) - from) / width);
        if (i >= 0 && i < n) { data[i].counts[e.level]++; data[i].total++; }
      }
      return json(res, 200, { data, meta: { buckets: n } });
    }
    if (p === "/api/v1/activity-logs/export") {
      const rows = stored.filter((e) => matches(e, q));
      const fmt = q.get("format") ?? "json";
      res.writeHead(200, { "Content-Type": fmt === "json" ? "application/x-ndjson" : "text/plain", "Content-Disposition": `attachment; filename="activity-logs.${fmt === "json" ? "ndjson" : "log"}"` });
      for (const shortened of rows) {
        const e = fullById.get(shortened.id) ?? shortened;
        res.write(fmt === "json" ? JSON.stringify(e) + "\n" : `${e.timestamp} ${e.level} ${e.source} ${e.message}\n`);
      }
      return res.end();
    }
    let m = /^\/api\/v1\/activity-logs\/(\d+)$/.exec(p);
    if (m) {
      const id = Number(m[1]);
      const entry = fullById.get(id) ?? stored.find((e) => e.id === id);
      return entry ? json(res, 200, { data: entry }) : error(res, 404, "not_found", `no activity log entry ${id}`);
    }
    m = /^\/api\/v1\/activity-logs\/(\d+)\/context$/.exec(p);
    if (m) {
      const i = stored.findIndex((e) => e.id === Number(m[1]));
      if (i < 0) return error(res, 404, "not_found", "no such entry");
      return json(res, 200, { data: stored.slice(Math.max(0, i - Number(q.get("before") ?? 10)), i + 1 + Number(q.get("after") ?? 10)), meta: { anchor_id: Number(m[1]) } });
    }
    m = /^\/api\/v1\/traces\/([0-9a-f]{32})$/.exec(p);
    if (m) return json(res, 200, { data: stored.filter((e) => e.trace_id === m[1]).slice(-200), meta: { trace_id: m[1] } });
    if (p === "/api/v1/admin/activity-logs/settings") {
      if (req.method === "PUT") {
        const body = await readBody(req);
        const bad = [];
        for (const [k, v] of Object.entries(body)) {
          const min = k === "retention_days_error" ? 7 : k === "batch_size" ? 1 : k === "flush_interval_ms" ? 50 : 1;
          if (!Number.isInteger(v) || v < min) bad.push(`${k}: Input should be greater than or equal to ${min}`);
        }
        if (bad.length) return error(res, 400, "bad_request", bad.join("; "));
        settings = { ...settings, ...body, updated_at: new Date().toISOString() };
      }
      return json(res, 200, settings);
    }
    if (p === "/api/v1/admin/activity-logs" && req.method === "DELETE") {
      const before = q.get("before");
      const n = stored.filter((e) => e.timestamp < before && (!q.get("level") || e.level === q.get("level"))).length;
      return json(res, 200, { deleted: n });
    }
    if (p === "/api/v1/admin/ingest-tokens") {
      if (req.method === "POST") {
        const body = await readBody(req);
        const t = { id: tokens.length + 1, name: body.name, token_prefix: "act_" + hex(4), created_at: new Date().toISOString(), last_used_at: null, revoked_at: null };
        tokens.push(t);
        return json(res, 201, { ...t, token: t.token_prefix + hex(40) });
      }
      return json(res, 200, { data: tokens });
    }
    m = /^\/api\/v1\/admin\/ingest-tokens\/(\d+)$/.exec(p);
    if (m && req.method === "DELETE") {
      tokens = tokens.map((t) => (t.id === Number(m[1]) ? { ...t, revoked_at: new Date().toISOString() } : t));
      return json(res, 200, tokens.find((t) => t.id === Number(m[1])));
    }
    return error(res, 404, "not_found", `no route ${req.method} ${p}`);
  }
  // Static files with the client-side-route fallback the aiohttp server will have.
  let file = normalize(join(dist, p));
  if (!file.startsWith(dist) || !existsSync(file) || statSync(file).isDirectory()) file = join(dist, "index.html");
  const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".map": "application/json" };
  res.writeHead(200, { "Content-Type": types[extname(file)] ?? "application/octet-stream" });
  createReadStream(file).pipe(res);
});

const wss = new WebSocketServer({ server, path: "/ws/activity-logs" });
wss.on("connection", (socket) => {
  let filter = null;
  let authed = false;
  let sentLag = false;
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
    const msg = JSON.parse(String(raw));
    if (msg.action === "auth") { authed = !!msg.token; if (!authed) socket.close(1008); return; }
    if (!authed) return socket.close(1008);
    if (msg.action === "subscribe" || msg.action === "update_filter") {
      const { action, after_id, ...rest } = msg;
      filter = { ...(filter ?? {}), ...rest };
      socket.send(JSON.stringify({ type: "subscribed", filter }));
      if (action === "subscribe") {
        const query = q();
        const replay = after_id != null ? stored.filter((e) => e.id > after_id && matches(e, query)) : stored.slice(-150).filter((e) => matches(e, query));
        if (replay.length) socket.send(JSON.stringify({ type: "entries", entries: replay }));
      }
    }
  });
  const timer = setInterval(() => {
    if (!filter) return;
    const batch = [];
    for (let i = 0; i < Math.max(1, Math.round(rate / 10)); i++) batch.push(makeEntry());
    const query = q();
    const visible = batch.filter((e) => matches(e, query));
    if (!sentLag && nextId > 800) {
      sentLag = true;
      socket.send(JSON.stringify({ type: "lagged", skipped: visible.length }));
      return;
    }
    if (visible.length) socket.send(JSON.stringify({ type: "entries", entries: visible }));
  }, 100);
  socket.on("close", () => clearInterval(timer));
});

server.listen(port, "127.0.0.1", () => console.log(`mock API + console on http://127.0.0.1:${port}`));
