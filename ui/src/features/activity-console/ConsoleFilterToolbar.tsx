import { Search, X } from "lucide-react";
import { forwardRef, useEffect, useState } from "react";
import { LevelPills, SourcePills } from "./components/FilterPills";
import { ModeSwitch } from "./components/ModeSwitch";
import { useActivityConsoleStore } from "./stores/activityConsoleStore";

/** Level and source pills, Curated | All mode, search and entity scope, in one row, all reading the store. */
export const ConsoleFilterToolbar = forwardRef<HTMLInputElement>(function ConsoleFilterToolbar(_props, searchRef) {
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
