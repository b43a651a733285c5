import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import { MemoryRouter, Route, Routes, useLocation } from "react-router-dom";
import { vi } from "vitest";
import { useActivityConsoleStore } from "../features/activity-console/stores/activityConsoleStore";
import type { ActivityLogEntry, StreamFilter } from "../features/activity-console/types";
import { useAuthStore } from "../lib/authStore";
import { useTimeZoneStore } from "../lib/time";

let nextId = 1;

/** A live filter for stream-client tests: the curated info-and-up entries of source `api`. */
export const streamFilter: StreamFilter = {
  levels: ["info", "warn", "error"],
  sources: ["api"],
  mode: "curated",
  entity_type: null,
  entity_id: null,
  search: null,
  q: null,
};

/** An entry in the exact JSON shape of collector/model.py `ActivityRow.to_dict()`. */
export function makeEntry(overrides: Partial<ActivityLogEntry> = {}): ActivityLogEntry {
  const id = overrides.id ?? nextId++;
  return {
    id,
    timestamp: "2026-11-26T05:30:46.123456Z",
    level: "info",
    source: "api",
    message: `message ${id}`,
    category: "curated",
    fields: {},
    entity_type: null,
    entity_id: null,
    user_id: null,
    job_id: null,
    project_id: null,
    trace_id: null,
    span_id: null,
    trace_flags: null,
    severity_number: 9,
    severity_text: "INFO",
    service_name: "api",
    event_name: null,
    resource: {},
    scope_name: null,
    scope_version: null,
    admin_only: false,
    ...overrides,
  };
}

export function resetStores(): void {
  useActivityConsoleStore.setState(useActivityConsoleStore.getInitialState(), true);
  useAuthStore.setState({ token: "test-jwt", user: { id: 1, email: "admin@localhost", role: "admin" } });
  useTimeZoneStore.setState({ zone: "local" });
}

let lastLocation = "";
function LocationSpy() {
  const loc = useLocation();
  lastLocation = loc.pathname + loc.search;
  return null;
}
export const currentLocation = () => lastLocation;

export function renderWithProviders(ui: React.ReactElement, { route = "/", path = "*" } = {}) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[route]}>
        <Routes>
          <Route path={path} element={ui} />
          <Route path="/tools/activity-console/traces/:traceId" element={<p>trace page</p>} />
        </Routes>
        <LocationSpy />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

type Handler = (url: URL, init: RequestInit | undefined) => { status?: number; body?: unknown; headers?: Record<string, string> } | undefined;

/** Replaces fetch with a router over `handler`; returns the mock to inspect calls. */
export function mockFetch(handler: Handler) {
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), "http://localhost");
    const res = handler(url, init) ?? { status: 404, body: { error: { code: "not_found", message: "not found" } } };
    const body = typeof res.body === "string" ? res.body : JSON.stringify(res.body ?? null);
    return new Response(body, {
      status: res.status ?? 200,
      headers: { "Content-Type": "application/json", ...(res.headers ?? {}) },
    });
  });
  vi.stubGlobal("fetch", fn);
  return fn;
}

/** A controllable stand-in for the browser WebSocket. */
export class MockWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static instances: MockWebSocket[] = [];
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readyState = 0;
  sent: unknown[] = [];
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  constructor(public url: string) {
    MockWebSocket.instances.push(this);
  }
  static get last(): MockWebSocket {
    return MockWebSocket.instances[MockWebSocket.instances.length - 1]!;
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.(new CloseEvent("close", { code: 1000 }));
  }
  // Test-side controls
  open() {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }
  receive(message: unknown) {
    this.onmessage?.(new MessageEvent("message", { data: JSON.stringify(message) }));
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.(new CloseEvent("close", { code }));
  }
}

export const asWebSocket = (c: typeof MockWebSocket) => c as unknown as typeof WebSocket;
