import { describe, expect, it } from "vitest";
import { describeEstimate, describeExportRange } from "../exportRange";
import {
  countNewlines,
  exportFilename,
  exportParams,
  pipeWithProgress,
  progressPercent,
  savePicker,
} from "../exportStream";
import type { ExportProgress } from "../exportStream";

const encode = (text: string) => new TextEncoder().encode(text);

function source(chunks: string[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(encode(chunks[i++]!));
      else controller.close();
    },
  });
}

function sink() {
  const written: string[] = [];
  const events: string[] = [];
  const stream = new WritableStream<Uint8Array>({
    write: (chunk) => void written.push(new TextDecoder().decode(chunk)),
    close: () => void events.push("close"),
    abort: () => void events.push("abort"),
  });
  return { stream, written, events };
}

describe("countNewlines", () => {
  it("counts line feeds, not escaped ones", () => {
    expect(countNewlines(encode(""))).toBe(0);
    expect(countNewlines(encode('{"m":"a\\nb"}\n{"m":"c"}\n'))).toBe(2);
    expect(countNewlines(encode("\n\n\n"))).toBe(3);
    expect(countNewlines(encode("no end"))).toBe(0);
  });
});

describe("progressPercent", () => {
  it("is relative to the estimate and stays below 100 until the end", () => {
    expect(progressPercent(50, 200)).toBe(25);
    expect(progressPercent(0, 200)).toBe(0);
    expect(progressPercent(250, 200)).toBe(99);
    expect(progressPercent(10, 0)).toBeNull();
    expect(progressPercent(10, null)).toBeNull();
  });
});

describe("exportParams and exportFilename", () => {
  it("drops the list's paging and adds the format", () => {
    expect(exportParams({ level: ["error"], q: "a:b", page: 3, per_page: 25, before_id: 9 }, "text")).toEqual({
      level: ["error"],
      q: "a:b",
      format: "text",
    });
  });
  it("names the file like the server does", () => {
    const at = Date.parse("2026-11-28T14:30:05.123Z");
    expect(exportFilename("json", at)).toBe("activity-logs-20261128T143005Z.ndjson");
    expect(exportFilename("text", at)).toBe("activity-logs-20261128T143005Z.log");
  });
});

describe("savePicker", () => {
  it("is null where the File System Access API is missing", () => {
    expect(savePicker({} as Window)).toBeNull();
    const fake = { showSaveFilePicker: () => Promise.resolve({}) } as unknown as Window;
    expect(savePicker(fake)).toBeTypeOf("function");
  });
});

describe("pipeWithProgress", () => {
  it("writes every chunk in order, counts rows and reports throttled progress then 100 %", async () => {
    const { stream, written, events } = sink();
    const reports: ExportProgress[] = [];
    let t = 0;
    const clock = () => (t += 40); // a report every third chunk at most
    const chunks = ["a\nb\n", "c\n", "d\ne\n", "f\n", "g\n"];
    const done = await pipeWithProgress(source(chunks), stream, 7, (p) => reports.push(p), undefined, clock);
    expect(written.join("")).toBe(chunks.join(""));
    expect(events).toEqual(["close"]);
    expect(done).toEqual({ rows: 7, bytes: 14 });
    expect(reports.length).toBeLessThan(chunks.length + 1);
    expect(reports[0]).toEqual({ rows: 2, bytes: 4, percent: 28 });
    expect(reports.at(-1)).toEqual({ rows: 7, bytes: 14, percent: 100 });
    const rows = reports.map((r) => r.rows);
    expect(rows).toEqual([...rows].sort((a, b) => a - b));
  });

  it("without an estimate reports rows only", async () => {
    const { stream } = sink();
    const reports: ExportProgress[] = [];
    await pipeWithProgress(source(["x\n"]), stream, null, (p) => reports.push(p));
    expect(reports.at(-1)).toEqual({ rows: 1, bytes: 2, percent: null });
  });

  it("cancel aborts the file and stops reading", async () => {
    const { stream, events } = sink();
    const controller = new AbortController();
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        if (pulled === 3) controller.abort();
        c.enqueue(encode("row\n"));
      },
    });
    await expect(pipeWithProgress(endless, stream, 100, () => undefined, controller.signal)).rejects.toThrow();
    expect(events).toEqual(["abort"]);
    expect(pulled).toBeLessThan(6);
  });

  it("a broken download aborts the file and rethrows", async () => {
    const { stream, events } = sink();
    let n = 0;
    const broken = new ReadableStream<Uint8Array>({
      pull(c) {
        if (n++ === 1) c.error(new TypeError("network error"));
        else c.enqueue(encode("row\n"));
      },
    });
    await expect(pipeWithProgress(broken, stream, 100, () => undefined)).rejects.toThrow("network error");
    expect(events).toEqual(["abort"]);
  });
});

describe("describeExportRange", () => {
  const now = Date.parse("2026-11-28T15:00:00.000Z");
  it("says all time when the range is open", () => {
    expect(describeExportRange(undefined, undefined, {}, "utc", now)).toBe("All time: every stored entry, up to now");
  });
  it("names a relative window and its instants in the console's zone", () => {
    expect(describeExportRange("now-15m", undefined, { from: "2026-11-28T14:45:00.000Z" }, "utc", now)).toBe(
      "The last 15 minutes: from 2026-11-28 14:45:00.000 to now (UTC)",
    );
    expect(describeExportRange("now-1h", "now", { from: "2026-11-28T14:00:00.000Z", to: "2026-11-28T15:00:00.000Z" }, "utc", now)).toBe(
      "The last hour: from 2026-11-28 14:00:00.000 to now (UTC)",
    );
  });
  it("gives both ends of an absolute range, or the one there is", () => {
    const from = "2026-11-27T08:00:00.000Z";
    const to = "2026-11-27T09:30:00.000Z";
    expect(describeExportRange(from, to, { from, to }, "utc", now)).toBe(
      "From 2026-11-27 08:00:00.000 to 2026-11-27 09:30:00.000 (UTC)",
    );
    expect(describeExportRange(undefined, to, { to }, "utc", now)).toBe("Everything before 2026-11-27 09:30:00.000 (UTC)");
    expect(describeExportRange(from, undefined, { from }, "utc", now)).toBe("From 2026-11-27 08:00:00.000 to now (UTC)");
  });
});

describe("describeEstimate", () => {
  it("says whether the count is exact", () => {
    expect(describeEstimate({ rows: 200000, exact: true })).toBe("200,000 entries");
    expect(describeEstimate({ rows: 1, exact: true })).toBe("1 entry");
    expect(describeEstimate({ rows: 2400000, exact: false })).toBe("about 2,400,000 entries (estimated)");
  });
});
