import { fireEvent, screen, waitFor } from "@testing-library/react";
import { beforeEach, describe, expect, it } from "vitest";
import { HistoryPane } from "../../HistoryPane";
import { currentLocation, mockFetch, renderWithProviders, resetStores } from "../../../../test/utils";

const view = (over: object) => ({
  id: 7, name: "gpu errors", q: "gpu:1 level>=warn", range_from: "now-1h", range_to: null, mode: "verbose",
  owner_id: 1, owner_email: "admin@localhost", project_id: null, project_name: null,
  created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z", ...over,
});

function serve(extra: (url: URL, init?: RequestInit) => { status?: number; body?: unknown } | undefined) {
  return mockFetch((url, init) => {
    const answer = extra(url, init);
    if (answer) return answer;
    if (url.pathname.endsWith("/activity-logs/histogram")) return { body: { data: [], meta: {} } };
    if (url.pathname.endsWith("/activity-logs/facets")) return { body: { data: [], meta: { from: "", to: "", rows: 0, sampled: false } } };
    return { body: { data: [], meta: { total: 0, total_exact: true, page: 1, per_page: 25 } } };
  });
}

describe("saved views", () => {
  beforeEach(() => {
    resetStores();
    localStorage.clear();
  });

  it("opens a view from ?view=<id>: q, range and mode", async () => {
    serve((url) => (url.pathname === "/api/v1/views/7" ? { body: view({}) } : undefined));
    renderWithProviders(<HistoryPane />, { route: "/?view=7" });
    await waitFor(() => expect(currentLocation()).toBe("/?mode=verbose&from=now-1h&q=gpu%3A1+level%3E%3Dwarn"));
  });

  it("says a linked view is gone, and a duplicate name in words", async () => {
    serve((url, init) => {
      if (url.pathname === "/api/v1/views/9") return { status: 404, body: { error: { code: "not_found", message: "no such view" } } };
      if (url.pathname === "/api/v1/views" && init?.method === "POST") return { status: 409, body: { error: { code: "conflict", message: "duplicate" } } };
      if (url.pathname === "/api/v1/views") return { body: { data: [view({}), view({ id: 8, name: "team", owner_id: 2, project_name: "Render" })] } };
      return undefined;
    });
    renderWithProviders(<HistoryPane />, { route: "/?view=9" });
    expect(await screen.findByText("That view is gone: it was deleted, or it is not shared with you.")).toBeInTheDocument();
    fireEvent.click(screen.getByRole("button", { name: "Views" }));
    expect(await screen.findByText(/shared in Render/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Delete view gpu errors" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Delete view team" })).toBeNull();
    fireEvent.change(screen.getByRole("textbox", { name: "View name" }), { target: { value: "gpu errors" } });
    fireEvent.click(screen.getByRole("button", { name: "Save current" }));
    expect(await screen.findByText('A view named "gpu errors" exists already: choose another name.')).toBeInTheDocument();
  });
});
