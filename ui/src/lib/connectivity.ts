import { create } from "zustand";

/**
 * Whether the server answers. Set from two sides: a request that got no HTTP answer at all (or a
 * proxy's 502/504) or a live-tail socket lost without a close frame marks it unreachable; any HTTP
 * answer or a live-tail subscription in force marks it reachable again. The app shell's banner shows
 * the outage, probes the server while it lasts, and refetches what failed once it ends.
 */
interface ConnectivityState {
  serverReachable: boolean;
  /** When the outage was first noticed (ms since the epoch), null while reachable. */
  unreachableSince: number | null;
  /** Incremented by "Retry now": whoever waits out a backoff (probe, live tail) tries at once. */
  retryRequests: number;
  markUnreachable: () => void;
  markReachable: () => void;
  requestRetry: () => void;
}

export const useConnectivityStore = create<ConnectivityState>()((set) => ({
  serverReachable: true,
  unreachableSince: null,
  retryRequests: 0,
  // Called on every response: returning the state itself (not `{}`) notifies no subscriber.
  markUnreachable: () =>
    set((s) => (s.serverReachable ? { serverReachable: false, unreachableSince: Date.now() } : s)),
  markReachable: () => set((s) => (s.serverReachable ? s : { serverReachable: true, unreachableSince: null })),
  requestRetry: () => set((s) => ({ retryRequests: s.retryRequests + 1 })),
}));
