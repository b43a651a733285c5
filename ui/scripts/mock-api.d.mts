// Types of mock-api.mjs for src/api/__tests__/mock-api.test.ts (written without Node's types,
// which the UI's tsconfig leaves out).
import type { components } from "../src/api/schema";

/** The mock's node:http Server, as far as a test uses it. */
export interface MockApiServer {
  readonly listening: boolean;
  address(): { address: string; family: string; port: number } | string | null;
  once(event: "listening" | "error", listener: (...args: unknown[]) => void): this;
  /** Also ends the live-tail (WebSocket) connections. */
  close(callback?: (error?: Error) => void): this;
}

/**
 * Starts the mock API on 127.0.0.1:`port` (0: a free port) with entries, settings and tokens of its own.
 * `rate`: entries per second on the live tail (default $MOCK_RATE, else 25); `ingest`: the state
 * GET /api/v1/ingest/status reports (default $MOCK_INGEST, else "direct").
 */
export function startMockApi(
  port?: number,
  options?: { rate?: number; ingest?: components["schemas"]["IngestStatus"]["state"] },
): MockApiServer;
