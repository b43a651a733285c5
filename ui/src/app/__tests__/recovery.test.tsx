import { QueryClient, QueryClientProvider, useQuery } from "@tanstack/react-query";
import { act, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError, UNREACHABLE_CODE, apiFetch, apiJson } from "../../lib/api";
import { useConnectivityStore } from "../../lib/connectivity";
import { resetStores } from "../../test/utils";
import { ROUTE_RETRY_AFTER_MS, lazyRoute } from "../App";
import { ConnectionBanner } from "../ConnectionBanner";
import { RouteErrorBoundary } from "../RouteErrorBoundary";
import { useServerRecovery } from "../useServerRecovery";

const resetConnectivity = () => useConnectivityStore.setState(useConnectivityStore.getInitialState(), true);

/** fetch that fails like a stopped server until `up()` is called, then answers every path. */
function stoppableServer() {
  let running = false;
  const calls: string[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: RequestInfo | URL) => {
      const url = new URL(String(input), "http://localhost");
      calls.push(url.pathname);
      if (!running) throw new TypeError("Failed to fetch");
      const body =
        url.pathname === "/api/v1/ingest/status"
          ? { state: "direct", message: "", database_unavailable_s: 0, spooled_records: 0, spooled_bytes: 0, spool_enabled: true }
          : { data: ["fresh"] };
      return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
    }),
  );
  return { calls, up: () => (running = true) };
}

describe("requests while the server is away", () => {
  beforeEach(() => {
    resetStores();
    resetConnectivity();
  });
  afterEach(() => vi.unstubAllGlobals());

  it("say so in words, mark it unreachable, and any answer marks it reachable again", async () => {
    const server = stoppableServer();
    const error = await apiFetch("/activity-logs").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe(UNREACHABLE_CODE);
    expect((error as ApiError).message).toMatch(/cannot be reached/);
    expect(useConnectivityStore.getState().serverReachable).toBe(false);
    server.up();
    await apiFetch("/activity-logs");
    expect(useConnectivityStore.getState().serverReachable).toBe(true);
  });

  it("an answer while the server is known to be reachable notifies no subscriber", async () => {
    stoppableServer().up();
    const listener = vi.fn();
    const unsubscribe = useConnectivityStore.subscribe(listener);
    await apiFetch("/activity-logs");
    unsubscribe();
    expect(listener).not.toHaveBeenCalled();
  });

  it("an aborted request says nothing about the server", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new DOMException("aborted", "AbortError"))));
    const controller = new AbortController();
    controller.abort();
    await expect(apiFetch("/activity-logs", { signal: controller.signal })).rejects.toThrow();
    expect(useConnectivityStore.getState().serverReachable).toBe(true);
  });
});

function History() {
  const history = useQuery({ queryKey: ["activity-logs", {}], queryFn: () => apiJson<{ data: string[] }>("/activity-logs"), retry: false });
  return <p>{history.error ? `error: ${(history.error as Error).message}` : history.data ? `rows: ${history.data.data.join()}` : "loading"}</p>;
}

function Shell() {
  useServerRecovery();
  return (
    <>
      <ConnectionBanner />
      <History />
    </>
  );
}

describe("the outage banner and recovery", () => {
  beforeEach(() => {
    resetStores();
    resetConnectivity();
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("shows 'Retry now' while the server is away; a probe that gets an answer ends it and refetches what failed", async () => {
    const server = stoppableServer();
    const client = new QueryClient();
    render(
      <QueryClientProvider client={client}>
        <Shell />
      </QueryClientProvider>,
    );
    await screen.findByText(/error: The server cannot be reached/);
    expect(screen.getByRole("alert")).toHaveTextContent("Server unreachable");
    const probesBefore = server.calls.filter((p) => p === "/api/v1/ingest/status").length;
    await userEvent.click(screen.getByRole("button", { name: /Retry now/ }));
    // "Retry now" probes at once, not after the backoff.
    await waitFor(() => expect(server.calls.filter((p) => p === "/api/v1/ingest/status").length).toBeGreaterThan(probesBefore));
    expect(screen.getByRole("alert")).toHaveTextContent("Server unreachable");
    server.up();
    // The probe loop (every second at most) finds the server; history refetches without a reload.
    await screen.findByText("rows: fresh", undefined, { timeout: 3000 });
    expect(screen.queryByText(/Server unreachable/)).toBeNull();
  });

  it("probes with the capped backoff: 250 ms, 500 ms, then every second", async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, "random").mockReturnValue(0);
    const server = stoppableServer();
    render(
      <QueryClientProvider client={new QueryClient()}>
        <Shell />
      </QueryClientProvider>,
    );
    act(() => useConnectivityStore.getState().markUnreachable());
    const probes = () => server.calls.filter((p) => p === "/api/v1/ingest/status").length;
    await act(async () => vi.advanceTimersByTimeAsync(0));
    // The first probe is immediate (the ingest banner's own poll may have asked too).
    const first = probes();
    expect(first).toBeGreaterThanOrEqual(1);
    await act(async () => vi.advanceTimersByTimeAsync(249));
    expect(probes()).toBe(first);
    await act(async () => vi.advanceTimersByTimeAsync(1));
    expect(probes()).toBe(first + 1);
    await act(async () => vi.advanceTimersByTimeAsync(500));
    expect(probes()).toBe(first + 2);
    await act(async () => vi.advanceTimersByTimeAsync(10_000));
    expect(probes()).toBe(first + 12);
    await act(async () => {
      window.dispatchEvent(new Event("online"));
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(probes()).toBe(first + 13);
  });
});

describe("a route page whose chunk fails to load", () => {
  afterEach(() => vi.restoreAllMocks());

  it("is caught with a Reload button, and the next visit imports it again", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    let attempts = 0;
    let serverDown = true;
    const Page = lazyRoute(async () => {
      attempts += 1;
      if (serverDown) throw new TypeError("Failed to fetch dynamically imported module: /assets/SettingsPage-x.js");
      return { default: () => <h1>Settings</h1> };
    });
    const { rerender } = render(
      <RouteErrorBoundary resetKey="/settings">
        <Page />
      </RouteErrorBoundary>,
    );
    expect(await screen.findByRole("heading", { name: "This page could not be loaded" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Reload" })).toBeInTheDocument();
    const failedAttempts = attempts;
    // A render right after the failure does not import again (no loop while the server is down).
    rerender(
      <RouteErrorBoundary resetKey="/settings?soon">
        <Page />
      </RouteErrorBoundary>,
    );
    expect(await screen.findByRole("heading", { name: "This page could not be loaded" })).toBeInTheDocument();
    expect(attempts).toBe(failedAttempts);
    await new Promise((resolve) => setTimeout(resolve, ROUTE_RETRY_AFTER_MS + 50));
    // Navigating (another path) clears the error; the page is imported again, and now loads.
    serverDown = false;
    rerender(
      <RouteErrorBoundary resetKey="/settings?again">
        <Page />
      </RouteErrorBoundary>,
    );
    expect(await screen.findByRole("heading", { name: "Settings" })).toBeInTheDocument();
    expect(attempts).toBe(failedAttempts + 1);
  });
});
