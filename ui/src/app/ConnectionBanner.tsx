import { RefreshCw, WifiOff } from "lucide-react";
import { IngestStatusBanner } from "../features/activity-console/components/IngestStatusBanner";
import { useConnectivityStore } from "../lib/connectivity";

/**
 * The app-wide line under the top bar: "server unreachable" while no request or live-tail
 * connection gets an answer; otherwise the ingest banner, which says when the database is away
 * (the server answers, PostgreSQL does not). Both offer "Retry now", which makes the probe and the
 * live tail try at once instead of waiting out their backoff.
 */
export function ConnectionBanner() {
  const reachable = useConnectivityStore((s) => s.serverReachable);
  const requestRetry = useConnectivityStore((s) => s.requestRetry);
  if (reachable) return <IngestStatusBanner onRetry={requestRetry} />;
  return (
    <div className="ingest-banner ingest-banner-error connection-banner" role="alert">
      <WifiOff size={13} aria-hidden className="ingest-banner-icon" />
      <span className="ingest-banner-text">
        <strong>Server unreachable</strong> — retrying every second; the live tail resumes where it stopped.
      </span>
      <RetryNowButton onRetry={requestRetry} />
    </div>
  );
}

export function RetryNowButton({ onRetry }: { onRetry: () => void }) {
  return (
    <button type="button" className="btn btn-small banner-retry" onClick={onRetry}>
      <RefreshCw size={12} aria-hidden /> Retry now
    </button>
  );
}
