import { QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { AppRoutes, createQueryClient } from "../../../app/App";
import { MockWebSocket, currentLocation, makeEntry, mockFetch, renderWithProviders, resetStores } from "../../../test/utils";
import { EntryPage } from "../EntryPage";

const PATH = "/tools/activity-console/entries/:entryId";

describe("the entry page", () => {
  beforeEach(resetStores);

  it("fetches the entry by id and shows it whole, without a permalink to itself", async () => {
    const message = "x".repeat(20_000);
    const fetchMock = mockFetch((url) =>
      url.pathname === "/api/v1/activity-logs/77" ? { body: { data: makeEntry({ id: 77, message, source: "worker" }) } } : undefined,
    );
    renderWithProviders(<EntryPage />, { route: "/tools/activity-console/entries/77", path: PATH });
    expect(screen.getByRole("status")).toHaveTextContent("Loading entry…");
    expect((await screen.findByRole("region", { name: "Message" })).textContent).toBe(message);
    expect(screen.getByRole("heading", { level: 1 })).toHaveTextContent("Entry #77");
    expect(screen.queryByRole("link", { name: /Open in new tab/ })).not.toBeInTheDocument();
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });

  it("says 'not found or not visible to you' on a 404, which is also what another project's entry gets", async () => {
    mockFetch(() => ({ status: 404, body: { error: { code: "not_found", message: "no activity log entry 78" } } }));
    renderWithProviders(<EntryPage />, { route: "/tools/activity-console/entries/78", path: PATH });
    expect(await screen.findByRole("alert")).toHaveTextContent("Entry #78 was not found, or it is not visible to you.");
  });

  it("does not ask the API for an id that cannot exist", () => {
    const fetchMock = mockFetch(() => undefined);
    renderWithProviders(<EntryPage />, { route: "/tools/activity-console/entries/abc", path: PATH });
    expect(screen.getByRole("alert")).toHaveTextContent("Entry “abc” was not found, or it is not visible to you.");
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("shows another failure with a retry that loads the entry", async () => {
    const user = userEvent.setup();
    let fail = true;
    mockFetch((url) => {
      if (url.pathname !== "/api/v1/activity-logs/79") return undefined;
      return fail
        ? { status: 400, body: { error: { code: "bad_request", message: "database unavailable" } } }
        : { body: { data: makeEntry({ id: 79, message: "back again" }) } };
    });
    renderWithProviders(<EntryPage />, { route: "/tools/activity-console/entries/79", path: PATH });
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load the entry: database unavailable");
    fail = false;
    await user.click(screen.getByRole("button", { name: "Retry" }));
    expect((await screen.findByRole("region", { name: "Message" })).textContent).toBe("back again");
  });

  it("'filter for' opens the console's history with that filter", async () => {
    const user = userEvent.setup();
    mockFetch((url) =>
      url.pathname === "/api/v1/activity-logs/80" ? { body: { data: makeEntry({ id: 80, source: "agent", project_id: 3 }) } } : undefined,
    );
    renderWithProviders(<EntryPage />, { route: "/tools/activity-console/entries/80", path: PATH });
    await user.click(await screen.findByRole("button", { name: "Filter for source agent" }));
    expect(currentLocation()).toBe("/tools/activity-console?source=agent&mode=verbose");
  });

  it("is the app's route /tools/activity-console/entries/:entryId, loaded on demand", async () => {
    vi.stubGlobal("WebSocket", MockWebSocket);
    mockFetch((url) => {
      if (url.pathname === "/api/v1/auth/me") return { body: { user: { id: 1, email: "admin@localhost", role: "admin", project_ids: [], projects: [] } } };
      if (url.pathname === "/api/v1/activity-logs/81") return { body: { data: makeEntry({ id: 81, message: "routed here" }) } };
      return undefined;
    });
    render(
      <QueryClientProvider client={createQueryClient()}>
        <MemoryRouter initialEntries={["/tools/activity-console/entries/81"]}>
          <AppRoutes />
        </MemoryRouter>
      </QueryClientProvider>,
    );
    expect(await screen.findByRole("heading", { level: 1, name: "Entry #81" })).toBeInTheDocument();
    expect((await screen.findByRole("region", { name: "Message" })).textContent).toBe("routed here");
    vi.unstubAllGlobals();
  });
});
