import { useMemo } from "react";
import { useNavigate } from "react-router-dom";
import { useActivityConsoleStore } from "../stores/activityConsoleStore";
import { serializeHistoryFilters } from "../urlFilters";
import type { HistoryFilters } from "../urlFilters";
import { applyToHistoryFilters, applyToLiveFilters, historyFiltersFromEntryPage } from "./fieldFilters";
import type { EntryFilterTarget } from "./fieldFilters";

/**
 * The live tail's filters. Whether an action is supported depends only on the action, not on the
 * current filters, so one object serves every row (and keeps the memoised rows stable).
 */
export const liveFilterTarget: EntryFilterTarget = {
  supports: (filter, direction) => applyToLiveFilters(useActivityConsoleStore.getState(), filter, direction) != null,
  apply: (filter, direction) => {
    const store = useActivityConsoleStore.getState();
    const patch = applyToLiveFilters(store, filter, direction);
    if (patch) store.setFilters(patch);
  },
};

/** History's filters, which live in the URL: `commit` writes the new ones there. */
export function historyFilterTarget(filters: HistoryFilters, commit: (next: HistoryFilters) => void): EntryFilterTarget {
  return {
    supports: (filter, direction) => applyToHistoryFilters(filters, filter, direction) != null,
    apply: (filter, direction) => {
      const next = applyToHistoryFilters(filters, filter, direction);
      if (next) commit(next);
    },
  };
}

/** From a page of its own (the entry's, a trace's): opens the console's history with the filter. */
export function useHistoryNavigationTarget(): EntryFilterTarget {
  const navigate = useNavigate();
  return useMemo(
    () => ({
      supports: (filter, direction) => historyFiltersFromEntryPage(filter, direction) != null,
      apply: (filter, direction) => {
        const next = historyFiltersFromEntryPage(filter, direction);
        if (next) navigate(`/tools/activity-console?${serializeHistoryFilters(next).toString()}`);
      },
    }),
    [navigate],
  );
}
