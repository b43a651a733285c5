import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach, beforeEach } from "vitest";

declare const process: { env: Record<string, string | undefined> };
// Rows print local wall-clock time; pin the zone so expectations are the same on every machine.
process.env.TZ = "UTC";

// jsdom has no layout. Give elements a viewport size so the virtualizer renders rows,
// and stub the APIs it and the panel call.
for (const [prop, value] of [
  ["offsetHeight", 400],
  ["offsetWidth", 800],
  ["clientHeight", 400],
  ["clientWidth", 800],
] as const) {
  Object.defineProperty(HTMLElement.prototype, prop, { configurable: true, get: () => value });
}
class ResizeObserverStub {
  observe() {}
  unobserve() {}
  disconnect() {}
}
(globalThis as unknown as { ResizeObserver: unknown }).ResizeObserver ??= ResizeObserverStub;
Element.prototype.scrollTo ??= function scrollTo(this: Element, arg?: ScrollToOptions | number, y?: number) {
  const top = typeof arg === "number" ? y : arg?.top;
  if (typeof top === "number") this.scrollTop = top;
};

beforeEach(() => {
  localStorage.clear();
  sessionStorage.clear();
});

afterEach(() => {
  cleanup();
});
