import type { ActivityLogLevel, ActivityLogSource } from "./types";

export const LEVEL_LABELS: Record<ActivityLogLevel, string> = {
  debug: "DEBUG",
  info: "INFO",
  warn: "WARN",
  error: "ERROR",
};

export const LEVEL_TITLES: Record<ActivityLogLevel, string> = {
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  error: "Error",
};

export const SOURCE_LABELS: Record<ActivityLogSource, string> = {
  api: "API",
  comfyui: "ComfyUI",
  worker: "Worker",
  agent: "Agent",
  pipeline: "Pipeline",
};

/** Client ring buffer bounds: the size a user picks (or a persisted one) is clamped to them so memory stays bounded. */
export const DEFAULT_MAX_ENTRIES = 10_000;
export const MIN_MAX_ENTRIES = 1_000;
export const MAX_MAX_ENTRIES = 100_000;

/**
 * Reconnect backoff while the server cannot be reached: 250 ms, 500 ms, then every second, so the
 * tail is back within a second of the server's return (a refused connection costs the server nothing).
 */
export const RECONNECT_BASE_MS = 250;
export const RECONNECT_MAX_MS = 1_000;
/** A close the server chose (1008: bad token, too many tails) will not fix itself: back off to 30 s. */
export const RECONNECT_REFUSED_MAX_MS = 30_000;
/** WebSocket close code of a policy refusal. */
export const CLOSE_POLICY_VIOLATION = 1008;

/** How many recent entries the console shows on open and on reload, before the live tail continues. */
export const RECENT_ENTRIES_ON_OPEN = 200;

/** Filter edits are sent to the server after the user stops typing for this long. */
export const FILTER_DEBOUNCE_MS = 300;

/** Height of one collapsed console row; the virtualizer's estimate and the scroll-anchor unit. */
export const ROW_HEIGHT = 22;

/** How close to the bottom (px) still counts as "at the tail". */
export const TAIL_THRESHOLD_PX = 8;

/**
 * The live tail places entries by timestamp: an entry up to this much older than the newest one shown
 * is simply inserted in time order; an older one is still inserted in place, but marked late.
 */
export const REORDER_WINDOW_MS = 2000;
