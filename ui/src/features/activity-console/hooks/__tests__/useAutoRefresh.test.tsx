import { renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { useAutoRefresh } from "../useAutoRefresh";

let hidden = false;

function setHidden(value: boolean) {
  hidden = value;
  document.dispatchEvent(new Event("visibilitychange"));
}

describe("useAutoRefresh", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    hidden = false;
    vi.spyOn(document, "hidden", "get").mockImplementation(() => hidden);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it("refreshes every interval, and not at all when off", () => {
    const refresh = vi.fn();
    const { rerender } = renderHook(({ ms }) => useAutoRefresh(ms, false, refresh), { initialProps: { ms: 10_000 as number | null } });
    vi.advanceTimersByTime(9_999);
    expect(refresh).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(refresh).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(20_000);
    expect(refresh).toHaveBeenCalledTimes(3);
    rerender({ ms: null });
    vi.advanceTimersByTime(60_000);
    expect(refresh).toHaveBeenCalledTimes(3);
  });

  it("skips a tick while a refresh is in flight (requests never stack)", () => {
    const refresh = vi.fn();
    const { rerender } = renderHook(({ busy }) => useAutoRefresh(10_000, busy, refresh), { initialProps: { busy: true } });
    vi.advanceTimersByTime(30_000);
    expect(refresh).not.toHaveBeenCalled();
    rerender({ busy: false });
    vi.advanceTimersByTime(10_000);
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it("pauses while the tab is hidden and catches up once when it is shown", () => {
    const refresh = vi.fn();
    renderHook(() => useAutoRefresh(10_000, false, refresh));
    setHidden(true);
    vi.advanceTimersByTime(60_000);
    expect(refresh).not.toHaveBeenCalled();
    setHidden(false);
    expect(refresh).toHaveBeenCalledTimes(1);
    // Shown again without a missed tick: nothing extra.
    setHidden(true);
    setHidden(false);
    expect(refresh).toHaveBeenCalledTimes(1);
  });
});
