import { Loader2, MinusCircle, PlusCircle, X } from "lucide-react";
import { useState } from "react";
import { addTerm, queryTerm } from "./completions";
import { useFacets, useKeyCatalogue } from "./queryApi";
import type { FacetsQuery } from "./queryApi";

const BUILT_IN_FACETS = ["level", "source", "service"];
const PINS_KEY = "activity-console.pinned-facets";

function loadPins(): string[] {
  try {
    const raw: unknown = JSON.parse(localStorage.getItem(PINS_KEY) ?? "[]");
    return Array.isArray(raw) ? raw.filter((k): k is string => typeof k === "string") : [];
  } catch {
    return [];
  }
}

function savePins(pins: string[]) {
  try {
    localStorage.setItem(PINS_KEY, JSON.stringify(pins));
  } catch {
    // Storage unavailable: the pins last for this page.
  }
}

/**
 * Top values with counts of level, source, service and the user's pinned fields for the current
 * query and range; a value's actions add `key:value` (filter for) or `-key:value` (filter out) to q.
 */
export function FacetsPanel({ query, q, onQuery }: { query: Omit<FacetsQuery, "facet" | "top">; q: string; onQuery: (q: string) => void }) {
  const [pins, setPins] = useState(loadPins);
  const [adding, setAdding] = useState(false);
  const facets = useFacets({ ...query, facet: [...BUILT_IN_FACETS, ...pins], top: 8 });
  const keys = useKeyCatalogue(adding);
  const setAndSave = (next: string[]) => {
    setPins(next);
    savePins(next);
  };

  return (
    <details className="facets-panel" open>
      <summary>Facets</summary>
      {facets.isPending && (
        <p className="muted" role="status">
          <Loader2 size={14} className="spin" aria-hidden /> Counting values…
        </p>
      )}
      {facets.error && (
        <p className="form-error" role="alert">
          Facets could not be counted: {(facets.error as Error).message}
        </p>
      )}
      {facets.data?.meta?.sampled && <p className="muted">Counted over the newest {facets.data.meta.rows.toLocaleString()} matching entries.</p>}
      {facets.data?.data.map((facet) => (
        <section key={facet.facet} className="facet" aria-label={`Facet ${facet.facet}`}>
          <h4>
            {facet.facet}
            {pins.includes(facet.facet) && (
              <button type="button" className="icon-button" aria-label={`Unpin ${facet.facet}`} onClick={() => setAndSave(pins.filter((p) => p !== facet.facet))}>
                <X size={12} aria-hidden />
              </button>
            )}
          </h4>
          {facet.values.length === 0 ? (
            <p className="muted">No values in this range.</p>
          ) : (
            <ul>
              {facet.values.map((v) => {
                const shown = String(v.value);
                return (
                  <li key={shown}>
                    <button
                      type="button"
                      className="facet-value mono"
                      aria-label={`Filter for ${facet.facet} ${shown}`}
                      title={`Filter for ${facet.facet}:${shown}`}
                      onClick={() => onQuery(addTerm(q, queryTerm(facet.facet, v.value)))}
                    >
                      <PlusCircle size={11} aria-hidden /> {shown}
                    </button>
                    <span className="facet-count">{v.count.toLocaleString()}</span>
                    <button
                      type="button"
                      className="icon-button"
                      aria-label={`Filter out ${facet.facet} ${shown}`}
                      title={`Filter out ${facet.facet}:${shown}`}
                      onClick={() => onQuery(addTerm(q, queryTerm(facet.facet, v.value, true)))}
                    >
                      <MinusCircle size={11} aria-hidden />
                    </button>
                  </li>
                );
              })}
            </ul>
          )}
        </section>
      ))}
      {adding ? (
        <select
          aria-label="Pin a field"
          autoFocus
          value=""
          onBlur={() => setAdding(false)}
          onChange={(e) => {
            if (e.target.value && !pins.includes(e.target.value)) setAndSave([...pins, e.target.value]);
            setAdding(false);
          }}
        >
          <option value="">{keys.isPending ? "Loading keys…" : keys.error ? "Keys could not be loaded" : "Choose a field…"}</option>
          {(keys.data ?? [])
            .filter((k) => !pins.includes(k) && !BUILT_IN_FACETS.includes(k))
            .map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
        </select>
      ) : (
        <button type="button" className="btn btn-small" onClick={() => setAdding(true)}>
          Pin a field
        </button>
      )}
    </details>
  );
}
