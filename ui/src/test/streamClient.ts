import { vi } from "vitest";
import { ActivityStreamClient } from "../features/activity-console/stream/ActivityStreamClient";
import type { StreamClientOptions } from "../features/activity-console/stream/ActivityStreamClient";
import type { ActivityLogEntry, StreamFilter } from "../features/activity-console/types";
import { MockWebSocket, asWebSocket, streamFilter } from "./utils";

/** A promise the test resolves or rejects when it chooses: a request "in flight". */
export function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A stream client on the mock socket whose animation frames the test runs (`runFrame`). Options
 * left undefined keep the defaults: the shared test filter, no-op callbacks, no jitter.
 */
export function streamClientForTest(options: Partial<StreamClientOptions> = {}) {
  const frames: (() => void)[] = [];
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  const client = new ActivityStreamClient({
    url: "ws://localhost/ws/activity-logs",
    getToken: () => "jwt-1",
    getFilter: () => streamFilter,
    onEvents: () => undefined,
    onStatus: () => undefined,
    WebSocketImpl: asWebSocket(MockWebSocket),
    random: () => 0,
    scheduleFlush: (flush) => {
      frames.push(flush);
      return () => undefined;
    },
    ...given,
  });
  const runFrame = () => frames.splice(0).forEach((f) => f());
  return { client, frames, runFrame };
}

/** `loadRecent` whose pages the test answers: each request adds a `deferred` to `pages`. */
export function recentPagesForTest() {
  const pages: ReturnType<typeof deferred<ActivityLogEntry[]>>[] = [];
  const loadRecent = vi.fn((_filter: StreamFilter, _signal: AbortSignal) => {
    const page = deferred<ActivityLogEntry[]>();
    pages.push(page);
    return page.promise;
  });
  return { pages, loadRecent };
}
