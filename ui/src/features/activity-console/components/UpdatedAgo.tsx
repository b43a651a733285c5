import { useEffect, useState } from "react";
import { formatTimestamp } from "../../../lib/time";
import { formatAgo } from "../timeRange";

/** "updated 12 s ago", re-rendering itself once a second (only this text, not the pane). */
export function UpdatedAgo({ at }: { at: number }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [at]);
  if (!at) return null;
  return (
    <span className="muted history-updated" title={formatTimestamp(at)}>
      updated {formatAgo(now - at)}
    </span>
  );
}
