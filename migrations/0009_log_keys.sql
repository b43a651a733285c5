-- Activity Console schema, version 9: the key catalogue (collector/key_catalogue.py).
--
-- Which attribute keys the stored entries carry ("field": a record attribute, "resource": a
-- resource attribute), the JSON type of their values, and when each was last seen, so that the
-- query bar can complete names without scanning activity_logs. The writer fills it from what it
-- commits; the retention job deletes keys not seen within the longest retention.
--
-- bucket says who may see a key: -1 admins only, a project id (that project's members), 0 every
-- role (rows of no project, user or job). No foreign key to projects: a key outlives nothing it
-- names, and a deleted project's keys expire with its entries.
CREATE TABLE log_keys (
    bucket    BIGINT NOT NULL,
    scope     TEXT NOT NULL CHECK (scope IN ('field', 'resource')),
    key       TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
    type      TEXT NOT NULL CHECK (type IN ('string', 'int', 'float', 'bool', 'null', 'map', 'array')),
    last_seen TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (bucket, scope, key, type)
);
