import { useEffect, useRef, useState } from "react";
import { Dialog } from "../../../components/Dialog";
import { apiJson } from "../../../lib/api";
import { LEVEL_LABELS, SOURCE_LABELS } from "../constants";
import { useActivityLogContext } from "../hooks/useActivityLogHistory";
import { Timestamp } from "../../../lib/time";
import type { ActivityLogContext, ActivityLogEntry } from "../types";

const PAGE = 25;

type Edge = "earlier" | "later";

interface EdgeState {
  entries: ActivityLogEntry[];
  loading: boolean;
  /** No entry exists beyond this edge. */
  exhausted: boolean;
  error: string | null;
}

const emptyEdge: EdgeState = { entries: [], loading: false, exhausted: false, error: null };
import { FullMessage, ShortenedNotice, useFullEntryOnDemand } from "./ShortenedEntry";

/** A shortened entry's message, with the notice and the button that loads the full message in its place. */
function ShortenedContextMessage({ entry }: { entry: ActivityLogEntry }) {
  const { full, isLoading, error, load, fullMessageRef } = useFullEntryOnDemand(entry);
  return (
    <div className="context-message">
      {full ? (
        <FullMessage ref={fullMessageRef} message={full.message} />
      ) : (
        <>
          <span className="log-message">{entry.message}</span>
          <ShortenedNotice entry={entry} isLoading={isLoading} error={error} load={load} />
        </>
      )}
    </div>
  );
}

/** "Show surrounding entries": the entries logged just before and after one entry. */
export function ContextDialog({ entry, onClose }: { entry: ActivityLogEntry; onClose: () => void }) {
  const { data, isLoading, error } = useActivityLogContext(entry.id, PAGE, PAGE);
  const [edges, setEdges] = useState<Record<Edge, EdgeState>>({ earlier: emptyEdge, later: emptyEdge });
  const anchorRef = useRef<HTMLLIElement | null>(null);
  const base = data ?? [];
  const rows = [...edges.earlier.entries, ...base, ...edges.later.entries];
  // The first page says whether the log ends on either side: fewer neighbours than asked for.
  const firstOlder = base.filter((e) => e.id < entry.id).length;
  const firstNewer = base.filter((e) => e.id > entry.id).length;
  const atStart = edges.earlier.exhausted || (data !== undefined && firstOlder < PAGE);
  const atEnd = edges.later.exhausted || (data !== undefined && firstNewer < PAGE);

  useEffect(() => {
    anchorRef.current?.scrollIntoView?.({ block: "nearest" });
  }, [data, edges.earlier.entries.length]);

  // Pages from the entry at the edge (the smallest or largest id loaded), through the same context
  // endpoint, so the server applies the scope rule to every page.
  const loadMore = async (edge: Edge) => {
    if (rows.length === 0) return;
    const ids = rows.map((e) => e.id);
    const from = edge === "earlier" ? Math.min(...ids) : Math.max(...ids);
    setEdges((s) => ({ ...s, [edge]: { ...s[edge], loading: true, error: null } }));
    try {
      const params = edge === "earlier" ? { before: PAGE, after: 0 } : { before: 0, after: PAGE };
      const page = (await apiJson<ActivityLogContext>(`/activity-logs/${from}/context`, { params })).data.filter((e) => e.id !== from);
      page.sort((a, b) => (a.timestamp === b.timestamp ? a.id - b.id : a.timestamp < b.timestamp ? -1 : 1));
      setEdges((s) => ({
        ...s,
        [edge]: {
          entries: edge === "earlier" ? [...page, ...s.earlier.entries] : [...s.later.entries, ...page],
          loading: false,
          exhausted: page.length < PAGE,
          error: null,
        },
      }));
    } catch (e) {
      setEdges((s) => ({ ...s, [edge]: { ...s[edge], loading: false, error: `Could not load ${edge} entries: ${(e as Error).message}` } }));
    }
  };

  const edgeControl = (edge: Edge) => {
    const state = edges[edge];
    const ended = edge === "earlier" ? atStart : atEnd;
    if (!data || data.length === 0) return null;
    return (
      <div className="context-more">
        {ended ? (
          <span className="muted">{edge === "earlier" ? "Start of log" : "End of log"}</span>
        ) : (
          <button type="button" className="btn btn-small" disabled={state.loading} aria-busy={state.loading} onClick={() => void loadMore(edge)}>
            {state.loading && <span className="spinner" aria-hidden />}
            {state.loading ? "Loading…" : edge === "earlier" ? "Load earlier" : "Load later"}
          </button>
        )}
        {state.error && <span className="form-error" role="alert">{state.error}</span>}
      </div>
    );
  };

  return (
    <Dialog title={`Entries around #${entry.id}`} onClose={onClose} wide>
      {isLoading && <p className="muted">Loading surrounding entries…</p>}
      {error && <p className="form-error">{(error as Error).message}</p>}
      {data && data.length === 0 && <p className="muted">No surrounding entries.</p>}
      {edgeControl("earlier")}
      {data && data.length > 0 && (
        <ol className="context-list mono">
          {rows.map((e) => (
            <li
              ref={e.id === entry.id ? anchorRef : undefined}
              key={e.id}
              className={`context-item level-${e.level}${e.id === entry.id ? " is-anchor" : ""}`}
              aria-current={e.id === entry.id ? "true" : undefined}
            >
              <span className="log-time"><Timestamp value={e.timestamp} /></span>
              <span className={`log-level lvl-${e.level}`}>{LEVEL_LABELS[e.level]}</span>
              <span className={`log-source src-${e.source}`}>{SOURCE_LABELS[e.source]}</span>
              {e.truncated ? <ShortenedContextMessage entry={e} /> : <span className="log-message">{e.message}</span>}
            </li>
          ))}
        </ol>
      )}
      {edgeControl("later")}
    </Dialog>
  );
}
