import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { currentLocation, makeEntry, mockFetch, renderWithProviders, resetStores } from "../../../test/utils";
import { ActivityConsolePanel } from "../ActivityConsolePanel";
import { ROW_HEIGHT } from "../constants";
import { useActivityConsoleStore as store } from "../stores/activityConsoleStore";
import type { ActivityLogEntry } from "../types";

const VIEWPORT = 400;

/** Gives the list element the geometry jsdom lacks: content height follows the visible rows. */
function renderPanel() {
  const result = renderWithProviders(<ActivityConsolePanel />);
  const scroller = screen.getByTestId("console-scroll");
  Object.defineProperty(scroller, "clientHeight", { configurable: true, get: () => VIEWPORT });
  Object.defineProperty(scroller, "scrollHeight", {
    configurable: true,
    get: () => Math.max(VIEWPORT, store.getState().visibleRows.length * ROW_HEIGHT),
  });
  return { ...result, scroller };
}

const push = (...entries: ActivityLogEntry[]) => act(() => store.getState().appendEntries(entries));
const many = (n: number, over: Partial<ActivityLogEntry> = {}) => Array.from({ length: n }, () => makeEntry(over));

function scrollTo(scroller: HTMLElement, top: number) {
  act(() => {
    scroller.scrollTop = top;
    fireEvent.scroll(scroller);
  });
}

/** Expanded rows report `height` px (jsdom has no layout); collapsed ones are never measured. */
function tallExpandedRows(height: number) {
  const original = Element.prototype.getBoundingClientRect;
  Element.prototype.getBoundingClientRect = function (this: Element) {
    const rect = original.call(this);
    if (this.classList.contains("virtual-row") && !this.classList.contains("is-fixed")) {
      return { ...rect, height, bottom: rect.top + height, toJSON: () => ({}) } as DOMRect;
    }
    return rect;
  };
  return () => {
    Element.prototype.getBoundingClientRect = original;
  };
}

const rowTopOf = (key: string) => {
  const el = document.querySelector<HTMLElement>(`[data-row-key="${key}"]`);
  const m = /translateY\(([\d.]+)px\)/.exec(el?.style.transform ?? "");
  return m ? Number(m[1]) : null;
};

describe("ActivityConsolePanel", () => {
  beforeEach(resetStores);

  it("applies the live query on Enter and shows a refused one with a caret, and the query kept in force", async () => {
    mockFetch(() => ({ body: { data: [] } }));
    renderPanel();
    const bar = screen.getByRole("combobox", { name: "Live query" });
    await userEvent.type(bar, "gpu:1 (level:warn{Enter}");
    expect(store.getState().queryText).toBe("gpu:1 (level:warn");
    act(() => {
      store.getState().setQueryInForce("gpu:1");
      store.getState().setQueryError({ query: "gpu:1 (level:warn", message: "expected ')'", position: 17 });
    });
    const alert = screen.getByRole("alert");
    expect(alert).toHaveTextContent("Query error at character 18: expected ')'");
    expect(alert.querySelector("pre")!.textContent).toBe(`gpu:1 (level:warn\n${" ".repeat(17)}^`);
    expect(bar).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText(/keeps its previous query/)).toHaveTextContent("The live tail keeps its previous query: gpu:1");
    // A new query clears the refusal until the server answers it.
    await userEvent.clear(bar);
    await userEvent.type(bar, "gpu:2{Enter}");
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("renders terminal rows HH:MM:SS.mmm LEVEL SOURCE message", () => {
    renderPanel();
    push(makeEntry({ id: 1, timestamp: "2026-11-26T05:30:46.123456Z", level: "warn", source: "worker", message: "GPU hot" }));
    const line = screen.getByRole("button", { name: /GPU hot/ });
    expect(line).toHaveTextContent("05:30:46.123WARNWorkerGPU hot");
  });

  it("colours rows by level and source", () => {
    renderPanel();
    const levels = ["debug", "info", "warn", "error"] as const;
    const sources = ["api", "comfyui", "worker", "agent", "pipeline"] as const;
    act(() => store.getState().setMode("verbose"));
    push(...levels.map((level, i) => makeEntry({ level, source: sources[i]!, message: `row-${level}` })));
    push(makeEntry({ source: "pipeline", message: "row-pipeline" }));
    for (const [i, level] of levels.entries()) {
      const row = screen.getByText(`row-${level}`).closest(".log-row")!;
      expect(row).toHaveClass(`level-${level}`, `source-${sources[i]}`);
      expect(row.querySelector(".log-level")).toHaveClass(`lvl-${level}`);
      expect(row.querySelector(".log-source")).toHaveClass(`src-${sources[i]}`);
    }
    const pipeline = screen.getByText("row-pipeline").closest(".log-row")!;
    expect(pipeline.querySelector(".log-source")).toHaveClass("src-pipeline");
    expect(pipeline.querySelector(".log-source")).toHaveTextContent("Pipeline");
  });

  it("follows the tail as entries arrive", () => {
    const { scroller } = renderPanel();
    push(...many(100));
    expect(scroller.scrollTop).toBe(100 * ROW_HEIGHT);
    push(...many(50));
    expect(scroller.scrollTop).toBe(150 * ROW_HEIGHT);
  });

  it("renders the newest rows in the same frame it pins the list to the bottom", () => {
    renderPanel();
    push(...many(300));
    // No scroll event has told the virtualizer about the new offset yet; the tail must be there anyway.
    push(makeEntry({ message: "newest row" }));
    expect(screen.getByText("newest row")).toBeInTheDocument();
  });

  it("pauses when the user scrolls up, shows it, and counts new entries", () => {
    const { scroller } = renderPanel();
    push(...many(100));
    scrollTo(scroller, 500);
    expect(store.getState().isPaused).toBe(true);
    expect(screen.getByText(/PAUSED/)).toBeInTheDocument();
    push(...many(7));
    expect(scroller.scrollTop).toBe(500); // did not jump
    expect(screen.getByRole("button", { name: "Jump to latest (7 new)" })).toBeInTheDocument();
  });

  it("pauses on the first wheel tick up", () => {
    const { scroller } = renderPanel();
    push(...many(100));
    fireEvent.wheel(scroller, { deltaY: -40 });
    expect(store.getState().isPaused).toBe(true);
  });

  it("keeps the reader's place when old rows are evicted while paused", () => {
    const { scroller } = renderPanel();
    store.setState({ maxEntries: 100 });
    push(...many(100));
    scrollTo(scroller, 1000);
    push(...many(10)); // evicts 10 rows above the viewport
    expect(scroller.scrollTop).toBe(1000 - 10 * ROW_HEIGHT);
  });

  it("keeps the reader's place when an evicted row above them was expanded", () => {
    const restore = tallExpandedRows(100);
    try {
      const { scroller } = renderPanel();
      store.setState({ maxEntries: 100 });
      push(...Array.from({ length: 100 }, (_, i) => makeEntry({ id: i + 1, message: `row ${i + 1}` })));
      scrollTo(scroller, 0); // pauses
      fireEvent.click(screen.getByRole("button", { name: /row 3$/ }));
      expect(store.getState().expanded.has("e3")).toBe(true);
      // Row 4 sits below the 100 px expanded row 3.
      expect(rowTopOf("e4")).toBe(2 * ROW_HEIGHT + 100);
      scrollTo(scroller, 1000);
      push(...Array.from({ length: 10 }, (_, i) => makeEntry({ id: 101 + i })));
      // Rows 1–10 went, row 3 (100 px) among them.
      expect(scroller.scrollTop).toBe(1000 - (9 * ROW_HEIGHT + 100));
    } finally {
      restore();
    }
  });

  it("keeps an expanded row's measured height with the row (by id) as rows above it are evicted", () => {
    const restore = tallExpandedRows(100);
    try {
      const { scroller } = renderPanel();
      store.setState({ maxEntries: 100 });
      push(...Array.from({ length: 100 }, (_, i) => makeEntry({ id: i + 1, message: `row ${i + 1}` })));
      scrollTo(scroller, 0);
      fireEvent.click(screen.getByRole("button", { name: /row 20$/ }));
      push(...Array.from({ length: 5 }, (_, i) => makeEntry({ id: 101 + i })));
      // Row 20 is now index 14; row 21 follows it 100 px further down, and rows stay one line each.
      expect(rowTopOf("e20")).toBe(14 * ROW_HEIGHT);
      expect(rowTopOf("e21")).toBe(14 * ROW_HEIGHT + 100);
      expect(rowTopOf("e22")).toBe(14 * ROW_HEIGHT + 100 + ROW_HEIGHT);
      expect(document.querySelector('[data-row-key="e21"]')).toHaveClass("is-fixed");
      expect(document.querySelector('[data-row-key="e20"]')).not.toHaveClass("is-fixed");
    } finally {
      restore();
    }
  });

  it("keeps 'Showing N of M' right through filtering and eviction", () => {
    renderPanel();
    act(() => store.getState().setMode("verbose"));
    store.setState({ maxEntries: 50 });
    const levels = ["debug", "info", "warn", "error"] as const;
    push(...Array.from({ length: 40 }, (_, i) => makeEntry({ id: i + 1, level: levels[i % 4] })));
    act(() => store.getState().toggleLevel("debug"));
    expect(screen.getByText("Showing 30 of 40")).toBeInTheDocument();
    push(...Array.from({ length: 20 }, (_, i) => makeEntry({ id: 41 + i, level: levels[i % 4] })));
    // Ids 1–10 evicted (3 of them debug); 15 of the 20 new ones pass.
    expect(screen.getByText("Showing 38 of 50")).toBeInTheDocument();
    act(() => store.getState().markLagged(3));
    expect(screen.getByText("Showing 37 of 49")).toBeInTheDocument();
  });

  it("jump to latest resumes following and scrolls to the end", async () => {
    const user = userEvent.setup();
    const { scroller } = renderPanel();
    push(...many(100));
    scrollTo(scroller, 200);
    push(...many(3));
    await user.click(screen.getByRole("button", { name: "Jump to latest (3 new)" }));
    expect(store.getState().isPaused).toBe(false);
    expect(scroller.scrollTop).toBe(103 * ROW_HEIGHT);
    expect(screen.queryByRole("button", { name: /Jump to latest/ })).not.toBeInTheDocument();
  });

  it("resumes a scroll-started pause when the user scrolls back to the end", () => {
    const { scroller } = renderPanel();
    push(...many(100));
    scrollTo(scroller, 300);
    expect(store.getState().isPaused).toBe(true);
    scrollTo(scroller, 100 * ROW_HEIGHT - VIEWPORT);
    expect(store.getState().isPaused).toBe(false);
  });

  it("shows a late entry in time order with a LATE badge explaining it", () => {
    renderPanel();
    push(makeEntry({ id: 1, timestamp: "2026-11-26T05:30:40Z", message: "first" }), makeEntry({ id: 2, timestamp: "2026-11-26T05:30:50Z", message: "newest" }));
    push(makeEntry({ id: 3, timestamp: "2026-11-26T05:30:45Z", message: "straggler" }));
    const messages = [...document.querySelectorAll(".log-message")].map((el) => el.textContent);
    expect(messages).toEqual(["first", "straggler", "newest"]);
    const badges = screen.getAllByText("LATE");
    expect(badges).toHaveLength(1);
    expect(badges[0]).toHaveAttribute("title", expect.stringMatching(/Arrived late/));
    expect(badges[0]!.closest(".log-row")).toHaveTextContent("straggler");
  });

  it("typing a search while paused keeps the tail paused", async () => {
    const user = userEvent.setup();
    const { scroller } = renderPanel();
    push(...many(80, { message: "noise" }), ...many(30, { message: "needle here" }));
    scrollTo(scroller, 300);
    expect(store.getState().pauseReason).toBe("scroll");
    await user.type(screen.getByRole("searchbox", { name: "Search messages" }), "needle");
    // The shorter list puts the view at its (new) bottom, as a browser clamps scrollTop.
    scrollTo(scroller, Math.max(0, 30 * ROW_HEIGHT - VIEWPORT));
    expect(store.getState().visibleEntryCount).toBe(30);
    expect(store.getState().isPaused).toBe(true);
    expect(screen.getByRole("button", { name: /Jump to latest/ })).toBeInTheDocument();
  });

  it("Pause and Resume buttons stop and restart following", async () => {
    const user = userEvent.setup();
    const { scroller } = renderPanel();
    push(...many(50));
    await user.click(screen.getByRole("button", { name: "Pause following" }));
    expect(store.getState().pauseReason).toBe("user");
    const before = scroller.scrollTop;
    push(...many(5));
    expect(scroller.scrollTop).toBe(before);
    // A user pause is not undone by reaching the bottom.
    scrollTo(scroller, 55 * ROW_HEIGHT - VIEWPORT);
    expect(store.getState().isPaused).toBe(true);
    await user.click(screen.getByRole("button", { name: "Resume following" }));
    expect(scroller.scrollTop).toBe(55 * ROW_HEIGHT);
  });

  it("clear empties the view and the counts", async () => {
    const user = userEvent.setup();
    renderPanel();
    push(...many(3));
    expect(screen.getByText("Showing 3 of 3")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Clear console" }));
    expect(screen.queryAllByRole("button", { name: /message/ })).toHaveLength(0);
    expect(screen.getByText("Showing 0 of 0")).toBeInTheDocument();
    expect(screen.getByText("Waiting for activity…")).toBeInTheDocument();
  });

  it("level and source toggles hide and show rows and reflect the store", async () => {
    const user = userEvent.setup();
    renderPanel();
    push(makeEntry({ level: "error", source: "api", message: "boom" }), makeEntry({ level: "info", source: "worker", message: "done" }));
    const levels = screen.getByRole("group", { name: "Levels" });
    const errorPill = within(levels).getByRole("button", { name: "Error" });
    expect(errorPill).toHaveAttribute("aria-pressed", "true");
    await user.click(errorPill);
    expect(errorPill).toHaveAttribute("aria-pressed", "false");
    expect(screen.queryByText("boom")).not.toBeInTheDocument();
    expect(screen.getByText("Showing 1 of 2")).toBeInTheDocument();
    await user.click(within(screen.getByRole("group", { name: "Sources" })).getByRole("button", { name: "Worker" }));
    expect(screen.queryByText("done")).not.toBeInTheDocument();
    expect(store.getState().sources.has("worker")).toBe(false);
    await user.click(errorPill);
    expect(screen.getByText("boom")).toBeInTheDocument();
  });

  it("switches between Curated and All entries", async () => {
    const user = userEvent.setup();
    renderPanel();
    push(makeEntry({ category: "curated", message: "curated one" }), makeEntry({ category: "verbose", level: "debug", message: "verbose one" }));
    const mode = screen.getByRole("radiogroup", { name: "Mode" });
    expect(within(mode).getByRole("radio", { name: "Curated" })).toHaveAttribute("aria-checked", "true");
    expect(screen.queryByText("verbose one")).not.toBeInTheDocument();
    await user.click(within(mode).getByRole("radio", { name: "All" }));
    expect(within(mode).getByRole("radio", { name: "All" })).toHaveAttribute("aria-checked", "true");
    expect(store.getState().mode).toBe("verbose");
    expect(screen.getByText("verbose one")).toBeInTheDocument();
    expect(screen.getByText("curated one")).toBeInTheDocument();
  });

  it("search filters rows and highlights the match", async () => {
    const user = userEvent.setup();
    renderPanel();
    push(makeEntry({ message: "Render finished for shot 12" }), makeEntry({ message: "Upload started" }));
    await user.type(screen.getByRole("searchbox", { name: "Search messages" }), "SHOT");
    expect(screen.queryByText("Upload started")).not.toBeInTheDocument();
    const mark = screen.getByText("shot", { selector: "mark" });
    expect(mark.closest(".log-message")).toHaveTextContent("Render finished for shot 12");
    expect(store.getState().searchText).toBe("SHOT");
  });

  it("expands a row to show fields, trace and entity, and follows the trace id", async () => {
    const user = userEvent.setup();
    renderPanel();
    push(
      makeEntry({
        message: "job failed",
        fields: { exit_code: 137 },
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
        span_id: "00f067aa0ba902b7",
        entity_type: "job",
        entity_id: 42,
      }),
    );
    const line = screen.getByRole("button", { name: /job failed/ });
    await user.click(line);
    expect(line).toHaveAttribute("aria-expanded", "true");
    const fields = screen.getByRole("table", { name: "Fields" });
    const exitCode = within(fields).getByRole("rowheader", { name: "exit_code" }).closest("tr")!;
    expect(exitCode).toHaveTextContent("137number");
    expect(screen.getByText("00f067aa0ba902b7")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Filter for entity job #42" }));
    expect(store.getState().entityFilter).toEqual({ type: "job", id: 42 });
    await user.click(screen.getByRole("link", { name: "Open trace 4bf92f3577b34da6a3ce929d0e0e4736" }));
    expect(currentLocation()).toBe("/tools/activity-console/traces/4bf92f3577b34da6a3ce929d0e0e4736");
  });

  it("shows a skipped-entries marker and backfills it from history in one click", async () => {
    const user = userEvent.setup();
    const fetchMock = mockFetch((url) => {
      if (url.pathname === "/api/v1/activity-logs") {
        return { body: { data: [makeEntry({ id: 11, message: "late 11" }), makeEntry({ id: 12, message: "late 12" })], meta: { has_more: false } } };
      }
      return undefined;
    });
    renderPanel();
    push(makeEntry({ id: 10 }));
    act(() => store.getState().markLagged(2));
    push(makeEntry({ id: 13 }));
    expect(screen.getByText("2 entries skipped")).toBeInTheDocument();
    expect(screen.getByText("2 skipped")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Load the 2 skipped entries from history" }));
    await waitFor(() => expect(screen.getByText("late 12")).toBeInTheDocument());
    expect(screen.queryByText("2 entries skipped")).not.toBeInTheDocument();
    // The panel also asks for the ingest status (its banner): pick the history request.
    const url = fetchMock.mock.calls.map(([input]) => new URL(String(input), "http://localhost")).find((u) => u.pathname === "/api/v1/activity-logs")!;
    expect(url.searchParams.get("after_id")).toBe("10");
    expect(url.searchParams.get("mode")).toBe("curated");
    expect(url.searchParams.has("before_id")).toBe(false);
    expect(store.getState().rows.map((r) => (r.kind === "entry" ? r.id : "gap"))).toEqual([10, 11, 12, 13]);
  });

  it("keyboard: / focuses search, p pauses, End jumps to latest, Esc collapses", async () => {
    const user = userEvent.setup();
    const { scroller } = renderPanel();
    push(...many(60, { message: "kb row" }));
    await user.keyboard("/");
    expect(screen.getByRole("searchbox", { name: "Search messages" })).toHaveFocus();
    (document.activeElement as HTMLElement).blur();
    await user.keyboard("p");
    expect(store.getState().isPaused).toBe(true);
    push(...many(2));
    await user.keyboard("{End}");
    expect(store.getState().isPaused).toBe(false);
    expect(scroller.scrollTop).toBe(62 * ROW_HEIGHT);
    const rows = screen.getAllByRole("button", { name: /kb row/ });
    await user.click(rows[rows.length - 1]!);
    expect(store.getState().expanded.size).toBe(1);
    await user.keyboard("{Escape}");
    expect(store.getState().expanded.size).toBe(0);
  });

  it("virtualizes: renders only a window of a large buffer", () => {
    renderPanel();
    push(...many(5000));
    const rendered = screen.getAllByRole("button", { expanded: false }).filter((b) => b.classList.contains("log-line"));
    expect(rendered.length).toBeGreaterThan(0);
    expect(rendered.length).toBeLessThan(200);
    expect(screen.getByText("Showing 5,000 of 5,000")).toBeInTheDocument();
  });
});
