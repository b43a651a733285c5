/** Structured attributes (fields, resource) flattened into the rows of a typed key/value table. */

export type FieldType = "string" | "number" | "boolean" | "null" | "object" | "array";

export interface FieldRow {
  /** Unique within the table: the path from the top, e.g. `gpu.devices[1].name`. */
  path: string;
  /** The key as shown: a map key, or `[i]` for an array element. */
  key: string;
  /** Nesting level, 0 for top-level keys: the table indents by it. */
  depth: number;
  type: FieldType;
  /** The value itself (a leaf, or the whole object/array for a container row). */
  value: unknown;
  /** Containers: `{3 keys}` / `[2 items]`; leaves: the value as text. */
  display: string;
}

export function fieldType(value: unknown): FieldType {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return "array";
  switch (typeof value) {
    case "string":
      return "string";
    case "number":
    case "bigint":
      return "number";
    case "boolean":
      return "boolean";
    default:
      return "object";
  }
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function display(value: unknown, type: FieldType): string {
  switch (type) {
    case "string":
      return value as string;
    case "null":
      return "null";
    case "array":
      return `[${plural((value as unknown[]).length, "item", "items")}]`;
    case "object":
      return `{${plural(Object.keys(value as object).length, "key", "keys")}}`;
    default:
      return String(value);
  }
}

/**
 * Depth-first rows of a map: a nested object or array gets a row of its own and then its members,
 * one level deeper. `maxRows` bounds the work for huge maps; the rest is reported as `omitted`.
 */
export function fieldRows(map: Record<string, unknown>, maxRows = 2_000): { rows: FieldRow[]; omitted: number } {
  const rows: FieldRow[] = [];
  let omitted = 0;
  const visit = (key: string, path: string, value: unknown, depth: number) => {
    if (rows.length >= maxRows) {
      omitted++;
      return;
    }
    const type = fieldType(value);
    rows.push({ path, key, depth, type, value, display: display(value, type) });
    if (type === "array") {
      (value as unknown[]).forEach((item, i) => visit(`[${i}]`, `${path}[${i}]`, item, depth + 1));
    } else if (type === "object") {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) visit(k, `${path}.${k}`, v, depth + 1);
    }
  };
  for (const [k, v] of Object.entries(map)) visit(k, k, v, 0);
  return { rows, omitted };
}

/** What "copy value" puts on the clipboard: a string as it is, anything else as JSON. */
export function copyableValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2) ?? "null";
}
