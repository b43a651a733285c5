import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Histogram } from "../../types";
import { VolumeHistogram, selectedRange } from "../VolumeHistogram";

const counts = (debug: number, info: number, warn: number, error: number) => ({ debug, info, warn, error });

const HISTOGRAM: Histogram = {
  data: [
    { start: "2026-11-28T14:00:00.000000Z", end: "2026-11-28T14:20:00.000000Z", total: 3, counts: counts(0, 2, 0, 1) },
    { start: "2026-11-28T14:20:00.000000Z", end: "2026-11-28T14:40:00.000000Z", total: 0, counts: counts(0, 0, 0, 0) },
    { start: "2026-11-28T14:40:00.000000Z", end: "2026-11-28T15:00:00.000000Z", total: 5, counts: counts(1, 0, 4, 0) },
  ],
  meta: { from: "2026-11-28T14:00:00.000000Z", to: "2026-11-28T15:00:00.000000Z", buckets: 3, bucket_seconds: 1200 },
};

const hits = () => screen.getAllByRole("button", { name: /zoom to this interval/ });

describe("VolumeHistogram", () => {
  it("shows a skeleton while loading, distinct from an empty range and from an error", () => {
    const { rerender } = render(<VolumeHistogram loading />);
    expect(screen.getByRole("status", { name: "Loading the volume histogram" })).toHaveAttribute("aria-busy", "true");
    expect(screen.queryByText("No entries in this range.")).toBeNull();

    rerender(<VolumeHistogram histogram={{ ...HISTOGRAM, data: HISTOGRAM.data.map((b) => ({ ...b, total: 0, counts: counts(0, 0, 0, 0) })) }} />);
    expect(screen.getByText("No entries in this range.")).toBeInTheDocument();
    expect(screen.queryByRole("status")).toBeNull();

    rerender(<VolumeHistogram histogram={HISTOGRAM} error="Failed to fetch" />);
    expect(screen.getByText("The volume histogram could not be loaded: Failed to fetch")).toBeInTheDocument();
    expect(screen.queryByRole("figure")).toBeNull();
    expect(screen.queryByText("No entries in this range.")).toBeNull();
  });

  it("stacks bars by level, with a legend of totals and a labelled time axis", () => {
    const { container } = render(<VolumeHistogram histogram={HISTOGRAM} onSelectRange={() => undefined} />);
    expect(screen.getByRole("figure", { name: "Volume histogram: 8 entries in 3 buckets" })).toBeInTheDocument();
    expect(container.querySelectorAll("rect.bar-info")).toHaveLength(1);
    expect(container.querySelectorAll("rect.bar-warn")).toHaveLength(1);
    expect(container.querySelectorAll("rect")).toHaveLength(4);
    const legend = screen.getByRole("list", { name: "Histogram legend" });
    expect(within(legend).getByText("Warn").parentElement).toHaveTextContent("Warn 4");
    expect(within(legend).getByText("Info").parentElement).toHaveTextContent("Info 2");
    const axis = within(screen.getByRole("list", { name: "Time axis" })).getAllByRole("listitem");
    expect(axis.length).toBeGreaterThanOrEqual(3);
    for (const tick of axis) expect(tick.textContent).toMatch(/^\d{2}:\d{2}$|[A-Za-z]/);
  });

  it("shows a tooltip with the bucket's start, end and per-level counts on hover", () => {
    render(<VolumeHistogram histogram={HISTOGRAM} onSelectRange={() => undefined} />);
    expect(screen.queryByRole("tooltip")).toBeNull();
    fireEvent.pointerMove(hits()[2]!);
    const tip = screen.getByRole("tooltip");
    expect(tip).toHaveTextContent("5 entries");
    expect(tip).toHaveTextContent("Warn: 4");
    expect(tip).toHaveTextContent("Debug: 1");
    expect(tip).not.toHaveTextContent("Info");
    expect(tip.textContent).toContain("–");
    fireEvent.pointerLeave(screen.getByRole("figure"));
    expect(screen.queryByRole("tooltip")).toBeNull();
  });

  it("zooms to one bucket on click and to the buckets dragged across", () => {
    const onSelectRange = vi.fn();
    render(<VolumeHistogram histogram={HISTOGRAM} onSelectRange={onSelectRange} />);
    fireEvent.pointerDown(hits()[1]!, { button: 0 });
    fireEvent.pointerUp(hits()[1]!);
    expect(onSelectRange).toHaveBeenLastCalledWith("2026-11-28T14:20:00.000000Z", "2026-11-28T14:40:00.000000Z");

    // Right to left: the range is still start-of-first to end-of-last.
    fireEvent.pointerDown(hits()[2]!, { button: 0 });
    fireEvent.pointerMove(hits()[0]!);
    expect(screen.getByTestId("histogram-selection")).toBeInTheDocument();
    fireEvent.pointerUp(hits()[0]!);
    expect(onSelectRange).toHaveBeenLastCalledWith("2026-11-28T14:00:00.000000Z", "2026-11-28T15:00:00.000000Z");
    expect(screen.queryByTestId("histogram-selection")).toBeNull();
    expect(onSelectRange).toHaveBeenCalledTimes(2);

    // The keyboard's click (detail 0) zooms too; a pointer's click does not zoom twice.
    fireEvent.click(hits()[0]!, { detail: 0 });
    expect(onSelectRange).toHaveBeenLastCalledWith("2026-11-28T14:00:00.000000Z", "2026-11-28T14:20:00.000000Z");
    fireEvent.click(hits()[0]!, { detail: 1 });
    expect(onSelectRange).toHaveBeenCalledTimes(3);
  });

  it("selects from the first bucket's start to the last one's end", () => {
    expect(selectedRange(HISTOGRAM.data, 2, 1)).toEqual({ from: "2026-11-28T14:20:00.000000Z", to: "2026-11-28T15:00:00.000000Z" });
  });
});
