import { FILTER_DEBOUNCE_MS, RECONNECT_BASE_MS, RECONNECT_MAX_MS } from "../constants";
import type {
  ActivityLogEntry,
  ClientMessage,
  ConnectionStatus,
  EntriesMessage,
  LaggedMessage,
  ServerMessage,
  StreamFilter,
} from "../types";

/** What the client hands to the store, in arrival order, once per animation frame. */
export type StreamEvent =
  | { kind: "entries"; entries: EntriesMessage["entries"] }
  | { kind: "lagged"; skipped: LaggedMessage["skipped"] };

interface StreamClientOptions {
  url: string;
  getToken: () => string | null;
  getFilter: () => StreamFilter;
  onEvents: (events: StreamEvent[]) => void;
  onStatus: (status: ConnectionStatus) => void;
  onServerError?: (message: string) => void;
  /** Upper bound on entries held between two frames (a hidden tab gets no frames). */
  maxPending?: number;
  WebSocketImpl?: typeof WebSocket;
  scheduleFlush?: (flush: () => void) => () => void;
}

/** Backoff before reconnect attempt `attempt` (0-based): 1 s, 2 s, 4 s … 30 s. */
export function reconnectDelay(attempt: number): number {
  return Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.max(0, attempt));
}

/**
 * Per animation frame while the page is visible; on a timer when hidden, because browsers stop
 * animation frames in background tabs and the pending queue must still drain.
 */
function scheduleOnFrame(flush: () => void): () => void {
  if (typeof document !== "undefined" && document.hidden) {
    const t = setTimeout(flush, 500);
    return () => clearTimeout(t);
  }
  const id = requestAnimationFrame(() => flush());
  return () => cancelAnimationFrame(id);
}

/**
 * The live-tail connection: auth, subscribe, debounced filter updates, reconnect with backoff and
 * gapless resume (after_id = last id seen). Kept out of React so it can be tested with a mock socket
 * and so that incoming messages never cause a render by themselves: they are queued and handed over
 * in one batch per frame.
 */
export class ActivityStreamClient {
  private readonly opts: StreamClientOptions;
  private socket: WebSocket | null = null;
  private stopped = true;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private filterTimer: ReturnType<typeof setTimeout> | null = null;
  private cancelFlush: (() => void) | null = null;
  private pending: StreamEvent[] = [];
  private pendingCount = 0;
  private subscribed = false;
  /** Highest entry id received: the resume cursor. */
  lastSeenId: number | null = null;
  /** Entries at or below this id were already delivered before the reconnect (seam de-duplication). */
  private resumeFloor: number | null = null;
  status: ConnectionStatus = "idle";

  constructor(options: StreamClientOptions) {
    this.opts = options;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.filterTimer) clearTimeout(this.filterTimer);
    this.reconnectTimer = this.filterTimer = null;
    this.flush();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      if (socket.readyState === socket.CONNECTING || socket.readyState === socket.OPEN) socket.close(1000, "client closed");
    }
    this.setStatus("idle");
  }

  /** Filters changed: tell the server once the user stops changing them. */
  filterChanged(): void {
    if (this.filterTimer) clearTimeout(this.filterTimer);
    this.filterTimer = setTimeout(() => {
      this.filterTimer = null;
      if (this.subscribed) this.send({ action: "update_filter", ...this.opts.getFilter() });
    }, FILTER_DEBOUNCE_MS);
  }

  private connect(): void {
    this.reconnectTimer = null;
    this.subscribed = false;
    this.setStatus("connecting");
    const Impl = this.opts.WebSocketImpl ?? WebSocket;
    let socket: WebSocket;
    try {
      socket = new Impl(this.opts.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      const token = this.opts.getToken();
      // The token goes in the first message, never in the URL (URLs end up in access logs).
      this.send({ action: "auth", token: token ?? "" });
      this.resumeFloor = this.lastSeenId;
      this.send({
        action: "subscribe",
        ...this.opts.getFilter(),
        ...(this.lastSeenId != null ? { after_id: this.lastSeenId } : {}),
      });
    };
    socket.onmessage = (event: MessageEvent) => this.handleMessage(event.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.subscribed = false;
      this.setStatus("disconnected");
      this.scheduleReconnect();
    };
    // Every error is followed by a close event; reconnecting is handled there.
    socket.onerror = () => undefined;
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = reconnectDelay(this.attempt);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private send(message: ClientMessage): void {
    if (this.socket && this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private handleMessage(data: unknown): void {
    if (typeof data !== "string") return;
    let message: ServerMessage;
    try {
      message = JSON.parse(data) as ServerMessage;
    } catch {
      return;
    }
    switch (message.type) {
      case "subscribed":
        this.subscribed = true;
        // Only a subscription in force proves the server is healthy; reset the backoff then.
        this.attempt = 0;
        this.setStatus("connected");
        return;
      case "entries":
        this.accept(message.entries);
        return;
      case "lagged":
        this.enqueue({ kind: "lagged", skipped: message.skipped }, 0);
        return;
      case "error":
        this.opts.onServerError?.(message.message);
        return;
    }
  }

  private accept(received: ActivityLogEntry[]): void {
    const entries: ActivityLogEntry[] = [];
    for (const entry of received) {
      if (this.resumeFloor != null && entry.id <= this.resumeFloor) continue;
      if (this.lastSeenId == null || entry.id > this.lastSeenId) this.lastSeenId = entry.id;
      entries.push(entry);
    }
    if (entries.length) this.enqueue({ kind: "entries", entries }, entries.length);
  }

  private enqueue(event: StreamEvent, count: number): void {
    const last = this.pending[this.pending.length - 1];
    if (event.kind === "entries" && last?.kind === "entries") last.entries.push(...event.entries);
    else this.pending.push(event);
    this.pendingCount += count;
    this.trimPending();
    if (!this.cancelFlush) this.cancelFlush = (this.opts.scheduleFlush ?? scheduleOnFrame)(() => this.flush());
  }

  /** Entries beyond the ring buffer's capacity would be evicted on arrival anyway: drop them early. */
  private trimPending(): void {
    const max = this.opts.maxPending;
    if (!max || this.pendingCount <= max) return;
    let excess = this.pendingCount - max;
    for (const event of this.pending) {
      if (excess <= 0) break;
      if (event.kind !== "entries") continue;
      const drop = Math.min(excess, event.entries.length);
      event.entries.splice(0, drop);
      excess -= drop;
      this.pendingCount -= drop;
    }
    this.pending = this.pending.filter((e) => e.kind !== "entries" || e.entries.length > 0);
  }

  private flush(): void {
    this.cancelFlush?.();
    this.cancelFlush = null;
    if (!this.pending.length) return;
    const events = this.pending;
    this.pending = [];
    this.pendingCount = 0;
    this.opts.onEvents(events);
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.status === status) return;
    this.status = status;
    this.opts.onStatus(status);
  }
}
