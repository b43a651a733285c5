import { ArrowLeft } from "lucide-react";
import { Fragment, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { EntryDetail } from "./components/EntryDetail";
import { useHistoryNavigationTarget } from "./entryDetail/filterTargets";
import { LEVEL_LABELS, SOURCE_LABELS } from "./constants";
import { useTrace } from "./hooks/useActivityLogHistory";
import { Timestamp } from "../../lib/time";

function relative(ms: number): string {
  if (ms < 1000) return `+${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `+${(ms / 1000).toFixed(3)} s`;
}

/** Every visible entry of one trace, oldest first, with span ids and times relative to the first entry. */
export function TracePage() {
  const { traceId = "" } = useParams();
  const navigate = useNavigate();
  const { data, isLoading, error } = useTrace(traceId);
  const [open, setOpen] = useState<number | null>(null);
  const filterTarget = useHistoryNavigationTarget();
  const t0 = data?.length ? Date.parse(data[0]!.timestamp) : 0;
  const spans = new Set((data ?? []).map((e) => e.span_id).filter(Boolean));

  return (
    <div className="page trace-page">
      <header className="page-header">
        <button type="button" className="btn btn-small" onClick={() => (window.history.length > 1 ? navigate(-1) : navigate("/tools/activity-console"))}>
          <ArrowLeft size={14} aria-hidden /> Back
        </button>
        <h1>
          Trace <code>{traceId}</code>
        </h1>
        {data && (
          <span className="muted">
            {data.length} {data.length === 1 ? "entry" : "entries"} · {spans.size} {spans.size === 1 ? "span" : "spans"}
          </span>
        )}
        <span className="spacer" />
        <Link className="btn btn-small" to={`/tools/activity-console?trace_id=${encodeURIComponent(traceId)}&mode=verbose`}>
          Open in history
        </Link>
      </header>
      {isLoading && <p className="muted">Loading trace…</p>}
      {error && <p className="form-error" role="alert">{(error as Error).message}</p>}
      {data && data.length === 0 && <p className="muted">No entries of this trace are visible to you.</p>}
      {data && data.length > 0 && (
        <table className="history-table trace-table mono" aria-label="Trace entries">
          <thead>
            <tr>
              <th scope="col">Offset</th>
              <th scope="col">Time</th>
              <th scope="col">Span</th>
              <th scope="col">Level</th>
              <th scope="col">Source</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {data.map((e, i) => {
              const isOpen = open === i;
              return (
                <Fragment key={e.id}>
                  <tr className={`level-${e.level}`}>
                    <td className="trace-offset">{relative(Date.parse(e.timestamp) - t0)}</td>
                    <td className="log-time">
                      <button type="button" className="link-button" aria-expanded={isOpen} onClick={() => setOpen(isOpen ? null : i)}>
                        <Timestamp value={e.timestamp} />
                      </button>
                    </td>
                    <td>
                      <code className="span-id">{e.span_id ?? "—"}</code>
                    </td>
                    <td>
                      <span className={`log-level lvl-${e.level}`}>{LEVEL_LABELS[e.level]}</span>
                    </td>
                    <td>
                      <span className={`log-source src-${e.source}`}>{SOURCE_LABELS[e.source]}</span>
                    </td>
                    <td className="log-message">{e.message}</td>
                  </tr>
                  {isOpen && (
                    <tr className="history-details">
                      <td colSpan={6}>
                        <EntryDetail entry={e} filterTarget={filterTarget} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}
