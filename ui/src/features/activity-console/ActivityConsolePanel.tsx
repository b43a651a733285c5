import { ArrowDownToLine, Eraser, Pause, Play } from "lucide-react";
import { useCallback, useLayoutEffect, useMemo, useReducer, useRef, useState } from "react";
import { ConsoleFilterToolbar } from "./ConsoleFilterToolbar";
import { ContextDialog } from "./components/ContextDialog";
import { GapMarker, LogRow } from "./components/LogRow";
import { liveFilterTarget } from "./entryDetail/filterTargets";
import { DEFAULT_MAX_ENTRIES, MAX_MAX_ENTRIES, ROW_HEIGHT, TAIL_THRESHOLD_PX } from "./constants";
import { fetchGapEntries } from "./hooks/useActivityLogHistory";
import { KEYBOARD_PANE_ATTRIBUTE, useConsoleKeyboard } from "./hooks/useConsoleKeyboard";
import { edgeSelection, revealScrollTop, stepSelection } from "./keyboardSelection";
import type { ConsoleRow, GapRow } from "./rows";
import { indexOfSeq } from "./rowList";
import { heightOfFirst, rowHeightAt, rowTop, visibleRange } from "./rowLayout";
import type { RowLayout, TallRow } from "./rowLayout";
import { selectStreamFilter, streamFilterToQuery, useActivityConsoleStore } from "./stores/activityConsoleStore";
import type { ActivityLogEntry, ConnectionStatus } from "./types";

const OVERSCAN = 16;
/** Until the viewport has been measured, render as if it were this tall. */
const FALLBACK_VIEWPORT = 40 * ROW_HEIGHT;

const BUFFER_SIZES = [DEFAULT_MAX_ENTRIES, 25_000, 50_000, MAX_MAX_ENTRIES];

const STATUS_TEXT: Record<ConnectionStatus, string> = {
  idle: "Offline",
  connecting: "Connecting…",
  connected: "Live",
  disconnected: "Reconnecting…",
};

interface ActivityConsolePanelProps {
  /** Extra header controls (dock position, close, open full page). */
  actions?: React.ReactNode;
  /** Whether `/`, `p`, `End` and `Esc` act on this panel. */
  keyboardShortcuts?: boolean;
  className?: string;
  /** Wrap long messages onto more lines instead of cutting them (a narrow dock). */
  wrapMessages?: boolean;
  /** Controls beside the live query bar (the console page's Sync toggle). */
  queryActions?: React.ReactNode;
}

const isEntryRow = (row: ConsoleRow) => row.kind === "entry";

/** The index of the row with `key`, newest first (the keyboard selection is near the tail). */
function indexOfKey(rows: { length: number; at(i: number): ConsoleRow | undefined }, key: string): number {
  for (let i = rows.length - 1; i >= 0; i--) if (rows.at(i)!.key === key) return i;
  return -1;
}

async function backfillGap(row: GapRow): Promise<void> {
  const store = useActivityConsoleStore.getState();
  store.setGapStatus(row.key, "loading");
  try {
    const { entries, complete } = await fetchGapEntries(
      streamFilterToQuery(selectStreamFilter(store)),
      row.afterId,
      row.beforeId,
    );
    useActivityConsoleStore.getState().resolveGap(row.key, entries, complete);
  } catch (e) {
    useActivityConsoleStore.getState().setGapStatus(row.key, "error", (e as Error).message);
  }
}

/** The terminal-style live tail: filter toolbar, virtualized rows, follow-the-tail with an obvious paused state. */
export function ActivityConsolePanel({
  actions,
  keyboardShortcuts = true,
  className,
  wrapMessages = false,
  queryActions,
}: ActivityConsolePanelProps) {
  const visibleRows = useActivityConsoleStore((s) => s.visibleRows);
  const visibleEntryCount = useActivityConsoleStore((s) => s.visibleEntryCount);
  const entryCount = useActivityConsoleStore((s) => s.entryCount);
  const maxEntries = useActivityConsoleStore((s) => s.maxEntries);
  const isPaused = useActivityConsoleStore((s) => s.isPaused);
  const pauseReason = useActivityConsoleStore((s) => s.pauseReason);
  const newWhilePaused = useActivityConsoleStore((s) => s.newWhilePaused);
  const evictedVisible = useActivityConsoleStore((s) => s.evictedVisible);
  const expanded = useActivityConsoleStore((s) => s.expanded);
  const searchText = useActivityConsoleStore((s) => s.searchText);
  const status = useActivityConsoleStore((s) => s.connectionStatus);
  const skippedTotal = useActivityConsoleStore((s) => s.skippedTotal);
  const clearEntries = useActivityConsoleStore((s) => s.clearEntries);
  const toggleExpanded = useActivityConsoleStore((s) => s.toggleExpanded);
  const collapseAll = useActivityConsoleStore((s) => s.collapseAll);
  const setMaxEntries = useActivityConsoleStore((s) => s.setMaxEntries);

  const scrollRef = useRef<HTMLDivElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const lastScrollTop = useRef(0);
  const [contextEntry, setContextEntry] = useState<ActivityLogEntry | null>(null);
  const sectionRef = useRef<HTMLElement>(null);
  /** The keyboard selection, keyed by row key (entry id); `reveal` asks the layout effect to scroll it into view. */
  const [selectedKey, setSelectedKey] = useState<string | null>(null);
  const revealSelected = useRef(false);

  // ---- Virtualization (see rowLayout.ts): collapsed rows are ROW_HEIGHT exactly; only expanded rows
  // are measured, keyed by row key (with their seq, to find their index by binary search).
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  /** The scroller's scrollTop as last seen or set (a ref: read at render, never stale after a compensation). */
  const scrollTop = useRef(0);
  const [viewport, setViewport] = useState(0);
  const measured = useRef(new Map<string, { seq: number; height: number }>());
  const [measureVersion, bumpMeasureVersion] = useReducer((n: number) => n + 1, 0);

  const layout = useMemo<RowLayout>(() => {
    const tall: TallRow[] = [];
    for (const [key, m] of measured.current) {
      if (!expanded.has(key) && !wrapMessages) {
        measured.current.delete(key);
        continue;
      }
      if (m.height <= ROW_HEIGHT) continue;
      const index = indexOfSeq(visibleRows, m.seq);
      if (index >= 0 && visibleRows.at(index)!.key === key) tall.push({ index, extra: m.height - ROW_HEIGHT });
      // Wrapped rows are all measured: forget those evicted, so the map stays as small as the buffer.
      else if (wrapMessages && index < 0) measured.current.delete(key);
    }
    tall.sort((a, b) => a.index - b.index);
    return { count: visibleRows.length, rowHeight: ROW_HEIGHT, tall };
    // measureVersion: `measured` is a ref that changed.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [visibleRows, expanded, measureVersion, wrapMessages]);

  /** What the last commit rendered: eviction since then is measured against it. */
  const committed = useRef({ evicted: evictedVisible, layout });
  const evictedSinceCommit = evictedVisible - committed.current.evicted;
  // Rows vanished above a paused reader: move up by their height so the text under their eyes stays put.
  const anchorShift = isPaused && evictedSinceCommit > 0 ? heightOfFirst(committed.current.layout, evictedSinceCommit) : 0;
  const offset = Math.max(0, scrollTop.current - anchorShift);
  const viewportHeight = viewport || FALLBACK_VIEWPORT;
  // While following, the list is pinned to the bottom in the layout effect below, before any scroll event
  // tells us the new offset: render the tail directly so that frame never shows blank space.
  const range = isPaused
    ? visibleRange(layout, offset, viewportHeight, OVERSCAN)
    : { start: Math.max(0, layout.count - Math.ceil(viewportHeight / ROW_HEIGHT) - OVERSCAN), end: layout.count };

  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    committed.current = { evicted: evictedVisible, layout };
    if (!isPaused) {
      el.scrollTop = el.scrollHeight;
    } else if (anchorShift > 0) {
      el.scrollTop = offset;
    }
    if (revealSelected.current && selectedKey) {
      revealSelected.current = false;
      // While following, the tail (and the newest row, selected by G) is in view already.
      const index = isPaused ? indexOfKey(visibleRows, selectedKey) : -1;
      if (index >= 0) el.scrollTop = revealScrollTop(rowTop(layout, index), rowHeightAt(layout, index), el.scrollTop, el.clientHeight);
    }
    lastScrollTop.current = el.scrollTop;
    // Render the rows now in view at once rather than on the scroll event that follows.
    if (scrollTop.current !== el.scrollTop && isPaused) {
      scrollTop.current = el.scrollTop;
      rerender();
    }
    scrollTop.current = el.scrollTop;
  }, [visibleRows, isPaused, evictedVisible, layout, anchorShift, offset, selectedKey]);

  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    setViewport(el.clientHeight);
    if (typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(() => setViewport(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  /** Records an expanded row's height; a paused reader's view stays put when a row above it changes. */
  const recordHeight = useCallback((el: HTMLElement, height: number) => {
    const key = el.dataset.rowKey;
    const seq = Number(el.dataset.seq);
    if (!key || !(height > 0)) return;
    const before = measured.current.get(key)?.height ?? ROW_HEIGHT;
    if (Math.abs(before - height) < 0.5) return;
    measured.current.set(key, { seq, height });
    const scroller = scrollRef.current;
    const state = useActivityConsoleStore.getState();
    if (scroller && state.isPaused) {
      const index = indexOfSeq(state.visibleRows, seq);
      if (index >= 0 && rowTop(committed.current.layout, index) < scroller.scrollTop) {
        scroller.scrollTop += height - before;
        scrollTop.current = lastScrollTop.current = scroller.scrollTop;
      }
    }
    bumpMeasureVersion();
  }, []);

  const resizeObserver = useRef<ResizeObserver | null>(null);
  useLayoutEffect(() => () => resizeObserver.current?.disconnect(), []);
  const measureRef = useCallback(
    (el: HTMLDivElement | null) => {
      if (!el) return;
      recordHeight(el, el.getBoundingClientRect().height);
      if (typeof ResizeObserver === "undefined") return;
      resizeObserver.current ??= new ResizeObserver((entries) => {
        for (const entry of entries) {
          const target = entry.target as HTMLElement;
          recordHeight(target, entry.borderBoxSize?.[0]?.blockSize ?? target.getBoundingClientRect().height);
        }
      });
      const ro = resizeObserver.current;
      ro.observe(el);
      return () => ro.unobserve(el);
    },
    [recordHeight],
  );

  const onScroll = useCallback(() => {
    const el = scrollRef.current;
    if (!el) return;
    const top = el.scrollTop;
    if (top !== scrollTop.current) {
      scrollTop.current = top;
      rerender();
    }
    const fromBottom = el.scrollHeight - top - el.clientHeight;
    const movedUp = top < lastScrollTop.current - 1;
    // Only the reader scrolling down resumes: a filter shrinking the list also lands it at the bottom, and
    // typing a search while paused must not start following again.
    const movedDown = top > lastScrollTop.current + 1;
    lastScrollTop.current = top;
    const state = useActivityConsoleStore.getState();
    if (!state.isPaused && movedUp && fromBottom > TAIL_THRESHOLD_PX) {
      state.setPaused(true, "scroll");
    } else if (state.isPaused && state.pauseReason === "scroll" && movedDown && fromBottom <= TAIL_THRESHOLD_PX) {
      // Scrolling back down to the end resumes a pause that scrolling started (not one the user asked for,
      // nor one an expanded row holds).
      state.setPaused(false);
    }
  }, []);

  const onWheel = useCallback((e: React.WheelEvent) => {
    const el = scrollRef.current;
    // Pause on the first wheel tick up, before the scroll event, so no new row can pull the view back down.
    if (e.deltaY < 0 && el && el.scrollHeight > el.clientHeight && !useActivityConsoleStore.getState().isPaused) {
      useActivityConsoleStore.getState().setPaused(true, "scroll");
    }
  }, []);

  const jumpToLatest = useCallback(() => {
    useActivityConsoleStore.getState().setPaused(false);
    const el = scrollRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, []);

  const togglePause = useCallback(() => {
    const s = useActivityConsoleStore.getState();
    if (s.isPaused) jumpToLatest();
    else s.setPaused(true, "user");
  }, [jumpToLatest]);

  const select = (index: number) => {
    const row = index >= 0 ? useActivityConsoleStore.getState().visibleRows.at(index) : undefined;
    if (!row) return;
    revealSelected.current = true;
    setSelectedKey(row.key);
  };

  useConsoleKeyboard(
    {
      focusSearch: () => searchRef.current?.focus(),
      togglePause,
      jumpToLatest: () => {
        jumpToLatest();
        select(edgeSelection(useActivityConsoleStore.getState().visibleRows, "last", isEntryRow));
      },
      goToTop: () => {
        const s = useActivityConsoleStore.getState();
        if (!s.isPaused) s.setPaused(true, "user");
        select(edgeSelection(s.visibleRows, "first", isEntryRow));
      },
      collapseAll,
      moveSelection: (step) => {
        const s = useActivityConsoleStore.getState();
        const rows = s.visibleRows;
        const current = selectedKey ? indexOfKey(rows, selectedKey) : -1;
        // With nothing selected, start from the last row in view.
        const el = scrollRef.current;
        const inView = el ? Math.min(rows.length - 1, visibleRange(layout, el.scrollTop, el.clientHeight, 0).end - 1) : rows.length - 1;
        const next = stepSelection(rows, current, step, isEntryRow, inView);
        // Following the tail would carry the selection away: a selection off the newest row pauses.
        if (next >= 0 && next < rows.length - 1 && !s.isPaused) s.setPaused(true, "user");
        select(next);
      },
      openSelected: () => {
        if (!selectedKey || indexOfKey(useActivityConsoleStore.getState().visibleRows, selectedKey) < 0) return false;
        toggleExpanded(selectedKey);
        return true;
      },
    },
    keyboardShortcuts,
    { ref: sectionRef, isDefault: true },
  );

  const toggleRow = useCallback(
    (key: string) => {
      setSelectedKey(key);
      toggleExpanded(key);
    },
    [toggleExpanded],
  );

  const items: React.ReactNode[] = [];
  for (let i = range.start, top = rowTop(layout, range.start); i < range.end; i++) {
    const row = visibleRows.at(i);
    if (!row) break;
    const isExpanded = row.kind === "entry" && expanded.has(row.key);
    const isMeasured = isExpanded || wrapMessages;
    const isSelected = row.key === selectedKey;
    items.push(
      <div
        key={row.key}
        data-index={i}
        data-row-key={row.key}
        data-seq={row.seq}
        data-selected={isSelected || undefined}
        ref={isMeasured ? measureRef : undefined}
        className={`virtual-row${isMeasured ? "" : " is-fixed"}${isSelected ? " is-selected" : ""}`}
        style={{ transform: `translateY(${top}px)` }}
      >
        {row.kind === "entry" ? (
          <LogRow
            row={row}
            expanded={isExpanded}
            search={searchText}
            onToggle={toggleRow}
            onShowContext={setContextEntry}
            filterTarget={liveFilterTarget}
          />
        ) : (
          <GapMarker row={row} onBackfill={backfillGap} />
        )}
      </div>,
    );
    top += rowHeightAt(layout, i);
  }

  return (
    <section
      ref={sectionRef}
      {...{ [KEYBOARD_PANE_ATTRIBUTE]: "live" }}
      className={`console-panel${isPaused ? " is-paused" : ""}${wrapMessages ? " wrap-messages" : ""}${className ? ` ${className}` : ""}`}
      aria-label="Live activity console"
    >
      <header className="console-header">
        <span className={`status-dot status-${status}`} aria-hidden />
        <span className="console-status" role="status" aria-label={`Connection: ${STATUS_TEXT[status]}`}>
          {STATUS_TEXT[status]}
        </span>
        {isPaused && (
          <span className="paused-badge" role="status">
            <Pause size={12} aria-hidden /> PAUSED
            {pauseReason === "scroll" ? " (scrolled up)" : pauseReason === "inspect" ? " (row expanded)" : ""}
          </span>
        )}
        <span className="console-counts" aria-live="off">
          Showing {visibleEntryCount.toLocaleString()} of {entryCount.toLocaleString()}
        </span>
        {skippedTotal > 0 && (
          <span className="skipped-count" title="Entries the server dropped because this connection fell behind">
            {skippedTotal.toLocaleString()} skipped
          </span>
        )}
        <span className="spacer" />
        <button
          type="button"
          className={`btn btn-small${isPaused ? " btn-warn" : ""}`}
          onClick={togglePause}
          aria-label={isPaused ? "Resume following" : "Pause following"}
          title={isPaused ? "Resume (p)" : "Pause (p)"}
        >
          {isPaused ? <Play size={14} aria-hidden /> : <Pause size={14} aria-hidden />}
          {isPaused ? "Resume" : "Pause"}
        </button>
        <button
          type="button"
          className="btn btn-small"
          onClick={clearEntries}
          aria-label="Clear console"
          title="Clears this view only; stored logs are kept"
        >
          <Eraser size={14} aria-hidden /> Clear
        </button>
        <label className="buffer-size">
          <span className="visually-hidden">Buffer size</span>
          <select
            aria-label="Buffer size"
            value={maxEntries}
            onChange={(e) => setMaxEntries(Number(e.target.value))}
          >
            {[...new Set([...BUFFER_SIZES, maxEntries])].sort((a, b) => a - b).map((n) => (
              <option key={n} value={n}>
                {(n / 1000).toLocaleString()}k rows
              </option>
            ))}
          </select>
        </label>
        {actions}
      </header>
      <ConsoleFilterToolbar ref={searchRef} queryActions={queryActions} />
      <div className="console-body">
        <div
          ref={scrollRef}
          className="console-scroll mono"
          data-testid="console-scroll"
          onScroll={onScroll}
          onWheel={onWheel}
          tabIndex={0}
          role="log"
          aria-live="off"
          aria-label="Log entries"
        >
          {visibleRows.length === 0 && (
            <p className="console-empty">
              {entryCount === 0 ? "Waiting for activity…" : "No entries match the current filters."}
            </p>
          )}
          <div style={{ height: rowTop(layout, layout.count), position: "relative", width: "100%" }}>{items}</div>
        </div>
        {/* A bar below the rows, its space always kept, so it never covers the last lines nor moves them. */}
        <div className="jump-latest-bar" data-testid="jump-latest-bar">
          {isPaused && (
            <button type="button" className="jump-latest" onClick={jumpToLatest}>
              <ArrowDownToLine size={14} aria-hidden />
              Jump to latest ({newWhilePaused.toLocaleString()} new)
            </button>
          )}
        </div>
      </div>
      {contextEntry && <ContextDialog entry={contextEntry} onClose={() => setContextEntry(null)} />}
    </section>
  );
}
