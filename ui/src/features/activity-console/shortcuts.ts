/** Every keyboard shortcut, as the `?` sheet lists them (useConsoleKeyboard and AppShell implement them). */
export interface Shortcut {
  keys: string[];
  does: string;
}

export const SHORTCUTS: readonly Shortcut[] = [
  { keys: ["?"], does: "Show this list of shortcuts" },
  { keys: ["j"], does: "Select the next entry (down)" },
  { keys: ["k"], does: "Select the previous entry (up)" },
  { keys: ["Enter", "o"], does: "Open or close the selected entry's details" },
  { keys: ["Esc"], does: "Close the open details (or this dialog)" },
  { keys: ["/"], does: "Focus the search box" },
  { keys: ["g", "Home"], does: "Go to the top (the oldest entry shown)" },
  { keys: ["G", "End"], does: "Go to the latest entry (live: follow the tail again)" },
  { keys: ["p"], does: "Pause or resume following the live tail" },
];

/** Whether a key press comes from somewhere the user types (shortcuts never fire there). */
export function isTypingTarget(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || typeof el.tagName !== "string") return false;
  const tag = el.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
}
