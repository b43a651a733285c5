import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Bookmark, Trash2 } from "lucide-react";
import { useEffect, useState } from "react";
import { ApiError, apiJson } from "../../../lib/api";
import { useAuthStore } from "../../../lib/authStore";
import type { components } from "../../../api/schema";

export type SavedView = components["schemas"]["View"];
type NewView = components["schemas"]["NewView"];

/** What the user reads when a view action fails. */
export function viewErrorText(error: unknown, name?: string): string {
  if (error instanceof ApiError) {
    if (error.status === 409) return `A view named "${name ?? ""}" exists already: choose another name.`;
    if (error.status === 404) return "That view is gone: it was deleted, or it is not shared with you.";
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Saved views of history: save the current query, range and mode under a name, list the user's
 * own and shared ones, open one (also from `?view=<id>`), delete one's own.
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
  const userId = useAuthStore((s) => s.user?.id);
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const views = useQuery({
    queryKey: ["views"],
    queryFn: ({ signal }) => apiJson<components["schemas"]["ViewList"]>("/views", { signal }),
    enabled: open,
  });
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

  return (
    <div className="views-menu">
      <button type="button" className="btn btn-small" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
        <Bookmark size={14} aria-hidden /> Views
      </button>
      {linked.error && (
        <p className="form-error" role="alert">
          {viewErrorText(linked.error)}
        </p>
      )}
      {open && (
        <div className="views-popover" role="dialog" aria-label="Saved views">
          <form
            onSubmit={(e) => {
              e.preventDefault();
              if (name.trim()) save.mutate({ ...current, name: name.trim() });
            }}
          >
            <input aria-label="View name" placeholder="Name this view" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
            <button type="submit" className="btn btn-small" disabled={!name.trim() || save.isPending}>
              Save current
            </button>
          </form>
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
          {views.data && views.data.data.length === 0 && <p className="muted">No saved views yet.</p>}
          <ul aria-label="Views">
            {views.data?.data.map((v) => (
              <li key={v.id}>
                <button
                  type="button"
                  className="link-button"
                  onClick={() => {
                    onOpen(v);
                    setOpen(false);
                  }}
                >
                  {v.name}
                </button>
                <span className="muted mono"> {v.q}</span>
                {v.owner_id !== userId && <span className="muted"> · {v.project_name ? `shared in ${v.project_name}` : v.owner_email}</span>}
                {v.owner_id === userId && (
                  <button type="button" className="icon-button" aria-label={`Delete view ${v.name}`} onClick={() => remove.mutate(v.id)}>
                    <Trash2 size={12} aria-hidden />
                  </button>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
