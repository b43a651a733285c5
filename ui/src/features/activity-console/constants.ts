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

/** Reconnect backoff: 1 s, 2 s, 4 s … capped at 30 s. */
export const RECONNECT_BASE_MS = 1_000;
export const RECONNECT_MAX_MS = 30_000;

/** Filter edits are sent to the server after the user stops typing for this long. */
export const FILTER_DEBOUNCE_MS = 300;

/** Height of one collapsed console row; the virtualizer's estimate and the scroll-anchor unit. */
export const ROW_HEIGHT = 22;

/** How close to the bottom (px) still counts as "at the tail". */
export const TAIL_THRESHOLD_PX = 8;
