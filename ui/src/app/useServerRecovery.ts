import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { reconnectDelay } from "../features/activity-console/stream/ActivityStreamClient";
import type { IngestStatus } from "../features/activity-console/types";
import { apiJson } from "../lib/api";
import { useConnectivityStore } from "../lib/connectivity";

/**
 * While the server is unreachable, asks `GET /api/v1/ingest/status` (public, and it answers while
 * PostgreSQL is away) with the live tail's capped backoff, and at once on `online`, on the tab
 * becoming visible and on "Retry now". An answer marks the server reachable (in `apiFetch`), and
 * that transition refetches every active query (history, histogram, settings), which failed or
 * went stale during the outage. Mount once, in the app shell.
 */
export function useServerRecovery(): void {
  const queryClient = useQueryClient();
  const reachable = useConnectivityStore((s) => s.serverReachable);
  const retryRequests = useConnectivityStore((s) => s.retryRequests);
  const wasReachable = useRef(reachable);

  useEffect(() => {
    if (reachable && !wasReachable.current) void queryClient.invalidateQueries();
    wasReachable.current = reachable;
  }, [reachable, queryClient]);

  useEffect(() => {
    if (reachable) return undefined;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let inFlight: AbortController | null = null;
    let stopped = false;
    const probe = () => {
      if (timer) clearTimeout(timer);
      timer = null;
      if (stopped || inFlight) return;
      const controller = new AbortController();
      inFlight = controller;
      apiJson<IngestStatus>("/ingest/status", { signal: controller.signal })
        .then((status) => queryClient.setQueryData(["ingest-status"], status))
        .catch(() => undefined) // unreachable still: the next try is scheduled below
        .finally(() => {
          if (inFlight === controller) inFlight = null;
          if (!stopped && !useConnectivityStore.getState().serverReachable) {
            timer = setTimeout(probe, reconnectDelay(attempt++, false, Math.random()));
          }
        });
    };
    const wake = () => {
      if (document.visibilityState === "hidden") return;
      attempt = 0;
      probe();
    };
    window.addEventListener("online", wake);
    document.addEventListener("visibilitychange", wake);
    // At once: on the outage's start (one request, to confirm it) and on "Retry now".
    probe();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      inFlight?.abort();
      window.removeEventListener("online", wake);
      document.removeEventListener("visibilitychange", wake);
    };
    // retryRequests: "Retry now" restarts the loop, whose first probe is immediate.
  }, [reachable, retryRequests, queryClient]);
}
