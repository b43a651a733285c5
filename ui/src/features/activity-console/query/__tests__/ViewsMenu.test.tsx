import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { HistoryPane } from "../../HistoryPane";
import { ViewsMenu, viewSharingText, type SavedView } from "../ViewsMenu";
import { useAuthStore } from "../../../../lib/authStore";
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

const CURRENT = { q: "", range_from: null, range_to: null, mode: "curated" as const };
const PROJECTS = { data: [{ id: 3, name: "Render", member_ids: [2] }, { id: 4, name: "Audio", member_ids: [] }] };

/** A server of views over `list` (changed in place by PATCH); records each PATCH body. */
function serveViews(list: SavedView[], answer?: (body: Record<string, unknown>) => { status: number; body: unknown } | undefined) {
  const patches: Record<string, unknown>[] = [];
  const fetchMock = mockFetch((url, init) => {
    if (url.pathname === "/api/v1/views") return { body: { data: list } };
    if (url.pathname === "/api/v1/admin/projects") return { body: PROJECTS };
    const m = /^\/api\/v1\/views\/(\d+)$/.exec(url.pathname);
    if (m && init?.method === "PATCH") {
      const body = JSON.parse(String(init.body)) as Record<string, unknown>;
      patches.push(body);
      const refused = answer?.(body);
      if (refused) return refused;
      const i = list.findIndex((v) => v.id === Number(m[1]));
      const project = PROJECTS.data.find((p) => p.id === body.project_id);
      list[i] = { ...list[i]!, ...body, ...("project_id" in body ? { project_name: project?.name ?? null } : {}) } as SavedView;
      return { body: list[i] };
    }
    return undefined;
  });
  return { patches, fetchMock };
}

function openMenu() {
  renderWithProviders(<ViewsMenu current={CURRENT} viewId={null} onOpen={vi.fn()} />);
  fireEvent.click(screen.getByRole("button", { name: "Views" }));
}

describe("renaming and sharing saved views", () => {
  beforeEach(() => {
    resetStores();
  });

  it("says who a view is shared with", () => {
    expect(viewSharingText(view({}) as SavedView, 1)).toBeNull();
    expect(viewSharingText(view({ project_id: 3, project_name: "Render" }) as SavedView, 1)).toBe("shared in Render");
    expect(viewSharingText(view({ owner_id: 2, owner_email: "ann@x", project_id: 3, project_name: "Render" }) as SavedView, 1)).toBe(
      "shared in Render by ann@x",
    );
  });

  it("renames inline: Enter saves, a duplicate name is said in words next to the field, Esc cancels", async () => {
    const { patches } = serveViews([view({}) as SavedView], (body) =>
      body.name === "team" ? { status: 409, body: { error: { code: "conflict", message: "you already have a view named 'team'" } } } : undefined,
    );
    openMenu();
    fireEvent.click(await screen.findByRole("button", { name: "Rename view gpu errors" }));
    const field = screen.getByRole("textbox", { name: "New name for view gpu errors" });
    expect(field).toHaveValue("gpu errors");
    expect(field).toHaveFocus();

    fireEvent.change(field, { target: { value: "team" } });
    fireEvent.keyDown(field, { key: "Enter" });
    const error = await screen.findByText('A view named "team" exists already: choose another name.');
    expect(error).toHaveAttribute("role", "alert");
    expect(field).toHaveAttribute("aria-invalid", "true");
    expect(field).toHaveAccessibleDescription('A view named "team" exists already: choose another name.');

    // Esc cancels: the field and its error go, the name is unchanged, focus returns to Rename.
    fireEvent.keyDown(field, { key: "Escape" });
    expect(screen.queryByRole("textbox", { name: "New name for view gpu errors" })).toBeNull();
    expect(screen.queryByRole("alert")).toBeNull();
    expect(screen.getByRole("dialog", { name: "Saved views" })).toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole("button", { name: "Rename view gpu errors" })).toHaveFocus());

    fireEvent.click(screen.getByRole("button", { name: "Rename view gpu errors" }));
    fireEvent.change(screen.getByRole("textbox", { name: "New name for view gpu errors" }), { target: { value: "  gpu warnings " } });
    fireEvent.keyDown(screen.getByRole("textbox", { name: "New name for view gpu errors" }), { key: "Enter" });
    expect(await screen.findByRole("button", { name: "gpu warnings" })).toBeInTheDocument();
    expect(screen.queryByRole("textbox", { name: /New name/ })).toBeNull();
    expect(patches).toEqual([{ name: "team" }, { name: "gpu warnings" }]);
  });

  it("an unchanged name sends nothing", async () => {
    const { patches } = serveViews([view({}) as SavedView]);
    openMenu();
    fireEvent.click(await screen.findByRole("button", { name: "Rename view gpu errors" }));
    fireEvent.keyDown(screen.getByRole("textbox", { name: "New name for view gpu errors" }), { key: "Enter" });
    await waitFor(() => expect(screen.queryByRole("textbox", { name: /New name/ })).toBeNull());
    expect(patches).toEqual([]);
  });

  it("an admin shares an own view with a project and stops sharing it; a refusal is said in words", async () => {
    const { patches } = serveViews([view({}) as SavedView], (body) =>
      body.project_id === 4 ? { status: 404, body: { error: { code: "not_found", message: "no project 4" } } } : undefined,
    );
    openMenu();
    const share = await screen.findByRole("combobox", { name: "Share view gpu errors with" });
    await within(share).findByRole("option", { name: "Render" });
    expect(share).toHaveValue("");
    fireEvent.change(share, { target: { value: "3" } });
    await waitFor(() => expect(share).toHaveValue("3"));

    fireEvent.change(share, { target: { value: "4" } });
    expect(await screen.findByText("Sharing could not be changed: that project is gone (deleted meanwhile).")).toBeInTheDocument();
    await waitFor(() => expect(share).toHaveValue("3"));

    fireEvent.change(share, { target: { value: "" } });
    await waitFor(() => expect(share).toHaveValue(""));
    expect(patches).toEqual([{ project_id: 3 }, { project_id: 4 }, { project_id: null }]);
  });

  it("a view someone else shared is marked and offers no rename, delete or share", async () => {
    serveViews([view({ id: 8, name: "team", owner_id: 2, owner_email: "ann@x", project_id: 3, project_name: "Render" }) as SavedView]);
    openMenu();
    expect(await screen.findByText("shared in Render by ann@x")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "team" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Rename view team" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Delete view team" })).toBeNull();
    expect(screen.queryByRole("combobox", { name: "Share view team with" })).toBeNull();
  });

  it("a creator renames their own view but gets no share control, and the projects are not asked for", async () => {
    useAuthStore.setState({ user: { id: 1, email: "c@x", role: "creator" } });
    const { fetchMock } = serveViews([view({ owner_email: "c@x", project_id: 3, project_name: "Render" }) as SavedView]);
    openMenu();
    expect(await screen.findByRole("button", { name: "Rename view gpu errors" })).toBeInTheDocument();
    expect(screen.getByText("shared in Render")).toBeInTheDocument();
    expect(screen.queryByRole("combobox", { name: /Share view/ })).toBeNull();
    expect(fetchMock.mock.calls.map(([u]) => new URL(String(u), "http://x").pathname)).not.toContain("/api/v1/admin/projects");
  });
});
