import { AlertTriangle, ChevronDown, ChevronRight, Download, Loader2 } from "lucide-react";
import { memo } from "react";
import { Timestamp } from "../../../lib/time";
import { LEVEL_LABELS, REORDER_WINDOW_MS, SOURCE_LABELS } from "../constants";
import type { EntryRow, GapRow } from "../rows";
import type { ActivityLogEntry } from "../types";
import type { EntryFilterTarget } from "../entryDetail/fieldFilters";
import { EntryDetail } from "./EntryDetail";
import { Highlight } from "./Highlight";

interface LogRowProps {
  row: EntryRow;
  expanded: boolean;
  search: string;
  onToggle: (key: string) => void;
  onShowContext?: (entry: ActivityLogEntry) => void;
  /** Where the expanded entry's "filter for" / "filter out" act. */
  filterTarget?: EntryFilterTarget;
}

/** One terminal line `HH:MM:SS.mmm  LEVEL  SOURCE  message`, expandable to its details. */
export const LogRow = memo(function LogRow({ row, expanded, search, onToggle, onShowContext, filterTarget }: LogRowProps) {
  const { entry } = row;
  return (
    <div className={`log-row level-${entry.level} source-${entry.source}${expanded ? " is-expanded" : ""}`} data-key={row.key}>
      <button
        type="button"
        className="log-line"
        data-row-toggle
        aria-expanded={expanded}
        onClick={() => onToggle(row.key)}
      >
        <span className="log-chevron" aria-hidden>
          {expanded ? <ChevronDown size={12} /> : <ChevronRight size={12} />}
        </span>
        <time className="log-time" dateTime={entry.timestamp}>
          <Timestamp value={entry.timestamp} format="row" />
        </time>
        <span className={`log-level lvl-${entry.level}`}>{LEVEL_LABELS[entry.level]}</span>
        <span className={`log-source src-${entry.source}`}>{SOURCE_LABELS[entry.source]}</span>
        {row.late && (
          <span
            className="late-badge"
            title={`Arrived late: more than ${REORDER_WINDOW_MS / 1000} s older than an entry already shown; placed at its own time`}
          >
            LATE
          </span>
        )}
        <span className="log-message">
          <Highlight text={entry.message} needle={search} />
        </span>
      </button>
      {expanded && <EntryDetail entry={entry} onShowContext={onShowContext} filterTarget={filterTarget} />}
    </div>
  );
});

interface GapMarkerProps {
  row: GapRow;
  onBackfill: (row: GapRow) => void;
}

/** Where the server dropped entries for this client (`lagged`), with one-click backfill from history. */
export const GapMarker = memo(function GapMarker({ row, onBackfill }: GapMarkerProps) {
  const n = row.skipped.toLocaleString();
  return (
    <div className="gap-marker" role="note" data-key={row.key}>
      <AlertTriangle size={14} aria-hidden />
      <span>
        {n} {row.skipped === 1 ? "entry" : "entries"} skipped
      </span>
      {row.status === "error" && <span className="gap-error">— {row.error ?? "could not load"}</span>}
      <button
        type="button"
        className="btn btn-small"
        disabled={row.status === "loading"}
        onClick={() => onBackfill(row)}
        aria-label={`Load the ${n} skipped entries from history`}
      >
        {row.status === "loading" ? <Loader2 size={12} className="spin" aria-hidden /> : <Download size={12} aria-hidden />}
        {row.status === "error" ? "Retry" : "Load skipped"}
      </button>
    </div>
  );
});
