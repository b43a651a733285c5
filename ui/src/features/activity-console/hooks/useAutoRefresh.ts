import { useEffect, useRef } from "react";

/**
 * Calls `refresh` every `intervalMs` (off when null). A tick is skipped while a refresh is still
 * in flight (`busy`), so slow answers never stack requests, and while the tab is hidden; a tick
 * missed while hidden is made up as soon as the tab is visible again.
 */
export function useAutoRefresh(intervalMs: number | null, busy: boolean, refresh: () => void): void {
  const busyRef = useRef(busy);
  busyRef.current = busy;
  const refreshRef = useRef(refresh);
  refreshRef.current = refresh;

  useEffect(() => {
    if (!intervalMs) return undefined;
    let missedWhileHidden = false;
    const tick = () => {
      if (document.hidden) {
        missedWhileHidden = true;
        return;
      }
      if (busyRef.current) return;
      refreshRef.current();
    };
    const onVisibility = () => {
      if (!document.hidden && missedWhileHidden) {
        missedWhileHidden = false;
        if (!busyRef.current) refreshRef.current();
      }
    };
    const timer = setInterval(tick, intervalMs);
    document.addEventListener("visibilitychange", onVisibility);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [intervalMs]);
}
