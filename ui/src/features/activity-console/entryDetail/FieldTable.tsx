import { CircleMinus, CirclePlus } from "lucide-react";
import { CopyButton } from "./CopyButton";
import { copyableValue } from "./fieldRows";
import type { FieldRow } from "./fieldRows";
import type { EntryFilterTarget, FieldFilter, FilterDirection } from "./fieldFilters";

/** Indentation per nesting level, in ch of the monospace font. */
const INDENT_CH = 2;

function describe(filter: FieldFilter): string {
  switch (filter.field) {
    case "entity":
      return `entity ${filter.type}${filter.id != null ? ` #${filter.id}` : ""}`;
    case "search":
      return `messages containing "${filter.value}"`;
    case "query":
      return `${filter.key} ${String(filter.value)}`;
    default:
      return `${filter.field} ${filter.value}`;
  }
}

function FilterButton({ filter, direction, target }: { filter: FieldFilter; direction: FilterDirection; target: EntryFilterTarget }) {
  if (!target.supports(filter, direction)) return null;
  const label = `${direction === "for" ? "Filter for" : "Filter out"} ${describe(filter)}`;
  return (
    <button type="button" className="icon-button kv-action" aria-label={label} title={label} onClick={() => target.apply(filter, direction)}>
      {direction === "for" ? <CirclePlus size={12} aria-hidden /> : <CircleMinus size={12} aria-hidden />}
    </button>
  );
}

export interface FieldTableProps {
  /** Accessible name of the table, e.g. "Fields". */
  label: string;
  rows: readonly FieldRow[];
  /** Rows not shown because the map is huge. */
  omitted?: number;
  /** The filter a row's value stands for, if any. */
  filterOf?: (row: FieldRow) => FieldFilter | null;
  filterTarget?: EntryFilterTarget;
  /** Renders a value specially (a trace id as a link); the default is its text. */
  renderValue?: (row: FieldRow) => React.ReactNode;
}

/**
 * Key, value, type and actions (copy, filter for, filter out), one row per key; nested maps and
 * arrays get a row of their own followed by their members, indented.
 */
export function FieldTable({ label, rows, omitted = 0, filterOf, filterTarget, renderValue }: FieldTableProps) {
  if (rows.length === 0) return null;
  return (
    <table className="kv-table" aria-label={label}>
      <tbody>
        {rows.map((row) => {
          const filter = filterTarget && filterOf ? filterOf(row) : null;
          const isContainer = row.type === "object" || row.type === "array";
          return (
            <tr key={row.path} className={isContainer ? "kv-container" : undefined} data-path={row.path}>
              <th scope="row" className="kv-key" style={row.depth ? { paddingLeft: `${row.depth * INDENT_CH}ch` } : undefined}>
                {row.key}
              </th>
              <td className={`kv-value kv-${row.type}`}>{renderValue?.(row) ?? row.display}</td>
              <td className="kv-type">{row.type}</td>
              <td className="kv-actions">
                <CopyButton label={`Copy value of ${row.path}`} text={() => copyableValue(row.value)} />
                {filter && filterTarget && (
                  <>
                    <FilterButton filter={filter} direction="for" target={filterTarget} />
                    <FilterButton filter={filter} direction="out" target={filterTarget} />
                  </>
                )}
              </td>
            </tr>
          );
        })}
        {omitted > 0 && (
          <tr>
            <td colSpan={4} className="muted">
              {omitted.toLocaleString()} more values not shown (copy the entry as JSON for all of them)
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}
