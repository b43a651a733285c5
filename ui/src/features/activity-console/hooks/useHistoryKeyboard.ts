import { useEffect, useState } from "react";
import type { RefObject } from "react";
import { edgeSelection, stepSelection } from "../keyboardSelection";
import { useConsoleKeyboard } from "./useConsoleKeyboard";

const always = () => true;

/**
 * The console's keys on the history table: `j`/`k` move a selection (by entry id) through the page,
 * `Enter`/`o` open its details, `Esc` closes them, `g`/`G` first / last row, `/` the search box.
 * The pane takes them when the focus is inside it (the live pane is the page's default).
 */
export function useHistoryKeyboard(
  pane: RefObject<HTMLElement | null>,
  ids: readonly number[],
  openId: number | null,
  setOpenId: (id: number | null) => void,
): number | null {
  const [selectedId, setSelectedId] = useState<number | null>(null);
  const list = { length: ids.length, at: (i: number) => ids[i] };
  const select = (index: number) => {
    if (index >= 0 && index < ids.length) setSelectedId(ids[index]!);
  };

  useConsoleKeyboard(
    {
      focusSearch: () => pane.current?.querySelector<HTMLInputElement>('input[type="search"]')?.focus(),
      jumpToLatest: () => select(edgeSelection(list, "last", always)),
      goToTop: () => select(edgeSelection(list, "first", always)),
      collapseAll: () => setOpenId(null),
      moveSelection: (step) => select(stepSelection(list, selectedId == null ? -1 : ids.indexOf(selectedId), step, always, step === 1 ? 0 : ids.length - 1)),
      openSelected: () => {
        if (selectedId == null || !ids.includes(selectedId)) return false;
        setOpenId(openId === selectedId ? null : selectedId);
        return true;
      },
    },
    true,
    { ref: pane, isDefault: false },
  );

  // A row opened by a click becomes the selection, so j/k go on from there.
  useEffect(() => {
    if (openId != null) setSelectedId(openId);
  }, [openId]);

  // Keep the selected row in view: the table scrolls in its own wrapper.
  useEffect(() => {
    if (selectedId == null) return;
    const row = pane.current?.querySelector<HTMLElement>(`[data-entry-id="${selectedId}"]`);
    row?.scrollIntoView?.({ block: "nearest" });
  }, [pane, selectedId]);

  return selectedId;
}
