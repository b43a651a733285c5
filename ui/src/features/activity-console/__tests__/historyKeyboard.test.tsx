import { fireEvent, screen } from "@testing-library/react";
import { beforeEach, describe, expect, it } from "vitest";
import { makeEntry, mockFetch, renderWithProviders, resetStores } from "../../../test/utils";
import { HistoryPane } from "../HistoryPane";

function serveThree() {
  mockFetch((url) => {
    if (url.pathname === "/api/v1/activity-logs") {
      return {
        body: {
          data: [31, 30, 29].map((id) => makeEntry({ id, message: `stored ${id}` })),
          meta: { page: 1, per_page: 25, total: 3, total_exact: true },
        },
      };
    }
    if (url.pathname === "/api/v1/activity-logs/histogram") return { body: { data: [], meta: { buckets: 0 } } };
    return undefined;
  });
}

const selectedIds = () => [...document.querySelectorAll<HTMLElement>("tr[data-selected]")].map((tr) => tr.dataset.entryId);

// The first render loads the whole pane; on a busy machine that alone can take seconds.
describe("keyboard selection in history", { timeout: 30_000 }, () => {
  beforeEach(resetStores);

  it("takes j/k/Enter/Esc/g/G once the focus is in the pane, selecting by entry id", async () => {
    serveThree();
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console" });
    const first = await screen.findByRole("button", { name: "Details of entry 31" }, { timeout: 5000 });
    // Without the focus in the pane the keys belong to the live pane (the page's default).
    fireEvent.keyDown(window, { key: "j" });
    expect(selectedIds()).toEqual([]);
    first.focus();
    fireEvent.keyDown(first, { key: "j" });
    expect(selectedIds()).toEqual(["31"]);
    fireEvent.keyDown(first, { key: "j" });
    expect(selectedIds()).toEqual(["30"]);
    // Enter on the focused row (31) acts on the selection (30).
    fireEvent.keyDown(first, { key: "Enter" });
    expect(screen.getByRole("button", { name: "Details of entry 30" })).toHaveAttribute("aria-expanded", "true");
    expect(first).toHaveAttribute("aria-expanded", "false");
    fireEvent.keyDown(first, { key: "Escape" });
    expect(screen.getByRole("button", { name: "Details of entry 30" })).toHaveAttribute("aria-expanded", "false");
    fireEvent.keyDown(first, { key: "G" });
    expect(selectedIds()).toEqual(["29"]);
    fireEvent.keyDown(first, { key: "k" });
    expect(selectedIds()).toEqual(["30"]);
    fireEvent.keyDown(first, { key: "g" });
    expect(selectedIds()).toEqual(["31"]);
    fireEvent.keyDown(first, { key: "/" });
    expect(screen.getByRole("searchbox", { name: "Search history" })).toHaveFocus();
  });

  it("a clicked row becomes the selection", async () => {
    serveThree();
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console" });
    const row = await screen.findByRole("button", { name: "Details of entry 30" }, { timeout: 5000 });
    fireEvent.click(row);
    expect(selectedIds()).toEqual(["30"]);
    row.focus();
    fireEvent.keyDown(row, { key: "j" });
    expect(selectedIds()).toEqual(["29"]);
  });
});
