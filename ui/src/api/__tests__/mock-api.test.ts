// The mock API (scripts/mock-api.mjs, used for screenshots and the UI benchmark) against the contract:
// every endpoint it serves is called, and each JSON body must match the schema that
// src/api/openapi.json declares for that path, method and status (JSON Schema 2020-12, $refs to
// components resolved), as must every live-tail message.
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type MockApiServer, startMockApi } from "../../../scripts/mock-api.mjs";
import openapi from "../openapi.json";
import type { components } from "../schema";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = { [key: string]: Json };
interface Operation {
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
  parameters?: { name: string; in: string; schema: Schema }[];
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}
const document = openapi as unknown as Document;
const METHODS = ["get", "put", "post", "delete", "patch"];

// --- the validator -------------------------------------------------------------------------------

// The document's component schemas become one schema resource: "#/components/schemas/X" is
// "<CONTRACT>#/$defs/X", so a response's schema (a $ref, or inline with $refs inside) compiles as is.
const CONTRACT = "https://activity-console.invalid/openapi.json";
const COMPONENT_REF = "#/components/schemas/";
function withContractRefs<T extends Json>(node: T): T {
  if (Array.isArray(node)) return node.map(withContractRefs) as T;
  if (node === null || typeof node !== "object") return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => [
      key,
      key === "$ref" && typeof value === "string" && value.startsWith(COMPONENT_REF)
        ? `${CONTRACT}#/$defs/${value.slice(COMPONENT_REF.length)}`
        : withContractRefs(value),
    ]),
  ) as T;
}

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
// OpenAPI's `discriminator` only annotates a oneOf, which Ajv checks whole anyway (Ajv's own
// discriminator support refuses `mapping`, which the document has).
ajv.addKeyword({ keyword: "discriminator" });
ajv.addSchema({ $id: CONTRACT, $defs: withContractRefs(document.components.schemas as Json) });

const validators = new Map<string, ValidateFunction>();
function compiled(key: string, schema: Schema): ValidateFunction {
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(withContractRefs(schema));
    validators.set(key, validate);
  }
  return validate;
}
const component = (name: string) => compiled(`component ${name}`, { $ref: `${COMPONENT_REF}${name}` });

/** The problems of `value` against `validate`, one line each; [] when it conforms. */
function problems(validate: ValidateFunction, value: unknown): string[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || "(body)"} ${e.message ?? "is invalid"} ${JSON.stringify(e.params)}`);
}

/** The validator of the response `operation` (e.g. "GET /api/v1/activity-logs") declares for `status` and `contentType`. */
function responseValidator(operation: string, status: number, contentType: string): ValidateFunction {
  const [method = "", path = ""] = operation.split(" ");
  const op = document.paths[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`the document has no operation ${operation}`);
  const response = op.responses[String(status)];
  if (!response) throw new Error(`${operation} answered ${status}, a status the document does not declare (${Object.keys(op.responses).join(", ")})`);
  const media = response.content?.[contentType];
  if (!media) throw new Error(`${operation} ${status} answered ${contentType}; the document declares ${Object.keys(response.content ?? {}).join(", ") || "no body"}`);
  return compiled(`${operation} ${status} ${contentType}`, media.schema);
}

// --- the calls -----------------------------------------------------------------------------------

let server: MockApiServer;
let base = "";
let token = "";

/** The base URL of a mock once it listens. */
async function baseOf(mock: MockApiServer): Promise<string> {
  if (!mock.listening) await new Promise((resolve, reject) => mock.once("listening", resolve).once("error", reject));
  const address = mock.address();
  if (address === null || typeof address === "string") throw new Error(`unexpected address ${String(address)}`);
  return `http://127.0.0.1:${address.port}`;
}

const closed = (mock: MockApiServer) => new Promise<void>((resolve, reject) => mock.close((error) => (error ? reject(error) : resolve())));

beforeAll(async () => {
  // A fast live tail, so that the WebSocket test sees a `lagged` message within a second.
  server = startMockApi(0, { rate: 2000 });
  base = await baseOf(server);
  // A token for the other calls, whatever the login test below finds.
  const login = await call("POST", "/api/v1/auth/login", { auth: false, body: { email: "admin@localhost", password: "admin" } });
  token = (JSON.parse(login.text) as { token: string }).token;
});

afterAll(async () => {
  await closed(server);
});

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

async function call(
  method: string,
  url: string,
  { body, auth = true, origin = base }: { body?: unknown; auth?: boolean; origin?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (auth) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(origin + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, contentType: (res.headers.get("content-type") ?? "").split(";")[0]!.trim(), text: await res.text() };
}

/** Calls the mock and checks the answer against the document; returns the parsed JSON body. */
async function expectConforming(
  operation: string,
  url: string,
  status: number,
  options: { body?: unknown; auth?: boolean; origin?: string } = {},
): Promise<{ [key: string]: Json }> {
  const [method = ""] = operation.split(" ");
  const answer = await call(method, url, options);
  expect(answer.status, `${method} ${url}: ${answer.text.slice(0, 300)}`).toBe(status);
  expect(answer.contentType).toBe("application/json");
  const body = JSON.parse(answer.text) as { [key: string]: Json };
  expect(problems(responseValidator(operation, answer.status, answer.contentType), body), `${method} ${url}`).toEqual([]);
  return body;
}

const SETTINGS_BOUNDS = document.components.schemas.SettingsUpdate!.properties as Record<string, { minimum: number; maximum: number }>;
const LEVELS = (document.components.schemas.Level!.enum as string[]).slice();
type IngestState = components["schemas"]["IngestStatus"]["state"];
const INGEST_STATES = (document.components.schemas.IngestStatus!.properties as { state: { enum: IngestState[] } }).state.enum;

/** Operations of the document the mock does not serve: each must answer 404 (and the test below says so). */
const NOT_SERVED = [
  "GET /api/v1/activity-logs/facets",
  "GET /api/v1/activity-logs/keys",
  "GET /api/v1/admin/projects",
  "POST /api/v1/admin/projects",
  "PATCH /api/v1/admin/projects/{project_id}",
  "DELETE /api/v1/admin/projects/{project_id}",
  "POST /api/v1/admin/projects/{project_id}/members",
  "DELETE /api/v1/admin/projects/{project_id}/members/{user_id}",
  "GET /api/v1/admin/users",
  "POST /api/v1/admin/users",
  "PATCH /api/v1/admin/users/{user_id}",
  "DELETE /api/v1/admin/users/{user_id}",
  "PUT /api/v1/admin/users/{user_id}/password",
  "GET /api/v1/openapi.json",
  "GET /api/v1/views",
  "POST /api/v1/views",
  "GET /api/v1/views/{view_id}",
  "PATCH /api/v1/views/{view_id}",
  "DELETE /api/v1/views/{view_id}",
];
/** Every operation of the document a test below calls with a success status. */
const SERVED = new Set<string>();
const served = (operation: string) => (SERVED.add(operation), operation);

describe("the mock API conforms to openapi.json", () => {
  const LOGIN = served("POST /api/v1/auth/login");
  const ME = served("GET /api/v1/auth/me");
  const LIST = served("GET /api/v1/activity-logs");
  const HISTOGRAM = served("GET /api/v1/activity-logs/histogram");
  const EXPORT = served("GET /api/v1/activity-logs/export");
  const ENTRY = served("GET /api/v1/activity-logs/{log_id}");
  const CONTEXT = served("GET /api/v1/activity-logs/{log_id}/context");
  const TRACE = served("GET /api/v1/traces/{trace_id}");
  const GET_SETTINGS = served("GET /api/v1/admin/activity-logs/settings");
  const PUT_SETTINGS = served("PUT /api/v1/admin/activity-logs/settings");
  const PURGE = served("DELETE /api/v1/admin/activity-logs");
  const PURGE_ESTIMATE = served("GET /api/v1/admin/activity-logs/purge-estimate");
  const EXPORT_ESTIMATE = served("GET /api/v1/activity-logs/export/estimate");
  const EXPORT_LINK = served("POST /api/v1/activity-logs/export-links");
  const LINK_DOWNLOAD = served("GET /api/v1/activity-logs/export-links/{link}");
  const TOKENS = served("GET /api/v1/admin/ingest-tokens");
  const NEW_TOKEN = served("POST /api/v1/admin/ingest-tokens");
  const REVOKE = served("DELETE /api/v1/admin/ingest-tokens/{token_id}");
  const INGEST_STATUS = served("GET /api/v1/ingest/status");

  it("every operation of the document is either called here or known not to be served", () => {
    const operations = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((method) => METHODS.includes(method))
        .map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect([...SERVED, ...NOT_SERVED].sort()).toEqual(operations.sort());
  });

  it.each(NOT_SERVED)("%s is not served (404): a route added to the mock needs its test here", async (operation) => {
    const [method = "", path = ""] = operation.split(" ");
    const answer = await call(method, path.replace(/\{[^}]+\}/g, "1"), { body: method === "GET" ? undefined : {} });
    expect(answer.status).toBe(404);
    expect(problems(component("Error"), JSON.parse(answer.text))).toEqual([]);
  });

  it("login", async () => {
    await expectConforming(LOGIN, "/api/v1/auth/login", 200, { auth: false, body: { email: "admin@localhost", password: "admin" } });
    const creator = await expectConforming(LOGIN, "/api/v1/auth/login", 200, { auth: false, body: { email: "creator@localhost", password: "x" } });
    expect((creator.user as { role: string }).role).toBe("creator");
    await expectConforming(LOGIN, "/api/v1/auth/login", 400, { auth: false, body: { email: "admin@localhost" } });
    await expectConforming(LOGIN, "/api/v1/auth/login", 400, { auth: false, body: { email: "", password: "x" } });
  });

  it("auth/me", async () => {
    await expectConforming(ME, "/api/v1/auth/me", 200);
    await expectConforming(ME, "/api/v1/auth/me", 401, { auth: false });
  });

  it("activity-logs: pages, after_id and before_id slices", async () => {
    const page = await expectConforming(LIST, "/api/v1/activity-logs?per_page=5&page=2&level=info,warn", 200);
    expect(page.data).toHaveLength(5);
    const slice = await expectConforming(LIST, "/api/v1/activity-logs?after_id=10&per_page=5", 200);
    expect(slice.meta).toMatchObject({ after_id: 10, next_after_id: 15, has_more: true });
    const end = await expectConforming(LIST, "/api/v1/activity-logs?after_id=999999999", 200);
    expect(end.meta).toMatchObject({ after_id: 999999999, next_after_id: 999999999, has_more: false });
    const first = await expectConforming(LIST, "/api/v1/activity-logs?per_page=5&page=1", 200);
    const firstIds = (first.data as { id: number }[]).map((e) => e.id);
    const older = await expectConforming(LIST, `/api/v1/activity-logs?before_id=${firstIds.at(-1)}&per_page=5`, 200);
    const olderIds = (older.data as { id: number }[]).map((e) => e.id);
    expect(olderIds).toHaveLength(5);
    expect(olderIds.every((id) => !firstIds.includes(id))).toBe(true);
    expect(older.meta).toMatchObject({ before_id: firstIds.at(-1), next_before_id: olderIds.at(-1), has_more: true });
    await expectConforming(LIST, "/api/v1/activity-logs?per_page=1000", 400);
    await expectConforming(LIST, "/api/v1/activity-logs", 401, { auth: false });
  });

  it("histogram", async () => {
    const to = new Date();
    const from = new Date(to.getTime() - 3600e3);
    const body = await expectConforming(HISTOGRAM, `/api/v1/activity-logs/histogram?buckets=12&from=${from.toISOString()}&to=${to.toISOString()}`, 200);
    expect(body.meta).toMatchObject({ buckets: 12, bucket_seconds: 300 });
    await expectConforming(HISTOGRAM, "/api/v1/activity-logs/histogram", 200);
    await expectConforming(HISTOGRAM, "/api/v1/activity-logs/histogram?buckets=0", 400);
  });

  it("export estimate and one-time links: a count, then a link that streams once without a token", async () => {
    const all = await expectConforming(EXPORT_ESTIMATE, "/api/v1/activity-logs/export/estimate", 200);
    const errors = await expectConforming(EXPORT_ESTIMATE, "/api/v1/activity-logs/export/estimate?level=error", 200);
    expect(all.exact).toBe(true);
    expect(errors.rows as number).toBeLessThanOrEqual(all.rows as number);
    const link = await expectConforming(EXPORT_LINK, "/api/v1/activity-logs/export-links?format=json&level=error", 201);
    const first = await call("GET", link.url as string, { auth: false });
    expect(first.status).toBe(200);
    expect(problems(responseValidator(LINK_DOWNLOAD, 200, first.contentType), first.text)).toEqual([]);
    expect(first.text.split("\n").filter(Boolean)).toHaveLength(errors.rows as number);
    const again = await call("GET", link.url as string, { auth: false });
    expect(again.status).toBe(410);
    expect(problems(responseValidator(LINK_DOWNLOAD, 410, again.contentType), JSON.parse(again.text))).toEqual([]);
    const forged = await call("GET", "/api/v1/activity-logs/export-links/not-a-link", { auth: false });
    expect(forged.status).toBe(403);
  });

  it("export: the declared media types, an entry a line", async () => {
    for (const [format, type] of [["json", "application/x-ndjson"], ["text", "text/plain"]] as const) {
      const answer = await call("GET", `/api/v1/activity-logs/export?format=${format}&level=error`);
      expect(answer.status).toBe(200);
      expect(answer.contentType).toBe(type);
      expect(problems(responseValidator(EXPORT, 200, answer.contentType), answer.text)).toEqual([]);
      if (format === "json") {
        const lines = answer.text.trimEnd().split("\n");
        expect(lines.length).toBeGreaterThan(0);
        for (const line of lines) expect(problems(component("ActivityEntry"), JSON.parse(line))).toEqual([]);
      }
    }
  });

  it("one entry, whole or missing", async () => {
    const crash = await expectConforming(ENTRY, "/api/v1/activity-logs/250", 200);
    expect((crash.data as { message: string }).message.length).toBeGreaterThan(8192);
    await expectConforming(ENTRY, "/api/v1/activity-logs/1", 200);
    await expectConforming(ENTRY, "/api/v1/activity-logs/999999999", 404);
  });

  it("context", async () => {
    const body = await expectConforming(CONTEXT, "/api/v1/activity-logs/300/context?before=3&after=4", 200);
    expect(body.meta).toEqual({ anchor_id: 300, before: 3, after: 4 });
    expect(body.data).toHaveLength(8);
    const first = await expectConforming(CONTEXT, "/api/v1/activity-logs/1/context", 200);
    expect(first.meta).toEqual({ anchor_id: 1, before: 0, after: 10 });
    await expectConforming(CONTEXT, "/api/v1/activity-logs/999999999/context", 404);
  });

  it("traces", async () => {
    const page = await expectConforming(LIST, "/api/v1/activity-logs?per_page=100", 200);
    const traceId = (page.data as { trace_id: string | null }[]).find((e) => e.trace_id)?.trace_id;
    expect(traceId).toBeTruthy();
    const body = await expectConforming(TRACE, `/api/v1/traces/${traceId!.toUpperCase()}`, 200);
    expect(body.meta).toMatchObject({ trace_id: traceId });
    await expectConforming(TRACE, `/api/v1/traces/${"0".repeat(32)}`, 200);
    await expectConforming(TRACE, "/api/v1/traces/not-a-trace", 400);
  });

  it("settings, with the bounds the document declares", async () => {
    await expectConforming(GET_SETTINGS, "/api/v1/admin/activity-logs/settings", 200);
    const url = "/api/v1/admin/activity-logs/settings";
    for (const [key, { minimum, maximum }] of Object.entries(SETTINGS_BOUNDS)) {
      const atMinimum = await expectConforming(PUT_SETTINGS, url, 200, { body: { [key]: minimum } });
      expect(atMinimum[key]).toBe(minimum);
      await expectConforming(PUT_SETTINGS, url, 200, { body: { [key]: maximum } });
      await expectConforming(PUT_SETTINGS, url, 400, { body: { [key]: minimum - 1 } });
      await expectConforming(PUT_SETTINGS, url, 400, { body: { [key]: maximum + 1 } });
    }
    await expectConforming(PUT_SETTINGS, url, 400, { body: {} });
    await expectConforming(PUT_SETTINGS, url, 400, { body: { batch_size: "10" } });
    await expectConforming(PUT_SETTINGS, url, 400, { body: { unknown_setting: 1 } });
    await expectConforming(GET_SETTINGS, url, 401, { auth: false });
  });

  it("purge", async () => {
    const before = new Date().toISOString();
    const all = await expectConforming(PURGE, `/api/v1/admin/activity-logs?before=${before}`, 200);
    expect(Object.keys(all.by_level as object).sort()).toEqual([...LEVELS].sort());
    const some = await expectConforming(PURGE, `/api/v1/admin/activity-logs?before=${before}&level=warn,error`, 200);
    expect(Object.keys(some.by_level as object).sort()).toEqual(["error", "warn"]);
    await expectConforming(PURGE, "/api/v1/admin/activity-logs", 400);
    const estimate = await expectConforming(PURGE_ESTIMATE, `/api/v1/admin/activity-logs/purge-estimate?before=${before}`, 200);
    expect(estimate.rows).toBe(all.deleted);
    await expectConforming(PURGE_ESTIMATE, "/api/v1/admin/activity-logs/purge-estimate", 400);
    await expectConforming(PURGE, `/api/v1/admin/activity-logs?before=${before}&level=fatal`, 400);
  });

  it("ingest tokens: list, create, revoke", async () => {
    await expectConforming(TOKENS, "/api/v1/admin/ingest-tokens", 200);
    const created = await expectConforming(NEW_TOKEN, "/api/v1/admin/ingest-tokens", 201, { body: { name: "ci" } });
    await expectConforming(NEW_TOKEN, "/api/v1/admin/ingest-tokens", 400, { body: {} });
    const revoked = await expectConforming(REVOKE, `/api/v1/admin/ingest-tokens/${String(created.id)}`, 200);
    expect(revoked).toEqual({ id: created.id, name: "ci" });
    await expectConforming(REVOKE, `/api/v1/admin/ingest-tokens/${String(created.id)}`, 404);
    await expectConforming(REVOKE, "/api/v1/admin/ingest-tokens/999999", 404);
    await expectConforming(TOKENS, "/api/v1/admin/ingest-tokens", 401, { auth: false });
  });

  it("ingest status: public, in every state the mock can be started in", async () => {
    const direct = await expectConforming(INGEST_STATUS, "/api/v1/ingest/status", 200, { auth: false });
    expect(direct.state).toBe("direct");
    for (const state of INGEST_STATES.filter((s) => s !== "direct")) {
      const mock = startMockApi(0, { rate: 1, ingest: state });
      try {
        const status = await expectConforming(INGEST_STATUS, "/api/v1/ingest/status", 200, { auth: false, origin: await baseOf(mock) });
        expect(status.state).toBe(state);
        expect(status.message).not.toBe("");
      } finally {
        await closed(mock);
      }
    }
  });

  it("live tail: every server message is a LiveServerMessage", async () => {
    const validate = component("LiveServerMessage");
    const socket = new WebSocket(`${base.replace("http", "ws")}/ws/activity-logs`);
    const seen = new Set<string>();
    const wanted = ["subscribed", "entries", "lagged", "error"];
    const invalid: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`saw only ${[...seen].join(", ")} of ${wanted.join(", ")}`)), 4000);
      socket.on("error", (error) => reject(error));
      socket.on("close", (code) => reject(new Error(`the mock closed the live tail (${code}) after ${[...seen].join(", ")}`)));
      socket.on("open", () => {
        socket.send(JSON.stringify({ action: "auth", token }));
        socket.send(JSON.stringify({ action: "subscribe", levels: ["info", "warn", "error"], mode: null }));
        socket.send(JSON.stringify({ action: "update_filter", search: "job" }));
        socket.send("not json");
      });
      socket.on("message", (data) => {
        const message = JSON.parse(data.toString()) as { type: string };
        seen.add(message.type);
        invalid.push(...problems(validate, message).map((p) => `${message.type}: ${p}`));
        if (wanted.every((type) => seen.has(type))) {
          clearTimeout(timer);
          resolve();
        }
      });
    }).finally(() => socket.close());
    expect(invalid).toEqual([]);
  });
});
