import { useQuery } from "@tanstack/react-query";
import { apiJson } from "../../../lib/api";
import type { IngestStatus } from "../types";

/** How often the status is asked for while ingest is direct, and while it is not. */
export const INGEST_POLL_DIRECT_MS = 15_000;
export const INGEST_POLL_DEGRADED_MS = 3_000;

/**
 * `GET /api/v1/ingest/status`, polled: slowly while ingest is direct, quickly while it is not, so
 * that the end of an outage shows soon. Polling pauses while the tab is hidden (TanStack Query's
 * default for `refetchInterval`). A failed poll is not retried (the next poll is the retry) and
 * leaves `data` at the last answer: a server that is down is the live tail's reconnect UI's to show.
 */
export function useIngestStatus() {
  return useQuery({
    queryKey: ["ingest-status"],
    queryFn: ({ signal }) => apiJson<IngestStatus>("/ingest/status", { signal }),
    refetchInterval: (query) => ((query.state.data?.state ?? "direct") === "direct" ? INGEST_POLL_DIRECT_MS : INGEST_POLL_DEGRADED_MS),
    retry: false,
    // Back on the tab after polling paused: ask at once rather than at the next tick.
    refetchOnWindowFocus: true,
  });
}
