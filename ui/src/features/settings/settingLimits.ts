import { LIMITS } from "../../api/limits";
import type { ActivityLogSettingsUpdate } from "../activity-console/types";

export interface SettingLimit {
  min: number;
  max: number;
  /** The API description's note on the field, e.g. "days, 7–3650; errors are kept at least a week". */
  description: string;
}

/** A setting's bounds as the API description states them (the server checks the same ones). */
export function settingLimit(key: keyof ActivityLogSettingsUpdate): SettingLimit | null {
  const p = LIMITS.SettingsUpdate?.[key];
  if (p?.minimum == null || p.maximum == null) return null;
  return { min: p.minimum, max: p.maximum, description: p.description ?? "" };
}

/** "1–3650 days", "7–3650 days; errors are kept at least a week", from the limit and the field's unit. */
export function limitText(limit: SettingLimit, unit: string): string {
  const note = limit.description.split(";").slice(1).join(";").trim();
  return `${limit.min.toLocaleString("en-US")}–${limit.max.toLocaleString("en-US")} ${unit}${note ? `; ${note}` : ""}`;
}
