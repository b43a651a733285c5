import { Maximize2, PanelBottom, PanelRight, X } from "lucide-react";
import { Link } from "react-router-dom";
import { ResizeHandle } from "../components/ResizeHandle";
import { ActivityConsolePanel } from "../features/activity-console/ActivityConsolePanel";
import { useActivityConsoleStore } from "../features/activity-console/stores/activityConsoleStore";

/** The console docked at the bottom or right of every page; size and side are remembered. */
export function DockedConsole() {
  const position = useActivityConsoleStore((s) => s.panelPosition);
  const size = useActivityConsoleStore((s) => s.panelSize[s.panelPosition]);
  const setPanelSize = useActivityConsoleStore((s) => s.setPanelSize);
  const setPanelPosition = useActivityConsoleStore((s) => s.setPanelPosition);
  const setPanelOpen = useActivityConsoleStore((s) => s.setPanelOpen);
  const isBottom = position === "bottom";
  const max = isBottom ? Math.max(240, window.innerHeight - 120) : Math.max(320, window.innerWidth - 320);

  return (
    <aside
      className={`dock dock-${position}`}
      style={isBottom ? { height: size } : { width: size }}
      aria-label="Docked activity console"
    >
      <ResizeHandle
        orientation={isBottom ? "horizontal" : "vertical"}
        label="Resize docked console"
        value={size}
        min={isBottom ? 140 : 320}
        max={max}
        direction={-1}
        onChange={(n) => setPanelSize(position, n)}
      />
      <ActivityConsolePanel
        wrapMessages={!isBottom}
        actions={
          <>
            <button
              type="button"
              className="icon-button"
              aria-label={isBottom ? "Dock on the right" : "Dock at the bottom"}
              title={isBottom ? "Dock on the right" : "Dock at the bottom"}
              onClick={() => setPanelPosition(isBottom ? "right" : "bottom")}
            >
              {isBottom ? <PanelRight size={16} aria-hidden /> : <PanelBottom size={16} aria-hidden />}
            </button>
            <Link className="icon-button" to="/tools/activity-console" aria-label="Open the full console page" title="Open the full page">
              <Maximize2 size={16} aria-hidden />
            </Link>
            <button
              type="button"
              className="icon-button"
              aria-label="Close docked console"
              title="Close"
              onClick={() => setPanelOpen(false)}
            >
              <X size={16} aria-hidden />
            </button>
          </>
        }
      />
    </aside>
  );
}
