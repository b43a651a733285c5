import { Crosshair, ListTree, Rows3 } from "lucide-react";
import { Link } from "react-router-dom";
import type { ActivityLogEntry } from "../types";
import { FullMessage, ShortenedNotice, useFullEntryOnDemand } from "./ShortenedEntry";

export const tracePath = (traceId: string) => `/tools/activity-console/traces/${encodeURIComponent(traceId)}`;

interface EntryDetailsProps {
  entry: ActivityLogEntry;
  onShowContext?: (entry: ActivityLogEntry) => void;
  onScopeToEntity?: (type: string, id: number | undefined) => void;
}

function Ref({ label, value }: { label: string; value: React.ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </>
  );
}

/**
 * The expanded part of a row: structured fields, trace/span ids and entity references. An entry the
 * server shortened says so and can load its full version in place.
 */
export function EntryDetails(props: EntryDetailsProps) {
  return props.entry.truncated ? <ShortenedEntryDetails {...props} /> : <EntryDetailsContent {...props} />;
}

function ShortenedEntryDetails({ entry, onShowContext, onScopeToEntity }: EntryDetailsProps) {
  const { full, isLoading, error, load, fullMessageRef } = useFullEntryOnDemand(entry);
  return (
    <EntryDetailsContent
      entry={full ?? entry}
      onShowContext={onShowContext}
      onScopeToEntity={onScopeToEntity}
      notice={full ? undefined : <ShortenedNotice entry={entry} isLoading={isLoading} error={error} load={load} />}
      fullMessage={full ? <FullMessage ref={fullMessageRef} message={full.message} /> : undefined}
    />
  );
}

interface EntryDetailsContentProps extends EntryDetailsProps {
  /** Shown first: the entry was shortened for display. */
  notice?: React.ReactNode;
  /** The loaded full message (the row above it keeps the shortened one). */
  fullMessage?: React.ReactNode;
}

function EntryDetailsContent({ entry, onShowContext, onScopeToEntity, notice, fullMessage }: EntryDetailsContentProps) {
  const hasFields = entry.fields && Object.keys(entry.fields).length > 0;
  return (
    <div className="entry-details">
      {notice}
      <dl className="entry-refs">
        <Ref label="id" value={entry.id} />
        <Ref label="time" value={entry.timestamp} />
        {entry.trace_id && (
          <Ref
            label="trace"
            value={
              <Link className="trace-link" to={tracePath(entry.trace_id)} aria-label={`Open trace ${entry.trace_id}`}>
                <ListTree size={12} aria-hidden /> {entry.trace_id}
              </Link>
            }
          />
        )}
        {entry.span_id && <Ref label="span" value={<code>{entry.span_id}</code>} />}
        {entry.entity_type && (
          <Ref
            label="entity"
            value={
              <span>
                {entry.entity_type}
                {entry.entity_id != null ? ` #${entry.entity_id}` : ""}
                {onScopeToEntity && (
                  <button
                    type="button"
                    className="link-button"
                    onClick={() => onScopeToEntity(entry.entity_type!, entry.entity_id ?? undefined)}
                    aria-label={`Scope the console to ${entry.entity_type} ${entry.entity_id ?? ""}`.trim()}
                  >
                    <Crosshair size={12} aria-hidden /> scope
                  </button>
                )}
              </span>
            }
          />
        )}
        {entry.job_id != null && <Ref label="job" value={`#${entry.job_id}`} />}
        {entry.project_id != null && <Ref label="project" value={`#${entry.project_id}`} />}
        {entry.user_id != null && <Ref label="user" value={`#${entry.user_id}`} />}
        {entry.service_name && <Ref label="service" value={entry.service_name} />}
        {entry.event_name && <Ref label="event" value={entry.event_name} />}
        <Ref
          label="severity"
          value={`${entry.severity_text ?? entry.level}${entry.severity_number ? ` (${entry.severity_number})` : ""}`}
        />
        <Ref label="category" value={entry.category} />
        {entry.scope_name && (
          <Ref label="scope" value={`${entry.scope_name}${entry.scope_version ? ` ${entry.scope_version}` : ""}`} />
        )}
      </dl>
      {fullMessage}
      {hasFields && <pre className="entry-fields">{JSON.stringify(entry.fields, null, 2)}</pre>}
      {onShowContext && (
        <button type="button" className="btn btn-small" onClick={() => onShowContext(entry)}>
          <Rows3 size={14} aria-hidden /> Show surrounding entries
        </button>
      )}
    </div>
  );
}
