import { useCallback, useEffect, useRef } from "react";
import { useLatestSearchParams } from "../../../lib/latestSearchParams";
import {
  changedFields,
  hasLiveParams,
  historyWithPatch,
  isEmptyPatch,
  isSyncOn,
  paneFiltersOfHistory,
  paneFiltersOfStore,
  parseLiveFilters,
  storePatchOf,
  applyPatch,
  syncPatch,
  withHistoryFilters,
  withLiveFilters,
  withSync,
} from "../paneFilters";
import type { PaneFilters } from "../paneFilters";
import { useActivityConsoleStore } from "../stores/activityConsoleStore";
import type { FilterSlice } from "../stores/activityConsoleStore";
import { parseHistoryFilters } from "../urlFilters";

/** Live filter changes reach the URL after this pause, so typing a search rewrites it once. */
const URL_WRITE_DEBOUNCE_MS = 300;

const FILTER_KEYS = ["levels", "sources", "mode", "searchText", "entityFilter", "queryText"] as const satisfies readonly (keyof FilterSlice)[];

/** `params` with history's query and filters set to the live pane's where they differ. */
function historyFollowingLive(params: URLSearchParams, live: PaneFilters): URLSearchParams {
  const history = parseHistoryFilters(params);
  const patch = changedFields(paneFiltersOfHistory(history), live);
  return isEmptyPatch(patch) ? params : withHistoryFilters(params, historyWithPatch(history, patch));
}

/**
 * The console page's URL for the live pane, and the Sync between the panes.
 *
 * The live filters (a global store, shared with the docked panel) are read from the `live_`
 * parameters on load and written back with `replace`, so a reload or a shared link reopens the same
 * live view without a history entry per change. While Sync is on (no `sync=off`), a change of the
 * query or filters in one pane is applied to the other: only the fields that changed, so the echo
 * of a change written back finds nothing to do. History keeps its own time range, trace and ids.
 * On load with Sync on, the live pane takes the `live_` parameters when there are any (and history
 * follows), else history's filters.
 */
export function usePaneSync(): { sync: boolean; setSync: (on: boolean) => void } {
  // Writes start from the URL as it is now, not as last rendered: a navigation the router has yet
  // to render (history's query just applied) must not be taken back by a write based on the last.
  const [searchParams, latestParams, setSearchParams] = useLatestSearchParams();
  // The router's setter changes with the URL; the store subscription below must outlive that (its
  // cleanup would drop a pending write), so it calls the latest one through a ref.
  const setParamsRef = useRef(setSearchParams);
  setParamsRef.current = setSearchParams;
  /** The live filters as last written to the URL; history's as last seen in it. */
  const liveSeen = useRef<PaneFilters | null>(null);
  const historySeen = useRef<PaneFilters | null>(null);
  /**
   * The URL as this hook last wrote it, when that write changed history's filters. History's
   * filters in it are not a change for the live pane to follow: by the time the router renders
   * them, the live pane may have moved on (a search typed further, or cleared), and following them
   * would undo that. A write that left history's filters as it found them is not remembered: they
   * may be a change of history's own the router has yet to render, which the live pane follows.
   */
  const ownWrite = useRef<string | null>(null);

  const write = useCallback(
    (next: URLSearchParams) => {
      const current = latestParams();
      if (next.toString() === current.toString()) return;
      const historyChanged = !isEmptyPatch(
        changedFields(paneFiltersOfHistory(parseHistoryFilters(current)), paneFiltersOfHistory(parseHistoryFilters(next))),
      );
      ownWrite.current = historyChanged ? next.toString() : null;
      setParamsRef.current(next, { replace: true });
    },
    [latestParams],
  );

  /** The debounced write of the live filters, if one is waiting. */
  const pendingWrite = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  /** `params` with the live filters written in, and under Sync what changed in them in history's. */
  const withLive = useCallback((params: URLSearchParams) => {
    clearTimeout(pendingWrite.current);
    pendingWrite.current = undefined;
    const live = paneFiltersOfStore(useActivityConsoleStore.getState());
    const before = liveSeen.current ?? live;
    liveSeen.current = live;
    let next = withLiveFilters(params, live);
    if (isSyncOn(params)) {
      const history = parseHistoryFilters(params);
      const patch = syncPatch(before, live, paneFiltersOfHistory(history));
      if (!isEmptyPatch(patch)) next = withHistoryFilters(next, historyWithPatch(history, patch));
    }
    return next;
  }, []);

  // On load: the URL's live filters into the store (see above), then the store's back into the URL.
  useEffect(() => {
    const params = latestParams();
    const store = useActivityConsoleStore.getState();
    const sync = isSyncOn(params);
    const fromUrl = hasLiveParams(params) ? parseLiveFilters(params) : sync ? paneFiltersOfHistory(parseHistoryFilters(params)) : null;
    if (fromUrl) store.setFilters(storePatchOf(fromUrl));
    const live = paneFiltersOfStore(useActivityConsoleStore.getState());
    liveSeen.current = live;
    const next = withLiveFilters(params, live);
    write(sync ? historyFollowingLive(next, live) : next);
    // Once per page: later changes go through the subscription and the effect below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const unsubscribe = useActivityConsoleStore.subscribe((next, prev) => {
      if (FILTER_KEYS.every((key) => next[key] === prev[key])) return;
      clearTimeout(pendingWrite.current);
      pendingWrite.current = setTimeout(() => write(withLive(latestParams())), URL_WRITE_DEBOUNCE_MS);
    });
    return () => {
      unsubscribe();
      clearTimeout(pendingWrite.current);
    };
  }, [write, withLive, latestParams]);

  // History's filters changed in the URL: under Sync, what changed goes to the live pane.
  useEffect(() => {
    const history = paneFiltersOfHistory(parseHistoryFilters(searchParams));
    const before = historySeen.current;
    historySeen.current = history;
    if (searchParams.toString() === ownWrite.current) {
      ownWrite.current = null;
      return;
    }
    if (!before || !isSyncOn(searchParams)) return;
    const store = useActivityConsoleStore.getState();
    const live = paneFiltersOfStore(store);
    const patch = syncPatch(before, history, live);
    if (isEmptyPatch(patch)) return;
    // Written back to the URL as the live pane's, not carried to history again as a live change.
    if (liveSeen.current) liveSeen.current = applyPatch(liveSeen.current, patch);
    store.setFilters(storePatchOf(applyPatch(live, patch), patch));
  }, [searchParams]);

  const setSync = useCallback(
    (on: boolean) => {
      // A live change still waiting to be written was made under the previous setting: write it as such.
      const current = pendingWrite.current !== undefined ? withLive(latestParams()) : latestParams();
      const params = withSync(current, on);
      // Turned on, history takes the live pane's query and filters: both then show the same.
      write(on ? historyFollowingLive(params, paneFiltersOfStore(useActivityConsoleStore.getState())) : params);
    },
    [write, withLive, latestParams],
  );

  return { sync: isSyncOn(searchParams), setSync };
}
