import { ArrowLeft } from "lucide-react";
import { Fragment, useMemo, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { EntryDetail } from "./components/EntryDetail";
import { useHistoryNavigationTarget } from "./entryDetail/filterTargets";
import { LEVEL_LABELS, SOURCE_LABELS } from "./constants";
import { useTrace } from "./hooks/useActivityLogHistory";
import { formatTimestamp, Timestamp, useTimeZone, zoneLabel } from "../../lib/time";
import { buildTraceTimeline, formatDuration } from "./traceTimeline";
import type { ActivityLogEntry } from "./types";

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
  const [params, setParams] = useSearchParams();
  const view = params.get("view") === "table" ? "table" : "timeline";
  const setView = (next: "timeline" | "table") =>
    setParams(
      (p) => {
        const copy = new URLSearchParams(p);
        if (next === "table") copy.set("view", "table");
        else copy.delete("view");
        return copy;
      },
      { replace: true },
    );
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
        <div className="segmented" role="group" aria-label="Trace view">
          <button type="button" aria-pressed={view === "timeline"} onClick={() => setView("timeline")}>
            Timeline
          </button>
          <button type="button" aria-pressed={view === "table"} onClick={() => setView("table")}>
            Table
          </button>
        </div>
        <Link className="btn btn-small" to={`/tools/activity-console?trace_id=${encodeURIComponent(traceId)}&mode=verbose`}>
          Open in history
        </Link>
      </header>
      {isLoading && <p className="muted">Loading trace…</p>}
      {error && <p className="form-error" role="alert">{(error as Error).message}</p>}
      {data && data.length === 0 && <p className="muted">No entries of this trace are visible to you.</p>}
      {data && data.length > 0 && view === "timeline" && <TraceTimelineView entries={data} />}
      {data && data.length > 0 && view === "table" && (
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

/** The trace on a time axis: one lane per service and span, one mark per entry coloured by level. */
function TraceTimelineView({ entries }: { entries: ActivityLogEntry[] }) {
  const zone = useTimeZone();
  const timeline = useMemo(() => buildTraceTimeline(entries, zone), [entries, zone]);
  return (
    <section className="trace-timeline" aria-label="Trace timeline">
      <p className="trace-timeline-summary muted">
        Total span <strong>{formatDuration(timeline.totalMs)}</strong> · from {formatTimestamp(timeline.startMs, zone)} ({zoneLabel(zone, timeline.startMs)})
      </p>
      <div className="trace-timeline-scroll">
        <div className="trace-timeline-grid">
          <div className="trace-lane trace-axis" aria-hidden>
            <div className="trace-lane-label" />
            <div className="trace-lane-track">
              {timeline.ticks.map((tick) => (
                <span key={tick.pct} className="trace-tick" style={{ left: `${tick.pct}%` }}>
                  {tick.label}
                </span>
              ))}
            </div>
          </div>
          {timeline.lanes.map((lane) => (
            <div key={lane.key} className="trace-lane" role="group" aria-label={`${lane.service} ${lane.spanId ?? "no span"}`}>
              <div className="trace-lane-label" title={`${lane.service} · ${lane.spanId ?? "no span id"}`}>
                <span className="trace-lane-service">{lane.service}</span>
                <code className="span-id">{lane.spanId ?? "no span"}</code>
              </div>
              <div className="trace-lane-track">
                {timeline.ticks.map((tick) => (
                  <span key={tick.pct} className="trace-gridline" style={{ left: `${tick.pct}%` }} aria-hidden />
                ))}
                {lane.marks.map((mark) => {
                  const when = formatTimestamp(mark.entry.timestamp, zone);
                  const gap = mark.gapMs === null ? "first entry" : `+${formatDuration(mark.gapMs)} after the previous entry`;
                  return (
                    <Link
                      key={mark.entry.id}
                      to={`/tools/activity-console/entries/${mark.entry.id}`}
                      className={`trace-mark mark-${mark.level}${mark.pct > 70 ? " tip-left" : ""}`}
                      style={{ left: `${mark.pct}%` }}
                      aria-label={`${LEVEL_LABELS[mark.level]} at ${when}, ${gap}: ${mark.entry.message.slice(0, 200)}`}
                    >
                      <span className="trace-tooltip" role="tooltip">
                        <span className="mono">{when}</span> <span className={`log-level lvl-${mark.level}`}>{LEVEL_LABELS[mark.level]}</span>
                        <span className="trace-tooltip-gap">{gap}</span>
                        <span className="trace-tooltip-message">{mark.entry.message.slice(0, 300)}</span>
                      </span>
                    </Link>
                  );
                })}
              </div>
            </div>
          ))}
        </div>
      </div>
      <ol className="trace-gaps mono" aria-label="Time between entries">
        {timeline.marks.map((mark) => (
          <li key={mark.entry.id}>
            <span className="trace-offset">+{formatDuration(mark.offsetMs)}</span>
            <span className="muted">{mark.gapMs === null ? "start" : `Δ ${formatDuration(mark.gapMs)}`}</span>
            <span className={`log-level lvl-${mark.level}`}>{LEVEL_LABELS[mark.level]}</span>
            <Link to={`/tools/activity-console/entries/${mark.entry.id}`} className="log-message" tabIndex={-1}>
              {mark.entry.message.slice(0, 160)}
            </Link>
          </li>
        ))}
      </ol>
    </section>
  );
}
