import { useEffect, useState } from "react";

/** Below this window width the sidebar starts collapsed (icons only), unless the user expanded it. */
export const SIDEBAR_AUTO_COLLAPSE_BELOW = 1100;
const SIDEBAR_KEY = "activity-console:sidebar";

/** What the user chose with the toggle; `null` until they use it (then the width decides). */
export type SidebarChoice = "collapsed" | "expanded" | null;

export function isSidebarCollapsed(choice: SidebarChoice, windowWidth: number): boolean {
  if (choice) return choice === "collapsed";
  return windowWidth < SIDEBAR_AUTO_COLLAPSE_BELOW;
}

function readChoice(): SidebarChoice {
  try {
    const saved = localStorage.getItem(SIDEBAR_KEY);
    return saved === "collapsed" || saved === "expanded" ? saved : null;
  } catch {
    return null;
  }
}

/** Whether the sidebar is collapsed now, and the toggle that remembers the user's choice. */
export function useSidebarCollapsed(): [boolean, () => void] {
  const [choice, setChoice] = useState<SidebarChoice>(readChoice);
  const [width, setWidth] = useState(() => window.innerWidth);
  useEffect(() => {
    const onResize = () => setWidth(window.innerWidth);
    window.addEventListener("resize", onResize);
    return () => window.removeEventListener("resize", onResize);
  }, []);
  const collapsed = isSidebarCollapsed(choice, width);
  const toggle = () => {
    const next = collapsed ? "expanded" : "collapsed";
    setChoice(next);
    try {
      localStorage.setItem(SIDEBAR_KEY, next);
    } catch {
      // Storage full or disabled: the choice lasts for this page only.
    }
  };
  return [collapsed, toggle];
}
