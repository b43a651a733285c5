import { Link2, Link2Off } from "lucide-react";
import { useState } from "react";
import { ResizeHandle } from "../../components/ResizeHandle";
import { ActivityConsolePanel } from "./ActivityConsolePanel";
import { HistoryPane } from "./HistoryPane";
import { ScopeNote } from "./components/ScopeNote";
import { usePaneSync } from "./hooks/usePaneSync";

const SPLIT_KEY = "activity-console:page-split";

function initialSplit(): number {
  const saved = Number(localStorage.getItem(SPLIT_KEY));
  return saved >= 160 && saved <= 4000 ? saved : 360;
}

/** Whether the live pane and history share their query and filters; beside the live query bar. */
function SyncToggle({ on, onChange }: { on: boolean; onChange: (on: boolean) => void }) {
  return (
    <button
      type="button"
      className="btn btn-small sync-toggle"
      aria-pressed={on}
      onClick={() => onChange(!on)}
      title={
        on
          ? "Sync on: the query and filters apply to live and history alike (history keeps its time range). Click to set them apart."
          : "Sync off: live and history have their own query and filters. Click to give history the live ones."
      }
    >
      {on ? <Link2 size={14} aria-hidden /> : <Link2Off size={14} aria-hidden />}
      Sync
    </button>
  );
}

/**
 * `/tools/activity-console`: the live pane on top, stored history below, with a resizable split.
 * Both panes' filters are in the URL (history's as they are, the live pane's with `live_`), and
 * Sync (on unless `sync=off`) keeps the two panes' query and filters the same.
 */
export function ActivityConsolePage() {
  const [liveHeight, setLiveHeight] = useState(initialSplit);
  const { sync, setSync } = usePaneSync();
  const resize = (h: number) => {
    setLiveHeight(h);
    localStorage.setItem(SPLIT_KEY, String(Math.round(h)));
  };
  return (
    <div className="page console-page">
      <h1 className="visually-hidden">Activity Console</h1>
      <ScopeNote />
      <div className="console-page-live" style={{ height: liveHeight }}>
        <ActivityConsolePanel queryActions={<SyncToggle on={sync} onChange={setSync} />} />
      </div>
      <ResizeHandle
        orientation="horizontal"
        label="Resize live and history panes"
        value={liveHeight}
        min={160}
        max={Math.max(320, window.innerHeight - 200)}
        direction={1}
        onChange={resize}
      />
      <div className="console-page-history">
        <HistoryPane />
      </div>
    </div>
  );
}

export default ActivityConsolePage;
