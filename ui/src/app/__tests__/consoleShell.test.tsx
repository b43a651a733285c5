import { QueryClientProvider } from "@tanstack/react-query";
import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { useActivityConsoleStore } from "../../features/activity-console/stores/activityConsoleStore";
import { scopeNoteText } from "../../features/activity-console/scopeNote";
import { useAuthStore } from "../../lib/authStore";
import { MockWebSocket, makeEntry, mockFetch, resetStores } from "../../test/utils";
import { AppRoutes, createQueryClient } from "../App";
import { hasPagesBesideConsole, navigationFor } from "../navigation";
import { SIDEBAR_AUTO_COLLAPSE_BELOW, isSidebarCollapsed } from "../sidebarLayout";

declare const process: { env: Record<string, string | undefined> };

type Me = { id: number; email: string; role: "admin" | "creator"; project_ids: number[]; projects: { id: number; name: string }[] };
const ADMIN: Me = { id: 1, email: "admin@localhost", role: "admin", project_ids: [], projects: [] };
const CREATOR: Me = {
  id: 7,
  email: "maker@example.com",
  role: "creator",
  project_ids: [3, 4],
  projects: [
    { id: 4, name: "Alpha film" },
    { id: 3, name: "Zeta film" },
  ],
};

function serve(me: Me) {
  mockFetch((url) => {
    if (url.pathname === "/api/v1/auth/me") return { body: { user: { ...me, created_at: "2026-01-01T00:00:00Z" } } };
    if (url.pathname === "/api/v1/activity-logs") return { body: { data: [], meta: { page: 1, per_page: 25, total: 0, total_exact: true } } };
    if (url.pathname === "/api/v1/activity-logs/histogram") return { body: { data: [] } };
    return { body: { data: [] } };
  });
}

function renderApp(route: string) {
  return render(
    <QueryClientProvider client={createQueryClient()}>
      <MemoryRouter initialEntries={[route]}>
        <AppRoutes />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

function setWindowWidth(width: number) {
  Object.defineProperty(window, "innerWidth", { configurable: true, value: width });
}

const originalWidth = window.innerWidth;

describe("the console shell", () => {
  beforeEach(() => {
    resetStores();
    vi.stubGlobal("WebSocket", MockWebSocket);
    serve(ADMIN);
  });
  afterEach(() => setWindowWidth(originalWidth));

  it("decides the sidebar from the user's choice, else from the width", () => {
    expect(isSidebarCollapsed(null, SIDEBAR_AUTO_COLLAPSE_BELOW - 76)).toBe(true);
    expect(isSidebarCollapsed(null, 1440)).toBe(false);
    expect(isSidebarCollapsed("expanded", 1024)).toBe(false);
    expect(isSidebarCollapsed("collapsed", 1440)).toBe(true);
  });

  it("collapses the sidebar at 1024 px; expanding it is remembered", async () => {
    const user = userEvent.setup();
    setWindowWidth(1024);
    const { container, unmount } = renderApp("/settings");
    expect(container.querySelector(".app-shell")).toHaveClass("sidebar-collapsed");
    await user.click(screen.getByRole("button", { name: "Expand sidebar" }));
    expect(container.querySelector(".app-shell")).not.toHaveClass("sidebar-collapsed");
    expect(localStorage.getItem("activity-console:sidebar")).toBe("expanded");
    unmount();
    const again = renderApp("/settings");
    expect(again.container.querySelector(".app-shell")).not.toHaveClass("sidebar-collapsed");
    await user.click(screen.getByRole("button", { name: "Collapse sidebar" }));
    expect(again.container.querySelector(".app-shell")).toHaveClass("sidebar-collapsed");
  });

  it("follows the window width until the user chooses", () => {
    setWindowWidth(1440);
    const { container } = renderApp("/settings");
    expect(container.querySelector(".app-shell")).not.toHaveClass("sidebar-collapsed");
    act(() => {
      setWindowWidth(1000);
      window.dispatchEvent(new Event("resize"));
    });
    expect(container.querySelector(".app-shell")).toHaveClass("sidebar-collapsed");
  });

  it("? opens the shortcut sheet listing the keys; Esc closes it; never while typing", async () => {
    renderApp("/tools/activity-console");
    await screen.findByRole("region", { name: "Live activity console" });
    const search = screen.getAllByRole("searchbox")[0]!;
    search.focus();
    fireEvent.keyDown(search, { key: "?" });
    expect(screen.queryByRole("dialog", { name: "Keyboard shortcuts" })).not.toBeInTheDocument();
    search.blur();
    fireEvent.keyDown(window, { key: "?" });
    const sheet = screen.getByRole("dialog", { name: "Keyboard shortcuts" });
    for (const k of ["j", "k", "Enter", "o", "Esc", "/", "g", "G", "Home", "End", "?"]) {
      expect(within(sheet).getByText(k, { selector: "kbd" })).toBeInTheDocument();
    }
    fireEvent.keyDown(window, { key: "Escape" });
    expect(screen.queryByRole("dialog", { name: "Keyboard shortcuts" })).not.toBeInTheDocument();
  });

  it("switching to UTC rewrites the row times and the zone label", async () => {
    const before = process.env.TZ;
    process.env.TZ = "Asia/Kolkata";
    try {
      const user = userEvent.setup();
      renderApp("/tools/activity-console");
      await screen.findByRole("region", { name: "Live activity console" });
      act(() => useActivityConsoleStore.getState().appendEntries([makeEntry({ id: 5, timestamp: "2026-11-28T10:00:00.250Z", message: "zoned" })]));
      expect(screen.getByTestId("zone-label")).toHaveTextContent("UTC+05:30");
      expect(screen.getByRole("button", { name: /zoned/ })).toHaveTextContent("15:30:00.250");
      await user.selectOptions(screen.getByRole("combobox", { name: "Time zone" }), "utc");
      expect(screen.getByTestId("zone-label")).toHaveTextContent(/^UTC$/);
      expect(screen.getByRole("button", { name: /zoned/ })).toHaveTextContent("10:00:00.250");
      expect(screen.getByRole("columnheader", { name: "Time (UTC)" })).toBeInTheDocument();
      expect(localStorage.getItem("activity-console:time-zone")).toContain("utc");
    } finally {
      process.env.TZ = before;
    }
  });

  it("an admin has the dock control and no scope note", async () => {
    renderApp("/settings");
    expect(await screen.findByRole("button", { name: /Console/ })).toBeInTheDocument();
    renderApp("/tools/activity-console");
    await screen.findAllByRole("region", { name: "Live activity console" });
    expect(screen.queryByRole("note", { name: "What you can see" })).not.toBeInTheDocument();
  });

  it("a creator sees what they can see, by project name, and no dock control", async () => {
    useAuthStore.setState({ token: "creator-jwt", user: { id: 7, email: CREATOR.email, role: "creator" } });
    useActivityConsoleStore.setState({ isOpen: true });
    serve(CREATOR);
    renderApp("/tools/activity-console");
    const note = await screen.findByRole("note", { name: "What you can see" });
    expect(note).toHaveTextContent("Alpha film, Zeta film");
    expect(note).toHaveTextContent("system entries");
    expect(screen.queryByRole("button", { name: /Console/ })).not.toBeInTheDocument();
  });

  it("docks the console under a trace page for an admin, never for a creator", async () => {
    useActivityConsoleStore.setState({ isOpen: true });
    const admin = renderApp("/tools/activity-console/traces/0af7651916cd43dd8448eb211c80319c");
    expect(await screen.findByRole("complementary", { name: "Docked activity console" })).toBeInTheDocument();
    admin.unmount();
    useAuthStore.setState({ token: "creator-jwt", user: { id: 7, email: CREATOR.email, role: "creator" } });
    serve(CREATOR);
    renderApp("/tools/activity-console/traces/0af7651916cd43dd8448eb211c80319c");
    await screen.findByRole("navigation", { name: "Main" });
    await waitFor(() => expect(screen.queryByRole("complementary", { name: "Docked activity console" })).not.toBeInTheDocument());
    expect(screen.queryByRole("button", { name: /Console/ })).not.toBeInTheDocument();
  });
});

describe("what a role has", () => {
  it("gives creators the console page alone and admins more", () => {
    expect(navigationFor("creator").flatMap((g) => g.items.map((i) => i.path))).toEqual(["/tools/activity-console"]);
    expect(hasPagesBesideConsole("creator")).toBe(false);
    expect(hasPagesBesideConsole(undefined)).toBe(false);
    expect(hasPagesBesideConsole("admin")).toBe(true);
  });

  it("says a creator's scope in words", () => {
    expect(scopeNoteText(["A", "B"])).toBe(
      "Entries of your projects A, B, entries about you, and system entries (those of no project and no user). Other projects' entries are not shown.",
    );
    expect(scopeNoteText(["A"])).toMatch(/^Entries of your project A,/);
    expect(scopeNoteText([])).toMatch(/^You are in no project yet, so you see system entries/);
  });
});
