import type { components } from "../api/schema";
import { useAuthStore } from "./authStore";
import { useConnectivityStore } from "./connectivity";

const API_BASE = "/api/v1";

type ErrorBody = components["schemas"]["Error"];

/** An API failure, carrying the `{ error: { code, message } }` body the backend always sends. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** For a `bad_query`: the 0-based index in `q` the server's message points at. */
  readonly position?: number;

  constructor(status: number, code: string, message: string, position?: number) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.position = position;
  }
}

type QueryValue = string | number | boolean | null | undefined | readonly (string | number)[];

/** Repeats a key for array values (`level=warn&level=error`), skips empty values. */
function toSearchParams(params: Record<string, QueryValue> | object): URLSearchParams {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value == null || value === "") continue;
    if (Array.isArray(value)) {
      for (const v of value) search.append(key, String(v));
    } else {
      search.set(key, String(value));
    }
  }
  return search;
}

function apiUrl(path: string, params?: object): string {
  const qs = params ? toSearchParams(params).toString() : "";
  return `${API_BASE}${path}${qs ? `?${qs}` : ""}`;
}

function authHeaders(): Record<string, string> {
  const token = useAuthStore.getState().token;
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function errorFromResponse(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = res.statusText || `Request failed with status ${res.status}`;
  let position: number | undefined;
  try {
    // A proxy in front of the server may answer with JSON of its own: only the API's body counts.
    const body: unknown = await res.json();
    const error = (body as Partial<ErrorBody> | null)?.error as unknown;
    if (error && typeof error === "object") {
      const { code: c, message: m } = error as Partial<ErrorBody["error"]>;
      if (typeof c === "string" && c) code = c;
      if (typeof m === "string" && m) message = m;
      const p = (error as { position?: unknown }).position;
      if (typeof p === "number" && Number.isInteger(p) && p >= 0) position = p;
    }
  } catch {
    // Not JSON (a proxy error page, say): keep the status text.
  }
  return new ApiError(res.status, code, message, position);
}

interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  params?: object;
  body?: unknown;
  signal?: AbortSignal;
}

/** Code of the ApiError thrown when no HTTP answer came at all (server down, network gone). */
export const UNREACHABLE_CODE = "unreachable";

/** A proxy in front of a stopped server answers for it: that is no answer from the server. */
const PROXY_UNREACHABLE = new Set([502, 504]);

export async function apiFetch(path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json", ...authHeaders() };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const connectivity = useConnectivityStore.getState();
  let res: Response;
  try {
    res = await fetch(apiUrl(path, options.params), {
      method: options.method ?? "GET",
      headers,
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
      signal: options.signal,
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    // fetch rejects only when no answer came: the browser's "Failed to fetch" says nothing to a reader.
    connectivity.markUnreachable();
    throw new ApiError(0, UNREACHABLE_CODE, "The server cannot be reached. Retrying when it answers again.");
  }
  if (PROXY_UNREACHABLE.has(res.status)) connectivity.markUnreachable();
  else connectivity.markReachable();
  if (!res.ok) {
    const error = await errorFromResponse(res);
    // An expired or revoked session: drop it so the router sends the user to the login page.
    if (res.status === 401 && path !== "/auth/login") useAuthStore.getState().signOut();
    throw error;
  }
  return res;
}

export async function apiJson<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const res = await apiFetch(path, options);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}
