import { describe, expect, it } from "vitest";
import { makeEntry } from "../../../test/utils";
import { RowList, indexOfSeq } from "../rowList";
import { heightOfFirst, rowAt, rowTop, totalHeight, visibleRange } from "../rowLayout";
import type { RowLayout } from "../rowLayout";
import { evict } from "../stores/activityConsoleStore";
import { toEntryRow } from "../rows";
import type { ConsoleRow } from "../rows";

describe("RowList", () => {
  it("appends and drops without disturbing older views", () => {
    const a = RowList.from([1, 2, 3]);
    const b = a.push([4, 5]);
    const c = b.dropFront(2);
    expect(a.toArray()).toEqual([1, 2, 3]);
    expect(b.toArray()).toEqual([1, 2, 3, 4, 5]);
    expect(c.toArray()).toEqual([3, 4, 5]);
    // Appending to an older view again must not leak into the newer ones (and vice versa).
    const d = a.push([9]);
    const e = c.push([6]);
    expect(d.toArray()).toEqual([1, 2, 3, 9]);
    expect(e.toArray()).toEqual([3, 4, 5, 6]);
    expect(b.toArray()).toEqual([1, 2, 3, 4, 5]);
    expect(e.at(-1)).toBe(6);
    expect(e.at(4)).toBeUndefined();
  });

  it("stays correct through many evicting appends (compaction included)", () => {
    let list = RowList.empty<number>();
    let next = 0;
    for (let batch = 0; batch < 200; batch++) {
      list = list.push(Array.from({ length: 37 }, () => next++));
      if (list.length > 1000) list = list.dropFront(list.length - 1000);
    }
    expect(list.length).toBe(1000);
    expect(list.at(0)).toBe(next - 1000);
    expect(list.toArray()).toEqual(Array.from({ length: 1000 }, (_, i) => next - 1000 + i));
  });

  it("finds a row's index by its seq with a binary search", () => {
    const list = RowList.from([2, 5, 7, 7.5, 11].map((seq) => ({ seq })));
    expect(indexOfSeq(list, 7.5)).toBe(3);
    expect(indexOfSeq(list, 2)).toBe(0);
    expect(indexOfSeq(list, 6)).toBe(-1);
  });
});

describe("evict (the filtered view on eviction)", () => {
  /** A list that fails the test if anything reads beyond the rows that are dropped. */
  function guarded(rows: ConsoleRow[]) {
    const list = RowList.from(rows);
    const at = list.at.bind(list);
    const reads: number[] = [];
    list.at = (i: number) => {
      reads.push(i);
      return at(i);
    };
    return { list, reads };
  }

  it("only looks at the dropped rows, not the whole buffer", () => {
    const rows: ConsoleRow[] = Array.from({ length: 10_000 }, (_, i) => toEntryRow(makeEntry({ id: i + 1, level: i % 2 ? "info" : "debug" })));
    const buffer = guarded(rows);
    const view = guarded(rows.filter((r) => r.kind === "entry" && r.entry.level === "info"));
    const out = evict(buffer.list, view.list, 9_997);
    expect(out.evictedEntries).toBe(3);
    expect(out.evictedVisible).toBe(1); // rows 1..3: only id 2 is "info"
    expect(out.evictedVisibleEntries).toBe(1);
    expect(Math.max(...buffer.reads)).toBeLessThan(3);
    expect(Math.max(...view.reads)).toBeLessThan(2);
    expect(out.rows.length).toBe(9_997);
    expect(out.visible.at(0)).toBe(rows[3]);
  });
});

describe("row layout", () => {
  const layout: RowLayout = { count: 100, rowHeight: 20, tall: [{ index: 10, extra: 80 }, { index: 50, extra: 30 }] };

  it("places rows at index × height plus the extra height of expanded rows above", () => {
    expect(rowTop(layout, 0)).toBe(0);
    expect(rowTop(layout, 10)).toBe(200);
    expect(rowTop(layout, 11)).toBe(300);
    expect(rowTop(layout, 51)).toBe(51 * 20 + 110);
    expect(totalHeight(layout)).toBe(2000 + 110);
    expect(rowTop(layout, 100)).toBe(totalHeight(layout));
  });

  it("maps offsets back to rows, inside tall rows too", () => {
    expect(rowAt(layout, 0)).toBe(0);
    expect(rowAt(layout, 250)).toBe(10);
    expect(rowAt(layout, 300)).toBe(11);
    expect(rowAt(layout, 99_999)).toBe(99);
    expect(visibleRange(layout, 300, 100, 2)).toEqual({ start: 9, end: 19 });
  });

  it("measures the height of evicted rows, expanded ones included", () => {
    expect(heightOfFirst(layout, 5)).toBe(100);
    expect(heightOfFirst(layout, 12)).toBe(12 * 20 + 80);
  });
});
