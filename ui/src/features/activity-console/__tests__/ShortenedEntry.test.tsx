import { act, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { makeEntry, mockFetch, renderWithProviders, resetStores } from "../../../test/utils";
import { ActivityConsolePanel } from "../ActivityConsolePanel";
import { HistoryPane } from "../HistoryPane";
import { ContextDialog } from "../components/ContextDialog";
import { EntryDetail } from "../components/EntryDetail";
import { fetchActivityLogs } from "../hooks/useActivityLogHistory";
import { useActivityConsoleStore as store } from "../stores/activityConsoleStore";
import type { ActivityLogEntry } from "../types";

const FULL_MESSAGE = `job 4119 failed: RuntimeError\nTraceback (most recent call last):\n${'  File "/opt/render/worker.py", line 12, in run\n'.repeat(400)}RuntimeError: end of trace`;
const FULL_STDERR = "cudaMemcpyAsync returned 700\n".repeat(200);

/** The stored entry and the shortened copy a list view carries, as the server builds them. */
function crashEntry(id: number): { full: ActivityLogEntry; shortened: ActivityLogEntry } {
  const full = makeEntry({ id, level: "error", source: "worker", message: FULL_MESSAGE, fields: { host: "gpu-2", stderr: FULL_STDERR } });
  const shortened: ActivityLogEntry = {
    ...full,
    message: FULL_MESSAGE.slice(0, 8192),
    fields: { host: "gpu-2", stderr: FULL_STDERR.slice(0, 1024) },
    truncated: true,
    message_length: FULL_MESSAGE.length,
  };
  return { full, shortened };
}

const NOTICE = `Shortened for display — message ${FULL_MESSAGE.length.toLocaleString()} characters`;

/** Answers `GET /api/v1/activity-logs/{id}` with `full`, or with `failure` while it is set. */
function fullEntryApi(full: ActivityLogEntry) {
  const state: { failure: { status: number; code: string; message: string } | null } = { failure: null };
  const fetchMock = mockFetch((url) => {
    if (url.pathname !== `/api/v1/activity-logs/${full.id}`) return undefined;
    if (state.failure) {
      return { status: state.failure.status, body: { error: { code: state.failure.code, message: state.failure.message } } };
    }
    return { body: { data: full } };
  });
  const calls = () => fetchMock.mock.calls.filter((c) => new URL(String(c[0]), "http://localhost").pathname === `/api/v1/activity-logs/${full.id}`);
  return { fetchMock, state, calls };
}

describe("shortened entries", () => {
  beforeEach(resetStores);

  it("say they were shortened and offer the full entry, without fetching it", () => {
    const { shortened, full } = crashEntry(42);
    const { fetchMock } = fullEntryApi(full);
    renderWithProviders(<EntryDetail entry={shortened} />);
    expect(screen.getByRole("note")).toHaveTextContent(NOTICE);
    expect(screen.getByRole("button", { name: "Load full entry" })).toBeInTheDocument();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("say when only long fields were cut", () => {
    const entry = makeEntry({ message: "short", truncated: true, message_length: 5, fields: { dump: "x".repeat(1024) } });
    renderWithProviders(<EntryDetail entry={entry} />);
    expect(screen.getByRole("note")).toHaveTextContent("Shortened for display — some fields were cut");
  });

  it("load the full entry from GET /api/v1/activity-logs/{id} with the session's token and show it in place", async () => {
    const user = userEvent.setup();
    const { shortened, full } = crashEntry(42);
    const { calls } = fullEntryApi(full);
    renderWithProviders(<EntryDetail entry={shortened} />);
    await user.click(screen.getByRole("button", { name: "Load full entry" }));
    const message = await screen.findByRole("region", { name: "Full message" });
    expect(message.textContent).toBe(FULL_MESSAGE);
    expect(message).toHaveFocus();
    expect(calls()).toHaveLength(1);
    const init = calls()[0]![1] as RequestInit;
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer test-jwt");
    // The fields are the full ones too, and the notice is gone.
    const fields = screen.getByRole("table", { name: "Fields" });
    expect(within(fields).getByRole("rowheader", { name: "stderr" }).nextElementSibling!.textContent).toBe(FULL_STDERR);
    expect(screen.queryByRole("note")).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load full entry" })).not.toBeInTheDocument();
  });

  it("show that the full entry is loading, on the button that keeps the focus", async () => {
    const user = userEvent.setup();
    const { shortened, full } = crashEntry(42);
    let respond: (res: Response) => void = () => undefined;
    vi.stubGlobal("fetch", vi.fn(() => new Promise<Response>((resolve) => (respond = resolve))));
    renderWithProviders(<EntryDetail entry={shortened} />);
    await user.click(screen.getByRole("button", { name: "Load full entry" }));
    const button = screen.getByRole("button", { name: "Loading full entry…" });
    expect(button).toHaveAttribute("aria-disabled", "true");
    expect(button).toHaveFocus();
    await user.click(button);
    expect(fetch).toHaveBeenCalledTimes(1);
    act(() => respond(new Response(JSON.stringify({ data: full }), { headers: { "Content-Type": "application/json" } })));
    expect((await screen.findByRole("region", { name: "Full message" })).textContent).toBe(FULL_MESSAGE);
  });

  it("show the API's error inline with a retry that loads the entry", async () => {
    const user = userEvent.setup();
    const { shortened, full } = crashEntry(42);
    const api = fullEntryApi(full);
    api.state.failure = { status: 404, code: "not_found", message: "no activity log entry 42" };
    renderWithProviders(<EntryDetail entry={shortened} />);
    await user.click(screen.getByRole("button", { name: "Load full entry" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("no activity log entry 42");
    expect(screen.getByRole("note")).toHaveTextContent(NOTICE);
    expect(screen.queryByRole("region", { name: "Full message" })).not.toBeInTheDocument();

    api.state.failure = null;
    await user.click(screen.getByRole("button", { name: "Retry" }));
    expect((await screen.findByRole("region", { name: "Full message" })).textContent).toBe(FULL_MESSAGE);
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    expect(api.calls()).toHaveLength(2);
  });

  it("leave an entry that was not shortened as it was: no notice, no button, no request", () => {
    const fetchMock = mockFetch(() => undefined);
    const entry = makeEntry({ id: 43, message: "x".repeat(9000), fields: { host: "gpu-2" } });
    renderWithProviders(<EntryDetail entry={entry} />);
    expect(screen.queryByRole("note")).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load full entry" })).not.toBeInTheDocument();
    expect(screen.queryByRole("region", { name: "Full message" })).not.toBeInTheDocument();
    expect(screen.queryByText(/Shortened for display/)).not.toBeInTheDocument();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("keep truncated and message_length from the wire, and add neither to other entries", async () => {
    const { shortened } = crashEntry(44);
    mockFetch((url) =>
      url.pathname === "/api/v1/activity-logs"
        ? { body: { data: [shortened, makeEntry({ id: 45 })], meta: { page: 1, per_page: 25, total: 2, total_exact: true } } }
        : undefined,
    );
    const [fromWire, plain] = (await fetchActivityLogs({})).data as [ActivityLogEntry, ActivityLogEntry];
    expect(fromWire.truncated).toBe(true);
    expect(fromWire.message_length).toBe(FULL_MESSAGE.length);
    expect("truncated" in plain).toBe(false);
    expect("message_length" in plain).toBe(false);
  });

  it("in the live panel, keep the loaded entry when the row is collapsed and expanded again", async () => {
    const user = userEvent.setup();
    const { shortened, full } = crashEntry(46);
    const { calls } = fullEntryApi(full);
    renderWithProviders(<ActivityConsolePanel />);
    act(() => store.getState().appendEntries([shortened]));
    const line = screen.getByRole("button", { name: /job 4119 failed/ });
    await user.click(line);
    await user.click(screen.getByRole("button", { name: "Load full entry" }));
    expect((await screen.findByRole("region", { name: "Full message" })).textContent).toBe(FULL_MESSAGE);

    await user.click(line);
    expect(screen.queryByRole("region", { name: "Full message" })).not.toBeInTheDocument();
    await user.click(line);
    expect(screen.getByRole("region", { name: "Full message" }).textContent).toBe(FULL_MESSAGE);
    expect(screen.queryByRole("button", { name: "Load full entry" })).not.toBeInTheDocument();
    expect(calls()).toHaveLength(1);
    // The one-line row still carries the shortened message.
    expect(line.querySelector(".log-message")!.textContent).toBe(shortened.message);
  });

  it("in history, come from the list response and load in the expanded row", async () => {
    const user = userEvent.setup();
    const { shortened, full } = crashEntry(47);
    mockFetch((url) => {
      if (url.pathname === "/api/v1/activity-logs") {
        return { body: { data: [shortened], meta: { page: 1, per_page: 25, total: 1, total_exact: true } } };
      }
      if (url.pathname === "/api/v1/activity-logs/histogram") return { body: { data: [], meta: { buckets: 60 } } };
      if (url.pathname === "/api/v1/activity-logs/47") return { body: { data: full } };
      return undefined;
    });
    renderWithProviders(<HistoryPane />, { route: "/tools/activity-console" });
    await user.click(await screen.findByRole("button", { name: "Details of entry 47" }));
    expect(screen.getByRole("note")).toHaveTextContent(NOTICE);
    await user.click(screen.getByRole("button", { name: "Load full entry" }));
    expect((await screen.findByRole("region", { name: "Full message" })).textContent).toBe(FULL_MESSAGE);
  });

  it("in the context dialog, load the full message in place of the shortened one", async () => {
    const user = userEvent.setup();
    const anchor = makeEntry({ id: 48, message: "anchor entry" });
    const { shortened, full } = crashEntry(49);
    mockFetch((url) => {
      if (url.pathname === "/api/v1/activity-logs/48/context") return { body: { data: [anchor, shortened], meta: { anchor_id: 48 } } };
      if (url.pathname === "/api/v1/activity-logs/49") return { body: { data: full } };
      return undefined;
    });
    renderWithProviders(<ContextDialog entry={anchor} onClose={() => undefined} />);
    const dialog = await screen.findByRole("dialog", { name: "Entries around #48" });
    await within(dialog).findByText("anchor entry");
    expect(within(dialog).getAllByRole("note")).toHaveLength(1);
    expect(within(dialog).getByRole("note")).toHaveTextContent(NOTICE);
    await user.click(within(dialog).getByRole("button", { name: "Load full entry" }));
    expect((await within(dialog).findByRole("region", { name: "Full message" })).textContent).toBe(FULL_MESSAGE);
    expect(within(dialog).queryByText(shortened.message)).not.toBeInTheDocument();
  });
});
