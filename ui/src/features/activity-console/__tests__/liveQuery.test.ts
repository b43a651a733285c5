import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { recentPagesForTest, streamClientForTest } from "../../../test/streamClient";
import { MockWebSocket, makeEntry, resetStores } from "../../../test/utils";
import { applyStreamEvents } from "../hooks/useActivityLogStream";
import { selectStreamFilter, useActivityConsoleStore as store } from "../stores/activityConsoleStore";

const entries = (...ids: number[]) => ids.map((id) => makeEntry({ id }));
const bufferIds = () => store.getState().rows.map((r) => (r.kind === "entry" ? r.id : "gap"));
type Sent = Record<string, unknown> & { action: string };

/** A client wired to the real store as the app wires it, with frames run and pages answered by the test. */
function setup() {
  const { pages, loadRecent } = recentPagesForTest();
  const { client, runFrame } = streamClientForTest({
    getFilter: () => selectStreamFilter(store.getState()),
    onEvents: applyStreamEvents,
    onStatus: (s) => store.getState().setConnectionStatus(s),
    onQueryRefused: (refusal) => store.getState().setQueryError(refusal),
    onQueryInForce: (q) => store.getState().setQueryInForce(q),
    loadRecent,
  });
  const sent = () => MockWebSocket.last.sent as Sent[];
  const lastSent = () => sent().at(-1)!;
  /** The server's answer to the last message: the filter it now runs. */
  const answer = () => {
    const { action: _action, after_id: _after, ...filter } = lastSent();
    MockWebSocket.last.receive({ type: "subscribed", filter });
  };
  /** A filter change as the stream hook reports it, past the debounce. */
  const change = (mutate: () => void) => {
    mutate();
    client.filterChanged();
    vi.advanceTimersByTime(300);
  };
  return { client, pages, loadRecent, runFrame, sent, lastSent, answer, change };
}

describe("the live query (q) on the stream", () => {
  beforeEach(() => {
    MockWebSocket.instances = [];
    resetStores();
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  it("restarts the subscription for a new query, empties the tail on the answer and reads the recent page with it", async () => {
    const { client, pages, loadRecent, runFrame, lastSent, answer, change } = setup();
    client.start();
    MockWebSocket.last.open();
    answer();
    pages[0]!.resolve(entries(2, 1));
    await client.recentLoad;
    MockWebSocket.last.receive({ type: "entries", entries: entries(3) });
    runFrame();
    expect(bufferIds()).toEqual([1, 2, 3]);

    change(() => store.getState().setQueryText("gpu:1 level>=warn"));
    // A fresh subscription, not a resume: the rows after the last one seen are not the new query's.
    expect(lastSent()).toMatchObject({ action: "subscribe", q: "gpu:1 level>=warn" });
    expect(lastSent()).not.toHaveProperty("after_id");
    // Until the answer, entries are the old query's: they stay until then.
    MockWebSocket.last.receive({ type: "entries", entries: entries(4) });
    runFrame();
    expect(bufferIds()).toEqual([1, 2, 3, 4]);

    answer();
    expect(store.getState().queryInForce).toBe("gpu:1 level>=warn");
    expect(loadRecent).toHaveBeenCalledTimes(2);
    expect(loadRecent.mock.calls[1]![0].q).toBe("gpu:1 level>=warn");
    MockWebSocket.last.receive({ type: "entries", entries: entries(12) });
    runFrame();
    expect(bufferIds()).toEqual([12]);
    pages[1]!.resolve(entries(11, 10));
    await client.recentLoad;
    runFrame();
    expect(bufferIds()).toEqual([10, 11, 12]);
    client.stop();
  });

  it("keeps the query in force when the server refuses one, and still applies the other filters", () => {
    const { client, runFrame, lastSent, answer, change } = setup();
    client.start();
    MockWebSocket.last.open();
    answer();
    change(() => store.getState().setQueryText("gpu:1"));
    answer();
    MockWebSocket.last.receive({ type: "entries", entries: entries(20) });
    runFrame();

    change(() => store.getState().setQueryText("gpu:1 (level:warn"));
    expect(lastSent()).toMatchObject({ action: "subscribe", q: "gpu:1 (level:warn" });
    MockWebSocket.last.receive({ type: "error", message: "q: expected ')' at the end of the query", position: 17 });
    expect(store.getState().queryError).toEqual({ query: "gpu:1 (level:warn", message: "expected ')' at the end of the query", position: 17 });
    // The refused message changed nothing on the server; the filter goes again with the query in force.
    expect(lastSent()).toMatchObject({ action: "update_filter", q: "gpu:1" });
    answer();
    MockWebSocket.last.receive({ type: "entries", entries: entries(21) });
    runFrame();
    expect(bufferIds()).toEqual([20, 21]);
    expect(store.getState().queryText).toBe("gpu:1 (level:warn");

    change(() => store.getState().toggleLevel("debug"));
    expect(lastSent()).toMatchObject({ action: "update_filter", q: "gpu:1", levels: ["info", "warn", "error"] });

    change(() => store.getState().setQueryText("gpu:2"));
    expect(store.getState().queryError).toBeNull();
    expect(lastSent()).toMatchObject({ action: "subscribe", q: "gpu:2" });
    client.stop();
  });

  it("subscribes again without a refused query when there was no subscription yet (a bad query in the URL)", () => {
    const { client, loadRecent, sent, lastSent, answer } = setup();
    store.getState().setQueryText("gpu:(");
    client.start();
    MockWebSocket.last.open();
    expect(lastSent()).toMatchObject({ action: "subscribe", q: "gpu:(" });
    MockWebSocket.last.receive({ type: "error", message: "q: expected a value", position: 4 });
    expect(store.getState().connectionStatus).toBe("connecting");
    expect(sent().filter((m) => m.action === "subscribe")).toHaveLength(2);
    expect(lastSent()).toMatchObject({ action: "subscribe", q: null });
    answer();
    expect(store.getState().connectionStatus).toBe("connected");
    expect(loadRecent.mock.calls[0]![0].q).toBeNull();
    expect(store.getState().queryError).toMatchObject({ query: "gpu:(", position: 4 });
    client.stop();
  });

  it("starts afresh after a reconnect when the query changed while disconnected", () => {
    const { client, lastSent, answer, runFrame } = setup();
    client.start();
    MockWebSocket.last.open();
    answer();
    MockWebSocket.last.receive({ type: "entries", entries: entries(30) });
    runFrame();
    MockWebSocket.last.drop();
    store.getState().setQueryText("service:api");
    vi.advanceTimersByTime(1000);
    MockWebSocket.last.open();
    expect(lastSent()).toMatchObject({ action: "subscribe", q: "service:api" });
    expect(lastSent()).not.toHaveProperty("after_id");
    answer();
    runFrame();
    expect(bufferIds()).toEqual([]);
    client.stop();
  });
});
