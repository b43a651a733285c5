import { ACTIVITY_LOG_LEVELS } from "../types";
import type { HistogramBucket } from "../types";
import { formatTimestamp as formatDateTime } from "../../../lib/time";

interface VolumeHistogramProps {
  buckets: HistogramBucket[];
  /** Clicking a bar narrows the time range to that bucket. */
  onSelectRange?: (from: string, to: string) => void;
  height?: number;
}

/** Stacked bars of entries per time bucket and level. */
export function VolumeHistogram({ buckets, onSelectRange, height = 64 }: VolumeHistogramProps) {
  if (buckets.length === 0) {
    return <div className="histogram histogram-empty muted">No entries in this range.</div>;
  }
  const max = Math.max(1, ...buckets.map((b) => b.total));
  const total = buckets.reduce((n, b) => n + b.total, 0);
  const width = 100 / buckets.length;
  return (
    <div className="histogram" role="figure" aria-label={`Volume histogram: ${total.toLocaleString()} entries in ${buckets.length} buckets`}>
      <svg viewBox={`0 0 100 ${height}`} preserveAspectRatio="none" width="100%" height={height} aria-hidden>
        {buckets.map((b, i) => {
          let y = height;
          return (
            <g key={b.start}>
              {ACTIVITY_LOG_LEVELS.map((level) => {
                const h = (b.counts[level] / max) * (height - 2);
                if (h <= 0) return null;
                y -= h;
                return (
                  <rect
                    key={level}
                    className={`bar bar-${level}`}
                    x={i * width + width * 0.1}
                    y={y}
                    width={width * 0.8}
                    height={h}
                  />
                );
              })}
            </g>
          );
        })}
      </svg>
      <div className="histogram-hits">
        {buckets.map((b) => (
          <button
            key={b.start}
            type="button"
            className="histogram-hit"
            style={{ width: `${width}%` }}
            title={`${formatDateTime(b.start)}: ${b.total.toLocaleString()} (${ACTIVITY_LOG_LEVELS.map((l) => `${l} ${b.counts[l]}`).join(", ")})`}
            aria-label={`${formatDateTime(b.start)}: ${b.total} entries; show this interval`}
            onClick={() => onSelectRange?.(b.start, b.end)}
            disabled={!onSelectRange}
          />
        ))}
      </div>
    </div>
  );
}
