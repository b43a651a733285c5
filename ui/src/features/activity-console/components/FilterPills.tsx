import { LEVEL_TITLES, SOURCE_LABELS } from "../constants";
import { ACTIVITY_LOG_LEVELS, ACTIVITY_LOG_SOURCES } from "../types";
import type { ActivityLogLevel, ActivityLogSource } from "../types";

interface PillGroupProps<T extends string> {
  /** Accessible name of the group, e.g. "Levels" */
  label: string;
  isOn: (value: T) => boolean;
  onToggle: (value: T) => void;
}

/** Toggle pills for the four levels, coloured by level; shared by the live toolbar and history. */
export function LevelPills({ label, isOn, onToggle }: PillGroupProps<ActivityLogLevel>) {
  return (
    <div className="pill-group" role="group" aria-label={label}>
      {ACTIVITY_LOG_LEVELS.map((level) => (
        <button
          key={level}
          type="button"
          className={`pill pill-level lvl-${level}`}
          aria-pressed={isOn(level)}
          onClick={() => onToggle(level)}
        >
          {LEVEL_TITLES[level]}
        </button>
      ))}
    </div>
  );
}

/** Toggle pills for the five sources, coloured by source; shared by the live toolbar and history. */
export function SourcePills({ label, isOn, onToggle }: PillGroupProps<ActivityLogSource>) {
  return (
    <div className="pill-group" role="group" aria-label={label}>
      {ACTIVITY_LOG_SOURCES.map((source) => (
        <button
          key={source}
          type="button"
          className={`pill pill-source src-${source}`}
          aria-pressed={isOn(source)}
          onClick={() => onToggle(source)}
        >
          {SOURCE_LABELS[source]}
        </button>
      ))}
    </div>
  );
}
