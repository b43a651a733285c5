import { describe, expect, it } from "vitest";
import { DEFAULT_HISTORY_FILTERS, parseHistoryFilters, serializeHistoryFilters, toQueryParams } from "../urlFilters";

describe("URL-synced history filters", () => {
  it("defaults keep the URL empty", () => {
    expect(serializeHistoryFilters(DEFAULT_HISTORY_FILTERS).toString()).toBe("");
    expect(parseHistoryFilters(new URLSearchParams())).toEqual(DEFAULT_HISTORY_FILTERS);
  });

  it("round-trips every filter", () => {
    const filters = {
      ...DEFAULT_HISTORY_FILTERS,
      levels: ["warn", "error"] as const,
      sources: ["worker"] as const,
      mode: "verbose" as const,
      from: "2026-11-26T05:00:00.000Z",
      to: "2026-11-26T06:00:00.000Z",
      search: "out of memory",
      entity_type: "job",
      entity_id: 42,
      trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
      page: 3,
      per_page: 50,
    };
    const url = serializeHistoryFilters({ ...filters, levels: [...filters.levels], sources: [...filters.sources] });
    expect(url.get("level")).toBe("warn,error");
    expect(parseHistoryFilters(new URLSearchParams(url.toString()))).toEqual({
      ...filters,
      levels: ["warn", "error"],
      sources: ["worker"],
    });
  });

  it("round-trips the job, user and project filters an entry's 'filter for' sets, and sends them to the API", () => {
    const f = { ...DEFAULT_HISTORY_FILTERS, job_id: 9, user_id: 4, project_id: 7 };
    const params = serializeHistoryFilters(f);
    expect(params.toString()).toBe("job_id=9&user_id=4&project_id=7");
    expect(parseHistoryFilters(params)).toEqual(f);
    expect(toQueryParams(f)).toMatchObject({ job_id: 9, user_id: 4, project_id: 7 });
    expect(parseHistoryFilters(new URLSearchParams("job_id=x&project_id=-1"))).toEqual(DEFAULT_HISTORY_FILTERS);
  });

  it("accepts repeated parameters and ignores junk", () => {
    const f = parseHistoryFilters(new URLSearchParams("level=error&level=bogus&level=warn&page=-2&per_page=7&from=yesterday"));
    expect(f.levels).toEqual(["warn", "error"]);
    expect(f.page).toBe(1);
    expect(f.per_page).toBe(25);
    expect(f.from).toBeUndefined();
  });

  it("keeps a relative range and the auto-refresh interval as given, and resolves the range per query", () => {
    const url = new URLSearchParams("from=now-1h&to=now-5m&refresh=30s");
    const f = parseHistoryFilters(url);
    expect(f).toMatchObject({ from: "now-1h", to: "now-5m", refresh: "30s" });
    expect(serializeHistoryFilters(f).toString()).toBe("from=now-1h&to=now-5m&refresh=30s");
    const now = Date.parse("2026-11-28T15:00:00.000Z");
    expect(toQueryParams(f, now)).toMatchObject({ from: "2026-11-28T14:00:00.000Z", to: "2026-11-28T14:55:00.000Z" });
    expect(toQueryParams(f, now + 60_000)).toMatchObject({ from: "2026-11-28T14:01:00.000Z", to: "2026-11-28T14:56:00.000Z" });
    const junk = parseHistoryFilters(new URLSearchParams("from=now-1y&to=now+1h&refresh=1s"));
    expect(junk.from).toBeUndefined();
    expect(junk.to).toBeUndefined();
    expect(junk.refresh).toBeUndefined();
  });

  it("an empty selection survives the round trip (it must not silently mean 'all')", () => {
    const url = serializeHistoryFilters({ ...DEFAULT_HISTORY_FILTERS, levels: [] });
    expect(parseHistoryFilters(url).levels).toEqual([]);
  });

  it("builds the REST query: Debug mode sends no mode filter, Activity sends curated", () => {
    expect(toQueryParams(DEFAULT_HISTORY_FILTERS)).toEqual({ mode: "curated", page: 1, per_page: 25 });
    const q = toQueryParams({ ...DEFAULT_HISTORY_FILTERS, mode: "verbose", levels: ["error"], search: "x" });
    expect(q).toEqual({ level: ["error"], search: "x", page: 1, per_page: 25 });
  });
});
