import { describe, expect, it } from "vitest";
import { DEFAULT_HISTORY_FILTERS } from "../../urlFilters";
import { ACTIVITY_LOG_LEVELS, ACTIVITY_LOG_SOURCES } from "../../types";
import { applyToHistoryFilters, applyToLiveFilters, historyFiltersFromEntryPage, queryFilterFor, searchFilterFor } from "../fieldFilters";
import type { LiveFilters } from "../fieldFilters";

const live: LiveFilters = {
  levels: new Set(ACTIVITY_LOG_LEVELS),
  sources: new Set(["api", "worker", "agent"] as const),
  mode: "verbose",
  searchText: "",
  entityFilter: null,
  queryText: "gpu:1",
};

describe("filter for / filter out", () => {
  it("select only a level or source, or drop it from the current selection", () => {
    expect(applyToLiveFilters(live, { field: "level", value: "error" }, "for")).toEqual({ levels: new Set(["error"]) });
    expect(applyToLiveFilters(live, { field: "source", value: "worker" }, "out")).toEqual({ sources: new Set(["api", "agent"]) });
    expect(applyToHistoryFilters(DEFAULT_HISTORY_FILTERS, { field: "source", value: "comfyui" }, "out")!.sources).toEqual(
      ACTIVITY_LOG_SOURCES.filter((s) => s !== "comfyui"),
    );
  });

  it("map the category onto the Activity/Debug mode only where the mode can express it", () => {
    expect(applyToLiveFilters(live, { field: "category", value: "curated" }, "for")).toEqual({ mode: "curated" });
    expect(applyToLiveFilters(live, { field: "category", value: "verbose" }, "out")).toEqual({ mode: "curated" });
    // Debug shows every category, so it is not "verbose only"; nothing hides curated entries.
    expect(applyToLiveFilters(live, { field: "category", value: "verbose" }, "for")).toBeNull();
    expect(applyToLiveFilters(live, { field: "category", value: "curated" }, "out")).toBeNull();
  });

  it("offer no 'filter out' where the filter has no negation, and nothing the live tail cannot filter", () => {
    expect(applyToLiveFilters(live, { field: "entity", type: "job", id: 4 }, "for")).toEqual({ entityFilter: { type: "job", id: 4 } });
    expect(applyToLiveFilters(live, { field: "entity", type: "job", id: 4 }, "out")).toBeNull();
    expect(applyToLiveFilters(live, { field: "trace_id", value: "a".repeat(32) }, "for")).toBeNull();
    expect(applyToLiveFilters(live, { field: "project_id", value: 7 }, "for")).toBeNull();
  });

  it("add an attribute term to the live query, as to history's", () => {
    expect(applyToLiveFilters(live, { field: "query", key: "node", value: "node b" }, "out")).toEqual({ queryText: 'gpu:1 -node:"node b"' });
  });

  it("set history's trace, job, user and project filters, back on page 1", () => {
    const onPage3 = { ...DEFAULT_HISTORY_FILTERS, page: 3 };
    expect(applyToHistoryFilters(onPage3, { field: "project_id", value: 7 }, "for")).toEqual({ ...DEFAULT_HISTORY_FILTERS, project_id: 7 });
    expect(applyToHistoryFilters(onPage3, { field: "trace_id", value: "ab".repeat(16) }, "for")!.trace_id).toBe("ab".repeat(16));
    expect(applyToHistoryFilters(onPage3, { field: "job_id", value: 9 }, "out")).toBeNull();
  });

  it("from the entry page, open history in Debug mode so entries of any category match", () => {
    expect(historyFiltersFromEntryPage({ field: "source", value: "worker" }, "for")).toEqual({
      ...DEFAULT_HISTORY_FILTERS,
      mode: "verbose",
      sources: ["worker"],
    });
  });

  it("offer a field value as a message search only when the message contains it", () => {
    const entry = { message: "Prompt 7f3a failed on node KSampler" };
    expect(searchFilterFor(entry, "ksampler")).toEqual({ field: "search", value: "ksampler" });
    expect(searchFilterFor(entry, "VAEDecode")).toBeNull();
    expect(searchFilterFor(entry, 7)).toBeNull();
    expect(searchFilterFor(entry, "on")).toBeNull(); // too short to mean anything
  });
});

describe("query filters", () => {
  it("turns any top-level scalar attribute into a query term, quoted when needed, - for out", () => {
    const host = queryFilterFor("resource.", { key: "host.name", depth: 0, value: "node a" })!;
    expect(host).toEqual({ field: "query", key: "resource.host.name", value: "node a" });
    const gpu = queryFilterFor("", { key: "gpu", depth: 0, value: 1 })!;
    let f = applyToHistoryFilters({ ...DEFAULT_HISTORY_FILTERS, q: "level>=warn", page: 3 }, gpu, "for")!;
    expect(f.q).toBe("level>=warn gpu:1");
    expect(f.page).toBe(1);
    f = applyToHistoryFilters(f, host, "out")!;
    expect(f.q).toBe('level>=warn gpu:1 -resource.host.name:"node a"');
    expect(queryFilterFor("scope.", { key: "name", depth: 0, value: "app.worker" })).toMatchObject({ key: "scope.name" });
    expect(queryFilterFor("", { key: "devices", depth: 0, value: [1, 2] })).toBeNull();
    expect(queryFilterFor("", { key: "x", depth: 1, value: "nested" })).toBeNull();
  });
});
