import { ArrowLeft, Loader2, RotateCw, SearchX } from "lucide-react";
import { useState } from "react";
import { useNavigate, useParams } from "react-router-dom";
import { ApiError } from "../../lib/api";
import { ContextDialog } from "./components/ContextDialog";
import { EntryDetail } from "./components/EntryDetail";
import { LEVEL_LABELS, SOURCE_LABELS } from "./constants";
import { useHistoryNavigationTarget } from "./entryDetail/filterTargets";
import { useEntry } from "./hooks/useActivityLogHistory";
import { Timestamp } from "../../lib/time";
import type { ActivityLogEntry } from "./types";

/** A path segment that is an entry id the API accepts (a positive 64-bit integer that JS holds exactly). */
function parseEntryId(raw: string): number | null {
  if (!/^[1-9]\d{0,15}$/.test(raw)) return null;
  const id = Number(raw);
  return Number.isSafeInteger(id) ? id : null;
}

/** `/tools/activity-console/entries/:entryId`: one entry, whole, as its permalink. */
export function EntryPage() {
  const { entryId = "" } = useParams();
  const id = parseEntryId(entryId);
  const navigate = useNavigate();
  const { data, error, isLoading, isFetching, refetch } = useEntry(id);
  const filterTarget = useHistoryNavigationTarget();
  const [contextEntry, setContextEntry] = useState<ActivityLogEntry | null>(null);
  // 404 is also what the API answers for an entry outside the user's projects: say both.
  const notFound = id == null || (error instanceof ApiError && error.status === 404);

  return (
    <div className="page entry-page">
      <header className="page-header">
        <button type="button" className="btn btn-small" onClick={() => (window.history.length > 1 ? navigate(-1) : navigate("/tools/activity-console"))}>
          <ArrowLeft size={14} aria-hidden /> Back
        </button>
        <h1>Entry {id != null ? `#${id}` : entryId}</h1>
        {data && (
          <span className="entry-page-summary mono">
            <time dateTime={data.timestamp}><Timestamp value={data.timestamp} /></time>
            <span className={`log-level lvl-${data.level}`}>{LEVEL_LABELS[data.level]}</span>
            <span className={`log-source src-${data.source}`}>{SOURCE_LABELS[data.source]}</span>
          </span>
        )}
      </header>
      {isLoading && (
        <p className="muted" role="status">
          <Loader2 size={14} className="spin" aria-hidden /> Loading entry…
        </p>
      )}
      {notFound ? (
        <div className="entry-page-state" role="alert">
          <SearchX size={18} aria-hidden />
          <p>
            Entry {id != null ? `#${id}` : `“${entryId}”`} was not found, or it is not visible to you.
          </p>
        </div>
      ) : error ? (
        <div className="entry-page-state" role="alert">
          <p className="form-error">Could not load the entry: {(error as Error).message}</p>
          <button type="button" className="btn btn-small" aria-disabled={isFetching || undefined} onClick={() => void refetch()}>
            <RotateCw size={12} aria-hidden /> Retry
          </button>
        </div>
      ) : null}
      {data && !notFound && <EntryDetail entry={data} variant="page" filterTarget={filterTarget} onShowContext={setContextEntry} />}
      {contextEntry && <ContextDialog entry={contextEntry} onClose={() => setContextEntry(null)} />}
    </div>
  );
}

export default EntryPage;
