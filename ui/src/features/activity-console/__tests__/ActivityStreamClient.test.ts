import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MockWebSocket, asWebSocket, makeEntry, resetStores } from "../../../test/utils";
import { applyStreamEvents } from "../hooks/useActivityLogStream";
import { ActivityStreamClient, reconnectDelay } from "../stream/ActivityStreamClient";
import type { StreamEvent } from "../stream/ActivityStreamClient";
import { useActivityConsoleStore } from "../stores/activityConsoleStore";
import type { StreamFilter } from "../types";

const filter: StreamFilter = {
  levels: ["info", "warn", "error"],
  sources: ["api"],
  mode: "curated",
  entity_type: null,
  entity_id: null,
  search: null,
};

function setup(overrides: { getFilter?: () => StreamFilter; maxPending?: number } = {}) {
  const frames: (() => void)[] = [];
  const events: StreamEvent[][] = [];
  const statuses: string[] = [];
  const client = new ActivityStreamClient({
    url: "ws://localhost/ws/activity-logs",
    getToken: () => "jwt-1",
    getFilter: overrides.getFilter ?? (() => filter),
    onEvents: (e) => events.push(e),
    onStatus: (s) => statuses.push(s),
    WebSocketImpl: asWebSocket(MockWebSocket),
    scheduleFlush: (flush) => {
      frames.push(flush);
      return () => undefined;
    },
    ...(overrides.maxPending ? { maxPending: overrides.maxPending } : {}),
  });
  const runFrame = () => frames.splice(0).forEach((f) => f());
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

  it("reconnects with backoff 1, 2, 4 … 30 s", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10].map(reconnectDelay)).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
    vi.useFakeTimers();
    const { client, statuses } = setup();
    client.start();
    MockWebSocket.last.drop();
    expect(statuses.at(-1)).toBe("disconnected");
    expect(MockWebSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(999);
    expect(MockWebSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(MockWebSocket.instances).toHaveLength(2);
    MockWebSocket.last.drop();
    vi.advanceTimersByTime(1999);
    expect(MockWebSocket.instances).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(MockWebSocket.instances).toHaveLength(3);
    MockWebSocket.last.drop();
    vi.advanceTimersByTime(4000);
    expect(MockWebSocket.instances).toHaveLength(4);
    client.stop();
  });

  it("resets the backoff once a subscription is in force again", () => {
    vi.useFakeTimers();
    const { client } = setup();
    client.start();
    MockWebSocket.last.drop();
    vi.advanceTimersByTime(1000);
    MockWebSocket.last.drop();
    vi.advanceTimersByTime(2000);
    MockWebSocket.last.open();
    MockWebSocket.last.receive({ type: "subscribed" });
    MockWebSocket.last.drop();
    vi.advanceTimersByTime(1000);
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
