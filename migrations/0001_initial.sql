-- Activity Console schema, version 1.
-- Why the log table has no foreign keys and so few indexes: docs/schema.md.

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;

-- Hosting tables the console scopes by (seed Note 7).
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'creator')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE TRIGGER trg_users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE projects (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE project_members (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
-- "Which projects is this user in?" runs on every creator request.
CREATE INDEX project_members_user_id_idx ON project_members (user_id);

CREATE TABLE jobs (
    id         BIGSERIAL PRIMARY KEY,
    project_id BIGINT REFERENCES projects (id) ON DELETE SET NULL,
    name       TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Tokens that OTLP senders present as "Authorization: Bearer <token>".
CREATE TABLE ingest_tokens (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   BYTEA NOT NULL UNIQUE,   -- sha256 of the token; the token itself is never stored
    token_prefix TEXT NOT NULL,           -- first characters, to recognise a token in lists
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);

-- Lookup tables (seed Task 1.1).
CREATE TABLE activity_log_levels (
    id    SMALLINT PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL
);
INSERT INTO activity_log_levels (id, name, label) VALUES
    (1, 'debug', 'Debug'),
    (2, 'info', 'Info'),
    (3, 'warn', 'Warn'),
    (4, 'error', 'Error');

CREATE TABLE activity_log_sources (
    id    SMALLINT PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL
);
INSERT INTO activity_log_sources (id, name, label) VALUES
    (1, 'api', 'API Server'),
    (2, 'comfyui', 'ComfyUI Bridge'),
    (3, 'worker', 'Worker Process'),
    (4, 'agent', 'GPU Agent'),
    (5, 'pipeline', 'Pipeline Engine');

-- The log itself: append-only, written by binary COPY from the batch writer.
-- level_id/source_id are validated by the writer against the lookup tables it caches;
-- user/job/project ids are whatever the sender said and may name rows that do not exist.
CREATE TABLE activity_logs (
    id              BIGSERIAL PRIMARY KEY,
    timestamp       TIMESTAMPTZ NOT NULL DEFAULT now(),
    level_id        SMALLINT NOT NULL,
    source_id       SMALLINT NOT NULL,
    message         TEXT NOT NULL,
    fields          JSONB NOT NULL DEFAULT '{}'::jsonb,
    category        TEXT NOT NULL DEFAULT 'verbose' CHECK (category IN ('curated', 'verbose')),
    entity_type     TEXT,
    entity_id       BIGINT,
    user_id         BIGINT,
    job_id          BIGINT,
    project_id      BIGINT,
    trace_id        TEXT,        -- 32 lowercase hex characters, NULL when the record had no valid trace
    span_id         TEXT,        -- 16 lowercase hex characters
    trace_flags     SMALLINT,
    severity_number SMALLINT NOT NULL DEFAULT 0,
    severity_text   TEXT,
    service_name    TEXT,
    event_name      TEXT,
    resource        JSONB NOT NULL DEFAULT '{}'::jsonb,
    scope_name      TEXT,
    scope_version   TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- History pages, time ranges, histograms and per-level retention all walk time.
CREATE INDEX activity_logs_timestamp_idx ON activity_logs (timestamp, id);
-- Trace view: every entry of one trace.
CREATE INDEX activity_logs_trace_id_idx ON activity_logs (trace_id) WHERE trace_id IS NOT NULL;
-- Entity scope filter in the toolbar and history pane.
CREATE INDEX activity_logs_entity_idx ON activity_logs (entity_type, entity_id) WHERE entity_type IS NOT NULL;
-- Job filter, and scoping job-only entries through their job's project.
CREATE INDEX activity_logs_job_id_idx ON activity_logs (job_id) WHERE job_id IS NOT NULL;

-- Settings singleton (seed Task 1.1, PRD Req 1.5).
CREATE TABLE activity_log_settings (
    id                   BIGINT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    retention_days_debug INT NOT NULL DEFAULT 7,
    retention_days_info  INT NOT NULL DEFAULT 30,
    retention_days_warn  INT NOT NULL DEFAULT 30,
    retention_days_error INT NOT NULL DEFAULT 90,
    batch_size           INT NOT NULL DEFAULT 100,
    flush_interval_ms    INT NOT NULL DEFAULT 1000,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO activity_log_settings (id) VALUES (1);
CREATE TRIGGER trg_activity_log_settings_updated_at BEFORE UPDATE ON activity_log_settings
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
