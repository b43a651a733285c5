import { defaultRangeExtractor, measureElement as defaultMeasureElement, useVirtualizer } from "@tanstack/react-virtual";
import type { Range } from "@tanstack/react-virtual";
import { ArrowDownToLine, Eraser, Pause, Play } from "lucide-react";
import { useCallback, useLayoutEffect, useRef, useState } from "react";
import { ConsoleFilterToolbar } from "./ConsoleFilterToolbar";
import { ContextDialog } from "./components/ContextDialog";
import { GapMarker, LogRow } from "./components/LogRow";
import { DEFAULT_MAX_ENTRIES, MAX_MAX_ENTRIES, ROW_HEIGHT, TAIL_THRESHOLD_PX } from "./constants";
import { fetchGapEntries } from "./hooks/useActivityLogHistory";
import { useConsoleKeyboard } from "./hooks/useConsoleKeyboard";
import type { GapRow } from "./rows";
import { selectStreamFilter, streamFilterToQuery, useActivityConsoleStore } from "./stores/activityConsoleStore";
import type { ActivityLogEntry, ConnectionStatus } from "./types";

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
export function ActivityConsolePanel({ actions, keyboardShortcuts = true, className }: ActivityConsolePanelProps) {
  const visibleRows = useActivityConsoleStore((s) => s.visibleRows);
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
  const setEntityFilter = useActivityConsoleStore((s) => s.setEntityFilter);

  const scrollRef = useRef<HTMLDivElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const lastScrollTop = useRef(0);
  const lastEvicted = useRef(evictedVisible);
  const [contextEntry, setContextEntry] = useState<ActivityLogEntry | null>(null);

  const visibleEntryCount = visibleRows.reduce((n, r) => (r.kind === "entry" ? n + 1 : n), 0);

  const followingRef = useRef(!isPaused);
  followingRef.current = !isPaused;
  /**
   * While following, the list is pinned to the bottom in a layout effect, but the virtualizer only
   * learns the new scroll offset from the next scroll event: for one frame it would render the old
   * window and show blank space. Always rendering the tail while following removes that flash.
   */
  const rangeExtractor = useCallback((range: Range) => {
    const base = defaultRangeExtractor(range);
    if (!followingRef.current || range.count === 0) return base;
    const rowsInView = Math.ceil((scrollRef.current?.clientHeight ?? 0) / ROW_HEIGHT) + range.overscan;
    const tailStart = Math.max(0, range.count - rowsInView);
    if (base.length > 0 && base[0]! >= tailStart) return base;
    const indexes = new Set(base);
    for (let i = tailStart; i < range.count; i++) indexes.add(i);
    return [...indexes].sort((a, b) => a - b);
  }, []);

  const virtualizer = useVirtualizer({
    count: visibleRows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    getItemKey: (index) => visibleRows[index]?.key ?? index,
    overscan: 16,
    rangeExtractor,
    // Layout-less environments report 0; fall back to one line so the list never collapses.
    measureElement: (el, entry, instance) => defaultMeasureElement(el, entry, instance) || ROW_HEIGHT,
  });

  // Follow the tail: after every change, stay pinned to the bottom unless paused.
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const evicted = evictedVisible - lastEvicted.current;
    lastEvicted.current = evictedVisible;
    if (!isPaused) {
      el.scrollTop = el.scrollHeight;
    } else if (evicted > 0) {
      // Rows vanished above the reader: move up by as much so the text under their eyes stays put.
      el.scrollTop = Math.max(0, el.scrollTop - evicted * ROW_HEIGHT);
    }
    lastScrollTop.current = el.scrollTop;
  }, [visibleRows, isPaused, evictedVisible]);

  const onScroll = useCallback(() => {
    const el = scrollRef.current;
    if (!el) return;
    const top = el.scrollTop;
    const fromBottom = el.scrollHeight - top - el.clientHeight;
    const movedUp = top < lastScrollTop.current - 1;
    lastScrollTop.current = top;
    const state = useActivityConsoleStore.getState();
    if (!state.isPaused && movedUp && fromBottom > TAIL_THRESHOLD_PX) {
      state.setPaused(true, "scroll");
    } else if (state.isPaused && state.pauseReason === "scroll" && fromBottom <= TAIL_THRESHOLD_PX) {
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

  useConsoleKeyboard(
    {
      focusSearch: () => searchRef.current?.focus(),
      togglePause,
      jumpToLatest,
      collapseAll,
    },
    keyboardShortcuts,
  );

  const scopeToEntity = useCallback(
    (type: string, id: number | undefined) => setEntityFilter({ type, id }),
    [setEntityFilter],
  );

  const items = virtualizer.getVirtualItems();

  return (
    <section className={`console-panel${isPaused ? " is-paused" : ""}${className ? ` ${className}` : ""}`} aria-label="Live activity console">
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
      <ConsoleFilterToolbar ref={searchRef} />
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
          <div style={{ height: virtualizer.getTotalSize(), position: "relative", width: "100%" }}>
            {items.map((item) => {
              const row = visibleRows[item.index];
              if (!row) return null;
              return (
                <div
                  key={item.key}
                  data-index={item.index}
                  ref={virtualizer.measureElement}
                  className="virtual-row"
                  style={{ transform: `translateY(${item.start}px)` }}
                >
                  {row.kind === "entry" ? (
                    <LogRow
                      row={row}
                      expanded={expanded.has(row.key)}
                      search={searchText}
                      onToggle={toggleExpanded}
                      onShowContext={setContextEntry}
                      onScopeToEntity={scopeToEntity}
                    />
                  ) : (
                    <GapMarker row={row} onBackfill={backfillGap} />
                  )}
                </div>
              );
            })}
          </div>
        </div>
        {isPaused && (
          <button type="button" className="jump-latest" onClick={jumpToLatest}>
            <ArrowDownToLine size={14} aria-hidden />
            Jump to latest ({newWhilePaused.toLocaleString()} new)
          </button>
        )}
      </div>
      {contextEntry && <ContextDialog entry={contextEntry} onClose={() => setContextEntry(null)} />}
    </section>
  );
}
