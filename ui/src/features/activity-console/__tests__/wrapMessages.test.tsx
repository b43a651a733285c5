import { act, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeEntry, renderWithProviders, resetStores } from "../../../test/utils";
import { ActivityConsolePanel } from "../ActivityConsolePanel";
import { ROW_HEIGHT } from "../constants";
import { useActivityConsoleStore as store } from "../stores/activityConsoleStore";

const WRAPPED = 3 * ROW_HEIGHT;
const original = Element.prototype.getBoundingClientRect;

const rowTopOf = (key: string) => {
  const el = document.querySelector<HTMLElement>(`[data-row-key="${key}"]`);
  const m = /translateY\(([\d.]+)px\)/.exec(el?.style.transform ?? "");
  return m ? Number(m[1]) : null;
};

describe("a panel that wraps messages (the right dock)", () => {
  beforeEach(() => {
    resetStores();
    // jsdom has no layout: a row whose message says "long" wraps onto three lines.
    Element.prototype.getBoundingClientRect = function (this: Element) {
      const rect = original.call(this);
      if (this.classList.contains("virtual-row") && this.textContent?.includes("long")) {
        return { ...rect, height: WRAPPED, bottom: rect.top + WRAPPED, toJSON: () => ({}) } as DOMRect;
      }
      return rect;
    };
  });
  afterEach(() => {
    Element.prototype.getBoundingClientRect = original;
  });

  it("measures collapsed rows, so a wrapped message pushes the rows below it down", () => {
    renderWithProviders(<ActivityConsolePanel wrapMessages />);
    act(() =>
      store.getState().appendEntries([
        makeEntry({ id: 1, message: "a long message ".repeat(20) }),
        makeEntry({ id: 2, message: "short" }),
      ]),
    );
    expect(screen.getByRole("region", { name: "Live activity console" })).toHaveClass("wrap-messages");
    expect(document.querySelector('[data-row-key="e1"]')).not.toHaveClass("is-fixed");
    expect(rowTopOf("e2")).toBe(WRAPPED);
  });

  it("keeps one-line rows fixed without it", () => {
    renderWithProviders(<ActivityConsolePanel />);
    act(() => store.getState().appendEntries([makeEntry({ id: 1, message: "a long message" }), makeEntry({ id: 2, message: "short" })]));
    expect(document.querySelector('[data-row-key="e1"]')).toHaveClass("is-fixed");
    expect(rowTopOf("e2")).toBe(ROW_HEIGHT);
  });
});
