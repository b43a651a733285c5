import { Filter, X } from "lucide-react";
import { useEffect, useId, useMemo, useRef, useState } from "react";
import { ApiError } from "../../../lib/api";
import { useAuthStore } from "../../../lib/authStore";
import { applyCompletion, completionContext, keySuggestions, valueSuggestions } from "./completions";
import type { CompletionContext } from "./completions";
import { useFacets, useKeyCatalogue } from "./queryApi";
import type { FacetsQuery } from "./queryApi";
import { loadRecentQueries, saveRecentQuery } from "./recentQueries";

/** The server's answer to a query it could not read: its message and where in the query. */
export interface QuerySyntaxError {
  message: string;
  position: number;
}

/** A `bad_query` error from the API as a syntax error of `q`; null for any other error. */
export function querySyntaxError(error: unknown): QuerySyntaxError | null {
  if (error instanceof ApiError && error.code === "bad_query") {
    // The server names the parameter ("q: expected …"); under the bar that is plain.
    return { message: error.message.replace(/^q: /, ""), position: error.position ?? 0 };
  }
  return null;
}

/** The most values a key may have in the range for the bar to offer them (docs/query.md). */
const VALUE_COMPLETION_TOP = 20;

interface Item {
  label: string;
  kind: "recent" | "key" | "value";
}

/**
 * One line of query language (docs/query.md): completes keys (built-ins, then the key catalogue)
 * and values (built-in, then those the facets counted in the range in `facetScope`, for a key of
 * at most VALUE_COMPLETION_TOP values there), offers the user's recent queries, applies on Enter;
 * a syntax error the server found is shown under the line with a caret at its position.
 */
export function QueryBar({
  value,
  onApply,
  error,
  facetScope,
  label = "Query",
}: {
  value: string;
  onApply: (q: string) => void;
  error?: QuerySyntaxError | null;
  facetScope?: FacetsQuery;
  label?: string;
}) {
  const userId = useAuthStore((s) => s.user?.id);
  const [draft, setDraft] = useState(value);
  const [cursor, setCursor] = useState(value.length);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const [recent, setRecent] = useState(() => loadRecentQueries(userId));
  const inputRef = useRef<HTMLInputElement>(null);
  const listId = useId();
  const errorId = useId();

  useEffect(() => setDraft(value), [value]);
  useEffect(() => setRecent(loadRecentQueries(userId)), [userId]);

  const ctx: CompletionContext | null = useMemo(() => (draft.trim() ? completionContext(draft, cursor) : null), [draft, cursor]);
  const keys = useKeyCatalogue(open);
  const valueKey = ctx?.kind === "value" ? ctx.key : null;
  const facets = useFacets({ ...facetScope, facet: valueKey ? [valueKey] : [], top: VALUE_COMPLETION_TOP }, open && !!valueKey && !["level", "mode", "category"].includes(valueKey));

  const items: Item[] = useMemo(() => {
    if (!draft.trim()) return recent.map((label) => ({ label, kind: "recent" as const }));
    if (!ctx) return [];
    if (ctx.kind === "key") {
      if (!ctx.prefix) return [];
      return keySuggestions(ctx.prefix, keys.data ?? []).map((label) => ({ label, kind: "key" as const }));
    }
    const counted = facets.data?.data.find((f) => f.facet === ctx.key);
    // Values only for a key of few values: all those seen in the range fit the list. A key of
    // many (an id, a duration) would offer an arbitrary few of them.
    const known = counted && counted.distinct <= VALUE_COMPLETION_TOP ? counted.values.map((v) => String(v.value)) : [];
    return valueSuggestions(ctx.key, ctx.prefix, known).map((label) => ({ label, kind: "value" as const }));
  }, [draft, ctx, recent, keys.data, facets.data]);

  useEffect(() => setActive(-1), [items.length, draft]);

  const apply = (q: string) => {
    setOpen(false);
    if (q.trim()) setRecent(saveRecentQuery(userId, q));
    onApply(q.trim());
  };

  const choose = (item: Item) => {
    if (item.kind === "recent") {
      setDraft(item.label);
      apply(item.label);
      return;
    }
    if (!ctx) return;
    const next = applyCompletion(draft, ctx, item.label);
    setDraft(next.text);
    setCursor(next.cursor);
    requestAnimationFrame(() => inputRef.current?.setSelectionRange(next.cursor, next.cursor));
  };

  const showList = open && items.length > 0;

  return (
    <div className="query-bar">
      <div className="query-bar-line">
        <Filter size={14} aria-hidden />
        <input
          ref={inputRef}
          className="mono"
          type="text"
          role="combobox"
          aria-label={label}
          aria-expanded={showList}
          aria-controls={listId}
          aria-autocomplete="list"
          aria-invalid={!!error}
          aria-describedby={error ? errorId : undefined}
          aria-activedescendant={showList && active >= 0 ? `${listId}-${active}` : undefined}
          placeholder='Query, e.g. level>=warn service:api gpu:1 "out of memory"'
          spellCheck={false}
          autoComplete="off"
          value={draft}
          onFocus={() => setOpen(true)}
          onBlur={() => setOpen(false)}
          onChange={(e) => {
            setDraft(e.target.value);
            setCursor(e.target.selectionStart ?? e.target.value.length);
            setOpen(true);
          }}
          onSelect={(e) => setCursor(e.currentTarget.selectionStart ?? draft.length)}
          onKeyDown={(e) => {
            if (e.key === "Escape") {
              if (showList) {
                e.preventDefault();
                e.stopPropagation();
              }
              setOpen(false);
            } else if (e.key === "ArrowDown" && showList) {
              e.preventDefault();
              setActive((i) => (i + 1) % items.length);
            } else if (e.key === "ArrowUp" && showList) {
              e.preventDefault();
              setActive((i) => (i <= 0 ? items.length - 1 : i - 1));
            } else if ((e.key === "Enter" || e.key === "Tab") && showList && active >= 0) {
              e.preventDefault();
              choose(items[active]!);
            } else if (e.key === "Enter") {
              e.preventDefault();
              apply(draft);
            }
          }}
        />
        {draft && (
          <button
            type="button"
            className="icon-button"
            aria-label="Clear query"
            onClick={() => {
              setDraft("");
              apply("");
            }}
          >
            <X size={14} aria-hidden />
          </button>
        )}
      </div>
      {showList && (
        <ul className="query-bar-list" id={listId} role="listbox" aria-label={draft.trim() ? "Completions" : "Recent queries"}>
          {items.map((item, i) => (
            <li
              key={`${item.kind}:${item.label}`}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === active}
              className="mono"
              // mousedown, not click: the input's blur would close the list first.
              onMouseDown={(e) => {
                e.preventDefault();
                choose(item);
              }}
            >
              {item.label}
              {item.kind === "recent" && <span className="muted"> recent</span>}
            </li>
          ))}
        </ul>
      )}
      {error && (
        <div className="query-error" id={errorId} role="alert">
          <pre className="mono" aria-hidden>
            {value}
            {"\n"}
            {" ".repeat(Math.min(error.position, value.length))}^
          </pre>
          <span>
            Query error at character {error.position + 1}: {error.message}
          </span>
        </div>
      )}
    </div>
  );
}
