import { Download, Loader2, RotateCw, Scissors } from "lucide-react";
import { useEffect, useId, useRef } from "react";
import { useFullEntry } from "../hooks/useActivityLogHistory";
import type { ActivityLogEntry } from "../types";

/** Characters as the server counts them (code points), so a cut message is told from a complete one. */
const codePointCount = (text: string) => {
  let n = 0;
  for (const _ of text) n++;
  return n;
};

/** Whether the server cut the message itself (rather than only long fields). */
function isMessageCut(entry: ActivityLogEntry): boolean {
  return entry.message_length != null && entry.message_length > codePointCount(entry.message);
}

function shortenedNoticeText(entry: ActivityLogEntry): string {
  if (entry.message_length == null) return "Shortened for display";
  return isMessageCut(entry)
    ? `Shortened for display — message ${entry.message_length.toLocaleString()} characters`
    : "Shortened for display — some fields were cut";
}

/**
 * Loads the full version of a shortened entry on demand. After a load the user asked for, focus
 * moves to the full message, since the button they pressed goes away.
 */
export function useFullEntryOnDemand(entry: ActivityLogEntry) {
  const query = useFullEntry(entry.id);
  const fullMessageRef = useRef<HTMLDivElement>(null);
  const focusWhenLoaded = useRef(false);
  useEffect(() => {
    if (focusWhenLoaded.current && query.data) {
      focusWhenLoaded.current = false;
      fullMessageRef.current?.focus({ preventScroll: true });
    }
  }, [query.data]);
  // A click while loading joins the request in flight: TanStack Query does not start a second one.
  const load = () => {
    focusWhenLoaded.current = true;
    void query.refetch();
  };
  return {
    full: query.data,
    isLoading: query.isFetching,
    error: query.error,
    load,
    fullMessageRef,
  };
}

interface ShortenedNoticeProps {
  entry: ActivityLogEntry;
  isLoading: boolean;
  error: Error | null;
  load: () => void;
}

/** "Shortened for display — message N characters" with the button that loads the full entry. */
export function ShortenedNotice({ entry, isLoading, error, load }: ShortenedNoticeProps) {
  const textId = useId();
  const errorId = useId();
  const failed = error != null && !isLoading;
  return (
    <div className="shortened-notice" role="note">
      <Scissors size={12} aria-hidden />
      <span id={textId}>{shortenedNoticeText(entry)}</span>
      {failed && (
        <span id={errorId} className="shortened-error" role="alert">
          {error.message}
        </span>
      )}
      {/* One button through every state, so keyboard focus stays on it while loading and after an error. */}
      <button
        type="button"
        className="btn btn-small"
        aria-disabled={isLoading || undefined}
        aria-describedby={failed ? errorId : textId}
        onClick={load}
      >
        {isLoading ? (
          <Loader2 size={12} className="spin" aria-hidden />
        ) : failed ? (
          <RotateCw size={12} aria-hidden />
        ) : (
          <Download size={12} aria-hidden />
        )}
        {isLoading ? "Loading full entry…" : failed ? "Retry" : "Load full entry"}
      </button>
    </div>
  );
}

interface FullMessageProps {
  message: string;
  ref?: React.Ref<HTMLDivElement>;
}

/** The full message of a shortened entry, in a bounded scroll box (it can be megabytes). */
export function FullMessage({ message, ref }: FullMessageProps) {
  return (
    <div ref={ref} className="entry-message" tabIndex={0} role="region" aria-label="Full message">
      {message}
    </div>
  );
}
