import { Check, Copy, X } from "lucide-react";
import { useEffect, useRef, useState } from "react";
import { copyText } from "./clipboard";

/** How long "Copied" stays on the button. */
const FEEDBACK_MS = 1_500;

interface CopyButtonProps {
  /** Called on click, so large values (a whole entry as JSON) are serialised only when copied. */
  text: () => string;
  /** Accessible name, e.g. "Copy message". */
  label: string;
  /** Visible text; without it the button is an icon button named by `label`. */
  children?: React.ReactNode;
  className?: string;
}

/** A copy button that says "Copied" (or "Copy failed") on itself and to screen readers. */
export function CopyButton({ text, label, children, className }: CopyButtonProps) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const copy = async () => {
    const ok = await copyText(text());
    setState(ok ? "copied" : "failed");
    clearTimeout(timer.current);
    timer.current = setTimeout(() => setState("idle"), FEEDBACK_MS);
  };
  const feedback = state === "copied" ? "Copied" : state === "failed" ? "Copy failed" : "";
  const icon = state === "copied" ? <Check size={12} aria-hidden /> : state === "failed" ? <X size={12} aria-hidden /> : <Copy size={12} aria-hidden />;
  return (
    <>
    <button
      type="button"
      className={`${children ? "btn btn-small" : "icon-button kv-action"}${state !== "idle" ? ` is-${state}` : ""}${className ? ` ${className}` : ""}`}
      aria-label={label}
      title={feedback || label}
      onClick={() => void copy()}
    >
      {icon}
      {children && <span>{feedback || children}</span>}
    </button>
    <span className="visually-hidden" role="status">
      {feedback}
    </span>
    </>
  );
}
