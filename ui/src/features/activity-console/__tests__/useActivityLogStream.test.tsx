import { act, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MockWebSocket, asWebSocket, makeEntry, resetStores } from "../../../test/utils";
import { useActivityLogStream } from "../hooks/useActivityLogStream";
import { useActivityConsoleStore as store } from "../stores/activityConsoleStore";

describe("useActivityLogStream", () => {
  beforeEach(() => {
    resetStores();
    MockWebSocket.instances = [];
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  it("subscribes with the store's filters and sends debounced update_filter with explicit clears", () => {
    const { result, unmount } = renderHook(() => useActivityLogStream({ WebSocketImpl: asWebSocket(MockWebSocket) }));
    const ws = MockWebSocket.last;
    act(() => {
      ws.open();
      ws.receive({ type: "subscribed", filter: {} });
    });
    expect(result.current.status).toBe("connected");
    expect(ws.sent[1]).toEqual({
      action: "subscribe",
      levels: ["debug", "info", "warn", "error"],
      sources: ["api", "comfyui", "worker", "agent", "pipeline"],
      mode: "curated",
      entity_type: null,
      entity_id: null,
      search: null,
      q: null,
    });
    act(() => {
      store.getState().toggleLevel("debug");
      store.getState().setMode("verbose");
      store.getState().setSearchText("gpu");
    });
    act(() => vi.advanceTimersByTime(300));
    expect(ws.sent).toHaveLength(3);
    expect(ws.sent[2]).toMatchObject({ action: "update_filter", levels: ["info", "warn", "error"], mode: null, search: "gpu" });
    act(() => store.getState().setSearchText(""));
    act(() => vi.advanceTimersByTime(300));
    // Clearing must be explicit: the server keeps fields that are absent from update_filter.
    expect(ws.sent[3]).toMatchObject({ action: "update_filter", search: null });
    unmount();
    expect(ws.readyState).toBe(MockWebSocket.CLOSED);
  });

  it("puts a frame's entries into the store once per frame and records lagged gaps", () => {
    const frames: FrameRequestCallback[] = [];
    vi.stubGlobal("requestAnimationFrame", (cb: FrameRequestCallback) => frames.push(cb));
    vi.stubGlobal("cancelAnimationFrame", () => undefined);
    const updates = vi.fn();
    renderHook(() => useActivityLogStream({ WebSocketImpl: asWebSocket(MockWebSocket) }));
    const ws = MockWebSocket.last;
    act(() => ws.open());
    const unsubscribe = store.subscribe(updates);
    act(() => {
      for (let i = 1; i <= 30; i++) ws.receive({ type: "entries", entries: [makeEntry({ id: i })] });
    });
    expect(updates).not.toHaveBeenCalled();
    expect(frames).toHaveLength(1);
    act(() => frames.shift()!(0));
    expect(updates).toHaveBeenCalledTimes(1);
    expect(store.getState().entryCount).toBe(30);
    act(() => {
      ws.receive({ type: "lagged", skipped: 120 });
      ws.receive({ type: "entries", entries: [makeEntry({ id: 200 })] });
    });
    act(() => frames.shift()!(0));
    const rows = store.getState().rows;
    expect(rows.at(30)).toMatchObject({ kind: "gap", skipped: 120, afterId: 30, beforeId: 200 });
    unsubscribe();
  });
});
