/**
 * Layout of the virtualized console list without a per-row measurement cache.
 *
 * Every collapsed row (log line or gap marker) is exactly `rowHeight` tall (one monospace line,
 * ellipsized), so only the few rows that are taller — expanded rows, measured — need bookkeeping:
 * a row's top is `index * rowHeight` plus the extra height of the tall rows above it. Appending or
 * evicting rows therefore costs nothing here, however large the buffer; a layout question costs
 * O(tall rows).
 */
export interface TallRow {
  index: number;
  /** Measured height minus `rowHeight` (> 0). */
  extra: number;
}

export interface RowLayout {
  count: number;
  rowHeight: number;
  /** Sorted by index, no duplicates. */
  tall: readonly TallRow[];
}

export function totalHeight(layout: RowLayout): number {
  let extra = 0;
  for (const t of layout.tall) extra += t.extra;
  return layout.count * layout.rowHeight + extra;
}

/** Top of row `index` (also valid for `index === count`: the end of the list). */
export function rowTop(layout: RowLayout, index: number): number {
  let top = index * layout.rowHeight;
  for (const t of layout.tall) {
    if (t.index >= index) break;
    top += t.extra;
  }
  return top;
}

export function rowHeightAt(layout: RowLayout, index: number): number {
  for (const t of layout.tall) {
    if (t.index === index) return layout.rowHeight + t.extra;
    if (t.index > index) break;
  }
  return layout.rowHeight;
}

/** Index of the row covering pixel `offset` (clamped to the list). */
export function rowAt(layout: RowLayout, offset: number): number {
  const { count, rowHeight } = layout;
  if (count === 0) return 0;
  let extraAbove = 0;
  for (const t of layout.tall) {
    const top = t.index * rowHeight + extraAbove;
    if (offset < top) break;
    if (offset < top + rowHeight + t.extra) return t.index;
    extraAbove += t.extra;
  }
  return Math.min(count - 1, Math.max(0, Math.floor((offset - extraAbove) / rowHeight)));
}

/**
 * Height of the first `removed` rows of `layout`: how far a paused reader's scrollTop must move up
 * when eviction drops them, so the rows under their eyes stay put.
 */
export function heightOfFirst(layout: RowLayout, removed: number): number {
  return rowTop(layout, Math.min(removed, layout.count)) + Math.max(0, removed - layout.count) * layout.rowHeight;
}

/** The rows to render for a viewport at `offset`, plus `overscan` rows on each side. */
export function visibleRange(layout: RowLayout, offset: number, viewport: number, overscan: number) {
  if (layout.count === 0) return { start: 0, end: 0 };
  const start = Math.max(0, rowAt(layout, offset) - overscan);
  const end = Math.min(layout.count, rowAt(layout, offset + viewport) + 1 + overscan);
  return { start, end };
}
