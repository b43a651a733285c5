import { useEffect, useRef } from "react";
import type { RefObject } from "react";
import { isTypingTarget } from "../shortcuts";

export interface ConsoleKeyHandlers {
  focusSearch: () => void;
  togglePause?: () => void;
  /** `G` / `End`. */
  jumpToLatest: () => void;
  /** `g` / `Home`. */
  goToTop?: () => void;
  /** `Esc`: close the open details. */
  collapseAll: () => void;
  /** `j` (+1) / `k` (-1). */
  moveSelection?: (step: 1 | -1) => void;
  /** `Enter` / `o`. */
  openSelected?: () => boolean;
}

/** Marks a pane that takes the console's keys (the live panel, the history table). */
export const KEYBOARD_PANE_ATTRIBUTE = "data-keyboard-pane";

/**
 * Whether this pane takes a key press: the pane holding the focus does; with the focus in no pane
 * (on the page itself) the default pane does. Two panes on one page never both act on one key.
 */
function ownsKeys(pane: HTMLElement | null | undefined, isDefault: boolean): boolean {
  const focused = document.activeElement;
  const focusedPane = focused instanceof Element ? focused.closest(`[${KEYBOARD_PANE_ATTRIBUTE}]`) : null;
  if (focusedPane) return focusedPane === pane;
  return isDefault;
}

/**
 * `/` search, `j`/`k` select, `Enter`/`o` open, `Esc` close, `g`/`Home` top, `G`/`End` latest,
 * `p` pause/resume; ignored while typing (except `Esc`). `pane` scopes the keys when several panes
 * share a page (see `ownsKeys`); without it the handlers act on every key.
 */
export function useConsoleKeyboard(
  handlers: ConsoleKeyHandlers,
  enabled = true,
  pane?: { ref: RefObject<HTMLElement | null>; isDefault: boolean },
): void {
  const ref = useRef(handlers);
  ref.current = handlers;
  const paneRef = useRef(pane);
  paneRef.current = pane;
  useEffect(() => {
    if (!enabled) return undefined;
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
      const scope = paneRef.current;
      if (scope && !ownsKeys(scope.ref.current, scope.isDefault)) return;
      const h = ref.current;
      if (e.key === "Escape") {
        h.collapseAll();
        return;
      }
      if (isTypingTarget(e.target)) return;
      let handled = true;
      switch (e.key) {
        case "/":
          h.focusSearch();
          break;
        case "p":
        case "P":
          if (h.togglePause) h.togglePause();
          else handled = false;
          break;
        case "End":
        case "G":
          h.jumpToLatest();
          break;
        case "Home":
        case "g":
          if (h.goToTop) h.goToTop();
          else handled = false;
          break;
        case "j":
        case "k":
          if (h.moveSelection) h.moveSelection(e.key === "j" ? 1 : -1);
          else handled = false;
          break;
        case "Enter":
        case "o":
          // Enter on a focused button or link keeps its own meaning, except on a row's own toggle,
          // where it acts on the selection (which j/k may have moved away from the focused row).
          if (e.key === "Enter" && e.target instanceof Element && e.target.closest("button, a, summary") && !e.target.closest("[data-row-toggle]")) handled = false;
          else handled = h.openSelected?.() ?? false;
          break;
        default:
          handled = false;
      }
      if (handled) e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [enabled]);
}
