import { Clock } from "lucide-react";
import { localZoneName, useTimeZoneStore, zoneLabel } from "../lib/time";
import type { TimeZoneChoice } from "../lib/time";

/** The time zone every time in the console is written in: the browser's local zone or UTC. */
export function TimeZoneSelect() {
  const zone = useTimeZoneStore((s) => s.zone);
  const setZone = useTimeZoneStore((s) => s.setZone);
  const local = zoneLabel("local");
  const name = localZoneName();
  return (
    <label className="zone-select" title={name ? `Local time zone: ${name} (${local})` : `Local time zone: ${local}`}>
      <Clock size={14} aria-hidden />
      <span className="zone-label" data-testid="zone-label">
        {zoneLabel(zone)}
      </span>
      <select aria-label="Time zone" value={zone} onChange={(e) => setZone(e.target.value as TimeZoneChoice)}>
        <option value="local">Local{name ? ` (${name})` : ""}</option>
        <option value="utc">UTC</option>
      </select>
    </label>
  );
}
