import { useEffect, useRef } from "react";

interface ConsoleKeyHandlers {
  focusSearch: () => void;
  togglePause: () => void;
  jumpToLatest: () => void;
  collapseAll: () => void;
}

const isTyping = (target: EventTarget | null) => {
  const el = target as HTMLElement | null;
  if (!el) return false;
  const tag = el.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
};

/** `/` search, `p` pause/resume, `End` jump to latest, `Esc` collapse rows; ignored while typing. */
export function useConsoleKeyboard(handlers: ConsoleKeyHandlers, enabled = true): void {
  const ref = useRef(handlers);
  ref.current = handlers;
  useEffect(() => {
    if (!enabled) return undefined;
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "Escape") {
        ref.current.collapseAll();
        return;
      }
      if (isTyping(e.target)) return;
      if (e.key === "/") {
        e.preventDefault();
        ref.current.focusSearch();
      } else if (e.key === "p" || e.key === "P") {
        e.preventDefault();
        ref.current.togglePause();
      } else if (e.key === "End") {
        e.preventDefault();
        ref.current.jumpToLatest();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [enabled]);
}
