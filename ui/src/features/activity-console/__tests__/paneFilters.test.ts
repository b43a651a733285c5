import { describe, expect, it } from "vitest";
import {
  DEFAULT_PANE_FILTERS,
  hasLiveParams,
  historyWithPatch,
  isSyncOn,
  paneFiltersOfHistory,
  paneFiltersOfStore,
  parseLiveFilters,
  storePatchOf,
  syncPatch,
  withHistoryFilters,
  withLiveFilters,
  withSync,
} from "../paneFilters";
import type { PaneFilters } from "../paneFilters";
import { DEFAULT_HISTORY_FILTERS, parseHistoryFilters } from "../urlFilters";

const live: PaneFilters = {
  levels: ["warn", "error"],
  sources: ["worker", "agent"],
  mode: "verbose",
  search: "out of memory",
  q: 'gpu:1 level>=warn -node:"node b"',
  entity_type: "job",
  entity_id: 42,
};

describe("the live pane's filters in the URL", () => {
  it("round-trip through live_ parameters, next to history's own", () => {
    const params = withLiveFilters(new URLSearchParams("q=service%3Aapi&from=now-1h"), live);
    expect(params.get("live_level")).toBe("warn,error");
    expect(params.get("live_q")).toBe(live.q);
    expect(params.get("live_entity")).toBe("job");
    expect(params.get("live_id")).toBe("42");
    const reread = new URLSearchParams(params.toString());
    expect(parseLiveFilters(reread)).toEqual(live);
    // History's parameters are untouched and history reads none of the live ones.
    expect(parseHistoryFilters(reread)).toEqual({ ...DEFAULT_HISTORY_FILTERS, q: "service:api", from: "now-1h" });
  });

  it("write nothing for the defaults, and replace (not add to) the previous live_ parameters", () => {
    expect(withLiveFilters(new URLSearchParams(), DEFAULT_PANE_FILTERS).toString()).toBe("");
    const twice = withLiveFilters(withLiveFilters(new URLSearchParams(), live), { ...DEFAULT_PANE_FILTERS, q: "gpu:2" });
    expect(twice.toString()).toBe("live_q=gpu%3A2");
    expect(hasLiveParams(twice)).toBe(true);
    expect(hasLiveParams(new URLSearchParams("q=gpu:2&level=warn"))).toBe(false);
  });

  it("read unknown or malformed values as the defaults, and an empty level list as none", () => {
    const junk = new URLSearchParams(
      "live_level=warn,bogus,ERROR&live_source=&live_mode=loud&live_id=-3&live_entity=%20&live_q=%20&live_zzz=1&utm=x",
    );
    expect(parseLiveFilters(junk)).toEqual({ ...DEFAULT_PANE_FILTERS, levels: ["warn"], sources: [] });
    expect(parseLiveFilters(new URLSearchParams("live_id=1e3"))).toEqual(DEFAULT_PANE_FILTERS);
    expect(parseLiveFilters(new URLSearchParams("live_id=99999999999999999999"))).toEqual(DEFAULT_PANE_FILTERS);
    expect(parseLiveFilters(new URLSearchParams("live_level=warn&live_level=error"))).toMatchObject({ levels: ["warn", "error"] });
  });

  it("agree with the store's filters both ways", () => {
    const slice = { ...storePatchOf(live) } as Parameters<typeof paneFiltersOfStore>[0];
    expect(slice.entityFilter).toEqual({ type: "job", id: 42 });
    expect(paneFiltersOfStore(slice)).toEqual(live);
    const none = storePatchOf({ ...live, entity_type: undefined, entity_id: undefined }) as Parameters<typeof paneFiltersOfStore>[0];
    expect(none.entityFilter).toBeNull();
  });

  it("are kept when history writes its own parameters, with sync", () => {
    const current = new URLSearchParams("q=a&live_q=b&sync=off&view=3");
    const next = withHistoryFilters(current, { ...DEFAULT_HISTORY_FILTERS, q: "c", page: 2 });
    expect(Object.fromEntries(next)).toEqual({ q: "c", page: "2", live_q: "b", sync: "off" });
  });
});

describe("Sync between the panes", () => {
  it("is on unless sync=off", () => {
    expect(isSyncOn(new URLSearchParams())).toBe(true);
    expect(isSyncOn(new URLSearchParams("sync=on"))).toBe(true);
    expect(isSyncOn(new URLSearchParams("sync=off"))).toBe(false);
    expect(withSync(new URLSearchParams("q=a"), false).toString()).toBe("q=a&sync=off");
    expect(withSync(new URLSearchParams("q=a&sync=off"), true).toString()).toBe("q=a");
  });

  it("carries only what changed in one pane to the other", () => {
    const history: PaneFilters = { ...DEFAULT_PANE_FILTERS, q: "gpu:1", search: "boom" };
    const before: PaneFilters = { ...DEFAULT_PANE_FILTERS, q: "gpu:1", search: "typed" };
    // The live query changed; the live search differs from history's but did not change: not carried.
    expect(syncPatch(before, { ...before, q: "gpu:2" }, history)).toEqual({ q: "gpu:2" });
    // A cleared entity is carried as cleared.
    const scoped = { ...before, entity_type: "job", entity_id: 4 };
    expect(syncPatch(scoped, before, { ...history, entity_type: "job", entity_id: 4 })).toEqual({
      entity_type: undefined,
      entity_id: undefined,
    });
  });

  it("ends the echo: a change the other pane already has carries nothing back", () => {
    const before = DEFAULT_PANE_FILTERS;
    const after = { ...DEFAULT_PANE_FILTERS, levels: ["error" as const], q: "gpu:1" };
    expect(syncPatch(before, after, after)).toEqual({});
  });

  it("sets history's shared filters back on page 1 and leaves its range, trace and ids", () => {
    const h = { ...DEFAULT_HISTORY_FILTERS, from: "now-1h", trace_id: "ab".repeat(16), job_id: 9, page: 4, entity_type: "job", entity_id: 3 };
    const next = historyWithPatch(h, { q: "gpu:1", entity_type: undefined, entity_id: undefined });
    expect(next).toEqual({ ...h, q: "gpu:1", entity_type: undefined, entity_id: undefined, page: 1 });
    expect(paneFiltersOfHistory(next)).toEqual({ ...DEFAULT_PANE_FILTERS, q: "gpu:1" });
  });
});
