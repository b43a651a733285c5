/**
 * The keyboard selection's pure parts: which row `j`/`k` land on and how far the list scrolls to
 * keep it in view. The selection itself is keyed by entry id, so it survives new rows, eviction and
 * windowing.
 */

interface IndexedList<T> {
  readonly length: number;
  at(index: number): T | undefined;
}

/**
 * The index `step` selectable rows away from `from` (skipping rows that cannot be selected, such as
 * gap markers), or `from` itself at either end. With no current selection (`from < 0`) a step lands
 * on `fallback` (or the nearest selectable row to it).
 */
export function stepSelection<T>(
  list: IndexedList<T>,
  from: number,
  step: 1 | -1,
  selectable: (item: T) => boolean,
  fallback = list.length - 1,
): number {
  if (list.length === 0) return -1;
  if (from < 0 || from >= list.length) {
    const start = Math.min(Math.max(fallback, 0), list.length - 1);
    for (let i = start; i >= 0 && i < list.length; i += step === 1 ? -1 : 1) {
      if (selectable(list.at(i)!)) return i;
    }
    for (let i = start; i >= 0 && i < list.length; i += step) {
      if (selectable(list.at(i)!)) return i;
    }
    return -1;
  }
  for (let i = from + step; i >= 0 && i < list.length; i += step) {
    if (selectable(list.at(i)!)) return i;
  }
  return from;
}

/** The first (`edge` "first") or last selectable index, or -1. */
export function edgeSelection<T>(list: IndexedList<T>, edge: "first" | "last", selectable: (item: T) => boolean): number {
  if (edge === "first") {
    for (let i = 0; i < list.length; i++) if (selectable(list.at(i)!)) return i;
  } else {
    for (let i = list.length - 1; i >= 0; i--) if (selectable(list.at(i)!)) return i;
  }
  return -1;
}

/** The scrollTop that brings a row (`top`, `height`) fully into a viewport, moving as little as possible. */
export function revealScrollTop(rowTop: number, rowHeight: number, scrollTop: number, viewport: number): number {
  if (rowTop < scrollTop) return rowTop;
  const bottom = rowTop + Math.min(rowHeight, viewport);
  if (bottom > scrollTop + viewport) return bottom - viewport;
  return scrollTop;
}
