import { fireEvent, render } from "@testing-library/react";
import { useRef } from "react";
import { describe, expect, it, vi } from "vitest";
import { KEYBOARD_PANE_ATTRIBUTE, useConsoleKeyboard } from "../hooks/useConsoleKeyboard";
import type { ConsoleKeyHandlers } from "../hooks/useConsoleKeyboard";

function handlers(): Required<{ [K in keyof ConsoleKeyHandlers]: ReturnType<typeof vi.fn> }> {
  return {
    focusSearch: vi.fn(),
    togglePause: vi.fn(),
    jumpToLatest: vi.fn(),
    goToTop: vi.fn(),
    collapseAll: vi.fn(),
    moveSelection: vi.fn(),
    openSelected: vi.fn(() => true),
  };
}

function Pane({ name, h, isDefault }: { name: string; h: ConsoleKeyHandlers; isDefault: boolean }) {
  const ref = useRef<HTMLElement>(null);
  useConsoleKeyboard(h, true, { ref, isDefault });
  return (
    <section ref={ref} {...{ [KEYBOARD_PANE_ATTRIBUTE]: "" }}>
      <button type="button">{name} button</button>
      <button type="button" data-row-toggle>{name} row</button>
      <input aria-label={`${name} search`} />
    </section>
  );
}

function setup() {
  const live = handlers();
  const history = handlers();
  const view = render(
    <>
      <Pane name="live" h={live as unknown as ConsoleKeyHandlers} isDefault />
      <Pane name="history" h={history as unknown as ConsoleKeyHandlers} isDefault={false} />
    </>,
  );
  return { live, history, view };
}

describe("useConsoleKeyboard", () => {
  it("maps j/k, Enter/o, g/Home, G/End, / and Esc to the default pane when nothing has focus", () => {
    const { live, history } = setup();
    for (const key of ["j", "k", "o", "Enter", "g", "Home", "G", "End", "/", "Escape", "p"]) fireEvent.keyDown(window, { key });
    expect(live.moveSelection.mock.calls).toEqual([[1], [-1]]);
    expect(live.openSelected).toHaveBeenCalledTimes(2);
    expect(live.goToTop).toHaveBeenCalledTimes(2);
    expect(live.jumpToLatest).toHaveBeenCalledTimes(2);
    expect(live.focusSearch).toHaveBeenCalledTimes(1);
    expect(live.collapseAll).toHaveBeenCalledTimes(1);
    expect(live.togglePause).toHaveBeenCalledTimes(1);
    expect(history.moveSelection).not.toHaveBeenCalled();
    expect(history.collapseAll).not.toHaveBeenCalled();
  });

  it("sends keys to the pane holding the focus", () => {
    const { live, history, view } = setup();
    const row = view.getByText("history row");
    row.focus();
    fireEvent.keyDown(row, { key: "j" });
    fireEvent.keyDown(row, { key: "Enter" });
    expect(history.moveSelection).toHaveBeenCalledWith(1);
    expect(history.openSelected).toHaveBeenCalledTimes(1);
    expect(live.moveSelection).not.toHaveBeenCalled();
  });

  it("never fires while typing, except Esc", () => {
    const { live, view } = setup();
    const input = view.getByLabelText("live search");
    input.focus();
    for (const key of ["j", "k", "o", "g", "G", "/", "Enter"]) fireEvent.keyDown(input, { key });
    expect(live.moveSelection).not.toHaveBeenCalled();
    expect(live.openSelected).not.toHaveBeenCalled();
    expect(live.goToTop).not.toHaveBeenCalled();
    expect(live.focusSearch).not.toHaveBeenCalled();
    fireEvent.keyDown(input, { key: "Escape" });
    expect(live.collapseAll).toHaveBeenCalledTimes(1);
  });

  it("leaves Enter on an ordinary button alone, and keys with a modifier", () => {
    const { live, view } = setup();
    const button = view.getByText("live button");
    button.focus();
    fireEvent.keyDown(button, { key: "Enter" });
    fireEvent.keyDown(window, { key: "j", ctrlKey: true });
    expect(live.openSelected).not.toHaveBeenCalled();
    expect(live.moveSelection).not.toHaveBeenCalled();
  });
});
