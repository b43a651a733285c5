import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { currentLocation, makeEntry, mockFetch, renderWithProviders, resetStores } from "../../../test/utils";
import { HistoryPane } from "../HistoryPane";

function apiMock(totalExact = true) {
  return mockFetch((url) => {
    if (url.pathname === "/api/v1/activity-logs") {
      const page = Number(url.searchParams.get("page") ?? 1);
      return {
        body: {
          data: [makeEntry({ message: `stored page ${page}`, level: "error" })],
          meta: { page, per_page: Number(url.searchParams.get("per_page") ?? 25), total: totalExact ? 60 : 10_000, total_exact: totalExact },
        },
      };
    }
    if (url.pathname === "/api/v1/activity-logs/histogram") {
      return {
        body: {
          data: [
            { start: "2026-11-26T05:00:00.000000Z", end: "2026-11-26T05:30:00.000000Z", total: 3, counts: { debug: 0, info: 2, warn: 0, error: 1 } },
            { start: "2026-11-26T05:30:00.000000Z", end: "2026-11-26T06:00:00.000000Z", total: 1, counts: { debug: 0, info: 1, warn: 0, error: 0 } },
          ],
          meta: { buckets: 2 },
        },
      };
    }
    return undefined;
  });
}

const lastCall = (fetchMock: ReturnType<typeof mockFetch>, path: string) => {
  const calls = fetchMock.mock.calls.map((c) => new URL(String(c[0]), "http://localhost")).filter((u) => u.pathname === path);
  return calls[calls.length - 1]!;
};

describe("HistoryPane", () => {
  beforeEach(resetStores);

  it("says when the total is only a lower bound", async () => {
    apiMock(false);
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console" });
    await screen.findByText("stored page 1");
    expect(screen.getByText("10,000+ entries")).toBeInTheDocument();
  });

  it("gives the exact total when the API counted everything", async () => {
    apiMock(true);
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console" });
    await screen.findByText("stored page 1");
    expect(screen.getByText("60 entries")).toBeInTheDocument();
  });

  it("reads its filters from the URL and queries the API with them", async () => {
    const fetchMock = apiMock();
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console?level=error&source=worker,agent&search=gpu&page=2" });
    await screen.findByText("stored page 2");
    const levels = screen.getByRole("group", { name: "History levels" });
    expect(within(levels).getByRole("button", { name: "Error" })).toHaveAttribute("aria-pressed", "true");
    expect(within(levels).getByRole("button", { name: "Info" })).toHaveAttribute("aria-pressed", "false");
    expect(screen.getByRole("searchbox", { name: "Search history" })).toHaveValue("gpu");
    const url = lastCall(fetchMock, "/api/v1/activity-logs");
    expect(url.searchParams.getAll("level")).toEqual(["error"]);
    expect(url.searchParams.getAll("source")).toEqual(["worker", "agent"]);
    expect(url.searchParams.get("search")).toBe("gpu");
    expect(url.searchParams.get("page")).toBe("2");
    expect(url.searchParams.get("mode")).toBe("curated");
    expect(screen.getByText("Page 2 of 3")).toBeInTheDocument();
    // Histogram requests never carry pagination (the API refuses unknown parameters).
    const hist = lastCall(fetchMock, "/api/v1/activity-logs/histogram");
    expect(hist.searchParams.has("page")).toBe(false);
    expect(hist.searchParams.get("buckets")).toBe("60");
    expect(screen.getByRole("figure", { name: /4 entries in 2 buckets/ })).toBeInTheDocument();
  });

  it("writes filter changes to the URL and resets to page 1", async () => {
    const user = userEvent.setup();
    apiMock();
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console?page=2" });
    await screen.findByText("stored page 2");
    await user.click(within(screen.getByRole("group", { name: "History levels" })).getByRole("button", { name: "Debug" }));
    expect(currentLocation()).toBe("/tools/activity-console?level=info%2Cwarn%2Cerror");
    await user.click(within(screen.getByRole("group", { name: "History mode" })).getByRole("button", { name: "Debug" }));
    expect(currentLocation()).toContain("mode=verbose");
    await user.type(screen.getByRole("searchbox", { name: "Search history" }), "oom");
    await waitFor(() => expect(currentLocation()).toContain("search=oom"));
  });

  it("paginates and changes the page size through the URL", async () => {
    const user = userEvent.setup();
    const fetchMock = apiMock();
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console" });
    await screen.findByText("stored page 1");
    await user.click(screen.getByRole("button", { name: "Next page" }));
    await screen.findByText("stored page 2");
    expect(currentLocation()).toBe("/tools/activity-console?page=2");
    await user.selectOptions(screen.getByRole("combobox", { name: "Rows per page" }), "100");
    expect(currentLocation()).toBe("/tools/activity-console?per_page=100");
    await waitFor(() => expect(lastCall(fetchMock, "/api/v1/activity-logs").searchParams.get("per_page")).toBe("100"));
  });

  it("exports with progress and saves the file the server names", async () => {
    const user = userEvent.setup();
    const saved: string[] = [];
    const origCreate = URL.createObjectURL;
    URL.createObjectURL = () => "blob:x";
    URL.revokeObjectURL = () => undefined;
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function click(this: HTMLAnchorElement) {
      saved.push(this.download);
    });
    const fetchMock = mockFetch((url) => {
      if (url.pathname === "/api/v1/activity-logs/export") {
        return {
          body: '{"id":1}\n{"id":2}\n',
          headers: { "Content-Type": "application/x-ndjson", "Content-Disposition": 'attachment; filename="activity-logs-2026.ndjson"' },
        };
      }
      if (url.pathname === "/api/v1/activity-logs") return { body: { data: [], meta: { page: 1, per_page: 25, total: 0, total_exact: true } } };
      return { body: { data: [] } };
    });
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console?level=error" });
    await user.click(screen.getByRole("button", { name: "Export" }));
    await screen.findByText("Saved activity-logs-2026.ndjson (18 B)");
    expect(saved).toEqual(["activity-logs-2026.ndjson"]);
    const url = lastCall(fetchMock, "/api/v1/activity-logs/export");
    expect(url.searchParams.get("format")).toBe("json");
    expect(url.searchParams.getAll("level")).toEqual(["error"]);
    expect(url.searchParams.has("page")).toBe(false);
    URL.createObjectURL = origCreate;
  });
});
