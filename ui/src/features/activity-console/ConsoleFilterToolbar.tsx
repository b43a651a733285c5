import { Search, X } from "lucide-react";
import { forwardRef, useEffect, useState } from "react";
import { LevelPills, SourcePills } from "./components/FilterPills";
import { ModeSwitch } from "./components/ModeSwitch";
import { QueryBar } from "./query/QueryBar";
import { useActivityConsoleStore } from "./stores/activityConsoleStore";

interface ConsoleFilterToolbarProps {
  /** Controls shown beside the query bar (the console page's Sync toggle). */
  queryActions?: React.ReactNode;
}

/**
 * The live query bar (with `queryActions` beside it), then level and source pills, Curated | All
 * mode, search and entity scope in one row, all reading the store.
 */
export const ConsoleFilterToolbar = forwardRef<HTMLInputElement, ConsoleFilterToolbarProps>(function ConsoleFilterToolbar(
  { queryActions },
  searchRef,
) {
  const levels = useActivityConsoleStore((s) => s.levels);
  const sources = useActivityConsoleStore((s) => s.sources);
  const mode = useActivityConsoleStore((s) => s.mode);
  const searchText = useActivityConsoleStore((s) => s.searchText);
  const entityFilter = useActivityConsoleStore((s) => s.entityFilter);
  const toggleLevel = useActivityConsoleStore((s) => s.toggleLevel);
  const toggleSource = useActivityConsoleStore((s) => s.toggleSource);
  const setMode = useActivityConsoleStore((s) => s.setMode);
  const setSearchText = useActivityConsoleStore((s) => s.setSearchText);
  const setEntityFilter = useActivityConsoleStore((s) => s.setEntityFilter);
  const queryText = useActivityConsoleStore((s) => s.queryText);
  const queryInForce = useActivityConsoleStore((s) => s.queryInForce);
  const queryError = useActivityConsoleStore((s) => s.queryError);
  const setQueryText = useActivityConsoleStore((s) => s.setQueryText);

  // Entity scope is applied on Enter/blur, so a half-typed id does not filter the buffer.
  const [entityType, setEntityType] = useState(entityFilter?.type ?? "");
  const [entityId, setEntityId] = useState(entityFilter?.id != null ? String(entityFilter.id) : "");
  useEffect(() => {
    setEntityType(entityFilter?.type ?? "");
    setEntityId(entityFilter?.id != null ? String(entityFilter.id) : "");
  }, [entityFilter]);

  const applyEntity = () => {
    const id = entityId.trim() === "" ? undefined : Number(entityId);
    const type = entityType.trim() || undefined;
    if (type === entityFilter?.type && id === entityFilter?.id) return;
    setEntityFilter(type || id != null ? { type, id: Number.isFinite(id) ? id : undefined } : null);
  };

  return (
    <div className="console-toolbar" role="toolbar" aria-label="Console filters">
      <div className="console-query-row">
        <div className="console-query">
          <QueryBar
            label="Live query"
            value={queryText}
            onApply={setQueryText}
            error={queryError?.query === queryText.trim() ? queryError : null}
          />
          {queryError && (
            // The server refused the whole message: the tail goes on exactly as before.
            <p className="muted console-query-kept" role="status">
              {queryInForce ? (
                <>
                  The live tail keeps its previous query: <code>{queryInForce}</code>
                </>
              ) : (
                "The live tail keeps running without a query."
              )}
            </p>
          )}
        </div>
        {queryActions}
      </div>
      <LevelPills label="Levels" isOn={(level) => levels.has(level)} onToggle={toggleLevel} />
      <SourcePills label="Sources" isOn={(source) => sources.has(source)} onToggle={toggleSource} />
      <ModeSwitch label="Mode" mode={mode} onChange={setMode} />
      <label className="search-field">
        <Search size={14} aria-hidden />
        <input
          ref={searchRef}
          type="search"
          aria-label="Search messages"
          placeholder="Search  ( / )"
          value={searchText}
          onChange={(e) => setSearchText(e.target.value)}
          data-console-search=""
        />
      </label>
      <div className="entity-scope" role="group" aria-label="Entity scope">
        <input
          aria-label="Entity type"
          placeholder="entity"
          value={entityType}
          size={8}
          onChange={(e) => setEntityType(e.target.value)}
          onBlur={applyEntity}
          onKeyDown={(e) => e.key === "Enter" && applyEntity()}
        />
        <input
          aria-label="Entity id"
          placeholder="id"
          inputMode="numeric"
          value={entityId}
          size={5}
          onChange={(e) => setEntityId(e.target.value.replace(/[^0-9]/g, ""))}
          onBlur={applyEntity}
          onKeyDown={(e) => e.key === "Enter" && applyEntity()}
        />
        {entityFilter && (
          <button
            type="button"
            className="icon-button"
            aria-label="Clear entity scope"
            onClick={() => setEntityFilter(null)}
          >
            <X size={14} aria-hidden />
          </button>
        )}
      </div>
    </div>
  );
});
