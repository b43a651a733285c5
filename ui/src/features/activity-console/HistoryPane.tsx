import { ModeSwitch } from "./components/ModeSwitch";
import { ChevronLeft, ChevronRight, Loader2, RefreshCw, RotateCcw, X, ZoomOut } from "lucide-react";
import { FacetsPanel } from "./query/FacetsPanel";
import { QueryBar, querySyntaxError } from "./query/QueryBar";
import { ViewsMenu } from "./query/ViewsMenu";
import { useEffect, useMemo, useRef, useState } from "react";
import { Link } from "react-router-dom";
import { useLatestSearchParams } from "../../lib/latestSearchParams";
import { EntryDetail, tracePath } from "./components/EntryDetail";
import { LevelPills, SourcePills } from "./components/FilterPills";
import { Highlight } from "./components/Highlight";
import { UpdatedAgo } from "./components/UpdatedAgo";
import { VolumeHistogram } from "./components/VolumeHistogram";
import { LEVEL_LABELS, SOURCE_LABELS } from "./constants";
import { historyFilterTarget } from "./entryDetail/filterTargets";
import type { EntryFilterTarget } from "./entryDetail/fieldFilters";
import { ExportControl } from "./export/ExportControl";
import { useActivityLogHistogram, useActivityLogHistory } from "./hooks/useActivityLogHistory";
import { KEYBOARD_PANE_ATTRIBUTE } from "./hooks/useConsoleKeyboard";
import { useHistoryKeyboard } from "./hooks/useHistoryKeyboard";
import { Timestamp, useTimeZone, zoneLabel } from "../../lib/time";
import { useAutoRefresh } from "./hooks/useAutoRefresh";
import {
  RANGE_PRESETS,
  REFRESH_INTERVALS,
  activePreset,
  formatRangeInput,
  parseRangeInput,
  rangeError,
  refreshIntervalMs,
  resolveTime,
  zoomOutRange,
} from "./timeRange";
import type { RefreshInterval } from "./timeRange";
import { ACTIVITY_LOG_LEVELS, ACTIVITY_LOG_SOURCES } from "./types";
import type { ActivityLogEntry } from "./types";
import {
  PAGE_SIZES,
  parseHistoryFilters,
  toQueryParams,
  DEFAULT_HISTORY_FILTERS,
} from "./urlFilters";
import type { HistoryFilters } from "./urlFilters";
import { withHistoryFilters } from "./paneFilters";

/** Filters set from an entry's "filter for" (no inputs of their own): shown as chips that clear them. */
const ID_FILTERS = [
  { key: "job_id", label: "job" },
  { key: "user_id", label: "user" },
  { key: "project_id", label: "project" },
] as const;

function toggle<T>(list: T[], value: T, order: readonly T[]): T[] {
  return list.includes(value) ? list.filter((v) => v !== value) : order.filter((v) => v === value || list.includes(v));
}

/** Text filters are typed locally and pushed to the URL after a pause, so each keystroke does not query. */
function useDebouncedUrlText(value: string, commit: (v: string) => void, delay = 400) {
  const [text, setText] = useState(value);
  const commitRef = useRef(commit);
  commitRef.current = commit;
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text === value) return undefined;
    const t = setTimeout(() => commitRef.current(text), delay);
    return () => clearTimeout(t);
  }, [text, value, delay]);
  return [text, setText] as const;
}

/**
 * A range end typed as text (`now-1h`, `2026-11-28 14:00`), committed to the URL on Enter or when
 * the box loses focus; text that is no time is refused inline and never sent.
 */
function RangeInput({
  label,
  value,
  onCommit,
  invalid,
}: {
  label: "From" | "To";
  value: string | undefined;
  onCommit: (value: string | undefined) => void;
  invalid: boolean;
}) {
  const [text, setText] = useState(formatRangeInput(value));
  const [problem, setProblem] = useState<string | null>(null);
  const zone = useTimeZone();
  useEffect(() => {
    setText(formatRangeInput(value, zone));
    setProblem(null);
  }, [value, zone]);
  const commit = () => {
    // Untouched: keep the URL's value as it is (the box shows it to the second, the URL may be finer).
    if (text === formatRangeInput(value)) return;
    const parsed = parseRangeInput(text);
    if (parsed === null) {
      setProblem(`“${label}” is not a time: use now-1h, now-7d or 2026-11-28 14:00.`);
      return;
    }
    setProblem(null);
    if (parsed !== value) onCommit(parsed);
  };
  const errorId = `history-range-${label.toLowerCase()}-error`;
  return (
    <label className="range-input">
      {label}
      <input
        type="text"
        aria-label={label}
        placeholder={label === "From" ? "all time" : "now"}
        size={19}
        value={text}
        aria-invalid={invalid || !!problem}
        aria-describedby={problem ? errorId : undefined}
        onChange={(e) => setText(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === "Enter") {
            e.preventDefault();
            commit();
          }
        }}
      />
      {problem && (
        <span id={errorId} className="form-error" role="alert">
          {problem}
        </span>
      )}
    </label>
  );
}

/** Stored entries: URL-synced filters and time range, histogram, paginated table, refresh, export with progress. */
export function HistoryPane() {
  // Changes start from the URL as it is now: the router renders a navigation later (a transition),
  // and a second change based on the last render would take back the first.
  const [searchParams, latestParams, setSearchParams] = useLatestSearchParams();
  const filters = useMemo(() => parseHistoryFilters(searchParams), [searchParams]);
  const viewParam = Number(searchParams.get("view")) > 0 ? Number(searchParams.get("view")) : null;
  // Bumped by the refresh button and auto-refresh: a relative range is resolved again at each
  // bump (the window moves), and the bump is in the query keys so an absolute range refetches too.
  const [refreshCount, setRefreshCount] = useState(0);
  const refresh = () => setRefreshCount((n) => n + 1);
  const query = useMemo(() => toQueryParams(filters, Date.now()), [filters, refreshCount]);
  const invalidRange = useMemo(() => rangeError(filters.from, filters.to, Date.now()), [filters.from, filters.to, refreshCount]);
  const selectsNothing = filters.levels.length === 0 || filters.sources.length === 0;

  const update = (patch: Partial<HistoryFilters>, keepPage = false) => {
    const current = latestParams();
    const next = { ...parseHistoryFilters(current), ...patch, ...(keepPage ? {} : { page: 1 }) };
    setSearchParams(withHistoryFilters(current, next), { replace: false });
  };

  const [search, setSearch] = useDebouncedUrlText(filters.search, (v) => update({ search: v }));
  const [entityType, setEntityType] = useDebouncedUrlText(filters.entity_type ?? "", (v) =>
    update({ entity_type: v || undefined }),
  );
  const [entityId, setEntityId] = useDebouncedUrlText(filters.entity_id != null ? String(filters.entity_id) : "", (v) =>
    update({ entity_id: v ? Number(v) : undefined }),
  );

  const filterTarget = useMemo(
    () => historyFilterTarget(filters, (next) => setSearchParams(withHistoryFilters(latestParams(), next))),
    [filters, latestParams, setSearchParams],
  );

  const history = useActivityLogHistory(query, { enabled: !selectsNothing && !invalidRange, refresh: refreshCount });
  const facetQuery = useMemo(() => {
    const { page: _page, per_page: _perPage, ...rest } = query;
    return rest;
  }, [query]);
  const facetScope = useMemo(() => ({ from: query.from, to: query.to }), [query.from, query.to]);
  const histogram = useActivityLogHistogram(query, { enabled: !invalidRange, refresh: refreshCount });
  const busy = history.isFetching || histogram.isFetching;
  useAutoRefresh(refreshIntervalMs(filters.refresh), busy, refresh);
  // A new query key starts with no answer of its own (the previous one shows meanwhile): keep
  // the time of the last answer rather than blanking "updated … ago".
  const lastUpdate = useRef(0);
  lastUpdate.current = Math.max(lastUpdate.current, history.dataUpdatedAt, histogram.dataUpdatedAt);
  const preset = activePreset(filters.from, filters.to);
  const [openRow, setOpenRow] = useState<number | null>(null);

  // An impossible range sends no request: show nothing rather than the previous range's rows.
  const shown = invalidRange ? undefined : history.data;
  const total = shown?.meta.total ?? 0;
  const totalExact = shown?.meta.total_exact ?? true;
  const pageCount = Math.max(1, Math.ceil(total / filters.per_page));
  const rows = selectsNothing ? [] : (shown?.data ?? []);
  const paneRef = useRef<HTMLElement>(null);
  const rowIds = useMemo(() => rows.map((e) => e.id), [rows]);
  const selectedId = useHistoryKeyboard(paneRef, rowIds, openRow, setOpenRow);
  const zone = useTimeZone();

  return (
    <section className="history-pane" aria-label="History" ref={paneRef} {...{ [KEYBOARD_PANE_ATTRIBUTE]: "history" }}>
      <form className="history-filters" role="search" aria-label="History filters" onSubmit={(e) => e.preventDefault()}>
        <QueryBar
          label="History query"
          value={filters.q}
          onApply={(q) => update({ q })}
          error={querySyntaxError(history.error) ?? querySyntaxError(histogram.error)}
          facetScope={facetScope}
        />
        <div className="filter-row">
          <RangeInput label="From" value={filters.from} onCommit={(from) => update({ from })} invalid={!!invalidRange} />
          <RangeInput label="To" value={filters.to} onCommit={(to) => update({ to })} invalid={!!invalidRange} />
          <div className="pill-group" role="group" aria-label="Quick ranges">
            {RANGE_PRESETS.map((r) => (
              <button
                key={r.from}
                type="button"
                className="pill range-preset"
                aria-label={`Last ${r.label}`}
                aria-pressed={preset?.from === r.from}
                onClick={() => update({ from: r.from, to: undefined })}
              >
                {r.label}
              </button>
            ))}
          </div>
          {(filters.from || filters.to) && (
            <>
              <button
                type="button"
                className="btn btn-small"
                disabled={!!invalidRange}
                onClick={() => {
                  const now = Date.now();
                  const from = resolveTime(filters.from, now) ?? histogram.data?.meta.from;
                  const to = resolveTime(filters.to, now) ?? new Date(now).toISOString();
                  if (from) update(zoomOutRange(from, to, now));
                }}
              >
                <ZoomOut size={14} aria-hidden /> Zoom out
              </button>
              <button type="button" className="btn btn-small" onClick={() => update({ from: undefined, to: undefined })}>
                <X size={14} aria-hidden /> All time
              </button>
            </>
          )}
          <LevelPills
            label="History levels"
            isOn={(level) => filters.levels.includes(level)}
            onToggle={(level) => update({ levels: toggle(filters.levels, level, ACTIVITY_LOG_LEVELS) })}
          />
          <SourcePills
            label="History sources"
            isOn={(source) => filters.sources.includes(source)}
            onToggle={(source) => update({ sources: toggle(filters.sources, source, ACTIVITY_LOG_SOURCES) })}
          />
        </div>
        <div className="filter-row">
          <ModeSwitch label="History mode" mode={filters.mode} onChange={(mode) => update({ mode })} />
          <input
            type="search"
            aria-label="Search history"
            placeholder="Search messages"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
          <input aria-label="History entity type" placeholder="entity" size={8} value={entityType} onChange={(e) => setEntityType(e.target.value)} />
          <input
            aria-label="History entity id"
            placeholder="id"
            inputMode="numeric"
            size={5}
            value={entityId}
            onChange={(e) => setEntityId(e.target.value.replace(/[^0-9]/g, ""))}
          />
          {filters.trace_id && (
            <span className="chip">
              trace {filters.trace_id.slice(0, 8)}…
              <button type="button" className="icon-button" aria-label="Clear trace filter" onClick={() => update({ trace_id: undefined })}>
                <X size={12} aria-hidden />
              </button>
            </span>
          )}
          {ID_FILTERS.map(({ key, label }) =>
            filters[key] != null ? (
              <span className="chip" key={key}>
                {label} #{filters[key]}
                <button type="button" className="icon-button" aria-label={`Clear ${label} filter`} onClick={() => update({ [key]: undefined })}>
                  <X size={12} aria-hidden />
                </button>
              </span>
            ) : null,
          )}
          <button type="button" className="btn btn-small" onClick={() => setSearchParams(withHistoryFilters(latestParams(), DEFAULT_HISTORY_FILTERS))}>
            <RotateCcw size={14} aria-hidden /> Reset
          </button>
          <span className="spacer" />
          <ViewsMenu
            current={{ q: filters.q, range_from: filters.from ?? null, range_to: filters.to ?? null, mode: filters.mode }}
            viewId={viewParam}
            onOpen={(v) =>
              setSearchParams(
                withHistoryFilters(latestParams(), {
                  ...DEFAULT_HISTORY_FILTERS,
                  q: v.q,
                  from: v.range_from ?? undefined,
                  to: v.range_to ?? undefined,
                  mode: v.mode ?? DEFAULT_HISTORY_FILTERS.mode,
                }),
              )
            }
          />
          <ExportControl from={filters.from} to={filters.to} query={query} disabled={selectsNothing || !!invalidRange} />
        </div>
      </form>

      {invalidRange && (
        <p className="form-error history-range-error" role="alert">
          {invalidRange}
        </p>
      )}
      <div className="history-refresh" role="group" aria-label="Refresh">
        <button type="button" className="btn btn-small" onClick={refresh} disabled={!!invalidRange} aria-busy={busy}>
          <RefreshCw size={14} className={busy ? "spin" : undefined} aria-hidden /> Refresh
        </button>
        <label>
          Auto-refresh{" "}
          <select
            aria-label="Auto-refresh"
            value={filters.refresh ?? "off"}
            onChange={(e) => update({ refresh: e.target.value === "off" ? undefined : (e.target.value as RefreshInterval) }, true)}
          >
            <option value="off">Off</option>
            {REFRESH_INTERVALS.map((r) => (
              <option key={r.value} value={r.value}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        {busy ? (
          <span className="muted history-busy" role="status">
            <Loader2 size={14} className="spin" aria-hidden /> Loading…
          </span>
        ) : (
          <UpdatedAgo at={lastUpdate.current} />
        )}
      </div>

      {!invalidRange && (
        <VolumeHistogram
          histogram={histogram.data}
          loading={histogram.isPending}
          error={histogram.error && !querySyntaxError(histogram.error) ? (histogram.error as Error).message : null}
          onSelectRange={(from, to) => update({ from, to })}
        />
      )}

      {!invalidRange && !selectsNothing && (
        <FacetsPanel query={facetQuery} q={filters.q} onQuery={(q) => update({ q })} />
      )}

      <div className="history-table-wrap">
        {selectsNothing && <p className="muted">Select at least one level and one source.</p>}
        {history.error && !querySyntaxError(history.error) && (
          <p className="form-error" role="alert">
            {(history.error as Error).message}
          </p>
        )}
        <table className="history-table mono" aria-label="History results" aria-busy={history.isFetching}>
          <thead>
            <tr>
              <th scope="col">Time ({zoneLabel(zone)})</th>
              <th scope="col">Level</th>
              <th scope="col">Source</th>
              <th scope="col">Message</th>
              <th scope="col">Trace</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => {
              const open = openRow === e.id;
              return (
                <HistoryRow
                  key={e.id}
                  entry={e}
                  open={open}
                  selected={selectedId === e.id}
                  onToggle={() => setOpenRow(open ? null : e.id)}
                  search={filters.search}
                  filterTarget={filterTarget}
                />
              );
            })}
            {!selectsNothing && !invalidRange && !history.isLoading && rows.length === 0 && (
              <tr>
                <td colSpan={5} className="muted">
                  No entries match.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>

      <nav className="pagination" aria-label="Pagination">
        <span className="muted">
          {total.toLocaleString()}
          {totalExact ? "" : "+"} {total === 1 && totalExact ? "entry" : "entries"}
        </span>
        <span className="spacer" />
        <label>
          Rows per page{" "}
          <select
            aria-label="Rows per page"
            value={filters.per_page}
            onChange={(e) => update({ per_page: Number(e.target.value) })}
          >
            {PAGE_SIZES.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          className="icon-button"
          aria-label="Previous page"
          disabled={filters.page <= 1}
          onClick={() => update({ page: filters.page - 1 }, true)}
        >
          <ChevronLeft size={16} aria-hidden />
        </button>
        <span>
          Page {filters.page} of {pageCount}
        </span>
        <button
          type="button"
          className="icon-button"
          aria-label="Next page"
          disabled={filters.page >= pageCount}
          onClick={() => update({ page: filters.page + 1 }, true)}
        >
          <ChevronRight size={16} aria-hidden />
        </button>
      </nav>
    </section>
  );
}

function HistoryRow({
  entry,
  open,
  selected,
  onToggle,
  search,
  filterTarget,
}: {
  entry: ActivityLogEntry;
  open: boolean;
  selected: boolean;
  onToggle: () => void;
  search: string;
  filterTarget: EntryFilterTarget;
}) {
  return (
    <>
      <tr className={`level-${entry.level}${open ? " is-expanded" : ""}${selected ? " is-selected" : ""}`} data-entry-id={entry.id} data-selected={selected || undefined}>
        <td className="log-time">
          <button type="button" className="link-button" data-row-toggle aria-expanded={open} onClick={onToggle} aria-label={`Details of entry ${entry.id}`}>
            <Timestamp value={entry.timestamp} />
          </button>
        </td>
        <td>
          <span className={`log-level lvl-${entry.level}`}>{LEVEL_LABELS[entry.level]}</span>
        </td>
        <td>
          <span className={`log-source src-${entry.source}`}>{SOURCE_LABELS[entry.source]}</span>
        </td>
        <td className="log-message">
          <Highlight text={entry.message} needle={search} />
        </td>
        <td>
          {entry.trace_id ? (
            <Link className="trace-link" to={tracePath(entry.trace_id)} aria-label={`Open trace ${entry.trace_id}`}>
              {entry.trace_id.slice(0, 8)}…
            </Link>
          ) : null}
        </td>
      </tr>
      {open && (
        <tr className="history-details">
          <td colSpan={5}>
            <EntryDetail entry={entry} filterTarget={filterTarget} />
          </td>
        </tr>
      )}
    </>
  );
}
