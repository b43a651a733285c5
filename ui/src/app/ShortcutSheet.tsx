import { useEffect, useState } from "react";
import { Dialog } from "../components/Dialog";
import { SHORTCUTS, isTypingTarget } from "../features/activity-console/shortcuts";

/** `?` anywhere (not while typing) opens the list of every shortcut; Esc closes it. */
export function ShortcutSheet() {
  const [open, setOpen] = useState(false);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== "?" || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented || isTypingTarget(e.target)) return;
      e.preventDefault();
      setOpen(true);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  if (!open) return null;
  return (
    <Dialog title="Keyboard shortcuts" onClose={() => setOpen(false)}>
      <table className="shortcut-table">
        <tbody>
          {SHORTCUTS.map((s) => (
            <tr key={s.keys.join(" ")}>
              <th scope="row">
                {s.keys.map((k, i) => (
                  <span key={k}>
                    {i > 0 && <span className="muted"> or </span>}
                    <kbd>{k}</kbd>
                  </span>
                ))}
              </th>
              <td>{s.does}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted shortcut-note">
        Keys act on the pane that has the focus (the live pane when none has); they never fire while you type in a
        field. In history, g and G go to the first and last row of the page.
      </p>
    </Dialog>
  );
}
