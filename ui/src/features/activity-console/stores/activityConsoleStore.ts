import { create } from "zustand";
import { createJSONStorage, persist } from "zustand/middleware";
import {
  DEFAULT_MAX_ENTRIES,
  MAX_MAX_ENTRIES,
  MIN_MAX_ENTRIES,
  REORDER_WINDOW_MS,
} from "../constants";
import { compareEntries, makeGapRow, makeRowPredicate, nextSeq, sortsAfter, toEntryRow } from "../rows";
import type { ConsoleRow, EntryRow, GapRow } from "../rows";
import { insertionIndexFromEnd, lowerBoundSeq, RowList } from "../rowList";
import { ACTIVITY_LOG_LEVELS, ACTIVITY_LOG_SOURCES } from "../types";
import type {
  ActivityLogEntry,
  ActivityLogLevel,
  ActivityLogMode,
  ActivityLogQueryParams,
  ActivityLogSource,
  ConnectionStatus,
  EntityFilter,
  StreamFilter,
} from "../types";

type PanelPosition = "bottom" | "right";
/** user: the Pause button or `p`; scroll: scrolled up; inspect: a row was expanded to be read. */
type PauseReason = "user" | "scroll" | "inspect";

/** The server's refusal of a live query: the query, its message and the 0-based position in it. */
export interface LiveQueryError {
  query: string;
  message: string;
  position: number;
}

interface ActivityConsoleState {
  // Panel (docked console) state, remembered across visits.
  isOpen: boolean;
  panelPosition: PanelPosition;
  /** Docked panel size in px: height when at the bottom, width when on the right. */
  panelSize: Record<PanelPosition, number>;

  // Filters (mirrored to the server as the stream subscription).
  levels: Set<ActivityLogLevel>;
  sources: Set<ActivityLogSource>;
  mode: ActivityLogMode;
  entityFilter: EntityFilter | null;
  searchText: string;
  /**
   * The query (docs/query.md) as applied in the live bar. Only the server applies it (there is no
   * query matcher here): a new query restarts the subscription and the buffer is filled again.
   */
  queryText: string;
  /** The query the server's subscription runs, from its `subscribed` answer (null: none, or none yet). */
  queryInForce: string | null;
  /** The server refused `queryText`: its message and position; the tail runs `queryInForce` meanwhile. */
  queryError: LiveQueryError | null;

  // Ring buffer: every row received, oldest first, at most maxEntries rows.
  rows: RowList<ConsoleRow>;
  /** The rows passing the current filter, in buffer order (what the list renders). */
  visibleRows: RowList<ConsoleRow>;
  /** Number of log entries (not gap markers) in `visibleRows`, kept incrementally. */
  visibleEntryCount: number;
  /** Number of log entries (not gap markers) in the buffer. */
  entryCount: number;
  maxEntries: number;
  /** Visible rows dropped from the front by eviction, cumulative: lets a paused list keep its place. */
  evictedVisible: number;

  // Follow-the-tail.
  isPaused: boolean;
  pauseReason: PauseReason | null;
  /** Visible entries that arrived since the tail was paused ("Jump to latest (N new)"). */
  newWhilePaused: number;

  expanded: Set<string>;

  connectionStatus: ConnectionStatus;
  /** Entries the server reported as skipped for this client since the page loaded. */
  skippedTotal: number;

  // Actions
  togglePanel: () => void;
  setPanelOpen: (open: boolean) => void;
  setPanelPosition: (position: PanelPosition) => void;
  setPanelSize: (position: PanelPosition, size: number) => void;
  setMode: (mode: ActivityLogMode) => void;
  toggleLevel: (level: ActivityLogLevel) => void;
  toggleSource: (source: ActivityLogSource) => void;
  setSearchText: (text: string) => void;
  setEntityFilter: (filter: EntityFilter | null) => void;
  setQueryText: (q: string) => void;
  setQueryInForce: (q: string | null) => void;
  setQueryError: (error: LiveQueryError | null) => void;
  /** Sets several filters at once, re-filtering the buffer once (an entry's "filter for"/"filter out"). */
  setFilters: (patch: Partial<FilterSlice>) => void;
  /** Appends a batch (one store update per animation frame, not per message). */
  appendEntries: (entries: ActivityLogEntry[]) => void;
  /**
   * Puts entries read from history (oldest first) in front of the buffer, in one update: the recent
   * entries shown on open. Entries already in the buffer are skipped; eviction takes the oldest.
   */
  prependEntries: (entries: ActivityLogEntry[]) => void;
  /** Records a `lagged` message as a visible gap marker. */
  markLagged: (skipped: number) => void;
  setGapStatus: (key: string, status: GapRow["status"], error?: string) => void;
  /**
   * Replaces a gap marker with the entries fetched from history; when `complete` is false (a huge
   * gap, fetched in part) a smaller marker stays after them for the rest.
   */
  resolveGap: (key: string, entries: ActivityLogEntry[], complete?: boolean) => void;
  clearEntries: () => void;
  setPaused: (paused: boolean, reason?: PauseReason) => void;
  setMaxEntries: (max: number) => void;
  toggleExpanded: (key: string) => void;
  collapseAll: () => void;
  setConnectionStatus: (status: ConnectionStatus) => void;
}

const DEFAULT_PANEL_SIZE: Record<PanelPosition, number> = { bottom: 320, right: 560 };

export type FilterSlice = Pick<ActivityConsoleState, "levels" | "sources" | "mode" | "searchText" | "entityFilter" | "queryText">;

function predicateOf(state: FilterSlice) {
  return makeRowPredicate({
    levels: state.levels,
    sources: state.sources,
    mode: state.mode,
    search: state.searchText,
    entity: state.entityFilter,
  });
}

/** Re-filters the whole buffer: only when the filter itself changes (O(buffer) is expected then). */
function filterRows(rows: RowList<ConsoleRow>, pred: (row: ConsoleRow) => boolean) {
  const visible: ConsoleRow[] = [];
  let entries = 0;
  for (const row of rows) {
    if (!pred(row)) continue;
    visible.push(row);
    if (row.kind === "entry") entries++;
  }
  return { visibleRows: RowList.from(visible), visibleEntryCount: entries };
}

function withFilter(state: ActivityConsoleState, patch: Partial<FilterSlice>): Partial<ActivityConsoleState> {
  const next = { ...state, ...patch };
  // A new query is refused or accepted afresh: the previous refusal no longer describes it.
  const query = patch.queryText != null && patch.queryText !== state.queryText ? { queryError: null } : {};
  return { ...patch, ...query, ...filterRows(state.rows, predicateOf(next)) };
}

function lastEntryId(rows: RowList<ConsoleRow>): number | null {
  for (let i = rows.length - 1; i >= 0; i--) {
    const row = rows.at(i)!;
    if (row.kind === "entry") return row.id;
  }
  return null;
}

function countEntries(rows: Iterable<ConsoleRow>): number {
  let n = 0;
  for (const row of rows) if (row.kind === "entry") n++;
  return n;
}

/**
 * Drops the oldest rows beyond `max`. `visible` is a subsequence of `rows` in the same order, so the
 * evicted visible rows are found by walking both fronts together: O(evicted), not O(buffer), and
 * neither list is copied.
 */
export function evict(rows: RowList<ConsoleRow>, visible: RowList<ConsoleRow>, max: number) {
  const overflow = rows.length - max;
  if (overflow <= 0) return { rows, visible, evictedEntries: 0, evictedVisible: 0, evictedVisibleEntries: 0 };
  let v = 0;
  let evictedEntries = 0;
  let evictedVisibleEntries = 0;
  for (let i = 0; i < overflow; i++) {
    const row = rows.at(i)!;
    if (row.kind === "entry") evictedEntries++;
    if (visible.at(v) === row) {
      v++;
      if (row.kind === "entry") evictedVisibleEntries++;
    }
  }
  return {
    rows: rows.dropFront(overflow),
    visible: visible.dropFront(v),
    evictedEntries,
    evictedVisible: v,
    evictedVisibleEntries,
  };
}

/**
 * Puts a batch (in arrival order) into the tail by timestamp, then id. The common case, every entry
 * newer than the last row, is a plain append. Otherwise the rows from the first insertion point (found
 * by searching from the end) to the end are merged with the batch and take fresh `seq`s, so both lists
 * stay ordered by `seq`; only that tail is rebuilt. An entry older than the newest shown by more than
 * REORDER_WINDOW_MS is marked late, never dropped.
 */
export function placeByTime(
  rows: RowList<ConsoleRow>,
  visible: RowList<ConsoleRow>,
  incoming: EntryRow[],
  pred: (row: ConsoleRow) => boolean,
) {
  let newest = rows.at(-1)?.ts ?? -Infinity;
  for (const row of incoming) {
    if (row.ts < newest - REORDER_WINDOW_MS) row.late = true;
    if (row.ts > newest) newest = row.ts;
  }
  const sorted = incoming.slice().sort(compareEntries);
  const newVisible = sorted.filter(pred);
  const k = insertionIndexFromEnd(rows, sorted[0]!, sortsAfter);
  if (k >= rows.length) return { rows: rows.push(sorted), visible: visible.push(newVisible), newVisible };

  const kv = lowerBoundSeq(visible, rows.at(k)!.seq);
  const merged: ConsoleRow[] = [];
  let j = 0;
  for (let i = k; i < rows.length; i++) {
    const row = rows.at(i)!;
    while (j < sorted.length && sortsAfter(row, sorted[j]!)) {
      merged.push(sorted[j++]!);
    }
    merged.push({ ...row, seq: 0 });
  }
  while (j < sorted.length) merged.push(sorted[j++]!);
  for (const row of merged) row.seq = nextSeq();
  return {
    rows: rows.replaceTail(k, merged),
    visible: visible.replaceTail(kv, merged.filter(pred)),
    newVisible,
  };
}

const clampMax = (n: number) =>
  Math.min(MAX_MAX_ENTRIES, Math.max(MIN_MAX_ENTRIES, Math.round(Number.isFinite(n) ? n : DEFAULT_MAX_ENTRIES)));

export const useActivityConsoleStore = create<ActivityConsoleState>()(
  persist(
    (set) => ({
      isOpen: false,
      panelPosition: "bottom",
      panelSize: { ...DEFAULT_PANEL_SIZE },

      levels: new Set(ACTIVITY_LOG_LEVELS),
      sources: new Set(ACTIVITY_LOG_SOURCES),
      mode: "curated",
      entityFilter: null,
      searchText: "",
      queryText: "",
      queryInForce: null,
      queryError: null,

      rows: RowList.empty(),
      visibleRows: RowList.empty(),
      visibleEntryCount: 0,
      entryCount: 0,
      maxEntries: DEFAULT_MAX_ENTRIES,
      evictedVisible: 0,

      isPaused: false,
      pauseReason: null,
      newWhilePaused: 0,

      expanded: new Set(),
      connectionStatus: "idle",
      skippedTotal: 0,

      togglePanel: () => set((s) => ({ isOpen: !s.isOpen })),
      setPanelOpen: (open) => set({ isOpen: open }),
      setPanelPosition: (position) => set({ panelPosition: position }),
      setPanelSize: (position, size) =>
        set((s) => ({ panelSize: { ...s.panelSize, [position]: Math.round(size) } })),

      setMode: (mode) => set((s) => withFilter(s, { mode })),
      toggleLevel: (level) =>
        set((s) => {
          const levels = new Set(s.levels);
          if (levels.has(level)) levels.delete(level);
          else levels.add(level);
          return withFilter(s, { levels });
        }),
      toggleSource: (source) =>
        set((s) => {
          const sources = new Set(s.sources);
          if (sources.has(source)) sources.delete(source);
          else sources.add(source);
          return withFilter(s, { sources });
        }),
      setSearchText: (text) => set((s) => withFilter(s, { searchText: text })),
      setEntityFilter: (filter) => {
        const normalized = filter && (filter.type || filter.id != null) ? filter : null;
        set((s) => withFilter(s, { entityFilter: normalized }));
      },
      setFilters: (patch) => set((s) => withFilter(s, patch)),
      // The buffer is not filtered here by a query: the subscription restarts with it.
      setQueryText: (q) => set((s) => (q === s.queryText ? {} : { queryText: q, queryError: null })),
      setQueryInForce: (q) => set({ queryInForce: q }),
      setQueryError: (error) => set({ queryError: error }),

      appendEntries: (entries) => {
        if (entries.length === 0) return;
        set((s) => {
          const incoming: EntryRow[] = entries.map(toEntryRow);
          let rows = s.rows;
          let visible = s.visibleRows;
          // The first entry after a gap marker closes the gap's id range for backfill.
          const last = rows.at(-1);
          if (last?.kind === "gap" && last.beforeId == null) {
            const closed: GapRow = { ...last, beforeId: incoming[0]!.id };
            rows = rows.withLast(closed);
            visible = visible.at(-1) === last ? visible.withLast(closed) : visible;
          }
          const pred = predicateOf(s);
          const placed = placeByTime(rows, visible, incoming, pred);
          const newVisible = placed.newVisible;
          const out = evict(placed.rows, placed.visible, s.maxEntries);
          return {
            rows: out.rows,
            visibleRows: out.visible,
            visibleEntryCount: s.visibleEntryCount + newVisible.length - out.evictedVisibleEntries,
            entryCount: s.entryCount + incoming.length - out.evictedEntries,
            evictedVisible: s.evictedVisible + out.evictedVisible,
            newWhilePaused: s.isPaused ? s.newWhilePaused + newVisible.length : 0,
          };
        });
      },

      prependEntries: (entries) => {
        if (entries.length === 0) return;
        set((s) => {
          const present = new Set<number>();
          for (const r of s.rows) if (r.kind === "entry") present.add(r.id);
          const incoming: EntryRow[] = [];
          for (const entry of entries) {
            if (present.has(entry.id)) continue;
            present.add(entry.id);
            incoming.push(toEntryRow(entry));
          }
          if (!incoming.length) return {};
          // Rows stay ordered by `seq`: the prepended rows take the places just before the first row.
          const firstSeq = s.rows.at(0)?.seq;
          if (firstSeq != null) incoming.forEach((r, i) => (r.seq = firstSeq - (incoming.length - i)));
          const newVisible = incoming.filter(predicateOf(s));
          const out = evict(
            RowList.from([...incoming, ...s.rows]),
            RowList.from([...newVisible, ...s.visibleRows]),
            s.maxEntries,
          );
          return {
            rows: out.rows,
            visibleRows: out.visible,
            visibleEntryCount: s.visibleEntryCount + newVisible.length - out.evictedVisibleEntries,
            entryCount: s.entryCount + incoming.length - out.evictedEntries,
          };
        });
      },

      markLagged: (skipped) =>
        set((s) => {
          const last = s.rows.at(-1);
          // Consecutive `lagged` messages with nothing in between describe one gap.
          if (last?.kind === "gap" && last.beforeId == null) {
            const merged: GapRow = { ...last, skipped: last.skipped + skipped };
            return {
              rows: s.rows.withLast(merged),
              visibleRows: s.visibleRows.at(-1) === last ? s.visibleRows.withLast(merged) : s.visibleRows,
              skippedTotal: s.skippedTotal + skipped,
            };
          }
          const gap = makeGapRow(skipped, lastEntryId(s.rows), s.rows.at(-1)?.ts ?? 0);
          const out = evict(s.rows.push([gap]), s.visibleRows.push([gap]), s.maxEntries);
          return {
            rows: out.rows,
            visibleRows: out.visible,
            visibleEntryCount: s.visibleEntryCount - out.evictedVisibleEntries,
            entryCount: s.entryCount - out.evictedEntries,
            evictedVisible: s.evictedVisible + out.evictedVisible,
            skippedTotal: s.skippedTotal + skipped,
            newWhilePaused: s.isPaused ? s.newWhilePaused + 1 : 0,
          };
        }),

      setGapStatus: (key, status, error) =>
        set((s) => {
          const replace = (r: ConsoleRow): ConsoleRow =>
            r.kind === "gap" && r.key === key ? { ...r, status, error } : r;
          return { rows: RowList.from(s.rows.map(replace)), visibleRows: RowList.from(s.visibleRows.map(replace)) };
        }),

      resolveGap: (key, entries, complete = true) =>
        set((s) => {
          const index = s.rows.findIndex((r) => r.key === key);
          const gap = s.rows.at(index);
          if (!gap || gap.kind !== "gap") return {};
          const present = new Set<number>();
          for (const r of s.rows) if (r.kind === "entry") present.add(r.id);
          const fill: ConsoleRow[] = entries
            .filter((e) => !present.has(e.id))
            .sort((a, b) => a.id - b.id)
            .map(toEntryRow);
          if (!complete) {
            const lastId = fill.reduce<number | null>((m, r) => (r.kind === "entry" && (m == null || r.id > m) ? r.id : m), gap.afterId);
            fill.push({ ...makeGapRow(Math.max(1, gap.skipped - fill.length), lastId, gap.ts), beforeId: gap.beforeId });
          }
          // Rows stay ordered by `seq`: the inserted rows take the gap's place, between it and the next row.
          const nextSeq = s.rows.at(index + 1)?.seq ?? gap.seq + 1;
          fill.forEach((r, i) => (r.seq = gap.seq + ((nextSeq - gap.seq) * i) / fill.length));
          const all = s.rows.toArray();
          all.splice(index, 1, ...fill);
          const rows = RowList.from(all);
          const out = evict(rows, filterRows(rows, predicateOf(s)).visibleRows, s.maxEntries);
          return {
            rows: out.rows,
            visibleRows: out.visible,
            visibleEntryCount: countEntries(out.visible),
            entryCount: countEntries(out.rows),
          };
        }),

      clearEntries: () =>
        set({
          rows: RowList.empty(),
          visibleRows: RowList.empty(),
          visibleEntryCount: 0,
          entryCount: 0,
          newWhilePaused: 0,
          expanded: new Set(),
        }),

      setPaused: (paused, reason = "user") =>
        set((s) => {
          if (paused === s.isPaused && (!paused || reason === s.pauseReason)) return {};
          return paused
            ? { isPaused: true, pauseReason: reason, newWhilePaused: 0 }
            : { isPaused: false, pauseReason: null, newWhilePaused: 0 };
        }),

      setMaxEntries: (max) =>
        set((s) => {
          const maxEntries = clampMax(max);
          const out = evict(s.rows, s.visibleRows, maxEntries);
          return {
            maxEntries,
            rows: out.rows,
            visibleRows: out.visible,
            visibleEntryCount: s.visibleEntryCount - out.evictedVisibleEntries,
            entryCount: s.entryCount - out.evictedEntries,
            evictedVisible: s.evictedVisible + out.evictedVisible,
          };
        }),

      toggleExpanded: (key) =>
        set((s) => {
          const expanded = new Set(s.expanded);
          if (expanded.has(key)) {
            expanded.delete(key);
            return { expanded };
          }
          expanded.add(key);
          // Following the tail would push the row being read off the screen: stop following.
          return s.isPaused ? { expanded } : { expanded, isPaused: true, pauseReason: "inspect", newWhilePaused: 0 };
        }),
      collapseAll: () =>
        set((s) => {
          if (!s.expanded.size) return {};
          const resume = s.isPaused && s.pauseReason === "inspect";
          return resume
            ? { expanded: new Set(), isPaused: false, pauseReason: null, newWhilePaused: 0 }
            : { expanded: new Set() };
        }),

      setConnectionStatus: (status) => set({ connectionStatus: status }),
    }),
    {
      name: "activity-console:panel",
      storage: createJSONStorage(() => localStorage),
      version: 1,
      // Only preferences survive a reload; entries and filters (Sets) are session state.
      partialize: (s) => ({
        isOpen: s.isOpen,
        panelPosition: s.panelPosition,
        panelSize: s.panelSize,
        maxEntries: s.maxEntries,
        mode: s.mode,
      }),
      merge: (persisted, current) => {
        const p = (persisted ?? {}) as Partial<ActivityConsoleState>;
        return {
          ...current,
          isOpen: typeof p.isOpen === "boolean" ? p.isOpen : current.isOpen,
          panelPosition: p.panelPosition === "right" ? "right" : "bottom",
          panelSize: { ...current.panelSize, ...(p.panelSize ?? {}) },
          maxEntries: p.maxEntries ? clampMax(p.maxEntries) : current.maxEntries,
          mode: p.mode === "verbose" ? "verbose" : "curated",
        };
      },
    },
  ),
);

/**
 * The subscription filter the server should apply, derived from the store. A query the server
 * refused is not sent again: the one in force stays, so that other filter changes still apply.
 */
export function selectStreamFilter(s: FilterSlice & Partial<Pick<ActivityConsoleState, "queryError" | "queryInForce">>): StreamFilter {
  const search = s.searchText.trim();
  const q = s.queryText.trim();
  const refused = !!q && s.queryError?.query === q;
  return {
    levels: ACTIVITY_LOG_LEVELS.filter((l) => s.levels.has(l)),
    sources: ACTIVITY_LOG_SOURCES.filter((x) => s.sources.has(x)),
    // Debug mode shows every category: no mode filter at all (the API's "verbose" means verbose only).
    mode: s.mode === "curated" ? "curated" : null,
    entity_type: s.entityFilter?.type ?? null,
    entity_id: s.entityFilter?.id ?? null,
    search: search || null,
    q: refused ? (s.queryInForce ?? null) : q || null,
  };
}

/** The same filter as REST query parameters (for backfilling a gap from history). */
export function streamFilterToQuery(f: StreamFilter): ActivityLogQueryParams {
  return {
    ...(f.levels.length ? { level: f.levels } : {}),
    ...(f.sources.length ? { source: f.sources } : {}),
    ...(f.mode ? { mode: f.mode } : {}),
    ...(f.entity_type ? { entity_type: f.entity_type } : {}),
    ...(f.entity_id != null ? { entity_id: f.entity_id } : {}),
    ...(f.search ? { search: f.search } : {}),
    ...(f.q ? { q: f.q } : {}),
  };
}
