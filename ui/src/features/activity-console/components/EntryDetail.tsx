import { ExternalLink, ListTree, Rows3, TriangleAlert } from "lucide-react";
import { useMemo } from "react";
import { Link } from "react-router-dom";
import { CopyButton } from "../entryDetail/CopyButton";
import { FieldTable } from "../entryDetail/FieldTable";
import { fieldRows } from "../entryDetail/fieldRows";
import type { FieldRow } from "../entryDetail/fieldRows";
import { queryFilterFor, searchFilterFor } from "../entryDetail/fieldFilters";
import type { EntryFilterTarget, FieldFilter } from "../entryDetail/fieldFilters";
import { StackTrace } from "../entryDetail/StackTrace";
import { detectException } from "../entryDetail/stackTrace";
import type { DetectedException } from "../entryDetail/stackTrace";
import type { ActivityLogEntry } from "../types";
import { ShortenedNotice, useFullEntryOnDemand } from "./ShortenedEntry";

export const tracePath = (traceId: string) => `/tools/activity-console/traces/${encodeURIComponent(traceId)}`;
/** The entry's own page (its permalink). */
export const entryPath = (id: number) => `/tools/activity-console/entries/${id}`;

export interface EntryDetailProps {
  entry: ActivityLogEntry;
  /** Where "filter for" / "filter out" act; without one they are not shown. */
  filterTarget?: EntryFilterTarget;
  onShowContext?: (entry: ActivityLogEntry) => void;
  /** "row": inside a list (message box bounded, permalink shown); "page": the entry's own page. */
  variant?: "row" | "page";
}

/**
 * One entry in full: the whole message (wrapped), an exception as a readable stack trace, the
 * entry's columns, fields, resource and scope as typed key/value tables, with copy and filter
 * actions. An entry the server shortened says so and loads its full version in place.
 */
export function EntryDetail(props: EntryDetailProps) {
  return props.entry.truncated ? <ShortenedEntryDetail {...props} /> : <EntryDetailContent {...props} />;
}

function ShortenedEntryDetail(props: EntryDetailProps) {
  const { full, isLoading, error, load, fullMessageRef } = useFullEntryOnDemand(props.entry);
  return (
    <EntryDetailContent
      {...props}
      entry={full ?? props.entry}
      notice={full ? undefined : <ShortenedNotice entry={props.entry} isLoading={isLoading} error={error} load={load} />}
      messageLabel={full ? "Full message" : "Message"}
      messageRef={full ? fullMessageRef : undefined}
    />
  );
}

interface EntryDetailContentProps extends EntryDetailProps {
  /** Shown first: the entry was shortened for display. */
  notice?: React.ReactNode;
  messageLabel?: string;
  messageRef?: React.Ref<HTMLDivElement>;
}

const numberFilter = (field: "job_id" | "user_id" | "project_id", value: unknown): FieldFilter | null =>
  typeof value === "number" ? { field, value } : null;

/** The entry's own columns as table rows, in reading order; absent ones are left out. */
function columnRows(entry: ActivityLogEntry): FieldRow[] {
  const row = (key: string, value: unknown, display = String(value)): FieldRow => ({
    path: key,
    key,
    depth: 0,
    type: typeof value === "number" ? "number" : typeof value === "boolean" ? "boolean" : "string",
    value,
    display,
  });
  const rows: FieldRow[] = [
    row("id", entry.id),
    row("time", entry.timestamp),
    row("level", entry.level),
    row("source", entry.source),
    row("category", entry.category),
    row("severity", entry.severity_number, `${entry.severity_text ?? entry.level} (${entry.severity_number})`),
  ];
  if (entry.service_name) rows.push(row("service", entry.service_name));
  if (entry.event_name) rows.push(row("event", entry.event_name));
  if (entry.entity_type) {
    rows.push(row("entity", entry.entity_type, `${entry.entity_type}${entry.entity_id != null ? ` #${entry.entity_id}` : ""}`));
  }
  if (entry.job_id != null) rows.push(row("job", entry.job_id, `#${entry.job_id}`));
  if (entry.user_id != null) rows.push(row("user", entry.user_id, `#${entry.user_id}`));
  if (entry.project_id != null) rows.push(row("project", entry.project_id, `#${entry.project_id}`));
  if (entry.trace_id) rows.push(row("trace", entry.trace_id));
  if (entry.span_id) rows.push(row("span", entry.span_id));
  if (entry.trace_flags != null) rows.push(row("trace flags", entry.trace_flags));
  if (entry.admin_only) rows.push(row("admin only", true));
  return rows;
}

function columnFilter(entry: ActivityLogEntry, row: FieldRow): FieldFilter | null {
  switch (row.key) {
    case "level":
      return { field: "level", value: entry.level };
    case "source":
      return { field: "source", value: entry.source };
    case "category":
      return { field: "category", value: entry.category };
    case "entity":
      return entry.entity_type ? { field: "entity", type: entry.entity_type, id: entry.entity_id } : null;
    case "job":
      return numberFilter("job_id", entry.job_id);
    case "user":
      return numberFilter("user_id", entry.user_id);
    case "project":
      return numberFilter("project_id", entry.project_id);
    case "trace":
      return entry.trace_id ? { field: "trace_id", value: entry.trace_id } : null;
    case "service":
    case "event":
    case "span":
      return queryFilterFor("", row);
    default:
      return searchFilterFor(entry, row.value);
  }
}

function scopeRows(entry: ActivityLogEntry): FieldRow[] {
  const rows: FieldRow[] = [];
  if (entry.scope_name) rows.push({ path: "scope.name", key: "name", depth: 0, type: "string", value: entry.scope_name, display: entry.scope_name });
  if (entry.scope_version) {
    rows.push({ path: "scope.version", key: "version", depth: 0, type: "string", value: entry.scope_version, display: entry.scope_version });
  }
  return rows;
}

/** The message as wrapped prose, with a traceback inside it shown as a stack trace. */
function MessageBlock({ message, exception, label, ref }: { message: string; exception: DetectedException | null; label: string; ref?: React.Ref<HTMLDivElement> }) {
  const offset = exception?.origin === "message" ? (exception.messageOffset ?? -1) : -1;
  return (
    <div ref={ref} className="entry-message" tabIndex={0} role="region" aria-label={label}>
      {offset < 0 ? (
        message
      ) : (
        <>
          {message.slice(0, offset)}
          <StackTrace text={message.slice(offset)} label="Stack trace in the message" />
        </>
      )}
    </div>
  );
}

function ExceptionBlock({ exception }: { exception: DetectedException }) {
  const title = [exception.type, exception.message].filter(Boolean).join(": ");
  return (
    <section className="entry-exception" aria-label="Exception">
      <h3 className="entry-section-title">
        <TriangleAlert size={12} aria-hidden /> Exception{title ? <code className="exception-title">{title}</code> : null}
        {exception.stacktrace && <CopyButton label="Copy stack trace" text={() => exception.stacktrace!} />}
      </h3>
      {exception.stacktrace && <StackTrace text={exception.stacktrace} />}
    </section>
  );
}

function EntryDetailContent({ entry, filterTarget, onShowContext, variant = "row", notice, messageLabel = "Message", messageRef }: EntryDetailContentProps) {
  // Computed when a row is expanded (or the page opens), never for collapsed rows.
  const view = useMemo(() => {
    const exception = detectException(entry);
    return {
      exception,
      columns: columnRows(entry),
      fields: fieldRows(entry.fields),
      resource: fieldRows(entry.resource),
      scope: scopeRows(entry),
    };
  }, [entry]);
  const shortened = entry.truncated ? " (shortened)" : "";
  // A query term where the host takes one (history, the live tail), else a message search.
  const preferQuery = (filter: FieldFilter | null, row: FieldRow) =>
    filter && filterTarget?.supports(filter, "for") ? filter : searchFilterFor(entry, row.value);
  const fieldFilter = (prefix: string) => (row: FieldRow) => preferQuery(queryFilterFor(prefix, row), row);

  return (
    <div className={`entry-detail entry-detail-${variant}`}>
      <div className="entry-actions" role="group" aria-label={`Actions for entry ${entry.id}`}>
        <CopyButton label={`Copy entry (JSON)${shortened}`} text={() => JSON.stringify(entry, null, 2)}>
          Copy entry (JSON)
        </CopyButton>
        <CopyButton label={`Copy message${shortened}`} text={() => entry.message}>
          Copy message
        </CopyButton>
        {variant === "row" && (
          // rel="opener": the new tab inherits this tab's sessionStorage copy (the sign-in lives there).
          <Link className="btn btn-small" to={entryPath(entry.id)} target="_blank" rel="opener" aria-label={`Open in new tab: entry ${entry.id}`}>
            <ExternalLink size={12} aria-hidden /> Open in new tab
          </Link>
        )}
        {onShowContext && (
          <button type="button" className="btn btn-small" onClick={() => onShowContext(entry)}>
            <Rows3 size={12} aria-hidden /> Show surrounding entries
          </button>
        )}
      </div>
      {notice}
      <MessageBlock ref={messageRef} message={entry.message} exception={view.exception} label={messageLabel} />
      {view.exception?.origin === "fields" && <ExceptionBlock exception={view.exception} />}
      <div className="entry-tables">
        <section>
          <FieldTable
            label="Entry"
            rows={view.columns}
            filterTarget={filterTarget}
            filterOf={(row) => {
              const filter = columnFilter(entry, row);
              return filter?.field === "query" ? preferQuery(filter, row) : filter;
            }}
            renderValue={(row) =>
              row.key === "trace" && entry.trace_id ? (
                <Link className="trace-link" to={tracePath(entry.trace_id)} aria-label={`Open trace ${entry.trace_id}`}>
                  <ListTree size={12} aria-hidden /> {entry.trace_id}
                </Link>
              ) : undefined
            }
          />
        </section>
        {view.fields.rows.length > 0 && (
          <section>
            <h3 className="entry-section-title">Fields</h3>
            <FieldTable label="Fields" rows={view.fields.rows} omitted={view.fields.omitted} filterTarget={filterTarget} filterOf={fieldFilter("")} />
          </section>
        )}
        {view.resource.rows.length > 0 && (
          <section>
            <h3 className="entry-section-title">Resource</h3>
            <FieldTable
              label="Resource attributes"
              rows={view.resource.rows}
              omitted={view.resource.omitted}
              filterTarget={filterTarget}
              filterOf={fieldFilter("resource.")}
            />
          </section>
        )}
        {view.scope.length > 0 && (
          <section>
            <h3 className="entry-section-title">Scope</h3>
            <FieldTable label="Scope" rows={view.scope} filterTarget={filterTarget} filterOf={fieldFilter("scope.")} />
          </section>
        )}
      </div>
    </div>
  );
}
