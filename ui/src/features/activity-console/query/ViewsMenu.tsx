import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Bookmark, Pencil, Trash2 } from "lucide-react";
import { type KeyboardEvent, useEffect, useRef, useState } from "react";
import { ApiError, apiJson } from "../../../lib/api";
import { isAdmin, useAuthStore } from "../../../lib/authStore";
import type { components } from "../../../api/schema";
import { useProjects } from "../../admin/hooks/usePeople";

export type SavedView = components["schemas"]["View"];
type NewView = components["schemas"]["NewView"];
type ViewChange = components["schemas"]["ViewChange"];

/** The server's bound on a view's name. */
const NAME_MAX = 100;

/** What the user reads when a view action fails. */
export function viewErrorText(error: unknown, name?: string): string {
  if (error instanceof ApiError) {
    if (error.status === 409) return `A view named "${name ?? ""}" exists already: choose another name.`;
    if (error.status === 404 && error.message.startsWith("no project")) return "that project is gone (deleted meanwhile).";
    if (error.status === 404) return "That view is gone: it was deleted, or it is not shared with you.";
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A key handler that runs `action` on Enter (and keeps the Enter from submitting history's filter form). */
const onEnter = (action: () => void) => (e: KeyboardEvent<HTMLInputElement>) => {
  if (e.key !== "Enter") return;
  e.preventDefault();
  action();
};

/**
 * How the list says who a view is shared with: the owner reads the project it is shared in; anyone
 * else also reads whose it is (they may open it, not change it). Null: the user's own, unshared view.
 */
export function viewSharingText(view: SavedView, userId: number | undefined): string | null {
  if (view.owner_id !== userId) return `shared in ${view.project_name ?? "a project"} by ${view.owner_email}`;
  return view.project_name ? `shared in ${view.project_name}` : null;
}

/**
 * Saved views of history: save the current query, range and mode under a name, list the user's
 * own and shared ones, open one (also from `?view=<id>`); the owner renames and deletes theirs,
 * and an admin shares their own with a project (or stops sharing it). Views someone else shared
 * are marked as such and offer only opening: the server refuses any change by a non-owner.
 */
export function ViewsMenu({
  current,
  viewId,
  onOpen,
}: {
  current: Omit<NewView, "name">;
  viewId: number | null;
  onOpen: (view: SavedView) => void;
}) {
  const user = useAuthStore((s) => s.user);
  const admin = isAdmin(user);
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const toggleRef = useRef<HTMLButtonElement>(null);
  const views = useQuery({
    queryKey: ["views"],
    queryFn: ({ signal }) => apiJson<components["schemas"]["ViewList"]>("/views", { signal }),
    enabled: open,
  });
  const projects = useProjects({ enabled: open && admin });
  const linked = useQuery({
    queryKey: ["views", viewId],
    queryFn: ({ signal }) => apiJson<SavedView>(`/views/${viewId}`, { signal }),
    enabled: viewId != null,
    retry: false,
  });
  useEffect(() => {
    if (linked.data) onOpen(linked.data);
    // Open once per loaded view; onOpen changes with every render of the host.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [linked.data]);

  const save = useMutation({
    mutationFn: (body: NewView) => apiJson<SavedView>("/views", { method: "POST", body }),
    onSuccess: () => {
      setName("");
      void client.invalidateQueries({ queryKey: ["views"] });
    },
  });
  const remove = useMutation({
    mutationFn: (id: number) => apiJson<void>(`/views/${id}`, { method: "DELETE" }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["views"] }),
  });
  const saveCurrent = () => {
    if (name.trim() && !save.isPending) save.mutate({ ...current, name: name.trim() });
  };

  return (
    <div className="views-menu">
      <button ref={toggleRef} type="button" className="btn btn-small" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
        <Bookmark size={14} aria-hidden /> Views
      </button>
      {linked.error && (
        <p className="form-error" role="alert">
          {viewErrorText(linked.error)}
        </p>
      )}
      {open && (
        <div
          className="views-popover"
          role="dialog"
          aria-label="Saved views"
          onKeyDown={(e) => {
            if (e.key !== "Escape") return;
            e.stopPropagation();
            setOpen(false);
            toggleRef.current?.focus();
          }}
        >
          {/* Not a <form>: the menu sits inside history's filter form, a form in a form is invalid
              HTML, and Chromium submitted the outer one natively (a page load). Enter saves. */}
          <div className="views-save">
            <input
              aria-label="View name"
              placeholder="Name this view"
              value={name}
              maxLength={NAME_MAX}
              onChange={(e) => setName(e.target.value)}
              onKeyDown={onEnter(saveCurrent)}
            />
            <button type="button" className="btn btn-small" disabled={!name.trim() || save.isPending} onClick={saveCurrent}>
              Save current
            </button>
          </div>
          {save.error && (
            <p className="form-error" role="alert">
              {viewErrorText(save.error, name.trim())}
            </p>
          )}
          {remove.error && (
            <p className="form-error" role="alert">
              {viewErrorText(remove.error)}
            </p>
          )}
          {views.isPending && <p className="muted">Loading views…</p>}
          {views.error && (
            <p className="form-error" role="alert">
              Views could not be loaded: {viewErrorText(views.error)}
            </p>
          )}
          {projects.error && (
            <p className="form-error" role="alert">
              Projects could not be loaded: {viewErrorText(projects.error)}
            </p>
          )}
          {views.data && views.data.data.length === 0 && <p className="muted">No saved views yet.</p>}
          <ul aria-label="Views">
            {views.data?.data.map((v) => (
              <ViewItem
                key={v.id}
                view={v}
                userId={user?.id}
                projects={admin ? (projects.data ?? []) : null}
                onOpen={() => {
                  onOpen(v);
                  setOpen(false);
                }}
                onDelete={() => remove.mutate(v.id)}
              />
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

/**
 * One view in the list: its name opens it. The owner also gets Rename (inline: Enter saves, Esc
 * cancels) and Delete; an owner who is an admin (`projects` given) picks the project it is shared
 * in. A failed change is said in words under the view.
 */
function ViewItem({
  view,
  userId,
  projects,
  onOpen,
  onDelete,
}: {
  view: SavedView;
  userId: number | undefined;
  projects: { id: number; name: string }[] | null;
  onOpen: () => void;
  onDelete: () => void;
}) {
  const client = useQueryClient();
  const own = view.owner_id === userId;
  const [draft, setDraft] = useState<string | null>(null);
  const renameRef = useRef<HTMLButtonElement>(null);
  const change = useMutation({
    mutationFn: (body: ViewChange) => apiJson<SavedView>(`/views/${view.id}`, { method: "PATCH", body }),
    onSuccess: (changed, body) => {
      if (body.name !== undefined) closeRename();
      // The answer is the view as changed: shown at once, not after the list is fetched again.
      client.setQueryData<components["schemas"]["ViewList"]>(["views"], (list) =>
        list ? { ...list, data: list.data.map((v) => (v.id === changed.id ? changed : v)) } : list,
      );
      void client.invalidateQueries({ queryKey: ["views"] });
    },
  });
  const renaming = draft !== null;
  const renameError = change.error && change.variables?.name !== undefined ? change.error : null;
  const shareError = change.error && change.variables?.name === undefined ? change.error : null;

  function closeRename() {
    setDraft(null);
    change.reset();
    // Back to the button that opened the field, so that the keyboard stays in the list.
    requestAnimationFrame(() => renameRef.current?.focus());
  }

  function submitRename() {
    const name = draft?.trim() ?? "";
    if (!name || change.isPending) return;
    if (name === view.name) closeRename();
    else change.mutate({ name });
  }

  const sharing = viewSharingText(view, userId);
  return (
    <li className="view-item">
      <div className="view-item-head">
        {renaming ? (
          <div className="view-rename">
            <input
              aria-label={`New name for view ${view.name}`}
              value={draft}
              maxLength={NAME_MAX}
              autoFocus
              aria-invalid={renameError ? true : undefined}
              aria-describedby={renameError ? `view-rename-error-${view.id}` : undefined}
              onChange={(e) => setDraft(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter") onEnter(submitRename)(e);
                if (e.key !== "Escape") return;
                // Esc cancels the rename only; the menu stays open.
                e.preventDefault();
                e.stopPropagation();
                closeRename();
              }}
            />
            <button type="button" className="btn btn-small" disabled={!draft.trim() || change.isPending} onClick={submitRename}>
              Save
            </button>
            <button type="button" className="btn btn-small" onClick={closeRename}>
              Cancel
            </button>
          </div>
        ) : (
          <button type="button" className="link-button view-name" onClick={onOpen}>
            {view.name}
          </button>
        )}
        {own && !renaming && (
          <button
            ref={renameRef}
            type="button"
            className="icon-button"
            aria-label={`Rename view ${view.name}`}
            title="Rename"
            onClick={() => {
              change.reset();
              setDraft(view.name);
            }}
          >
            <Pencil size={12} aria-hidden />
          </button>
        )}
        {own && (
          <button type="button" className="icon-button" aria-label={`Delete view ${view.name}`} title="Delete" onClick={onDelete}>
            <Trash2 size={12} aria-hidden />
          </button>
        )}
      </div>
      {renameError && (
        <p className="form-error" role="alert" id={`view-rename-error-${view.id}`}>
          {viewErrorText(renameError, change.variables?.name ?? undefined)}
        </p>
      )}
      <div className="view-item-meta">
        <span className="muted mono view-query" title={view.q}>
          {view.q || "everything"}
        </span>
        {own && projects ? (
          <label className="view-share">
            <span className="muted">Shared with</span>
            <select
              aria-label={`Share view ${view.name} with`}
              value={change.isPending && change.variables?.project_id !== undefined ? (change.variables.project_id ?? "") : (view.project_id ?? "")}
              disabled={change.isPending}
              onChange={(e) => change.mutate({ project_id: e.target.value ? Number(e.target.value) : null })}
            >
              <option value="">Not shared</option>
              {view.project_id != null && !projects.some((p) => p.id === view.project_id) && (
                <option value={view.project_id}>{view.project_name ?? `project ${view.project_id}`}</option>
              )}
              {projects.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
          </label>
        ) : (
          sharing && <span className={own ? "muted view-shared" : "view-shared is-others"}>{sharing}</span>
        )}
      </div>
      {shareError && (
        <p className="form-error" role="alert">
          Sharing could not be changed: {viewErrorText(shareError)}
        </p>
      )}
    </li>
  );
}
