import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { streamClientForTest } from "../../../test/streamClient";
import { MockWebSocket, asWebSocket, makeEntry, resetStores, streamFilter as filter } from "../../../test/utils";
import { applyStreamEvents } from "../hooks/useActivityLogStream";
import { ActivityStreamClient, reconnectDelay } from "../stream/ActivityStreamClient";
import type { StreamEvent } from "../stream/ActivityStreamClient";
import { useActivityConsoleStore } from "../stores/activityConsoleStore";
import type { ActivityLogEntry, StreamFilter } from "../types";

function setup(
  overrides: {
    getFilter?: () => StreamFilter;
    maxPending?: number;
    loadRecent?: (filter: StreamFilter, signal: AbortSignal) => Promise<ActivityLogEntry[]>;
    onConnectionLost?: () => void;
  } = {},
) {
  const events: StreamEvent[][] = [];
  const statuses: string[] = [];
  const { client, frames, runFrame } = streamClientForTest({
    ...overrides,
    onEvents: (e) => events.push(e),
    onStatus: (s) => statuses.push(s),
  });
  return { client, events, statuses, frames, runFrame };
}

describe("ActivityStreamClient", () => {
  beforeEach(() => {
    MockWebSocket.instances = [];
    resetStores();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("authenticates first, then subscribes with the current filter", () => {
    const { client, statuses } = setup();
    client.start();
    MockWebSocket.last.open();
    expect(MockWebSocket.last.url).toBe("ws://localhost/ws/activity-logs");
    expect(MockWebSocket.last.sent).toEqual([
      { action: "auth", token: "jwt-1" },
      { action: "subscribe", ...filter },
    ]);
    MockWebSocket.last.receive({ type: "subscribed" });
    expect(statuses).toEqual(["connecting", "connected"]);
    client.stop();
  });

  it("hands over all messages of a frame in one batch, in order", () => {
    const { client, events, frames, runFrame } = setup();
    client.start();
    const ws = MockWebSocket.last;
    ws.open();
    for (let i = 1; i <= 50; i++) ws.receive({ type: "entries", entries: [makeEntry({ id: i })] });
    ws.receive({ type: "entries", entries: [makeEntry({ id: 51 }), makeEntry({ id: 52 })] });
    ws.receive({ type: "lagged", skipped: 9 });
    ws.receive({ type: "entries", entries: [makeEntry({ id: 70 })] });
    expect(events).toHaveLength(0);
    expect(frames).toHaveLength(1); // one frame scheduled for 54 messages
    runFrame();
    expect(events).toHaveLength(1);
    const batch = events[0]!;
    expect(batch.map((e) => e.kind)).toEqual(["entries", "lagged", "entries"]);
    expect(batch[0]!.kind === "entries" && batch[0]!.entries.map((e) => e.id)).toEqual(
      Array.from({ length: 52 }, (_, i) => i + 1),
    );
    client.stop();
  });

  it("applies a frame's batch to the store with one state update per event, not per message", () => {
    const updates = vi.fn();
    const unsubscribe = useActivityConsoleStore.subscribe(updates);
    applyStreamEvents([{ kind: "entries", entries: Array.from({ length: 200 }, (_, i) => makeEntry({ id: i + 1 })) }]);
    expect(updates).toHaveBeenCalledTimes(1);
    expect(useActivityConsoleStore.getState().entryCount).toBe(200);
    unsubscribe();
  });

  it("backs off 250 ms, 500 ms, then every second; up to 30 s after a policy refusal; jitter only shortens", () => {
    expect([0, 1, 2, 3, 10].map((n) => reconnectDelay(n))).toEqual([250, 500, 1000, 1000, 1000]);
    expect([0, 2, 3, 6, 7, 20].map((n) => reconnectDelay(n, true))).toEqual([250, 1000, 2000, 16000, 30000, 30000]);
    expect(reconnectDelay(10, false, 0.5)).toBe(750);
    expect(reconnectDelay(10, false, 0.9999)).toBeGreaterThanOrEqual(500);
    vi.useFakeTimers();
    const { client, statuses } = setup();
    client.start();
    MockWebSocket.last.drop();
    expect(statuses.at(-1)).toBe("disconnected");
    expect(MockWebSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(249);
    expect(MockWebSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(MockWebSocket.instances).toHaveLength(2);
    MockWebSocket.last.drop();
    vi.advanceTimersByTime(499);
    expect(MockWebSocket.instances).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(MockWebSocket.instances).toHaveLength(3);
    // The cap: however long the outage, a try every second.
    for (let i = 0; i < 20; i++) {
      MockWebSocket.last.drop();
      vi.advanceTimersByTime(1000);
    }
    expect(MockWebSocket.instances).toHaveLength(23);
    client.stop();
  });

  it("backs off towards 30 s when the server refuses by policy (1008)", () => {
    vi.useFakeTimers();
    const { client } = setup();
    client.start();
    for (let i = 0; i < 7; i++) {
      MockWebSocket.last.open();
      MockWebSocket.last.drop(1008);
      vi.advanceTimersByTime(reconnectDelay(i, true));
    }
    expect(MockWebSocket.instances).toHaveLength(8);
    MockWebSocket.last.open();
    MockWebSocket.last.drop(1008);
    vi.advanceTimersByTime(29_999);
    expect(MockWebSocket.instances).toHaveLength(8);
    vi.advanceTimersByTime(1);
    expect(MockWebSocket.instances).toHaveLength(9);
    client.stop();
  });

  it("tries at once on `online`, on the tab becoming visible and on retryNow()", () => {
    vi.useFakeTimers();
    const { client } = setup();
    client.start();
    for (let i = 0; i < 5; i++) {
      MockWebSocket.last.drop();
      vi.advanceTimersByTime(1000);
    }
    expect(MockWebSocket.instances).toHaveLength(6);
    MockWebSocket.last.drop();
    window.dispatchEvent(new Event("online"));
    expect(MockWebSocket.instances).toHaveLength(7);
    MockWebSocket.last.drop();
    document.dispatchEvent(new Event("visibilitychange"));
    expect(MockWebSocket.instances).toHaveLength(8);
    MockWebSocket.last.drop();
    client.retryNow();
    expect(MockWebSocket.instances).toHaveLength(9);
    // Only a connection that is down is retried: an open one is left alone.
    MockWebSocket.last.open();
    client.retryNow();
    window.dispatchEvent(new Event("online"));
    expect(MockWebSocket.instances).toHaveLength(9);
    client.stop();
    // Stopped: the listeners are gone.
    window.dispatchEvent(new Event("online"));
    expect(MockWebSocket.instances).toHaveLength(9);
  });

  it("reports a lost server only for a socket that never opened", () => {
    const lost = vi.fn();
    const { client } = setup({ onConnectionLost: lost });
    client.start();
    MockWebSocket.last.open();
    MockWebSocket.last.drop();
    expect(lost).not.toHaveBeenCalled();
    client.retryNow();
    MockWebSocket.last.drop();
    expect(lost).toHaveBeenCalledTimes(1);
    client.stop();
  });

  it("resets the backoff once a subscription is in force again", () => {
    vi.useFakeTimers();
    const { client } = setup();
    client.start();
    MockWebSocket.last.drop();
    vi.advanceTimersByTime(250);
    MockWebSocket.last.drop();
    vi.advanceTimersByTime(500);
    MockWebSocket.last.open();
    MockWebSocket.last.receive({ type: "subscribed" });
    MockWebSocket.last.drop();
    vi.advanceTimersByTime(250);
    expect(MockWebSocket.instances).toHaveLength(4);
    client.stop();
  });

  it("resumes after the last seen id and drops duplicates at the seam", () => {
    vi.useFakeTimers();
    const { client, events, runFrame } = setup();
    client.start();
    MockWebSocket.last.open();
    MockWebSocket.last.receive({ type: "entries", entries: [makeEntry({ id: 41 }), makeEntry({ id: 42 })] });
    MockWebSocket.last.drop();
    vi.advanceTimersByTime(1000);
    const second = MockWebSocket.last;
    second.open();
    expect(second.sent[1]).toEqual({ action: "subscribe", ...filter, after_id: 42 });
    // A server replaying one entry too many must not produce a duplicate row.
    second.receive({ type: "entries", entries: [makeEntry({ id: 42 }), makeEntry({ id: 43 })] });
    runFrame();
    const delivered = events.flat().flatMap((e) => (e.kind === "entries" ? e.entries.map((x) => x.id) : []));
    expect(delivered).toEqual([41, 42, 43]);
    expect(client.lastSeenId).toBe(43);
    client.stop();
  });

  it("debounces filter changes into one update_filter", () => {
    vi.useFakeTimers();
    let current = filter;
    const { client } = setup({ getFilter: () => current });
    client.start();
    const ws = MockWebSocket.last;
    ws.open();
    ws.receive({ type: "subscribed" });
    current = { ...filter, search: "g" };
    client.filterChanged();
    current = { ...filter, search: "gpu" };
    client.filterChanged();
    vi.advanceTimersByTime(299);
    expect(ws.sent).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(ws.sent[2]).toEqual({ action: "update_filter", ...filter, search: "gpu" });
    expect(ws.sent).toHaveLength(3);
    client.stop();
  });

  it("reports server errors and keeps going", () => {
    const onServerError = vi.fn();
    const client = new ActivityStreamClient({
      url: "ws://x/ws/activity-logs",
      getToken: () => "t",
      getFilter: () => filter,
      onEvents: () => undefined,
      onStatus: () => undefined,
      onServerError,
      WebSocketImpl: asWebSocket(MockWebSocket),
    });
    client.start();
    MockWebSocket.last.open();
    MockWebSocket.last.receive({ type: "error", message: "unknown action" });
    MockWebSocket.last.onmessage?.(new MessageEvent("message", { data: "not json" }));
    expect(onServerError).toHaveBeenCalledWith("unknown action");
    client.stop();
  });

  it("caps entries held between frames at the buffer size", () => {
    const { client, events, runFrame } = setup({ maxPending: 3 });
    client.start();
    MockWebSocket.last.open();
    MockWebSocket.last.receive({ type: "entries", entries: [1, 2, 3, 4, 5].map((id) => makeEntry({ id })) });
    runFrame();
    const first = events[0]![0]!;
    expect(first.kind === "entries" && first.entries.map((e) => e.id)).toEqual([3, 4, 5]);
    client.stop();
  });

  it("stop closes the socket and does not reconnect", () => {
    vi.useFakeTimers();
    const { client } = setup();
    client.start();
    const ws = MockWebSocket.last;
    ws.open();
    client.stop();
    expect(ws.readyState).toBe(3);
    vi.advanceTimersByTime(60_000);
    expect(MockWebSocket.instances).toHaveLength(1);
  });
});
