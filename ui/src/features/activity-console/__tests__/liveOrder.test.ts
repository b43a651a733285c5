import { beforeEach, describe, expect, it } from "vitest";
import { makeEntry, resetStores } from "../../../test/utils";
import { useActivityConsoleStore as store } from "../stores/activityConsoleStore";
import type { ConsoleRow } from "../rows";
import { insertionIndexFromEnd, RowList } from "../rowList";

const ids = (rows: RowList<ConsoleRow>) => rows.map((r) => (r.kind === "entry" ? r.id : `gap:${r.skipped}`));
/** An entry at second `s` (fractions allowed) of a fixed minute. */
const at = (id: number, s: number, over = {}) =>
  makeEntry({ id, timestamp: new Date(Date.UTC(2026, 10, 26, 5, 30, 0) + s * 1000).toISOString(), ...over });
const lateIds = () => store.getState().rows.map((r) => (r.kind === "entry" && r.late ? r.id : null)).filter((x) => x != null);

describe("live tail time order", () => {
  beforeEach(resetStores);

  it("places entries committed out of time order by timestamp, ties by id", () => {
    const s = store.getState();
    s.appendEntries([at(1, 10), at(2, 11), at(3, 12)]);
    s.appendEntries([at(4, 10.5), at(6, 11), at(5, 11), at(7, 13)]);
    expect(ids(store.getState().rows)).toEqual([1, 4, 2, 5, 6, 3, 7]);
    expect(ids(store.getState().visibleRows)).toEqual([1, 4, 2, 5, 6, 3, 7]);
    expect(lateIds()).toEqual([]);
    // Sequence numbers still increase along the list (rows are found by binary search on them).
    const seqs = store.getState().rows.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it("an entry older than the window is placed at its time and marked late, never dropped", () => {
    const s = store.getState();
    s.appendEntries([at(1, 1), at(2, 5), at(3, 10)]);
    s.appendEntries([at(4, 6)]);
    expect(ids(store.getState().rows)).toEqual([1, 2, 4, 3]);
    expect(lateIds()).toEqual([4]);
    expect(store.getState().entryCount).toBe(4);
    expect(store.getState().visibleEntryCount).toBe(4);
  });

  it("keeps the filtered view a subsequence in the same order and counts new entries while paused", () => {
    const s = store.getState();
    s.appendEntries([at(1, 10, { level: "debug" }), at(2, 11), at(3, 12, { level: "debug" })]);
    s.toggleLevel("debug");
    s.setPaused(true);
    s.appendEntries([at(4, 10.5), at(5, 11.5, { level: "debug" })]);
    expect(ids(store.getState().rows)).toEqual([1, 4, 2, 5, 3]);
    expect(ids(store.getState().visibleRows)).toEqual([4, 2]);
    expect(store.getState().newWhilePaused).toBe(1);
    expect(store.getState().isPaused).toBe(true);
  });

  it("evicts the oldest rows after a reordered batch", () => {
    store.setState({ maxEntries: 3 });
    const s = store.getState();
    s.appendEntries([at(1, 10), at(2, 11), at(3, 12)]);
    s.appendEntries([at(4, 11.5)]);
    expect(ids(store.getState().rows)).toEqual([2, 4, 3]);
    expect(ids(store.getState().visibleRows)).toEqual([2, 4, 3]);
  });

  it("a gap marker keeps its place: entries newer than it go after it", () => {
    const s = store.getState();
    s.appendEntries([at(1, 10)]);
    s.markLagged(5);
    s.appendEntries([at(7, 9.5), at(8, 11)]);
    expect(ids(store.getState().rows)).toEqual([7, 1, "gap:5", 8]);
  });
});

describe("insertionIndexFromEnd", () => {
  it("finds the first element after the item, searching from the end", () => {
    const list = RowList.from([1, 3, 3, 5, 7, 9, 11]);
    const after = (a: number, b: number) => a > b;
    expect(insertionIndexFromEnd(list, 12, after)).toBe(7);
    expect(insertionIndexFromEnd(list, 10, after)).toBe(6);
    expect(insertionIndexFromEnd(list, 3, after)).toBe(3);
    expect(insertionIndexFromEnd(list, 0, after)).toBe(0);
    expect(insertionIndexFromEnd(RowList.empty<number>(), 1, after)).toBe(0);
  });
});
