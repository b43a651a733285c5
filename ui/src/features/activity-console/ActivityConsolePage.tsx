import { useState } from "react";
import { ResizeHandle } from "../../components/ResizeHandle";
import { ActivityConsolePanel } from "./ActivityConsolePanel";
import { HistoryPane } from "./HistoryPane";
import { ScopeNote } from "./components/ScopeNote";

const SPLIT_KEY = "activity-console:page-split";

function initialSplit(): number {
  const saved = Number(localStorage.getItem(SPLIT_KEY));
  return saved >= 160 && saved <= 4000 ? saved : 360;
}

/** `/tools/activity-console`: the live pane on top, stored history below, with a resizable split. */
export function ActivityConsolePage() {
  const [liveHeight, setLiveHeight] = useState(initialSplit);
  const resize = (h: number) => {
    setLiveHeight(h);
    localStorage.setItem(SPLIT_KEY, String(Math.round(h)));
  };
  return (
    <div className="page console-page">
      <h1 className="visually-hidden">Activity Console</h1>
      <ScopeNote />
      <div className="console-page-live" style={{ height: liveHeight }}>
        <ActivityConsolePanel />
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
