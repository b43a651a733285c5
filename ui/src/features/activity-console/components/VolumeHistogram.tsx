import { useEffect, useState } from "react";
import type { KeyboardEvent, MouseEvent, PointerEvent } from "react";
import { LEVEL_TITLES } from "../constants";
import { formatTimestamp as formatDateTime } from "../../../lib/time";
import { axisTicks } from "../timeRange";
import { ACTIVITY_LOG_LEVELS } from "../types";
import type { Histogram, HistogramBucket } from "../types";

interface VolumeHistogramProps {
  /** The API's answer; absent until the first one arrives. */
  histogram?: Histogram;
  /** Waiting for the first answer: a skeleton, not "no entries". */
  loading?: boolean;
  /** The last request failed (in words). */
  error?: string | null;
  /** A click on a bar or a drag across bars narrows the time range to those buckets. */
  onSelectRange?: (from: string, to: string) => void;
  height?: number;
}

/** The selected buckets' [from, to): the first one's start to the last one's end. */
export function selectedRange(buckets: HistogramBucket[], a: number, b: number): { from: string; to: string } {
  const lo = Math.max(0, Math.min(a, b));
  const hi = Math.min(buckets.length - 1, Math.max(a, b));
  return { from: buckets[lo]!.start, to: buckets[hi]!.end };
}

/** Bucket bounds to the second: their milliseconds are only where a relative range was resolved. */
const formatBound = (timestamp: string) => formatDateTime(timestamp).replace(/\.\d+$/, "");

function bucketIndex(target: EventTarget | null): number | null {
  const el = (target as HTMLElement | null)?.closest?.("[data-bucket]");
  const raw = el?.getAttribute("data-bucket");
  return raw == null ? null : Number(raw);
}

/**
 * Entries per time bucket stacked by level, with a time axis, a legend, a tooltip per bucket, and
 * click or drag to zoom. Loading, failure and emptiness each say so in their own words.
 */
export function VolumeHistogram({ histogram, loading = false, error = null, onSelectRange, height = 64 }: VolumeHistogramProps) {
  const [hover, setHover] = useState<number | null>(null);
  const [drag, setDrag] = useState<{ anchor: number; current: number } | null>(null);

  // A drag released outside the bars ends without zooming.
  useEffect(() => {
    if (!drag) return undefined;
    const cancel = () => setDrag(null);
    window.addEventListener("pointerup", cancel);
    return () => window.removeEventListener("pointerup", cancel);
  }, [drag]);

  if (error) {
    return (
      // Not an alert: the table's own error already is one, and says the same thing.
      <div className="histogram histogram-state histogram-error" aria-live="polite">
        The volume histogram could not be loaded: {error}
      </div>
    );
  }
  if (!histogram) {
    return loading ? (
      <div className="histogram histogram-state histogram-skeleton" role="status" aria-busy="true" aria-label="Loading the volume histogram">
        {Array.from({ length: 24 }, (_, i) => (
          <span key={i} className="histogram-skeleton-bar" style={{ height: `${25 + ((i * 37) % 60)}%` }} />
        ))}
      </div>
    ) : (
      <div className="histogram histogram-state muted">No entries in this range.</div>
    );
  }

  const buckets = histogram.data;
  const total = buckets.reduce((n, b) => n + b.total, 0);
  if (buckets.length === 0 || total === 0) {
    return <div className="histogram histogram-state muted">No entries in this range.</div>;
  }
  const start = Date.parse(histogram.meta?.from ?? buckets[0]!.start);
  const end = Date.parse(histogram.meta?.to ?? buckets[buckets.length - 1]!.end);
  // A label centred on either edge would be cut in half: those ticks are left out.
  const ticks = axisTicks(start, end).filter((t) => t.percent >= 3 && t.percent <= 97);
  const max = Math.max(1, ...buckets.map((b) => b.total));
  const width = 100 / buckets.length;
  const levelTotals = Object.fromEntries(
    ACTIVITY_LOG_LEVELS.map((level) => [level, buckets.reduce((n, b) => n + b.counts[level], 0)]),
  ) as Record<(typeof ACTIVITY_LOG_LEVELS)[number], number>;

  const commit = (a: number, b: number) => {
    const { from, to } = selectedRange(buckets, a, b);
    onSelectRange?.(from, to);
  };
  const onPointerDown = (e: PointerEvent) => {
    const i = bucketIndex(e.target);
    if (i == null || !onSelectRange || e.button !== 0) return;
    e.preventDefault(); // no text selection while dragging
    setDrag({ anchor: i, current: i });
  };
  const onPointerMove = (e: PointerEvent) => {
    const i = bucketIndex(e.target);
    if (i == null) return;
    setHover(i);
    if (drag && drag.current !== i) setDrag({ ...drag, current: i });
  };
  const onPointerUp = (e: PointerEvent) => {
    if (!drag) return;
    const i = bucketIndex(e.target) ?? drag.current;
    setDrag(null);
    commit(drag.anchor, i);
  };
  // Pointer clicks are handled by pointerdown/up (they may be drags); this is the keyboard's click.
  const onClick = (e: MouseEvent, i: number) => {
    if (e.detail === 0) commit(i, i);
  };
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === "Escape") setDrag(null);
  };

  const selection = drag ? { lo: Math.min(drag.anchor, drag.current), hi: Math.max(drag.anchor, drag.current) } : null;
  const hovered = hover != null ? buckets[hover] : undefined;

  return (
    <div className="histogram-block">
      <ul className="histogram-legend" aria-label="Histogram legend">
        {ACTIVITY_LOG_LEVELS.map((level) => (
          <li key={level}>
            <span className={`histogram-swatch swatch-${level}`} aria-hidden />
            {LEVEL_TITLES[level]} <span className="muted">{levelTotals[level].toLocaleString()}</span>
          </li>
        ))}
        {onSelectRange && <li className="muted histogram-hint">Click or drag across bars to zoom</li>}
      </ul>
      <div
        className="histogram"
        role="figure"
        aria-label={`Volume histogram: ${total.toLocaleString()} entries in ${buckets.length} buckets`}
        onPointerLeave={() => setHover(null)}
      >
        <svg viewBox={`0 0 100 ${height}`} preserveAspectRatio="none" width="100%" height={height} aria-hidden>
          {buckets.map((b, i) => {
            let y = height;
            return (
              <g key={b.start}>
                {ACTIVITY_LOG_LEVELS.map((level) => {
                  const h = (b.counts[level] / max) * (height - 2);
                  if (h <= 0) return null;
                  y -= h;
                  return <rect key={level} className={`bar bar-${level}`} x={i * width + width * 0.1} y={y} width={width * 0.8} height={h} />;
                })}
              </g>
            );
          })}
        </svg>
        {selection && (
          <div
            className="histogram-selection"
            data-testid="histogram-selection"
            style={{ left: `${selection.lo * width}%`, width: `${(selection.hi - selection.lo + 1) * width}%` }}
          />
        )}
        <div
          className="histogram-hits"
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerUp={onPointerUp}
          onKeyDown={onKeyDown}
        >
          {buckets.map((b, i) => (
            <button
              key={b.start}
              type="button"
              data-bucket={i}
              className="histogram-hit"
              style={{ width: `${width}%` }}
              aria-label={`${formatBound(b.start)} to ${formatBound(b.end)}: ${b.total} entries; zoom to this interval`}
              onClick={(e) => onClick(e, i)}
              onFocus={() => setHover(i)}
              onBlur={() => setHover(null)}
              disabled={!onSelectRange}
            />
          ))}
        </div>
        {hovered && (
          <div
            className={`histogram-tooltip${hover! > buckets.length / 2 ? " is-left" : ""}`}
            role="tooltip"
            style={{ left: `${(hover! + 0.5) * width}%` }}
          >
            <div className="histogram-tooltip-time">
              {formatBound(hovered.start)} – {formatBound(hovered.end)}
            </div>
            <div className="histogram-tooltip-total">
              {hovered.total.toLocaleString()} {hovered.total === 1 ? "entry" : "entries"}
            </div>
            <ul>
              {ACTIVITY_LOG_LEVELS.filter((level) => hovered.counts[level] > 0).map((level) => (
                <li key={level}>
                  <span className={`histogram-swatch swatch-${level}`} aria-hidden />
                  {LEVEL_TITLES[level]}: {hovered.counts[level].toLocaleString()}
                </li>
              ))}
            </ul>
          </div>
        )}
      </div>
      <ol className="histogram-axis" aria-label="Time axis">
        {ticks.map((t) => (
          <li key={t.at} style={{ left: `${t.percent}%` }}>
            {t.label}
          </li>
        ))}
      </ol>
    </div>
  );
}
