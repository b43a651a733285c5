import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { mockFetch, renderWithProviders, resetStores } from "../../../test/utils";
import type { IngestToken } from "../../activity-console/types";
import { SettingsPage } from "../SettingsPage";

const SETTINGS = {
  retention_days_debug: 3,
  retention_days_info: 14,
  retention_days_warn: 30,
  retention_days_error: 90,
  batch_size: 500,
  flush_interval_ms: 1000,
};

describe("SettingsPage", () => {
  beforeEach(resetStores);

  it("shows the API's plain-words validation message next to the field, and each field's limits up front", async () => {
    const user = userEvent.setup();
    const fetchMock = mockFetch((url, init) => {
      if (url.pathname === "/api/v1/admin/activity-logs/settings" && init?.method === "PUT") {
        return {
          status: 400,
          body: { error: { code: "bad_request", message: "retention_days_error: Error retention must be between 7 and 3650 days" } },
        };
      }
      if (url.pathname === "/api/v1/admin/activity-logs/settings") return { body: SETTINGS };
      if (url.pathname === "/api/v1/admin/ingest-tokens") return { body: { data: [] } };
      return undefined;
    });
    renderWithProviders(<SettingsPage />);
    const field = await screen.findByRole("spinbutton", { name: /Error retention/ });
    // The limits come from the API description (openapi.json), before anything is typed.
    expect(field).toHaveAccessibleDescription("7–3,650 days; errors are kept at least a week");
    expect(field).toHaveAttribute("min", "7");
    expect(screen.getByRole("spinbutton", { name: /Debug retention/ })).toHaveAccessibleDescription("1–3,650 days");
    expect(screen.getByRole("spinbutton", { name: /Batch size/ })).toHaveAccessibleDescription("1–10,000 entries");
    expect(screen.getByRole("spinbutton", { name: /Flush interval/ })).toHaveAccessibleDescription("10–60,000 ms");
    await user.clear(field);
    await user.type(field, "2");
    await user.click(screen.getByRole("button", { name: "Save settings" }));
    expect(await screen.findByText("Error retention must be between 7 and 3650 days")).toBeInTheDocument();
    expect(field).toHaveAttribute("aria-invalid", "true");
    expect(field).toHaveAccessibleDescription(
      "7–3,650 days; errors are kept at least a week Error retention must be between 7 and 3650 days",
    );
    const put = fetchMock.mock.calls.find((c) => c[1]?.method === "PUT")!;
    // Partial update: only the changed field is sent.
    expect(JSON.parse(String(put[1]!.body))).toEqual({ retention_days_error: 2 });
  });

  it("offers to save only once a value differs from the server's (an empty update is refused)", async () => {
    const user = userEvent.setup();
    const fetchMock = mockFetch((url) => {
      if (url.pathname === "/api/v1/admin/activity-logs/settings") return { body: SETTINGS };
      if (url.pathname === "/api/v1/admin/ingest-tokens") return { body: { data: [] } };
      return undefined;
    });
    renderWithProviders(<SettingsPage />);
    const field = await screen.findByRole("spinbutton", { name: /Error retention/ });
    const save = screen.getByRole("button", { name: "Save settings" });
    expect(save).toBeDisabled();
    await user.clear(field);
    await user.type(field, "120");
    expect(save).toBeEnabled();
    await user.clear(field);
    await user.type(field, "90");
    expect(save).toBeDisabled();
    expect(fetchMock.mock.calls.some((c) => c[1]?.method === "PUT")).toBe(false);
  });

  it("purges only after confirmation and reports the count", async () => {
    const user = userEvent.setup();
    const fetchMock = mockFetch((url, init) => {
      if (url.pathname === "/api/v1/admin/activity-logs" && init?.method === "DELETE") return { body: { deleted: 1234 } };
      if (url.pathname === "/api/v1/admin/activity-logs/purge-estimate") return { body: { rows: 1234, exact: true } };
      if (url.pathname === "/api/v1/admin/activity-logs/settings") return { body: SETTINGS };
      if (url.pathname === "/api/v1/admin/ingest-tokens") return { body: { data: [] } };
      return undefined;
    });
    renderWithProviders(<SettingsPage />);
    const purge = screen.getByRole("region", { name: "Manual purge" });
    const dateInput = within(purge).getByLabelText("Older than");
    await user.type(dateInput, "2026-01-01T00:00");
    await user.selectOptions(within(purge).getByLabelText("Level"), "debug");
    await user.click(within(purge).getByRole("button", { name: /Purge/ }));
    const dialog = screen.getByRole("dialog", { name: "Delete stored entries?" });
    expect(fetchMock.mock.calls.some((c) => c[1]?.method === "DELETE")).toBe(false);
    // The confirmation says how many go, counted for this cutoff and level.
    expect(await within(dialog).findByText("1,234 entries will be deleted.")).toBeInTheDocument();
    const asked = new URL(String(fetchMock.mock.calls.find((c) => String(c[0]).includes("purge-estimate"))![0]), "http://x");
    expect(asked.searchParams.get("level")).toBe("debug");
    expect(asked.searchParams.get("before")).toMatch(/^2026-01-01T\d\d:00:00.000Z$/);
    await user.click(within(dialog).getByRole("button", { name: "Delete permanently" }));
    expect(await screen.findByText("Deleted 1,234 entries.")).toBeInTheDocument();
    const del = new URL(String(fetchMock.mock.calls.find((c) => c[1]?.method === "DELETE")![0]), "http://x");
    expect(del.searchParams.get("level")).toBe("debug");
    expect(del.searchParams.get("before")).toMatch(/^2026-01-01T\d\d:00:00.000Z$/);
  });

  it("the purge confirmation says when the count is an estimate, or that nothing matches", async () => {
    const user = userEvent.setup();
    let answer = { rows: 2_500_000, exact: false };
    mockFetch((url) => {
      if (url.pathname === "/api/v1/admin/activity-logs/purge-estimate") return { body: answer };
      if (url.pathname === "/api/v1/admin/activity-logs/settings") return { body: SETTINGS };
      if (url.pathname === "/api/v1/admin/ingest-tokens") return { body: { data: [] } };
      return undefined;
    });
    renderWithProviders(<SettingsPage />);
    const purge = screen.getByRole("region", { name: "Manual purge" });
    await user.type(within(purge).getByLabelText("Older than"), "2026-01-01T00:00");
    await user.click(within(purge).getByRole("button", { name: /Purge/ }));
    let dialog = screen.getByRole("dialog");
    expect(await within(dialog).findByText("About 2,500,000 entries will be deleted (an estimate).")).toBeInTheDocument();
    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    answer = { rows: 0, exact: true };
    await user.click(within(purge).getByRole("button", { name: /Purge/ }));
    dialog = screen.getByRole("dialog");
    expect(await within(dialog).findByText("No entries match: nothing will be deleted.")).toBeInTheDocument();
  });

  it("creates an ingest token, shows it once, and revokes after confirmation", async () => {
    const user = userEvent.setup();
    let tokens: IngestToken[] = [{ id: 1, name: "old", token_prefix: "act_ab", created_at: "2026-11-01T00:00:00Z", last_used_at: null, revoked_at: null }];
    const fetchMock = mockFetch((url, init) => {
      if (url.pathname === "/api/v1/admin/ingest-tokens" && init?.method === "POST") {
        const t: IngestToken = { id: 2, name: String(JSON.parse(String(init.body)).name), token_prefix: "act_cd", created_at: "2026-11-26T00:00:00Z", last_used_at: null, revoked_at: null };
        tokens = [...tokens, t];
        return { status: 201, body: { ...t, token: "act_cd_SECRET" } };
      }
      if (url.pathname === "/api/v1/admin/ingest-tokens/1" && init?.method === "DELETE") {
        tokens = tokens.map((t) => (t.id === 1 ? { ...t, revoked_at: "2026-11-26T00:00:00Z" } : t));
        return { body: tokens[0] };
      }
      if (url.pathname === "/api/v1/admin/ingest-tokens") return { body: { data: tokens } };
      if (url.pathname === "/api/v1/admin/activity-logs/settings") return { body: SETTINGS };
      return undefined;
    });
    renderWithProviders(<SettingsPage />);
    await screen.findByText("old");
    await user.type(screen.getByLabelText("Token name"), "worker-1");
    await user.click(screen.getByRole("button", { name: "Create token" }));
    expect(await screen.findByText("act_cd_SECRET")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Done" }));
    expect(screen.queryByText("act_cd_SECRET")).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Revoke token old" }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Revoke" }));
    await waitFor(() => expect(screen.queryByRole("button", { name: "Revoke token old" })).not.toBeInTheDocument());
    expect(fetchMock.mock.calls.some((c) => String(c[0]).endsWith("/ingest-tokens/1") && c[1]?.method === "DELETE")).toBe(true);
  });
});
