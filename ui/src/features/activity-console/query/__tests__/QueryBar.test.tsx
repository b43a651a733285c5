import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import { beforeEach, describe, expect, it } from "vitest";
import { HistoryPane } from "../../HistoryPane";
import { currentLocation, mockFetch, renderWithProviders, resetStores } from "../../../../test/utils";

describe("history query bar", () => {
  beforeEach(() => {
    resetStores();
    localStorage.clear();
  });

  it("applies q to the URL and the request on Enter, and shows the server's syntax error with a caret at its position", async () => {
    const fetched: string[] = [];
    mockFetch((url) => {
      if (url.pathname.endsWith("/activity-logs/keys")) return { body: { data: [{ key: "gpu", scope: "field", types: ["int"], last_seen: "2026-01-01T00:00:00Z" }] } };
      const q = url.searchParams.get("q");
      if (q) fetched.push(`${url.pathname}?q=${q}`);
      if (q === "gpu:1 (level") return { status: 400, body: { error: { code: "bad_query", message: "q: expected ')'", position: 12 } } };
      if (url.pathname.endsWith("/activity-logs/histogram")) return { body: { data: [], meta: {} } };
      return { body: { data: [], meta: { total: 0, total_exact: true, page: 1, per_page: 25 } } };
    });
    renderWithProviders(<HistoryPane />);
    const input = screen.getByRole("combobox", { name: "History query" });
    fireEvent.change(input, { target: { value: "gpu:1 (level" } });
    fireEvent.keyDown(input, { key: "Enter" });
    await waitFor(() => expect(currentLocation()).toContain("q=gpu%3A1+%28level"));
    await waitFor(() => expect(fetched.some((f) => f.startsWith("/api/v1/activity-logs?q=gpu:1 (level"))).toBe(true));
    const alert = await screen.findByText(/Query error at character 13: expected '\)'/);
    const caret = alert.parentElement!.querySelector("pre")!.textContent!.split("\n")[1];
    expect(caret).toBe(`${" ".repeat(12)}^`);
    expect(input).toHaveAttribute("aria-invalid", "true");
  });

  it("completes a key from the catalogue and offers recent queries", async () => {
    mockFetch((url) => {
      if (url.pathname.endsWith("/activity-logs/keys")) return { body: { data: [{ key: "gpu", scope: "field", types: ["int"], last_seen: "2026-01-01T00:00:00Z" }, { key: "host.name", scope: "resource", types: ["string"], last_seen: "2026-01-01T00:00:00Z" }] } };
      if (url.pathname.endsWith("/activity-logs/histogram")) return { body: { data: [], meta: {} } };
      return { body: { data: [], meta: { total: 0, total_exact: true, page: 1, per_page: 25 } } };
    });
    renderWithProviders(<HistoryPane />);
    const input = screen.getByRole("combobox", { name: "History query" });
    fireEvent.focus(input);
    fireEvent.change(input, { target: { value: "resource.h", selectionStart: 10 } });
    fireEvent.mouseDown(await screen.findByRole("option", { name: "resource.host.name" }));
    expect(input).toHaveValue("resource.host.name:");
    fireEvent.change(input, { target: { value: "level:w" } });
    fireEvent.mouseDown(await screen.findByRole("option", { name: "warn" }));
    expect(input).toHaveValue("level:warn ");
    fireEvent.keyDown(input, { key: "Enter" });
    await waitFor(() => expect(currentLocation()).toContain("q=level%3Awarn"));
    fireEvent.change(input, { target: { value: "" } });
    expect(await screen.findByRole("option", { name: /level:warn/ })).toBeInTheDocument();
    fireEvent.keyDown(input, { key: "Escape" });
    expect(screen.queryByRole("listbox")).toBeNull();
  });

  it("offers the values of a key of few values in the range, and none for a key of many", async () => {
    const asked: URLSearchParams[] = [];
    mockFetch((url) => {
      if (url.pathname.endsWith("/activity-logs/keys")) return { body: { data: [] } };
      if (url.pathname.endsWith("/activity-logs/facets")) {
        asked.push(url.searchParams);
        const facet = url.searchParams.get("facet");
        const values = facet === "gpu" ? [{ value: 1, count: 9 }, { value: 0, count: 4 }] : [{ value: 17, count: 3 }, { value: 18, count: 2 }];
        return { body: { data: [{ facet, values, distinct: facet === "gpu" ? 2 : 900 }], meta: { from: "", to: "", rows: 1000, sampled: false } } };
      }
      if (url.pathname.endsWith("/activity-logs/histogram")) return { body: { data: [], meta: {} } };
      return { body: { data: [], meta: { total: 0, total_exact: true, page: 1, per_page: 25 } } };
    });
    renderWithProviders(<HistoryPane />);
    const input = screen.getByRole("combobox", { name: "History query" });
    fireEvent.focus(input);
    fireEvent.change(input, { target: { value: "gpu:", selectionStart: 4 } });
    expect(await screen.findByRole("option", { name: "1" })).toBeInTheDocument();
    expect(screen.getByRole("option", { name: "0" })).toBeInTheDocument();
    fireEvent.change(input, { target: { value: "node_id:", selectionStart: 8 } });
    await waitFor(() => expect(asked.some((p) => p.get("facet") === "node_id")).toBe(true));
    await act(() => new Promise((resolve) => setTimeout(resolve, 50))); // the answer rendered
    expect(screen.queryByRole("option", { name: "17" })).toBeNull();
    expect(screen.queryByRole("listbox")).toBeNull();
  });
});

describe("facets panel", () => {
  beforeEach(() => {
    resetStores();
    localStorage.clear();
  });

  it("shows counts for the current q and range; a value filters for, its second action filters out", async () => {
    const asked: URLSearchParams[] = [];
    mockFetch((url) => {
      if (url.pathname.endsWith("/activity-logs/facets")) {
        asked.push(url.searchParams);
        return {
          body: {
            data: [
              { facet: "level", values: [{ value: "error", count: 7 }] },
              { facet: "source", values: [] },
              { facet: "service", values: [{ value: "render worker", count: 3 }] },
            ],
            meta: { from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", rows: 10, sampled: false },
          },
        };
      }
      if (url.pathname.endsWith("/activity-logs/histogram")) return { body: { data: [], meta: {} } };
      return { body: { data: [], meta: { total: 0, total_exact: true, page: 1, per_page: 25 } } };
    });
    renderWithProviders(<HistoryPane />, { route: "/?q=gpu%3A1&from=now-1h" });
    fireEvent.click(await screen.findByRole("button", { name: "Filter for service render worker" }));
    await waitFor(() => expect(currentLocation()).toContain(`q=${encodeURIComponent('gpu:1 service:"render worker"').replace(/%20/g, "+")}`));
    expect(asked[0]!.get("q")).toBe("gpu:1");
    expect(asked[0]!.getAll("facet")).toEqual(["level", "source", "service"]);
    expect(asked[0]!.get("from")).toBeTruthy();
    expect(await screen.findByRole("region", { name: "Facet source" })).toHaveTextContent("No values in this range.");
    fireEvent.click(await screen.findByRole("button", { name: "Filter out level error" }));
    await waitFor(() => expect(decodeURIComponent(currentLocation()).replace(/\+/g, " ")).toContain('gpu:1 service:"render worker" -level:error'));
  });

  it("tells a failure apart from no values", async () => {
    mockFetch((url) => {
      if (url.pathname.endsWith("/activity-logs/facets")) return { status: 503, body: { error: { code: "unavailable", message: "Database busy" } } };
      if (url.pathname.endsWith("/activity-logs/histogram")) return { body: { data: [], meta: {} } };
      return { body: { data: [], meta: { total: 0, total_exact: true, page: 1, per_page: 25 } } };
    });
    renderWithProviders(<HistoryPane />);
    expect(await screen.findByText("Facets could not be counted: Database busy")).toBeInTheDocument();
  });
});
