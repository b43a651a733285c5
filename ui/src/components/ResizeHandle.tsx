import { useRef } from "react";

interface ResizeHandleProps {
  /** "horizontal" drags up/down (a bottom dock or a vertical split), "vertical" drags left/right. */
  orientation: "horizontal" | "vertical";
  label: string;
  value: number;
  min: number;
  max: number;
  /** +1 when dragging down/right grows the size, -1 when it shrinks it. */
  direction: 1 | -1;
  onChange: (size: number) => void;
}

/** A draggable, keyboard-operable separator (arrow keys move 16 px, with Shift 64 px). */
export function ResizeHandle({ orientation, label, value, min, max, direction, onChange }: ResizeHandleProps) {
  const start = useRef<{ pos: number; size: number } | null>(null);
  const clamp = (n: number) => Math.min(max, Math.max(min, n));
  const axis = (e: React.PointerEvent) => (orientation === "horizontal" ? e.clientY : e.clientX);

  return (
    <div
      role="separator"
      tabIndex={0}
      aria-label={label}
      aria-orientation={orientation}
      aria-valuenow={Math.round(value)}
      aria-valuemin={min}
      aria-valuemax={max}
      className={`resize-handle resize-${orientation}`}
      onPointerDown={(e) => {
        e.currentTarget.setPointerCapture?.(e.pointerId);
        start.current = { pos: axis(e), size: value };
      }}
      onPointerMove={(e) => {
        if (!start.current) return;
        onChange(clamp(start.current.size + direction * (axis(e) - start.current.pos)));
      }}
      onPointerUp={() => {
        start.current = null;
      }}
      onKeyDown={(e) => {
        const step = e.shiftKey ? 64 : 16;
        const grow = orientation === "horizontal" ? ["ArrowDown", "ArrowUp"] : ["ArrowRight", "ArrowLeft"];
        if (e.key === grow[0]) onChange(clamp(value + direction * step));
        else if (e.key === grow[1]) onChange(clamp(value - direction * step));
        else return;
        e.preventDefault();
      }}
    />
  );
}
