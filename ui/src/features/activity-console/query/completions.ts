/**
 * Pure logic of the query bar: what the text around the cursor asks to be completed with, how a
 * completion is put into the text, and how a key/value pair is written as a query term
 * (docs/query.md).
 */

/** Built-in names, offered first and in this order. */
export const BUILT_IN_KEYS = [
  "level",
  "source",
  "service",
  "category",
  "mode",
  "trace",
  "span",
  "job",
  "project",
  "user",
  "entity",
] as const;

/** Values known without asking the server. */
export const BUILT_IN_VALUES: Record<string, readonly string[]> = {
  level: ["debug", "info", "warn", "error"],
  source: ["api", "comfyui", "worker", "agent", "pipeline"],
  category: ["curated", "verbose"],
  mode: ["curated", "verbose"],
};

export type CompletionContext =
  /** A key (or a bare word) is being typed: `text.slice(from, to)` is replaced by the completion. */
  | { kind: "key"; prefix: string; from: number; to: number }
  /** A value after `key:`; `quoted` when the value was opened with a quote. */
  | { kind: "value"; key: string; prefix: string; quoted: boolean; from: number; to: number };

const DELIMITERS = new Set([" ", "\t", "\n", "(", ")"]);

/**
 * The term under the cursor (its part before the cursor decides the kind; the rest of the term up
 * to the next delimiter is what a completion replaces). Null when nothing is being typed where a
 * completion makes sense (after a comparison operator, inside a free-text phrase).
 */
export function completionContext(text: string, cursor: number): CompletionContext | null {
  // Walk from the start so quotes are known: a space inside quotes does not end a term.
  let termStart = 0;
  let inQuote = false;
  let quoteStart = -1;
  for (let i = 0; i < cursor; i++) {
    const c = text[i] ?? "";
    if (inQuote) {
      if (c === "\\") i++;
      else if (c === '"') inQuote = false;
      continue;
    }
    if (c === '"') {
      inQuote = true;
      quoteStart = i;
    } else if (DELIMITERS.has(c)) {
      termStart = i + 1;
    }
  }
  let termEnd = cursor;
  if (inQuote) {
    // Up to the closing quote (included), so that a completion replaces the whole quoted value.
    while (termEnd < text.length && text[termEnd] !== '"') termEnd += text[termEnd] === "\\" ? 2 : 1;
    termEnd = Math.min(text.length, termEnd + 1);
  } else {
    while (termEnd < text.length && !DELIMITERS.has(text[termEnd] ?? "") && text[termEnd] !== '"') termEnd++;
  }
  let start = termStart;
  if (text[start] === "-") start++;
  const typed = text.slice(start, cursor);
  const colon = typed.indexOf(":");
  if (colon < 0) {
    if (inQuote) return null; // a quoted phrase is free text
    if (/[<>=]/.test(typed)) return null;
    return { kind: "key", prefix: typed, from: start, to: termEnd };
  }
  const key = typed.slice(0, colon);
  if (!key || /[<>="]/.test(key)) return null;
  const valueFrom = start + colon + 1;
  const quoted = inQuote && quoteStart === valueFrom;
  if (inQuote && !quoted) return null;
  const prefix = unescape(text.slice(valueFrom + (quoted ? 1 : 0), cursor));
  return { kind: "value", key, prefix, quoted, from: valueFrom, to: termEnd };
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, "$1");
}

/** Keys starting with the prefix: built-ins first, then the catalogue's (record, `resource.`, `scope.`). */
export function keySuggestions(prefix: string, catalogue: readonly string[], limit = 12): string[] {
  const p = prefix.toLowerCase();
  const seen = new Set<string>();
  const out: string[] = [];
  for (const key of [...BUILT_IN_KEYS, ...catalogue]) {
    if (seen.has(key) || !key.toLowerCase().startsWith(p) || key === prefix) continue;
    seen.add(key);
    out.push(key);
    if (out.length >= limit) break;
  }
  return out;
}

/** Values starting with the prefix (case-insensitive), built-in ones for the built-in keys. */
export function valueSuggestions(key: string, prefix: string, known: readonly string[] = [], limit = 12): string[] {
  const p = prefix.toLowerCase();
  const all = [...(BUILT_IN_VALUES[key] ?? []), ...known];
  return [...new Set(all)].filter((v) => v.toLowerCase().startsWith(p) && v !== prefix).slice(0, limit);
}

/** Puts a completion into the text: a key gets its `:`, a value is quoted when it needs it. */
export function applyCompletion(text: string, ctx: CompletionContext, completion: string): { text: string; cursor: number } {
  const insert = ctx.kind === "key" ? `${completion}:` : quoteValue(completion);
  const spacer = ctx.kind === "value" && text[ctx.to] !== " " ? " " : "";
  const next = text.slice(0, ctx.from) + insert + spacer + text.slice(ctx.to);
  return { text: next, cursor: ctx.from + insert.length + spacer.length };
}

const KEYWORDS = new Set(["AND", "OR", "NOT"]);

/**
 * A value as the query language reads it back as the same string: quoted when it has a space,
 * parenthesis, quote, backslash, colon or comparison sign, ends with `*`, starts with `-`, is empty
 * or is a keyword.
 */
export function quoteValue(value: string): string {
  const needs = value === "" || /[\s()"\\:<>=]/.test(value) || value.endsWith("*") || value.startsWith("-") || KEYWORDS.has(value);
  return needs ? `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"` : value;
}

/** `key:value`, or `-key:value` to filter out; a string that looks like a number or boolean is quoted to match only the string. */
export function queryTerm(key: string, value: string | number | boolean, negate = false): string {
  const written = typeof value === "string" && /^(-?\d+(\.\d+)?|true|false)$/.test(value) ? `"${value}"` : quoteValue(String(value));
  return `${negate ? "-" : ""}${key}:${written}`;
}

/** Adds a term to a query (AND), unless the query already has exactly that term. */
export function addTerm(q: string, term: string): string {
  const trimmed = q.trim();
  if (!trimmed) return term;
  const terms = splitTopLevel(trimmed);
  if (terms.includes(term)) return trimmed;
  // A top-level OR binds looser than the new term: keep the user's query whole.
  const base = terms.includes("OR") ? `(${trimmed})` : trimmed;
  return `${base} ${term}`;
}

function splitTopLevel(q: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inQuote = false;
  let cur = "";
  for (let i = 0; i < q.length; i++) {
    const c = q[i];
    if (inQuote) {
      cur += c;
      if (c === "\\") cur += q[++i] ?? "";
      else if (c === '"') inQuote = false;
      continue;
    }
    if (c === '"') inQuote = true;
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (c === " " && depth === 0) {
      if (cur) out.push(cur);
      cur = "";
    } else cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

/** Recent queries, most recent first, without duplicates, at most `max`. */
export function rememberQuery(recent: readonly string[], q: string, max = 20): string[] {
  const t = q.trim();
  if (!t) return [...recent];
  return [t, ...recent.filter((r) => r !== t)].slice(0, max);
}
