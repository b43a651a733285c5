import { useEffect, useRef } from "react";
import { useAuthStore } from "../../../lib/authStore";
import { useConnectivityStore } from "../../../lib/connectivity";
import { RECENT_ENTRIES_ON_OPEN } from "../constants";
import { fetchRecentEntries } from "./useActivityLogHistory";
import { ActivityStreamClient } from "../stream/ActivityStreamClient";
import type { StreamEvent } from "../stream/ActivityStreamClient";
import { selectStreamFilter, streamFilterToQuery, useActivityConsoleStore } from "../stores/activityConsoleStore";
import type { ConnectionStatus } from "../types";

function streamUrl(loc: Pick<Location, "protocol" | "host"> = window.location): string {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws/activity-logs`;
}

/** Applies one frame's worth of stream events to the store. */
export function applyStreamEvents(events: StreamEvent[]): void {
  const store = useActivityConsoleStore.getState();
  for (const event of events) {
    if (event.kind === "entries") store.appendEntries(event.entries);
    else if (event.kind === "recent") store.prependEntries(event.entries);
    else if (event.kind === "reset") store.clearEntries();
    else store.markLagged(event.skipped);
  }
}

interface UseActivityLogStreamOptions {
  enabled?: boolean;
  WebSocketImpl?: typeof WebSocket;
  onServerError?: (message: string) => void;
}

/**
 * Keeps one live-tail connection open while `enabled` and signed in, subscribed with the store's
 * filters; mount it once (the app shell) so the docked panel and the full page share it.
 */
export function useActivityLogStream(options: UseActivityLogStreamOptions = {}): {
  status: ConnectionStatus;
  skipped: number;
} {
  const { enabled = true, WebSocketImpl } = options;
  const token = useAuthStore((s) => s.token);
  const status = useActivityConsoleStore((s) => s.connectionStatus);
  const skipped = useActivityConsoleStore((s) => s.skippedTotal);
  const onServerErrorRef = useRef(options.onServerError);
  onServerErrorRef.current = options.onServerError;

  useEffect(() => {
    if (!enabled || !token) return undefined;
    const store = useActivityConsoleStore;
    const client = new ActivityStreamClient({
      url: streamUrl(),
      getToken: () => useAuthStore.getState().token,
      getFilter: () => selectStreamFilter(store.getState()),
      onEvents: applyStreamEvents,
      onStatus: (s) => {
        store.getState().setConnectionStatus(s);
        if (s === "connected") useConnectivityStore.getState().markReachable();
      },
      onConnectionLost: () => useConnectivityStore.getState().markUnreachable(),
      loadRecent: (filter, signal) => fetchRecentEntries(streamFilterToQuery(filter), RECENT_ENTRIES_ON_OPEN, signal),
      onServerError: (m) => onServerErrorRef.current?.(m),
      onQueryRefused: (refusal) => store.getState().setQueryError(refusal),
      onQueryInForce: (q) => {
        if (store.getState().queryInForce !== q) store.getState().setQueryInForce(q);
      },
      maxPending: store.getState().maxEntries,
      ...(WebSocketImpl ? { WebSocketImpl } : {}),
    });
    client.start();
    const unsubscribe = store.subscribe((next, prev) => {
      if (
        next.levels !== prev.levels ||
        next.sources !== prev.sources ||
        next.mode !== prev.mode ||
        next.searchText !== prev.searchText ||
        next.entityFilter !== prev.entityFilter ||
        next.queryText !== prev.queryText
      ) {
        client.filterChanged();
      }
    });
    // "Retry now", or the server answering a request again: reconnect without waiting out the backoff.
    const unsubscribeConnectivity = useConnectivityStore.subscribe((next, prev) => {
      if (next.retryRequests !== prev.retryRequests || (next.serverReachable && !prev.serverReachable)) client.retryNow();
    });
    return () => {
      unsubscribe();
      unsubscribeConnectivity();
      client.stop();
    };
  }, [enabled, token, WebSocketImpl]);

  return { status, skipped };
}
