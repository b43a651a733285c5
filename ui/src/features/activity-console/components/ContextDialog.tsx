import { Dialog } from "../../../components/Dialog";
import { LEVEL_LABELS, SOURCE_LABELS } from "../constants";
import { useActivityLogContext } from "../hooks/useActivityLogHistory";
import { Timestamp } from "../../../lib/time";
import type { ActivityLogEntry } from "../types";
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
  const { data, isLoading, error } = useActivityLogContext(entry.id, 25, 25);
  return (
    <Dialog title={`Entries around #${entry.id}`} onClose={onClose} wide>
      {isLoading && <p className="muted">Loading surrounding entries…</p>}
      {error && <p className="form-error">{(error as Error).message}</p>}
      {data && data.length === 0 && <p className="muted">No surrounding entries.</p>}
      {data && data.length > 0 && (
        <ol className="context-list mono">
          {data.map((e) => (
            <li
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
    </Dialog>
  );
}
