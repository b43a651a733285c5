import { act, fireEvent, screen } from "@testing-library/react";
import { beforeEach, describe, expect, it } from "vitest";
import { makeEntry, renderWithProviders, resetStores } from "../../../test/utils";
import { ActivityConsolePanel } from "../ActivityConsolePanel";
import { ROW_HEIGHT } from "../constants";
import { useActivityConsoleStore as store } from "../stores/activityConsoleStore";

const VIEWPORT = 400;

function renderPanel() {
  renderWithProviders(<ActivityConsolePanel />);
  const scroller = screen.getByTestId("console-scroll");
  Object.defineProperty(scroller, "clientHeight", { configurable: true, get: () => VIEWPORT });
  Object.defineProperty(scroller, "scrollHeight", {
    configurable: true,
    get: () => Math.max(VIEWPORT, store.getState().visibleRows.length * ROW_HEIGHT),
  });
  return scroller;
}

const key = (k: string) => act(() => void fireEvent.keyDown(window, { key: k }));
const selectedKeys = () => [...document.querySelectorAll<HTMLElement>("[data-selected]")].map((el) => el.dataset.rowKey);

describe("keyboard selection in the live pane", () => {
  beforeEach(resetStores);

  it("k selects the newest row in view, j/k move by one, Enter opens the selected entry, Esc closes it", () => {
    renderPanel();
    act(() => store.getState().appendEntries([1, 2, 3].map((id) => makeEntry({ id, message: `m${id}` }))));
    key("k");
    expect(selectedKeys()).toEqual(["e3"]);
    key("k");
    expect(selectedKeys()).toEqual(["e2"]);
    // Off the newest row, following would carry the selection away: it pauses.
    expect(store.getState().isPaused).toBe(true);
    key("j");
    key("k");
    key("k");
    expect(selectedKeys()).toEqual(["e1"]);
    key("k");
    expect(selectedKeys()).toEqual(["e1"]);
    key("Enter");
    expect(store.getState().expanded.has("e1")).toBe(true);
    expect(screen.getByRole("button", { name: /m1/, expanded: true })).toBeInTheDocument();
    key("Escape");
    expect(store.getState().expanded.size).toBe(0);
    key("o");
    expect(store.getState().expanded.has("e1")).toBe(true);
  });

  it("keeps the selection on its entry as new rows arrive", () => {
    renderPanel();
    act(() => store.getState().appendEntries([1, 2].map((id) => makeEntry({ id }))));
    key("k");
    key("k");
    act(() => store.getState().appendEntries([3, 4].map((id) => makeEntry({ id }))));
    expect(selectedKeys()).toEqual(["e1"]);
    key("j");
    expect(selectedKeys()).toEqual(["e2"]);
  });

  it("g goes to the top and selects the oldest row; G selects the newest and follows again", () => {
    const scroller = renderPanel();
    act(() => store.getState().appendEntries(Array.from({ length: 100 }, (_, i) => makeEntry({ id: i + 1 }))));
    key("g");
    expect(selectedKeys()).toEqual(["e1"]);
    expect(scroller.scrollTop).toBe(0);
    expect(store.getState().isPaused).toBe(true);
    key("G");
    expect(store.getState().isPaused).toBe(false);
    expect(selectedKeys()).toEqual(["e100"]);
  });

  it("scrolls a selected row below the view into view", () => {
    const scroller = renderPanel();
    act(() => store.getState().appendEntries(Array.from({ length: 100 }, (_, i) => makeEntry({ id: i + 1 }))));
    key("g");
    for (let i = 0; i < 30; i++) key("j");
    expect(selectedKeys()).toEqual(["e31"]);
    // Row 31 (index 30) ends at 31 rows down; a 400 px view shows it at its bottom edge.
    expect(scroller.scrollTop).toBe(31 * ROW_HEIGHT - VIEWPORT);
  });

  it("does nothing while typing in the search box", () => {
    renderPanel();
    act(() => store.getState().appendEntries([makeEntry({ id: 1 })]));
    const search = screen.getByRole("searchbox");
    search.focus();
    fireEvent.keyDown(search, { key: "k" });
    fireEvent.keyDown(search, { key: "Enter" });
    expect(selectedKeys()).toEqual([]);
    expect(store.getState().expanded.size).toBe(0);
  });
});
