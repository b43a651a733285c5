import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
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
  afterEach(() => {
    vi.restoreAllMocks();
  });

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
    await user.click(within(screen.getByRole("radiogroup", { name: "History mode" })).getByRole("radio", { name: "All" }));
    expect(currentLocation()).toContain("mode=verbose");
    await user.type(screen.getByRole("searchbox", { name: "Search history" }), "oom");
    await waitFor(() => expect(currentLocation()).toContain("search=oom"));
  });

  it("keeps a change the router has yet to render when another follows it", async () => {
    apiMock();
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console" });
    await screen.findByText("stored page 1");
    const levels = within(screen.getByRole("group", { name: "History levels" }));
    const modes = within(screen.getByRole("radiogroup", { name: "History mode" }));
    act(() => {
      levels.getByRole("button", { name: "Debug" }).click(); // pushed, rendered later…
      modes.getByRole("radio", { name: "All" }).click(); // …than this second change is made
    });
    expect(currentLocation()).toContain("level=info%2Cwarn%2Cerror");
    expect(currentLocation()).toContain("mode=verbose");
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

  it("confirms the range and estimate, then hands a one-time link to the browser's download", async () => {
    const user = userEvent.setup();
    vi.spyOn(Date, "now").mockImplementation(() => Date.parse("2026-11-28T15:00:00.000Z"));
    const clicked: { href: string; download: string }[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function click(this: HTMLAnchorElement) {
      clicked.push({ href: this.getAttribute("href") ?? "", download: this.download });
    });
    const fetchMock = mockFetch((url, init) => {
      if (url.pathname === "/api/v1/activity-logs/export/estimate") return { body: { rows: 200000, exact: true } };
      if (url.pathname === "/api/v1/activity-logs/export-links" && init?.method === "POST") {
        return { status: 201, body: { url: "/api/v1/activity-logs/export-links/abc.def.ghi", expires_at: "2026-11-28T15:01:00Z" } };
      }
      if (url.pathname === "/api/v1/activity-logs") return { body: { data: [], meta: { page: 1, per_page: 25, total: 0, total_exact: true } } };
      return { body: { data: [] } };
    });
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console?level=error&from=now-1h" });
    await user.click(screen.getByRole("button", { name: "Export" }));
    const dialog = await screen.findByRole("dialog", { name: "Export entries" });
    expect(within(dialog).getByTestId("export-range")).toHaveTextContent(/^The last hour: from 2026-11-28 \d\d:00:00\.000 to now \(UTC/);
    await within(dialog).findByText("200,000 entries with the current filters");
    const estimate = lastCall(fetchMock, "/api/v1/activity-logs/export/estimate");
    expect(estimate.searchParams.getAll("level")).toEqual(["error"]);
    expect(estimate.searchParams.get("from")).toBe("2026-11-28T14:00:00.000Z");
    expect(estimate.searchParams.has("page")).toBe(false);

    await user.click(within(dialog).getByRole("radio", { name: /^Text/ }));
    await user.click(within(dialog).getByRole("button", { name: "Export 200,000 entries" }));
    await screen.findByText(/Your browser is saving the file/);
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(clicked).toEqual([{ href: "/api/v1/activity-logs/export-links/abc.def.ghi", download: "" }]);
    const mint = lastCall(fetchMock, "/api/v1/activity-logs/export-links");
    expect(mint.searchParams.get("format")).toBe("text");
    expect(mint.searchParams.getAll("level")).toEqual(["error"]);
    // The tab never fetched the export itself.
    expect(fetchMock.mock.calls.some((c) => String(c[0]).includes("/activity-logs/export?"))).toBe(false);
  });

  it("streams into the file the user picked, with rows and percent, and cancels", async () => {
    const user = userEvent.setup();
    const written: string[] = [];
    let closed = false;
    let aborted = false;
    const handle = {
      name: "picked.ndjson",
      createWritable: async () =>
        new WritableStream<Uint8Array>({
          write: (chunk) => void written.push(new TextDecoder().decode(chunk)),
          close: () => void (closed = true),
          abort: () => void (aborted = true),
        }),
    };
    const picked: unknown[] = [];
    vi.stubGlobal("showSaveFilePicker", async (options: unknown) => (picked.push(options), handle));
    let release: (() => void) | null = null;
    let hold = false;
    mockFetch((url) => {
      if (url.pathname === "/api/v1/activity-logs/export/estimate") return { body: { rows: 4, exact: true } };
      if (url.pathname === "/api/v1/activity-logs") return { body: { data: [], meta: { page: 1, per_page: 25, total: 0, total_exact: true } } };
      return { body: { data: [] } };
    });
    // The export's body: two rows, then (when held) a pause the test ends with Cancel.
    const exportFetch = vi.fn(async () => {
      const encoder = new TextEncoder();
      let step = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          step++;
          if (step === 1) c.enqueue(encoder.encode('{"id":1}\n{"id":2}\n'));
          else if (step === 2 && hold) await new Promise<void>((r) => (release = r));
          else if (step === 2) c.enqueue(encoder.encode('{"id":3}\n{"id":4}\n'));
          else c.close();
        },
      });
      return new Response(body, { headers: { "Content-Type": "application/x-ndjson" } });
    });
    const plainFetch = globalThis.fetch;
    vi.stubGlobal("fetch", (input: RequestInfo | URL, init?: RequestInit) =>
      String(input).includes("/activity-logs/export?") ? exportFetch() : plainFetch(input, init),
    );
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console" });
    await user.click(screen.getByRole("button", { name: "Export" }));
    const dialog = await screen.findByRole("dialog", { name: "Export entries" });
    expect(within(dialog).getByTestId("export-range")).toHaveTextContent("All time: every stored entry, up to now");
    await user.click(await within(dialog).findByRole("button", { name: "Export 4 entries" }));
    await screen.findByText("Saved 4 entries to picked.ndjson");
    expect(written.join("")).toBe('{"id":1}\n{"id":2}\n{"id":3}\n{"id":4}\n');
    expect(closed).toBe(true);
    expect(picked[0]).toMatchObject({ suggestedName: expect.stringMatching(/^activity-logs-\d{8}T\d{6}Z\.ndjson$/) });

    // Again, held after two rows: progress shows rows and percent; Cancel discards the file.
    hold = true;
    written.length = 0;
    await user.click(screen.getByRole("button", { name: "Export" }));
    await user.click(await within(await screen.findByRole("dialog")).findByRole("button", { name: "Export 4 entries" }));
    await screen.findByText(/Exporting… 2 of ~4 entries \(50 %\)/);
    await user.click(screen.getByRole("button", { name: "Cancel export" }));
    await screen.findByText("Export cancelled; the file was not written");
    expect(aborted).toBe(true);
    (release as (() => void) | null)?.();
  });

  it("keeps a relative range in the URL, highlights its preset and resolves it at each request", async () => {
    const user = userEvent.setup();
    let now = Date.parse("2026-11-28T15:00:00.000Z");
    vi.spyOn(Date, "now").mockImplementation(() => now);
    const fetchMock = apiMock();
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console?from=now-1h" });
    await screen.findByText("stored page 1");
    const presets = screen.getByRole("group", { name: "Quick ranges" });
    expect(within(presets).getByRole("button", { name: "Last 1h" })).toHaveAttribute("aria-pressed", "true");
    expect(within(presets).getByRole("button", { name: "Last 15m" })).toHaveAttribute("aria-pressed", "false");
    expect(screen.getByRole("textbox", { name: "From" })).toHaveValue("now-1h");
    expect(lastCall(fetchMock, "/api/v1/activity-logs").searchParams.get("from")).toBe("2026-11-28T14:00:00.000Z");
    expect(lastCall(fetchMock, "/api/v1/activity-logs/histogram").searchParams.get("from")).toBe("2026-11-28T14:00:00.000Z");

    // Refresh: table, histogram and facets again, the window moved with the clock.
    const before = fetchMock.mock.calls.length;
    now += 5 * 60_000;
    await user.click(screen.getByRole("button", { name: "Refresh" }));
    await waitFor(() => expect(lastCall(fetchMock, "/api/v1/activity-logs").searchParams.get("from")).toBe("2026-11-28T14:05:00.000Z"));
    expect(lastCall(fetchMock, "/api/v1/activity-logs/histogram").searchParams.get("from")).toBe("2026-11-28T14:05:00.000Z");
    await waitFor(() => expect(lastCall(fetchMock, "/api/v1/activity-logs/facets").searchParams.get("from")).toBe("2026-11-28T14:05:00.000Z"));
    expect(fetchMock.mock.calls.length).toBe(before + 3);
    expect(currentLocation()).toBe("/tools/activity-console?from=now-1h");

    await user.click(within(presets).getByRole("button", { name: "Last 15m" }));
    expect(currentLocation()).toBe("/tools/activity-console?from=now-15m");
    expect(within(presets).getByRole("button", { name: "Last 15m" })).toHaveAttribute("aria-pressed", "true");
    expect(within(presets).getByRole("button", { name: "Last 1h" })).toHaveAttribute("aria-pressed", "false");
  });

  it("refreshes an absolute range too", async () => {
    const user = userEvent.setup();
    const fetchMock = apiMock();
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console?from=2026-11-26T05:00:00.000Z&to=2026-11-26T06:00:00.000Z" });
    await screen.findByText("stored page 1");
    const count = () => fetchMock.mock.calls.filter((c) => String(c[0]).includes("/api/v1/activity-logs?")).length;
    const before = count();
    await user.click(screen.getByRole("button", { name: "Refresh" }));
    await waitFor(() => expect(count()).toBe(before + 1));
    expect(lastCall(fetchMock, "/api/v1/activity-logs").searchParams.get("to")).toBe("2026-11-26T06:00:00.000Z");
    expect(await screen.findByText(/updated just now/)).toBeInTheDocument();
  });

  it("says in words when To is before From, and sends no request", async () => {
    const fetchMock = apiMock();
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console?from=2026-11-26T06:00:00.000Z&to=2026-11-26T05:00:00.000Z" });
    expect(await screen.findByText("“To” must be after “From”.")).toHaveAttribute("role", "alert");
    expect(screen.getByRole("textbox", { name: "To" })).toHaveAttribute("aria-invalid", "true");
    expect(fetchMock.mock.calls.filter((c) => String(c[0]).includes("/api/v1/activity-logs"))).toEqual([]);
    expect(screen.getByRole("button", { name: "Refresh" })).toBeDisabled();
  });

  it("takes a typed range end on Enter and refuses text that is no time", async () => {
    const user = userEvent.setup();
    apiMock();
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console" });
    await screen.findByText("stored page 1");
    const from = screen.getByRole("textbox", { name: "From" });
    await user.type(from, "last week{Enter}");
    expect(screen.getByText(/“From” is not a time/)).toBeInTheDocument();
    expect(currentLocation()).toBe("/tools/activity-console");
    await user.clear(from);
    await user.type(from, "now-6h{Enter}");
    expect(currentLocation()).toBe("/tools/activity-console?from=now-6h");
    expect(screen.queryByText(/is not a time/)).toBeNull();
    expect(within(screen.getByRole("group", { name: "Quick ranges" })).getByRole("button", { name: "Last 6h" })).toHaveAttribute("aria-pressed", "true");
  });

  it("keeps auto-refresh in the URL and zooms to a bar's interval", async () => {
    const user = userEvent.setup();
    apiMock();
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console?page=2" });
    await screen.findByText("stored page 2");
    await user.selectOptions(screen.getByRole("combobox", { name: "Auto-refresh" }), "30s");
    expect(currentLocation()).toBe("/tools/activity-console?page=2&refresh=30s");
    await user.click(screen.getAllByRole("button", { name: /zoom to this interval/ })[1]!);
    expect(currentLocation()).toBe(
      "/tools/activity-console?from=2026-11-26T05%3A30%3A00.000000Z&to=2026-11-26T06%3A00%3A00.000000Z&refresh=30s",
    );
    await user.click(screen.getByRole("button", { name: "All time" }));
    expect(currentLocation()).toBe("/tools/activity-console?refresh=30s");
  });

  it("leaves the URL alone when focus passes through an untouched range box", async () => {
    const user = userEvent.setup();
    apiMock();
    // A zoom writes bucket bounds to the microsecond; the box shows them to the minute.
    const route = "/tools/activity-console?from=2026-11-26T05%3A30%3A00.000000Z&to=2026-11-26T06%3A00%3A00.000000Z&page=2";
    renderWithProviders(<HistoryPane />, { route });
    await screen.findByText("stored page 2");
    await user.click(screen.getByRole("textbox", { name: "From" }));
    await user.tab();
    expect(currentLocation()).toBe(route);
  });
});
