import { defaultScheduler, notifyManager } from "@tanstack/react-query";
import { act, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mockFetch, renderWithProviders, resetStores } from "../../../test/utils";
import { IngestStatusBanner } from "../components/IngestStatusBanner";
import { INGEST_POLL_DEGRADED_MS, INGEST_POLL_DIRECT_MS } from "../hooks/useIngestStatus";
import type { IngestState, IngestStatus } from "../types";

const MESSAGES: Record<IngestState, string> = {
  direct: "",
  spooling: "PostgreSQL unavailable for 42 s; 18,300 records spooled, 210 MB",
  replaying: "9,100 records spooled, 104 MB; replaying the spool",
  refusing: "PostgreSQL unavailable for 42 s; ingest answers retry-later (no spool)",
  failed: "the batch writer stopped unexpectedly; restart the server",
};

function ingestStatus(state: IngestState, message = MESSAGES[state]): IngestStatus {
  return { state, message, database_unavailable_s: 42, spooled_records: 18_300, spooled_bytes: 210_000_000, spool_enabled: state !== "refusing" };
}

/** Serves `GET /api/v1/ingest/status` with whatever `answer` holds at the time of each request. */
function serveIngestStatus(first: IngestStatus) {
  const server = {
    answer: first as IngestStatus | "network-error" | "http-503",
    requests: () => fetchMock.mock.calls.filter(([input]) => String(input).endsWith("/api/v1/ingest/status")).length,
  };
  const fetchMock = mockFetch((url) => {
    if (url.pathname !== "/api/v1/ingest/status") return undefined;
    if (server.answer === "network-error") throw new TypeError("Failed to fetch");
    if (server.answer === "http-503") return { status: 503, body: { error: { code: "unavailable", message: "Service Unavailable" } } };
    return { body: server.answer };
  });
  return server;
}

/** Moves fake time on and lets the fetches it starts settle and render. */
const elapse = (ms: number) => act(() => vi.advanceTimersByTimeAsync(ms));

const banner = () => screen.queryByRole("status") ?? screen.queryByRole("alert");

describe("IngestStatusBanner", () => {
  beforeEach(resetStores);

  it.each([
    [
      "spooling",
      "status",
      "warning",
      ingestStatus("spooling"),
      "Ingest degraded — PostgreSQL unavailable for 42 s; 18,300 records spooled, 210 MB. Records are kept on the server's disk and will appear when PostgreSQL is back.",
    ],
    ["replaying", "status", "info", ingestStatus("replaying"), "Catching up — 9,100 records spooled, 104 MB; replaying the spool."],
    [
      "refusing",
      "alert",
      "error",
      ingestStatus("refusing"),
      "Ingest refused — PostgreSQL unavailable for 42 s; ingest answers retry-later (no spool). Senders are retrying.",
    ],
    ["failed, the message saying to restart", "alert", "error", ingestStatus("failed"), "Ingest failed — the batch writer stopped unexpectedly; restart the server."],
    ["failed, the message not saying it", "alert", "error", ingestStatus("failed", "the batch writer stopped."), "Ingest failed — the batch writer stopped. Restart the server."],
    ["spooling without a message", "status", "warning", ingestStatus("spooling", ""), "Ingest degraded. Records are kept on the server's disk and will appear when PostgreSQL is back."],
  ] as const)("%s: role=%s, %s banner", async (_, role, tone, status, text) => {
    serveIngestStatus(status);
    renderWithProviders(<IngestStatusBanner />);
    const shown = await screen.findByRole(role);
    expect(shown.textContent).toBe(text);
    expect(shown).toHaveAttribute("title", text);
    expect(shown).toHaveClass(`ingest-banner-${tone}`);
    expect(screen.queryByRole(role === "alert" ? "status" : "alert")).not.toBeInTheDocument();
    if (role === "status") expect(shown).toHaveAttribute("aria-live", "polite");
  });

  it.each(["spooling", "refusing"] as const)("%s (PostgreSQL away): Retry now asks again at once", async (state) => {
    const server = serveIngestStatus(ingestStatus(state));
    const onRetry = vi.fn();
    renderWithProviders(<IngestStatusBanner onRetry={onRetry} />);
    const retry = await screen.findByRole("button", { name: "Retry now" });
    const before = server.requests();
    server.answer = ingestStatus("direct");
    await userEvent.click(retry);
    expect(onRetry).toHaveBeenCalledTimes(1);
    expect(server.requests()).toBe(before + 1);
    await waitFor(() => expect(banner()).not.toBeInTheDocument());
  });

  it.each(["replaying", "failed"] as const)("%s: no Retry now (the database answers, or only a restart helps)", async (state) => {
    serveIngestStatus(ingestStatus(state));
    renderWithProviders(<IngestStatusBanner onRetry={() => undefined} />);
    await screen.findByText(/Catching up|Ingest failed/);
    expect(screen.queryByRole("button", { name: "Retry now" })).not.toBeInTheDocument();
  });

  describe("polling", () => {
    beforeEach(() => {
      vi.useFakeTimers();
      // TanStack Query hands results to components in a setTimeout(0), which fake timers hold back
      // (they run it 1 ms later); in a microtask the answer is on screen when `elapse` returns.
      notifyManager.setScheduler(queueMicrotask);
    });
    afterEach(() => {
      notifyManager.setScheduler(defaultScheduler);
      vi.useRealTimers();
      // Undo a test's hidden tab: the property is an own one shadowing Document.prototype's.
      delete (document as { visibilityState?: DocumentVisibilityState }).visibilityState;
    });

    it("shows nothing while ingest is direct, and goes when ingest is direct again", async () => {
      const server = serveIngestStatus(ingestStatus("direct"));
      renderWithProviders(<IngestStatusBanner />);
      await elapse(0);
      expect(server.requests()).toBe(1);
      expect(banner()).not.toBeInTheDocument();

      server.answer = ingestStatus("spooling");
      await elapse(INGEST_POLL_DIRECT_MS);
      expect(screen.getByRole("status")).toHaveTextContent("Ingest degraded");

      server.answer = ingestStatus("direct");
      await elapse(INGEST_POLL_DEGRADED_MS);
      expect(banner()).not.toBeInTheDocument();
    });

    it("polls every 15 s while direct and every 3 s otherwise", async () => {
      const server = serveIngestStatus(ingestStatus("direct"));
      renderWithProviders(<IngestStatusBanner />);
      await elapse(0);
      expect(server.requests()).toBe(1);

      await elapse(INGEST_POLL_DIRECT_MS - 1);
      expect(server.requests()).toBe(1);
      server.answer = ingestStatus("spooling");
      await elapse(1);
      expect(server.requests()).toBe(2);

      await elapse(INGEST_POLL_DEGRADED_MS - 1);
      expect(server.requests()).toBe(2);
      await elapse(1);
      expect(server.requests()).toBe(3);
      await elapse(INGEST_POLL_DEGRADED_MS);
      expect(server.requests()).toBe(4);

      server.answer = ingestStatus("direct");
      await elapse(INGEST_POLL_DEGRADED_MS);
      expect(server.requests()).toBe(5);
      await elapse(INGEST_POLL_DIRECT_MS - 1);
      expect(server.requests()).toBe(5);
      await elapse(1);
      expect(server.requests()).toBe(6);
    });

    it("does not poll while the tab is hidden, and asks again when it is shown", async () => {
      const server = serveIngestStatus(ingestStatus("spooling"));
      renderWithProviders(<IngestStatusBanner />);
      await elapse(0);
      expect(server.requests()).toBe(1);

      Object.defineProperty(document, "visibilityState", { configurable: true, value: "hidden" });
      document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
      await elapse(10 * INGEST_POLL_DEGRADED_MS);
      expect(server.requests()).toBe(1);

      Object.defineProperty(document, "visibilityState", { configurable: true, value: "visible" });
      await act(async () => {
        document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
        await vi.advanceTimersByTimeAsync(0);
      });
      expect(server.requests()).toBe(2);
    });

    it("keeps the last banner when a poll fails, shows no error text, and keeps polling", async () => {
      const server = serveIngestStatus(ingestStatus("spooling"));
      renderWithProviders(<IngestStatusBanner />);
      await elapse(0);
      const text = screen.getByRole("status").textContent;
      expect(text).toContain("Ingest degraded");

      for (const failure of ["network-error", "http-503"] as const) {
        server.answer = failure;
        const before = server.requests();
        await elapse(INGEST_POLL_DEGRADED_MS);
        expect(server.requests()).toBe(before + 1);
        expect(screen.getByRole("status").textContent).toBe(text);
        expect(screen.queryByRole("alert")).not.toBeInTheDocument();
        expect(document.body).not.toHaveTextContent(/Failed to fetch|Service Unavailable/);
      }

      server.answer = ingestStatus("replaying");
      await elapse(INGEST_POLL_DEGRADED_MS);
      expect(screen.getByRole("status")).toHaveTextContent("Catching up — 9,100 records spooled, 104 MB; replaying the spool.");
    });
  });
});
