import { act, screen, waitFor } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { currentLocation, renderWithProviders, resetStores } from "../../../test/utils";
import { useSearchParams } from "react-router-dom";
import { usePaneSync } from "../hooks/usePaneSync";
import { useActivityConsoleStore as store } from "../stores/activityConsoleStore";

function Probe() {
  const { sync, setSync } = usePaneSync();
  const [params, setParams] = useSearchParams();
  // As history writes its query: its own parameter, the others kept.
  const historyQuery = (q: string) => {
    const next = new URLSearchParams(params);
    next.set("q", q);
    setParams(next);
  };
  return (
    <>
      <button type="button" aria-pressed={sync} onClick={() => setSync(!sync)}>
        Sync
      </button>
      <button type="button" onClick={() => historyQuery("from:history")}>
        History query
      </button>
      <button type="button" onClick={() => historyQuery("second")}>
        Second history query
      </button>
    </>
  );
}

const params = () => new URLSearchParams(currentLocation().split("?")[1] ?? "");

describe("usePaneSync", () => {
  beforeEach(() => resetStores());

  it("opens the live pane on the URL's live_ filters, and history follows under Sync", async () => {
    renderWithProviders(<Probe />, { route: "/?live_q=gpu%3A1&live_level=warn,error&q=old" });
    expect(store.getState().queryText).toBe("gpu:1");
    expect([...store.getState().levels]).toEqual(["warn", "error"]);
    await waitFor(() => expect(params().get("q")).toBe("gpu:1"));
    expect(params().get("level")).toBe("warn,error");
  });

  it("under Sync, a live change reaches history and a history change reaches the live pane", async () => {
    renderWithProviders(<Probe />, { route: "/?q=service%3Aapi" });
    // No live_ parameter: the live pane takes history's query.
    expect(store.getState().queryText).toBe("service:api");
    act(() => store.getState().setQueryText("gpu:2"));
    await waitFor(() => expect(params().get("live_q")).toBe("gpu:2"));
    expect(params().get("q")).toBe("gpu:2");
    act(() => screen.getByRole("button", { name: "History query" }).click());
    await waitFor(() => expect(store.getState().queryText).toBe("from:history"));
    await waitFor(() => expect(params().get("live_q")).toBe("from:history"));
  });

  it("with Sync off, the panes keep their own filters, and sync=off is in the URL", async () => {
    renderWithProviders(<Probe />, { route: "/?q=service%3Aapi" });
    act(() => screen.getByRole("button", { name: "Sync" }).click());
    await waitFor(() => expect(params().get("sync")).toBe("off"));
    expect(screen.getByRole("button", { name: "Sync" })).toHaveAttribute("aria-pressed", "false");
    act(() => store.getState().setQueryText("gpu:3"));
    await waitFor(() => expect(params().get("live_q")).toBe("gpu:3"));
    expect(params().get("q")).toBe("service:api");
    act(() => screen.getByRole("button", { name: "History query" }).click());
    await waitFor(() => expect(params().get("q")).toBe("from:history"));
    expect(store.getState().queryText).toBe("gpu:3");
    // On again: history takes the live pane's query.
    act(() => screen.getByRole("button", { name: "Sync" }).click());
    await waitFor(() => expect(params().get("q")).toBe("gpu:3"));
    expect(params().has("sync")).toBe(false);
  });

  it("turned off right after a live change, still carries that change to history first", async () => {
    renderWithProviders(<Probe />, { route: "/?q=service%3Aapi" });
    act(() => store.getState().setQueryText("gpu:4"));
    act(() => screen.getByRole("button", { name: "Sync" }).click());
    await waitFor(() => expect(params().get("sync")).toBe("off"));
    expect(params().get("q")).toBe("gpu:4");
    expect(params().get("live_q")).toBe("gpu:4");
  });

  it("does not take back its own write: a live change made before the router renders it stays", () => {
    vi.useFakeTimers();
    try {
      renderWithProviders(<Probe />, { route: "/" });
      act(() => store.getState().setSearchText("abc"));
      act(() => {
        vi.advanceTimersByTime(300); // search=abc written to the URL for both panes…
        store.getState().setSearchText(""); // …and cleared in the live pane before the router renders it
      });
      expect(store.getState().searchText).toBe("");
      act(() => vi.advanceTimersByTime(300));
      expect(params().has("search")).toBe(false);
      expect(params().has("live_search")).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a pending live write does not take back a history query the router has yet to render", () => {
    vi.useFakeTimers();
    try {
      renderWithProviders(<Probe />, { route: "/?q=service%3Aapi" });
      // History's query reaches the live pane, whose write to the URL waits for its pause.
      act(() => screen.getByRole("button", { name: "History query" }).click());
      expect(store.getState().queryText).toBe("from:history");
      act(() => {
        screen.getByRole("button", { name: "Second history query" }).click(); // pushed…
        vi.advanceTimersByTime(300); // …and the live write comes before the router renders it
      });
      act(() => vi.advanceTimersByTime(300));
      expect(params().get("q")).toBe("second");
      expect(store.getState().queryText).toBe("second");
      act(() => vi.advanceTimersByTime(300));
      expect(params().get("live_q")).toBe("second");
    } finally {
      vi.useRealTimers();
    }
  });

  it("reopens with sync=off as two independent panes", async () => {
    renderWithProviders(<Probe />, { route: "/?q=a&live_q=b&sync=off" });
    expect(store.getState().queryText).toBe("b");
    await waitFor(() => expect(params().get("live_q")).toBe("b"));
    expect(params().get("q")).toBe("a");
  });
});
