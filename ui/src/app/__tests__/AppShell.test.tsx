import { QueryClientProvider } from "@tanstack/react-query";
import { act, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { useActivityConsoleStore } from "../../features/activity-console/stores/activityConsoleStore";
import { useAuthStore } from "../../lib/authStore";
import { MockWebSocket, mockFetch, resetStores } from "../../test/utils";
import { AppRoutes, createQueryClient } from "../App";

function renderApp(route: string) {
  return render(
    <QueryClientProvider client={createQueryClient()}>
      <MemoryRouter initialEntries={[route]}>
        <AppRoutes />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe("app shell", () => {
  beforeEach(() => {
    resetStores();
    MockWebSocket.instances = [];
    vi.stubGlobal("WebSocket", MockWebSocket);
    mockFetch((url) => {
      if (url.pathname === "/api/v1/auth/me") return { body: { user: { id: 1, email: "admin@localhost", role: "admin", project_ids: [], projects: [] } } };
      if (url.pathname === "/api/v1/activity-logs") return { body: { data: [], meta: { page: 1, per_page: 25, total: 0, total_exact: true } } };
      if (url.pathname === "/api/v1/activity-logs/histogram") return { body: { data: [] } };
      if (url.pathname === "/api/v1/admin/activity-logs/settings") {
        return {
          body: {
            retention_days_debug: 3,
            retention_days_info: 14,
            retention_days_warn: 30,
            retention_days_error: 90,
            batch_size: 500,
            flush_interval_ms: 1000,
            updated_at: null,
          },
        };
      }
      if (url.pathname === "/api/v1/admin/ingest-tokens") return { body: { data: [] } };
      return undefined;
    });
  });

  it("sends signed-out users to the login page, and signs in", async () => {
    const user = userEvent.setup();
    useAuthStore.setState({ token: null, user: null });
    mockFetch((url) =>
      url.pathname === "/api/v1/auth/login"
        ? { body: { token: "jwt-2", user: { id: 2, email: "c@x", role: "creator" } } }
        : { body: { data: [], meta: { page: 1, per_page: 25, total: 0, total_exact: true } } },
    );
    renderApp("/settings");
    await user.type(screen.getByLabelText("Email"), "c@x");
    await user.type(screen.getByLabelText("Password"), "pw");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(useAuthStore.getState().token).toBe("jwt-2"));
    // A creator sees the Tools entry but no admin Settings entry.
    expect(await screen.findByRole("link", { name: "Activity Console" })).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Settings" })).not.toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "People" })).not.toBeInTheDocument();
    expect(sessionStorage.getItem("activity-console:auth")).toContain("jwt-2");
  });

  it("shows admin Settings to admins and lazily loads the console page, streaming with the JWT", async () => {
    renderApp("/tools/activity-console");
    expect(screen.getByRole("link", { name: "Settings" })).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "People" })).toHaveAttribute("href", "/admin/people");
    expect(await screen.findByRole("region", { name: "Live activity console" })).toBeInTheDocument();
    await waitFor(() => expect(MockWebSocket.instances.length).toBe(1));
    const ws = MockWebSocket.last;
    expect(ws.url).toMatch(/\/ws\/activity-logs$/);
    act(() => ws.open());
    expect(ws.sent[0]).toEqual({ action: "auth", token: "test-jwt" });
    expect(ws.sent[1]).toMatchObject({ action: "subscribe", mode: "curated", search: null });
  });

  it("signs out when the stored session is no longer valid", async () => {
    mockFetch((url) =>
      url.pathname === "/api/v1/auth/me"
        ? { status: 401, body: { error: { code: "unauthorized", message: "token expired" } } }
        : { body: { data: [], meta: { page: 1, per_page: 25, total: 0, total_exact: true } } },
    );
    renderApp("/settings");
    expect(await screen.findByRole("button", { name: "Sign in" })).toBeInTheDocument();
    expect(useAuthStore.getState().token).toBeNull();
  });

  it("toggles the docked console on other pages and remembers it", async () => {
    const user = userEvent.setup();
    renderApp("/settings");
    expect(screen.queryByRole("complementary", { name: "Docked activity console" })).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Console" }));
    expect(screen.getByRole("complementary", { name: "Docked activity console" })).toBeInTheDocument();
    expect(JSON.parse(localStorage.getItem("activity-console:panel")!).state.isOpen).toBe(true);
    await user.click(screen.getByRole("button", { name: "Dock on the right" }));
    expect(useActivityConsoleStore.getState().panelPosition).toBe("right");
    const handle = screen.getByRole("separator", { name: "Resize docked console" });
    handle.focus();
    await user.keyboard("{ArrowLeft}");
    expect(useActivityConsoleStore.getState().panelSize.right).toBe(576);
    await user.click(screen.getByRole("button", { name: "Close docked console" }));
    expect(screen.queryByRole("complementary", { name: "Docked activity console" })).not.toBeInTheDocument();
  });
});
