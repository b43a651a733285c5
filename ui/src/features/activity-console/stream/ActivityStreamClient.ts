import {
  CLOSE_POLICY_VIOLATION,
  FILTER_DEBOUNCE_MS,
  RECONNECT_BASE_MS,
  RECONNECT_MAX_MS,
  RECONNECT_REFUSED_MAX_MS,
} from "../constants";
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
  | { kind: "lagged"; skipped: LaggedMessage["skipped"] }
  /** The recent entries read from history on open, oldest first: they go before every live row. */
  | { kind: "recent"; entries: ActivityLogEntry[] }
  /** The subscription restarted with a new query: the rows so far are the old query's, drop them. */
  | { kind: "reset" };

/** The server could not parse a query: the query, its message and the 0-based position in it. */
export interface QueryRefusal {
  query: string;
  message: string;
  position: number;
}

export interface StreamClientOptions {
  url: string;
  getToken: () => string | null;
  getFilter: () => StreamFilter;
  onEvents: (events: StreamEvent[]) => void;
  onStatus: (status: ConnectionStatus) => void;
  onServerError?: (message: string) => void;
  /**
   * The server refused a query (`q`): the subscription goes on with the query it ran before, and
   * the client sends that one from now on until the filter's query changes.
   */
  onQueryRefused?: (refusal: QueryRefusal) => void;
  /** A subscription (or its new filter) is in force, running this query (null: none). */
  onQueryInForce?: (q: string | null) => void;
  /**
   * Reads the most recent entries matching the filter from history, newest first. Asked once the
   * first subscription is in force (and again after a failure, on the next one): see `loadRecent`.
   */
  loadRecent?: (filter: StreamFilter, signal: AbortSignal) => Promise<ActivityLogEntry[]>;
  /** A connection attempt found no server (the socket closed without ever opening). */
  onConnectionLost?: () => void;
  /** Upper bound on entries held between two frames (a hidden tab gets no frames). */
  maxPending?: number;
  WebSocketImpl?: typeof WebSocket;
  /** Source of the backoff's jitter, in [0, 1) (tests pin it). */
  random?: () => number;
  scheduleFlush?: (flush: () => void) => () => void;
}

/**
 * Backoff before reconnect attempt `attempt` (0-based): 250 ms, 500 ms, then 1 s; up to 30 s after
 * the server refused the connection by policy. `jitter` in [0, 1) takes up to half of the delay off,
 * so that the clients of a restarted server do not all come back in the same millisecond; the delay
 * never exceeds the cap.
 */
export function reconnectDelay(attempt: number, refused = false, jitter = 0): number {
  const cap = refused ? RECONNECT_REFUSED_MAX_MS : RECONNECT_MAX_MS;
  const delay = Math.min(cap, RECONNECT_BASE_MS * 2 ** Math.max(0, attempt));
  return Math.round(delay * (1 - Math.min(Math.max(jitter, 0), 0.999) / 2));
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
  /** Entries at or below this id were already delivered (before a reconnect, or in the recent page). */
  private resumeFloor: number | null = null;
  /** The last close was a policy refusal (1008): back off slowly, it will not fix itself. */
  private refused = false;
  /** Whether a `subscribe` was sent whose `subscribed` answer has not come yet (not `update_filter`'s). */
  private awaitingSubscribed = false;
  /** The recent-entries page: not asked yet (or failed: ask again), in flight, or delivered. */
  private recent: "none" | "loading" | "done" = "none";
  private recentAbort: AbortController | null = null;
  /** The page being read, if any (tests await it); stop() aborts it. */
  recentLoad: Promise<void> | null = null;
  /** The first entry the live tail delivered this session: the seam with the recent page. */
  private firstLiveId: number | null = null;
  /**
   * The query of the subscription in force, which the buffer's rows match (undefined: no
   * subscription yet). A subscribe with another query starts the buffer afresh.
   */
  private queryInForce: string | null | undefined = undefined;
  /** The query of the last subscribe or update_filter sent: the one a query error is about. */
  private requestedQuery: string | null = null;
  /** The last query the server refused: not sent again while the filter still asks for it. */
  private refusedQuery: string | null = null;
  /** Subscribes for a new query not answered yet: entries before the answer are the old query's. */
  private reseeds = 0;
  private readonly wake = () => {
    if (typeof document !== "undefined" && document.visibilityState === "hidden") return;
    this.retryNow();
  };
  status: ConnectionStatus = "idle";

  constructor(options: StreamClientOptions) {
    this.opts = options;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (typeof window !== "undefined") window.addEventListener("online", this.wake);
    if (typeof document !== "undefined") document.addEventListener("visibilitychange", this.wake);
    this.connect();
  }

  /**
   * Reconnect at once if the connection is down and waiting out its backoff: the browser came back
   * online, the tab became visible, the server answered again, or the user pressed "Retry now".
   */
  retryNow(): void {
    if (this.stopped || !this.reconnectTimer) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.attempt = 0;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (typeof window !== "undefined") window.removeEventListener("online", this.wake);
    if (typeof document !== "undefined") document.removeEventListener("visibilitychange", this.wake);
    this.recentAbort?.abort();
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
      if (!this.subscribed) return;
      const filter = this.filter();
      // Only the server applies a query, so a new one restarts the subscription (and the buffer).
      if (filter.q !== this.requestedQuery) this.sendSubscribe();
      else this.send({ action: "update_filter", ...filter });
    }, FILTER_DEBOUNCE_MS);
  }

  /** The store's filter, except a query the server refused: the one in force is sent instead. */
  private filter(): StreamFilter {
    const filter = this.opts.getFilter();
    return filter.q != null && filter.q === this.refusedQuery ? { ...filter, q: this.queryInForce ?? null } : filter;
  }

  /**
   * Subscribes with the current filter. With the query the buffer was filled with, it resumes after
   * the last entry seen (`after_id`); with another query it starts afresh, and the answer empties
   * the buffer and loads the recent page again (see `restart`).
   */
  private sendSubscribe(): void {
    const filter = this.filter();
    const reseed = this.queryInForce !== undefined && filter.q !== this.queryInForce;
    if (reseed) this.reseeds += 1;
    else if (!this.subscribed) this.resumeFloor = this.lastSeenId;
    this.awaitingSubscribed = true;
    this.requestedQuery = filter.q;
    this.send({
      action: "subscribe",
      ...filter,
      ...(!reseed && this.lastSeenId != null ? { after_id: this.lastSeenId } : {}),
    });
  }

  /** A subscription with a new query is in force: what the tail showed so far goes, the recent page comes again. */
  private restart(): void {
    this.recentAbort?.abort();
    this.recentAbort = null;
    this.recent = "none";
    this.firstLiveId = this.lastSeenId = this.resumeFloor = null;
    this.pending = [{ kind: "reset" }];
    this.pendingCount = 0;
    if (!this.cancelFlush) this.cancelFlush = (this.opts.scheduleFlush ?? scheduleOnFrame)(() => this.flush());
  }

  /**
   * The server could not parse the query just sent and changed nothing, the other filters of the
   * same message included: it still runs the previous query. Send the filter again with that one.
   */
  private queryRefused(message: string, position: number): void {
    const query = this.requestedQuery ?? "";
    if (this.reseeds > 0) this.reseeds -= 1;
    this.refusedQuery = query;
    this.requestedQuery = this.queryInForce ?? null;
    this.opts.onQueryRefused?.({ query, message: message.replace(/^q: /, ""), position });
    // A connection whose first subscribe was refused has no subscription at all yet.
    if (!this.subscribed) this.sendSubscribe();
    else this.send({ action: "update_filter", ...this.filter() });
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
    let opened = false;
    socket.onopen = () => {
      opened = true;
      const token = this.opts.getToken();
      // The token goes in the first message, never in the URL (URLs end up in access logs).
      this.send({ action: "auth", token: token ?? "" });
      this.sendSubscribe();
    };
    socket.onmessage = (event: MessageEvent) => this.handleMessage(event.data);
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.subscribed = false;
      this.awaitingSubscribed = false;
      this.reseeds = 0;
      this.refused = event.code === CLOSE_POLICY_VIOLATION;
      // A socket that never opened found no server; one that opened and closed found it.
      if (!opened) this.opts.onConnectionLost?.();
      this.setStatus("disconnected");
      this.scheduleReconnect();
    };
    // Every error is followed by a close event; reconnecting is handled there.
    socket.onerror = () => undefined;
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = reconnectDelay(this.attempt, this.refused, (this.opts.random ?? Math.random)());
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
        this.queryInForce = message.filter ? (message.filter.q ?? null) : this.requestedQuery;
        this.opts.onQueryInForce?.(this.queryInForce);
        if (this.reseeds > 0) {
          this.reseeds -= 1;
          this.restart();
        }
        // Only a subscription in force proves the server is healthy; reset the backoff then.
        this.attempt = 0;
        this.refused = false;
        this.setStatus("connected");
        if (this.awaitingSubscribed) {
          this.awaitingSubscribed = false;
          if (this.recent === "none") this.loadRecent();
        }
        return;
      case "entries":
        this.accept(message.entries);
        return;
      case "lagged":
        this.enqueue({ kind: "lagged", skipped: message.skipped }, 0);
        return;
      case "error":
        if (message.position != null) this.queryRefused(message.message, message.position);
        else this.opts.onServerError?.(message.message);
        return;
    }
  }

  /**
   * The seam between history and the live tail. The page is read only once the subscription is in
   * force (the server subscribes to new entries before it answers `subscribed`), so every entry is
   * in the page, on the tail, or both: no gap, even when the page is empty. The tail is in id
   * (commit) order, so the entries it has delivered since are exactly those with ids from the first
   * one it delivered: the page keeps only the older ones. When the tail has delivered nothing yet,
   * the page's highest id becomes the resume cursor and the floor below which the tail's entries are
   * dropped as already shown (an entry committed before the page was read, still on its way).
   */
  private loadRecent(): void {
    const load = this.opts.loadRecent;
    if (!load) return;
    this.recent = "loading";
    const controller = new AbortController();
    this.recentAbort = controller;
    // With the query the subscription runs (a refused one is not), so that page and tail agree.
    this.recentLoad = load({ ...this.filter(), q: this.queryInForce ?? null }, controller.signal).then(
      (newestFirst) => {
        if (controller.signal.aborted || this.stopped) return;
        this.recent = "done";
        const seam = this.firstLiveId;
        const older = seam == null ? newestFirst : newestFirst.filter((e) => e.id < seam);
        if (seam == null && older.length) {
          const highest = older.reduce((max, e) => Math.max(max, e.id), older[0]!.id);
          this.lastSeenId = Math.max(this.lastSeenId ?? highest, highest);
          this.resumeFloor = Math.max(this.resumeFloor ?? highest, highest);
        }
        if (older.length) this.enqueue({ kind: "recent", entries: older.slice().reverse() }, older.length);
      },
      () => {
        // History unreachable (the server is going away, say): ask again on the next subscription.
        if (this.recentAbort === controller) this.recent = "none";
      },
    );
  }

  private accept(received: ActivityLogEntry[]): void {
    const entries: ActivityLogEntry[] = [];
    for (const entry of received) {
      if (this.resumeFloor != null && entry.id <= this.resumeFloor) continue;
      if (this.firstLiveId == null) this.firstLiveId = entry.id;
      if (this.lastSeenId == null || entry.id > this.lastSeenId) this.lastSeenId = entry.id;
      entries.push(entry);
    }
    if (entries.length) this.enqueue({ kind: "entries", entries }, entries.length);
  }

  private enqueue(event: StreamEvent, count: number): void {
    const last = this.pending[this.pending.length - 1];
    if (event.kind === "entries" && last?.kind === "entries") last.entries.push(...event.entries);
    // The recent page goes first, before live entries queued in the same frame (the store puts it
    // in front of the buffer anyway; first in the queue, it is also the first trimmed).
    // (After a reset, which drops what came before it.)
    else if (event.kind === "recent") this.pending.splice(this.pending[0]?.kind === "reset" ? 1 : 0, 0, event);
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
      if (event.kind === "lagged" || event.kind === "reset") continue;
      const drop = Math.min(excess, event.entries.length);
      event.entries.splice(0, drop);
      excess -= drop;
      this.pendingCount -= drop;
    }
    this.pending = this.pending.filter((e) => e.kind === "lagged" || e.kind === "reset" || e.entries.length > 0);
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
