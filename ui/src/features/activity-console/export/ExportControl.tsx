import { useQuery } from "@tanstack/react-query";
import { Download, Loader2 } from "lucide-react";
import { useRef, useState } from "react";
import { Dialog } from "../../../components/Dialog";
import { EntryCount } from "../../../components/EntryCount";
import { apiJson } from "../../../lib/api";
import { useTimeZone } from "../../../lib/time";
import type { ActivityLogQueryParams, ExportFormat, RowEstimate } from "../types";
import { describeEstimate, describeExportRange } from "./exportRange";
import { exportByLink, exportParams, exportToFile, pickerOptions, savePicker } from "./exportStream";
import type { ExportProgress } from "./exportStream";

interface ExportControlProps {
  /** The range as the URL holds it (relative or absolute), for the words. */
  from: string | undefined;
  to: string | undefined;
  /** The list's query (resolved range, filters); paging is dropped. */
  query: ActivityLogQueryParams;
  disabled?: boolean;
}

type ExportState =
  | { kind: "idle"; message?: string }
  | { kind: "streaming"; estimate: number | null; progress: ExportProgress }
  | { kind: "link"; message: string };

function useExportEstimate(query: ActivityLogQueryParams, enabled: boolean) {
  const params = exportParams(query, "json");
  return useQuery({
    queryKey: ["activity-logs", "export-estimate", params],
    queryFn: ({ signal }) => apiJson<RowEstimate>("/activity-logs/export/estimate", { params, signal }),
    enabled,
    staleTime: 0,
  });
}

/** The history pane's Export button: a confirmation (range, estimate, format), then a streamed export. */
export function ExportControl({ from, to, query, disabled }: ExportControlProps) {
  const [confirming, setConfirming] = useState(false);
  const [format, setFormat] = useState<ExportFormat>("json");
  const [state, setState] = useState<ExportState>({ kind: "idle" });
  const abort = useRef<AbortController | null>(null);
  const zone = useTimeZone();
  const estimate = useExportEstimate(query, confirming);
  const rangeWords = describeExportRange(from, to, query, zone);

  const start = async () => {
    const rows = estimate.data?.rows ?? null;
    const picker = savePicker();
    const controller = new AbortController();
    abort.current = controller;
    try {
      if (picker) {
        // The picker needs the click's user activation: it is the first thing awaited.
        const handle = await picker(pickerOptions(format));
        setConfirming(false);
        setState({ kind: "streaming", estimate: rows, progress: { rows: 0, bytes: 0, percent: rows ? 0 : null } });
        const done = await exportToFile(handle, query, format, rows, (progress) =>
          setState({ kind: "streaming", estimate: rows, progress }), controller.signal);
        setState({ kind: "idle", message: `Saved ${done.rows.toLocaleString("en-US")} entries to ${done.filename}` });
      } else {
        await exportByLink(query, format, document, controller.signal);
        setConfirming(false);
        setState({
          kind: "link",
          message: "Your browser is saving the file: follow it (or cancel it) in the browser's downloads.",
        });
      }
    } catch (e) {
      const error = e as Error;
      setConfirming(false);
      if (error.name === "AbortError") {
        // Closing the save picker is a cancel too; say so only when an export had started.
        setState({ kind: "idle", message: controller.signal.aborted ? "Export cancelled; the file was not written" : undefined });
      } else {
        setState({ kind: "idle", message: `Export failed: ${error.message}` });
      }
    } finally {
      abort.current = null;
    }
  };

  return (
    <>
      {state.kind === "streaming" ? (
        <>
          <span className="export-progress" role="status" aria-live="polite">
            <Loader2 size={14} className="spin" aria-hidden /> Exporting… {state.progress.rows.toLocaleString("en-US")}
            {state.estimate != null ? ` of ~${state.estimate.toLocaleString("en-US")} entries` : " entries"}
            {state.progress.percent != null ? ` (${state.progress.percent} %)` : ""}
            {state.progress.percent != null && (
              <progress max={100} value={state.progress.percent} aria-label="Export progress" />
            )}
          </span>
          <button type="button" className="btn btn-small" onClick={() => abort.current?.abort()}>
            Cancel export
          </button>
        </>
      ) : (
        <button
          type="button"
          className="btn btn-small btn-primary"
          onClick={() => setConfirming(true)}
          disabled={disabled}
        >
          <Download size={14} aria-hidden /> Export
        </button>
      )}
      {(state.kind === "idle" || state.kind === "link") && state.message && (
        <span className="muted export-message" role="status">
          {state.message}
        </span>
      )}
      {confirming && (
        <Dialog
          title="Export entries"
          onClose={() => setConfirming(false)}
          footer={
            <>
              <button type="button" className="btn" onClick={() => setConfirming(false)} data-autofocus>
                Cancel
              </button>
              <button type="button" className="btn btn-primary" onClick={start}>
                <Download size={14} aria-hidden /> Export {estimate.data ? describeEstimate(estimate.data) : ""}
              </button>
            </>
          }
        >
          <dl className="export-summary">
            <dt>Range</dt>
            <dd data-testid="export-range">{rangeWords}</dd>
            <dt>Entries</dt>
            <dd data-testid="export-estimate">
              <EntryCount count={estimate} counting="Counting…">
                {(data) => `${describeEstimate(data)} with the current filters`}
              </EntryCount>
            </dd>
          </dl>
          <fieldset className="export-format">
            <legend>Format</legend>
            <label>
              <input type="radio" name="export-format" checked={format === "json"} onChange={() => setFormat("json")} />
              <span>NDJSON: one JSON entry per line, every field</span>
            </label>
            <label>
              <input type="radio" name="export-format" checked={format === "text"} onChange={() => setFormat("text")} />
              <span>
                Text: one line per entry, <code>timestamp level source message key=value…</code>
              </span>
            </label>
          </fieldset>
          <p className="muted">
            {savePicker()
              ? "You choose where to save it; entries are written to the file as they arrive."
              : "Your browser downloads the file itself (a one-time link, valid 60 s)."}
          </p>
        </Dialog>
      )}
    </>
  );
}
