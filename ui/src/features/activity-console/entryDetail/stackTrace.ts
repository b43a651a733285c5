/**
 * Finding and laying out exception text: the OpenTelemetry exception attributes an entry carries in
 * `fields`, or a Python, JavaScript or Java traceback inside the message itself.
 */

export type StackLineKind = "header" | "frame" | "code" | "cause" | "text";

export interface StackLine {
  kind: StackLineKind;
  text: string;
}

/** An exception found in an entry. `stacktrace` is the text the code block shows, one frame a line. */
export interface DetectedException {
  origin: "fields" | "message";
  type: string | null;
  message: string | null;
  stacktrace: string | null;
  /** With origin "message": where in the message the traceback starts (the text before stays prose). */
  messageOffset?: number;
}

const PY_TRACEBACK = /^Traceback \(most recent call last\):$/m;
const PY_FRAME = /^\s*File ".*", line \d+/;
const JS_FRAME = /^\s+at .+(:\d+:\d+\)?|\(native\)|\(<anonymous>\)|\(index \d+\))$/;
const JAVA_FRAME = /^\s+at [\w$.<>/]+\(.*\)$/;
const JAVA_MORE = /^\s+\.\.\. \d+ more$/;
const CAUSE = /^(Caused by: |During handling of the above exception|The above exception was the direct cause)/;
/** `ValueError: bad`, `java.lang.IllegalStateException: x`, `TypeError: y`, `Exception in thread "main" …` */
const EXCEPTION_HEADER = /^(Exception in thread ".*" )?([\w$]+\.)*[\w$]*(Error|Exception|Throwable|Interrupt|Exit|Warning)\b(:.*)?$/;

/**
 * Stack traces that were serialised twice arrive as one line with literal `\n` sequences: turn
 * those into line breaks, but only when the text has no real ones (a real traceback may quote a
 * backslash-n inside a string literal).
 */
export function unescapeNewlines(text: string): string {
  if (text.includes("\n") || !text.includes("\\n")) return text;
  return text.replace(/\\r\\n|\\n/g, "\n").replace(/\\t/g, "\t");
}

/** Classifies each line of a stack trace (after `unescapeNewlines`), so frames can be shown as frames. */
export function stackLines(text: string): StackLine[] {
  // Split on "\n" only, so that the lines joined with "\n" are the text again.
  const lines = unescapeNewlines(text).split("\n");
  const out: StackLine[] = [];
  let afterPythonFrame = false;
  for (const line of lines) {
    let kind: StackLineKind;
    if (PY_FRAME.test(line) || JS_FRAME.test(line) || JAVA_FRAME.test(line) || JAVA_MORE.test(line)) kind = "frame";
    else if (afterPythonFrame && /^\s{4,}\S/.test(line)) kind = "code";
    else if (CAUSE.test(line)) kind = "cause";
    else if (PY_TRACEBACK.test(line) || EXCEPTION_HEADER.test(line.trim())) kind = "header";
    else kind = "text";
    afterPythonFrame = PY_FRAME.test(line);
    out.push({ kind, text: line });
  }
  return out;
}

/** Index in `message` where a traceback starts (the start of its line), or -1. */
export function tracebackStart(message: string): number {
  const python = PY_TRACEBACK.exec(message);
  if (python) return python.index;
  // JavaScript and Java: an exception line followed by at least two `at …` frames.
  const lines = message.split("\n");
  let offset = 0;
  for (let i = 0; i + 2 < lines.length; i++) {
    const line = lines[i]!;
    if (
      EXCEPTION_HEADER.test(line.trim().replace(/^Uncaught /, "")) &&
      (JS_FRAME.test(lines[i + 1]!) || JAVA_FRAME.test(lines[i + 1]!)) &&
      (JS_FRAME.test(lines[i + 2]!) || JAVA_FRAME.test(lines[i + 2]!))
    ) {
      return offset;
    }
    offset += line.length + 1;
  }
  return -1;
}

const asText = (value: unknown): string | null =>
  typeof value === "string" ? value : value == null ? null : JSON.stringify(value);

/** `fields["exception.type"]`, or the nested form `fields.exception.type`. */
function exceptionField(fields: Record<string, unknown>, name: "type" | "message" | "stacktrace"): string | null {
  const flat = fields[`exception.${name}`];
  if (flat !== undefined) return asText(flat);
  const nested = fields.exception;
  if (nested && typeof nested === "object" && !Array.isArray(nested)) return asText((nested as Record<string, unknown>)[name]);
  return null;
}

/**
 * The exception an entry describes: the OpenTelemetry `exception.*` attributes first (that is where
 * the SDKs put a logged exception), else a traceback inside the message.
 */
export function detectException(entry: { message: string; fields: Record<string, unknown> }): DetectedException | null {
  const type = exceptionField(entry.fields, "type");
  const message = exceptionField(entry.fields, "message");
  const stacktrace = exceptionField(entry.fields, "stacktrace");
  if (type || message || stacktrace) return { origin: "fields", type, message, stacktrace };
  const start = tracebackStart(entry.message);
  if (start < 0) return null;
  return { origin: "message", type: null, message: null, stacktrace: entry.message.slice(start), messageOffset: start };
}
