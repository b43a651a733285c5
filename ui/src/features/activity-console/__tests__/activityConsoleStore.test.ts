import { beforeEach, describe, expect, it } from "vitest";
import { makeEntry, resetStores } from "../../../test/utils";
import { MAX_MAX_ENTRIES } from "../constants";
import { useActivityConsoleStore as store } from "../stores/activityConsoleStore";
import type { ConsoleRow } from "../rows";
import type { RowList } from "../rowList";

const ids = (rows: RowList<ConsoleRow>) => rows.map((r) => (r.kind === "entry" ? r.id : `gap:${r.skipped}`));

describe("activityConsoleStore ring buffer", () => {
  beforeEach(resetStores);

  it("defaults to 10,000 entries and clamps the configured size to 100,000", () => {
    expect(store.getState().maxEntries).toBe(10_000);
    store.getState().setMaxEntries(1_000_000);
    expect(store.getState().maxEntries).toBe(MAX_MAX_ENTRIES);
  });

  it("drops the oldest entries when full", () => {
    store.setState({ maxEntries: 5 });
    store.getState().appendEntries([1, 2, 3, 4].map((id) => makeEntry({ id })));
    store.getState().appendEntries([5, 6, 7].map((id) => makeEntry({ id })));
    const s = store.getState();
    expect(ids(s.rows)).toEqual([3, 4, 5, 6, 7]);
    expect(ids(s.visibleRows)).toEqual([3, 4, 5, 6, 7]);
    expect(s.entryCount).toBe(5);
    expect(s.evictedVisible).toBe(2);
  });

  it("evicts hidden rows from the buffer without touching the visible count wrongly", () => {
    store.setState({ maxEntries: 4 });
    store.getState().toggleLevel("debug"); // hide debug
    store.getState().appendEntries([
      makeEntry({ id: 1, level: "debug" }),
      makeEntry({ id: 2 }),
      makeEntry({ id: 3, level: "debug" }),
      makeEntry({ id: 4 }),
    ]);
    store.getState().appendEntries([makeEntry({ id: 5 }), makeEntry({ id: 6 })]);
    const s = store.getState();
    expect(ids(s.rows)).toEqual([3, 4, 5, 6]);
    expect(ids(s.visibleRows)).toEqual([4, 5, 6]);
    expect(s.evictedVisible).toBe(1);
  });

  it("shrinking the buffer evicts immediately", () => {
    store.getState().appendEntries(Array.from({ length: 1500 }, (_, i) => makeEntry({ id: i + 1 })));
    store.getState().setMaxEntries(1000);
    expect(store.getState().rows).toHaveLength(1000);
    expect(store.getState().entryCount).toBe(1000);
  });

  it("keeps accumulating while paused and counts what arrived", () => {
    store.getState().setPaused(true, "scroll");
    store.getState().appendEntries([makeEntry(), makeEntry()]);
    store.getState().appendEntries([makeEntry({ level: "debug", category: "verbose" })]); // hidden in Activity mode
    expect(store.getState().entryCount).toBe(3);
    expect(store.getState().newWhilePaused).toBe(2);
    store.getState().setPaused(false);
    expect(store.getState().newWhilePaused).toBe(0);
  });

  it("expanding a row stops following; collapsing resumes that pause only", () => {
    store.getState().appendEntries([makeEntry({ id: 1 })]);
    store.getState().toggleExpanded("e1");
    expect(store.getState()).toMatchObject({ isPaused: true, pauseReason: "inspect" });
    store.getState().collapseAll();
    expect(store.getState().isPaused).toBe(false);
    store.getState().setPaused(true, "user");
    store.getState().toggleExpanded("e1");
    store.getState().collapseAll();
    expect(store.getState()).toMatchObject({ isPaused: true, pauseReason: "user" });
  });

  it("clear empties the visible buffer only", () => {
    store.getState().appendEntries([makeEntry(), makeEntry()]);
    store.getState().clearEntries();
    expect(store.getState().rows).toHaveLength(0);
    expect(store.getState().entryCount).toBe(0);
  });
});

describe("activityConsoleStore filters", () => {
  beforeEach(resetStores);

  it("filters by level and source sets, mode, search and entity", () => {
    const s = () => store.getState();
    s().appendEntries([
      makeEntry({ id: 1, level: "info", source: "api", message: "Job started" }),
      makeEntry({ id: 2, level: "error", source: "worker", message: "GPU out of memory" }),
      makeEntry({ id: 3, level: "debug", source: "comfyui", category: "verbose", message: "tick" }),
      makeEntry({ id: 4, level: "warn", source: "agent", entity_type: "job", entity_id: 7, message: "slow job" }),
    ]);
    expect(ids(s().visibleRows)).toEqual([1, 2, 4]); // curated mode hides verbose
    s().setMode("verbose");
    expect(ids(s().visibleRows)).toEqual([1, 2, 3, 4]);
    s().toggleLevel("error");
    expect(s().levels.has("error")).toBe(false);
    expect(ids(s().visibleRows)).toEqual([1, 3, 4]);
    s().toggleSource("comfyui");
    expect(ids(s().visibleRows)).toEqual([1, 4]);
    s().toggleLevel("error");
    s().setSearchText("MEMORY");
    expect(ids(s().visibleRows)).toEqual([2]);
    s().setSearchText("");
    s().setEntityFilter({ type: "job", id: 7 });
    expect(ids(s().visibleRows)).toEqual([4]);
    s().setEntityFilter({});
    expect(s().entityFilter).toBeNull();
  });
});

describe("activityConsoleStore lagged gaps", () => {
  beforeEach(resetStores);

  it("records a gap after the last id and closes it with the next id", () => {
    store.getState().appendEntries([makeEntry({ id: 10 })]);
    store.getState().markLagged(5);
    store.getState().markLagged(3); // merged: nothing arrived in between
    store.getState().appendEntries([makeEntry({ id: 20 })]);
    const gap = store.getState().rows.at(1);
    expect(gap).toMatchObject({ kind: "gap", skipped: 8, afterId: 10, beforeId: 20 });
    expect(store.getState().skippedTotal).toBe(8);
    // Gap markers stay visible whatever the filter.
    store.getState().toggleLevel("info");
    expect(ids(store.getState().visibleRows)).toEqual(["gap:8"]);
  });

  it("replaces the gap with backfilled entries in id order, without duplicates", () => {
    store.getState().appendEntries([makeEntry({ id: 10 })]);
    store.getState().markLagged(3);
    store.getState().appendEntries([makeEntry({ id: 14 })]);
    const key = store.getState().rows.at(1)!.key;
    store.getState().resolveGap(key, [makeEntry({ id: 13 }), makeEntry({ id: 11 }), makeEntry({ id: 12 }), makeEntry({ id: 14 })]);
    expect(ids(store.getState().rows)).toEqual([10, 11, 12, 13, 14]);
    expect(store.getState().entryCount).toBe(5);
  });

  it("keeps a marker for the rest of a gap that was only partly fetched", () => {
    store.getState().appendEntries([makeEntry({ id: 10 })]);
    store.getState().markLagged(5000);
    store.getState().appendEntries([makeEntry({ id: 6000 })]);
    const key = store.getState().rows.at(1)!.key;
    store.getState().resolveGap(key, [makeEntry({ id: 11 }), makeEntry({ id: 12 })], false);
    expect(ids(store.getState().rows)).toEqual([10, 11, 12, "gap:4998", 6000]);
    expect(store.getState().rows.at(3)).toMatchObject({ afterId: 12, beforeId: 6000 });
  });
});
