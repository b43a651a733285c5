import { type LucideIcon, OctagonX, RefreshCw, TriangleAlert } from "lucide-react";
import { useIngestStatus } from "../hooks/useIngestStatus";
import type { IngestState } from "../types";

type Tone = "warning" | "info" | "error";

interface BannerText {
  tone: Tone;
  title: string;
  /** What it means for the user, after the server's message. */
  hint?: string;
}

/** Direct ingest (and a state this UI does not know) shows no banner. */
const BANNERS: Partial<Record<IngestState, BannerText>> = {
  spooling: {
    tone: "warning",
    title: "Ingest degraded",
    hint: "Records are kept on the server's disk and will appear when PostgreSQL is back.",
  },
  replaying: { tone: "info", title: "Catching up" },
  refusing: { tone: "error", title: "Ingest refused", hint: "Senders are retrying." },
  failed: { tone: "error", title: "Ingest failed", hint: "Restart the server." },
};

/** The states in which PostgreSQL is away: "Retry now" asks the server again at once. */
const DATABASE_AWAY: ReadonlySet<IngestState> = new Set(["spooling", "refusing"]);

const ICONS: Record<Tone, LucideIcon> = { warning: TriangleAlert, info: RefreshCw, error: OctagonX };

const withoutFinalStop = (text: string) => text.trim().replace(/\.+$/, "");

/**
 * One line under the app's top bar while records are not reaching PostgreSQL as they arrive:
 * spooled to the server's disk, being replayed from it, refused, or stuck until a restart.
 */
export function IngestStatusBanner({ onRetry }: { onRetry?: () => void } = {}) {
  const { data: status, refetch } = useIngestStatus();
  const banner = status ? BANNERS[status.state] : undefined;
  if (!status || !banner) return null;

  const detail = withoutFinalStop(status.message);
  // The server's message for a stopped writer already says to restart: do not say it twice.
  const hint = banner.hint && !detail.toLowerCase().includes(withoutFinalStop(banner.hint).toLowerCase()) ? banner.hint : "";
  const text = `${banner.title}${detail ? ` — ${detail}` : ""}.${hint ? ` ${hint}` : ""}`;
  const Icon = ICONS[banner.tone];
  const isError = banner.tone === "error";
  return (
    <div
      className={`ingest-banner ingest-banner-${banner.tone}`}
      role={isError ? "alert" : "status"}
      aria-live={isError ? undefined : "polite"}
      title={text}
    >
      <Icon size={13} aria-hidden className="ingest-banner-icon" />
      <span className="ingest-banner-text">
        <strong>{banner.title}</strong>
        {/* The message counts seconds and bytes and changes with every poll; a screen reader
            should hear the banner when the state changes, not every 3 s. */}
        {detail && (
          <>
            {" — "}
            <span aria-live="off">{detail}</span>
          </>
        )}
        .{hint && ` ${hint}`}
      </span>
      {onRetry && DATABASE_AWAY.has(status.state) && (
        <button
          type="button"
          className="btn btn-small banner-retry"
          onClick={() => {
            onRetry();
            void refetch();
          }}
        >
          <RefreshCw size={12} aria-hidden /> Retry now
        </button>
      )}
    </div>
  );
}
