import type { ActivityLogMode } from "../types";

interface ModeSwitchProps {
  label: string;
  mode: ActivityLogMode;
  onChange: (mode: ActivityLogMode) => void;
}

/**
 * Curated | All: which categories of entries to show. A labelled radio group, set apart from the level
 * pills so that "All" is not mistaken for the Debug level.
 */
export function ModeSwitch({ label, mode, onChange }: ModeSwitchProps) {
  return (
    <div className="mode-switch" role="radiogroup" aria-label={label}>
      <span className="mode-switch-label" aria-hidden>
        Show
      </span>
      <div className="segmented">
        <button
          type="button"
          role="radio"
          aria-checked={mode === "curated"}
          onClick={() => onChange("curated")}
          title="Curated activity entries only"
        >
          Curated
        </button>
        <button
          type="button"
          role="radio"
          aria-checked={mode === "verbose"}
          onClick={() => onChange("verbose")}
          title="Every entry, including verbose ones"
        >
          All
        </button>
      </div>
    </div>
  );
}
