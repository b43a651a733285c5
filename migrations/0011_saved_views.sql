-- Activity Console schema, version 11: saved views.
--
-- A view is a name for what the console shows: a query (q, docs/query.md), a time range as the
-- console's URL keeps it (relative such as now-1h, or absolute) and the mode. Each belongs to the
-- user who saved it; an admin may share one with a project, whose members then see it (read
-- only). Deleting the user or the project deletes their views / ends the sharing.
CREATE TABLE saved_views (
    id          BIGSERIAL PRIMARY KEY,
    owner_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    q           TEXT NOT NULL DEFAULT '' CHECK (length(q) <= 2000),
    range_from  TEXT CHECK (length(range_from) <= 64),
    range_to    TEXT CHECK (length(range_to) <= 64),
    mode        TEXT CHECK (mode IN ('curated', 'verbose')),
    project_id  BIGINT REFERENCES projects (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (owner_id, name)
);
CREATE INDEX saved_views_project_idx ON saved_views (project_id) WHERE project_id IS NOT NULL;
