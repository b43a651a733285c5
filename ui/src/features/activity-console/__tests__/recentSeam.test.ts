import { beforeEach, describe, expect, it, vi } from "vitest";
import { recentPagesForTest, streamClientForTest } from "../../../test/streamClient";
import { MockWebSocket, makeEntry, resetStores, streamFilter as filter } from "../../../test/utils";
import { applyStreamEvents } from "../hooks/useActivityLogStream";
import { useActivityConsoleStore } from "../stores/activityConsoleStore";

const entries = (...ids: number[]) => ids.map((id) => makeEntry({ id }));
const bufferIds = () =>
  useActivityConsoleStore
    .getState()
    .rows.map((r) => (r.kind === "entry" ? r.id : "gap"));

/** A client wired to the real store, with frames run by the test and page requests it answers. */
function setup() {
  const { pages, loadRecent } = recentPagesForTest();
  const { client, frames, runFrame } = streamClientForTest({ getFilter: () => filter, onEvents: applyStreamEvents, loadRecent });
  const connect = () => {
    MockWebSocket.last.open();
    MockWebSocket.last.receive({ type: "subscribed", filter });
  };
  const lastSubscribe = () =>
    (MockWebSocket.last.sent as { action: string }[]).find((m) => m.action === "subscribe") as Record<string, unknown>;
  return { client, frames, pages, loadRecent, runFrame, connect, lastSubscribe };
}

describe("recent entries on open, then the live tail", () => {
  beforeEach(() => {
    MockWebSocket.instances = [];
    resetStores();
  });

  it("asks for the page only once the subscription is in force, with the live filter", () => {
    const { client, loadRecent } = setup();
    client.start();
    MockWebSocket.last.open();
    expect(loadRecent).not.toHaveBeenCalled();
    MockWebSocket.last.receive({ type: "subscribed", filter });
    expect(loadRecent).toHaveBeenCalledTimes(1);
    expect(loadRecent.mock.calls[0]![0]).toEqual(filter);
    // An update_filter's `subscribed` answer does not ask again.
    MockWebSocket.last.receive({ type: "subscribed", filter });
    expect(loadRecent).toHaveBeenCalledTimes(1);
    client.stop();
  });

  it("shows the page oldest first, drops a late live copy of a page entry, and resumes after the page", async () => {
    const { client, pages, runFrame, connect, lastSubscribe } = setup();
    client.start();
    connect();
    pages[0]!.resolve(entries(3, 2, 1));
    await client.recentLoad;
    runFrame();
    expect(bufferIds()).toEqual([1, 2, 3]);
    // Entry 2 was committed before the page was read but reaches this tail only now.
    MockWebSocket.last.receive({ type: "entries", entries: entries(2, 4) });
    runFrame();
    expect(bufferIds()).toEqual([1, 2, 3, 4]);
    expect(useActivityConsoleStore.getState().entryCount).toBe(4);
    expect(useActivityConsoleStore.getState().visibleEntryCount).toBe(4);
    MockWebSocket.last.drop();
    client.retryNow();
    MockWebSocket.last.open();
    expect(lastSubscribe().after_id).toBe(4);
    client.stop();
  });

  it("keeps entries that arrive live while the page is in flight once, after the page's older ones", async () => {
    const { client, pages, runFrame, connect } = setup();
    client.start();
    connect();
    MockWebSocket.last.receive({ type: "entries", entries: entries(5, 6) });
    runFrame();
    expect(bufferIds()).toEqual([5, 6]);
    // The page was read after 5 and 6 were committed: it holds them too.
    pages[0]!.resolve(entries(6, 5, 4, 3));
    await client.recentLoad;
    MockWebSocket.last.receive({ type: "entries", entries: entries(7) });
    runFrame();
    expect(bufferIds()).toEqual([3, 4, 5, 6, 7]);
    const state = useActivityConsoleStore.getState();
    expect(state.entryCount).toBe(5);
    expect(state.rows.map((r) => r.seq)).toEqual([...state.rows.map((r) => r.seq)].sort((a, b) => a - b));
    client.stop();
  });

  it("loses nothing when the page is empty: live entries from the subscription on", async () => {
    const { client, pages, runFrame, connect, lastSubscribe } = setup();
    client.start();
    connect();
    pages[0]!.resolve([]);
    await client.recentLoad;
    MockWebSocket.last.receive({ type: "entries", entries: entries(1) });
    runFrame();
    expect(bufferIds()).toEqual([1]);
    MockWebSocket.last.drop();
    client.retryNow();
    MockWebSocket.last.open();
    expect(lastSubscribe().after_id).toBe(1);
    client.stop();
  });

  it("hands the page and the frame's live entries over in one store update", async () => {
    const { client, pages, runFrame, connect } = setup();
    client.start();
    connect();
    MockWebSocket.last.receive({ type: "entries", entries: entries(10) });
    pages[0]!.resolve(entries(10, 9, 8));
    await client.recentLoad;
    const updates = vi.fn();
    const unsubscribe = useActivityConsoleStore.subscribe(updates);
    runFrame();
    unsubscribe();
    expect(bufferIds()).toEqual([8, 9, 10]);
    // Two actions (prepend, append) in one frame: React renders once for the frame.
    expect(updates.mock.calls.length).toBeLessThanOrEqual(2);
    client.stop();
  });

  it("asks again on the next subscription when the page failed", async () => {
    const { client, pages, loadRecent, runFrame, connect } = setup();
    client.start();
    connect();
    pages[0]!.reject(new Error("unreachable"));
    await client.recentLoad;
    MockWebSocket.last.drop();
    client.retryNow();
    connect();
    expect(loadRecent).toHaveBeenCalledTimes(2);
    pages[1]!.resolve(entries(2, 1));
    await client.recentLoad;
    runFrame();
    expect(bufferIds()).toEqual([1, 2]);
    // Delivered: a later reconnect resumes instead of reading the page again.
    MockWebSocket.last.drop();
    client.retryNow();
    connect();
    expect(loadRecent).toHaveBeenCalledTimes(2);
    client.stop();
  });
});

describe("prependEntries", () => {
  beforeEach(() => resetStores());

  it("keeps the counts and the ring buffer's bound: the page's rows are the first evicted", () => {
    const store = useActivityConsoleStore.getState();
    store.setMaxEntries(1000);
    store.toggleLevel("debug"); // hide debug
    store.appendEntries(Array.from({ length: 990 }, (_, i) => makeEntry({ id: 1000 + i })));
    const page = Array.from({ length: 20 }, (_, i) => makeEntry({ id: 100 + i, level: i % 2 ? "debug" : "info" }));
    useActivityConsoleStore.getState().prependEntries(page);
    const s = useActivityConsoleStore.getState();
    expect(s.entryCount).toBe(1000);
    expect(s.rows.length).toBe(1000);
    // The 10 oldest page rows went; of the 10 kept (ids 110–119), 5 are debug and hidden.
    expect(s.rows.at(0)).toMatchObject({ id: 110 });
    expect(s.visibleEntryCount).toBe(995);
    expect(s.visibleRows.length).toBe(995);
  });

  it("skips entries already in the buffer, and repeats within the page", () => {
    const store = useActivityConsoleStore.getState();
    store.appendEntries(entries(5, 6));
    store.prependEntries(entries(3, 4, 4, 5));
    expect(bufferIds()).toEqual([3, 4, 5, 6]);
    expect(useActivityConsoleStore.getState().entryCount).toBe(4);
  });
});
