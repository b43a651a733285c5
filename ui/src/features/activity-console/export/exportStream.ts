/**
 * Export without holding the file in the tab: either the response body is piped chunk by chunk
 * into a file the user picked (File System Access API), or the server mints a one-time link and
 * the browser's own download manager fetches and saves it (no token can go on a plain link).
 */
import { apiFetch, apiJson } from "../../../lib/api";
import type { ActivityLogQueryParams, ExportFormat, ExportLink } from "../types";

export interface ExportProgress {
  /** Entries written so far (one per line in both formats). */
  rows: number;
  bytes: number;
  /** Whole percent against the estimate; null when there is no estimate. */
  percent: number | null;
}

/** The export's filters: the list's parameters without its paging. */
export function exportParams(params: ActivityLogQueryParams, format: ExportFormat): Record<string, unknown> {
  const { page: _page, per_page: _perPage, before_id: _before, after_id: _after, ...filters } = params;
  return { ...filters, format };
}

const NEWLINE = 10;

/** Line feeds in a chunk: each entry of an export ends with exactly one (escaped inside). */
export function countNewlines(chunk: Uint8Array): number {
  let count = 0;
  for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, i + 1)) count++;
  return count;
}

/**
 * Percent done against an estimate, held below 100 until the stream really ends (an estimate
 * may be low, and "100 %" that keeps running reads as stuck).
 */
export function progressPercent(rows: number, estimate: number | null | undefined): number | null {
  if (estimate == null || estimate <= 0) return null;
  return Math.min(99, Math.floor((rows * 100) / estimate));
}

/** `activity-logs-20261128T143000Z.ndjson`: the name the server gives its own download. */
export function exportFilename(format: ExportFormat, now: number = Date.now()): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `activity-logs-${stamp}.${format === "json" ? "ndjson" : "log"}`;
}

interface SaveFilePickerOptions {
  suggestedName?: string;
  types?: { description: string; accept: Record<string, string[]> }[];
}
export type SaveFilePicker = (options: SaveFilePickerOptions) => Promise<FileSystemFileHandle>;

/** The File System Access API's save picker, where the browser has one (Chromium on desktop). */
export function savePicker(win: Window = window): SaveFilePicker | null {
  const picker = (win as unknown as { showSaveFilePicker?: SaveFilePicker }).showSaveFilePicker;
  return typeof picker === "function" ? picker.bind(win) : null;
}

export function pickerOptions(format: ExportFormat, now?: number): SaveFilePickerOptions {
  return {
    suggestedName: exportFilename(format, now),
    types:
      format === "json"
        ? [{ description: "NDJSON (one JSON entry per line)", accept: { "application/x-ndjson": [".ndjson"] } }]
        : [{ description: "Plain text log", accept: { "text/plain": [".log"] } }],
  };
}

/** Reports at most every this many milliseconds (and once at the end): a chunk is 64 kB. */
export const PROGRESS_INTERVAL_MS = 100;

/**
 * Copies `body` into `sink` chunk by chunk (each chunk is written before the next is read, so
 * memory holds about one chunk), counting rows. Aborting `signal` cancels the download and
 * discards what the file received; an error does the same and is rethrown.
 */
export async function pipeWithProgress(
  body: ReadableStream<Uint8Array>,
  sink: WritableStream<Uint8Array>,
  estimate: number | null,
  onProgress: (p: ExportProgress) => void,
  signal?: AbortSignal,
  clock: () => number = () => performance.now(),
): Promise<{ rows: number; bytes: number }> {
  const reader = body.getReader();
  const writer = sink.getWriter();
  let rows = 0;
  let bytes = 0;
  let lastReport = -Infinity;
  const onAbort = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener("abort", onAbort);
  try {
    for (;;) {
      if (signal?.aborted) throw signal.reason ?? new DOMException("Export cancelled", "AbortError");
      const { done, value } = await reader.read();
      // Cancelling ends a pending read as if the stream were done: that is no finished file.
      if (signal?.aborted) throw signal.reason ?? new DOMException("Export cancelled", "AbortError");
      if (done) break;
      await writer.write(value);
      rows += countNewlines(value);
      bytes += value.byteLength;
      const now = clock();
      if (now - lastReport >= PROGRESS_INTERVAL_MS) {
        lastReport = now;
        onProgress({ rows, bytes, percent: progressPercent(rows, estimate) });
      }
    }
    await writer.close();
    onProgress({ rows, bytes, percent: estimate != null && estimate > 0 ? 100 : null });
    return { rows, bytes };
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    await writer.abort(error).catch(() => undefined);
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** Streams the export into a file the user picked with `savePicker`. */
export async function exportToFile(
  handle: FileSystemFileHandle,
  params: ActivityLogQueryParams,
  format: ExportFormat,
  estimate: number | null,
  onProgress: (p: ExportProgress) => void,
  signal?: AbortSignal,
): Promise<{ rows: number; bytes: number; filename: string }> {
  const res = await apiFetch("/activity-logs/export", { params: exportParams(params, format), signal });
  if (!res.body) throw new Error("the browser gave no stream for the download");
  // Writes go to a temporary file that replaces the chosen one on close, and is dropped on abort.
  const writable = await handle.createWritable();
  const done = await pipeWithProgress(res.body, writable, estimate, onProgress, signal);
  return { ...done, filename: handle.name };
}

/**
 * Has the server mint a one-time link for the export and hands it to the browser's download
 * manager, which streams it to disk (the tab never sees the data).
 */
export async function exportByLink(
  params: ActivityLogQueryParams,
  format: ExportFormat,
  doc: Document = document,
  signal?: AbortSignal,
): Promise<ExportLink> {
  const link = await apiJson<ExportLink>("/activity-logs/export-links", {
    method: "POST",
    params: exportParams(params, format),
    signal,
  });
  const anchor = doc.createElement("a");
  anchor.href = link.url;
  anchor.download = ""; // the server's Content-Disposition names the file
  anchor.rel = "noopener";
  anchor.style.display = "none";
  doc.body.appendChild(anchor);
  anchor.click();
  anchor.remove();
  return link;
}
