"""The OpenAPI 3.1 description of the HTTP API, served at ``/api/v1/openapi.json`` (no token
needed). Hand-written: the handlers parse query strings themselves (repeated and comma-separated
values), which generators describe badly. ``tests/test_api_openapi.py`` checks that every route
registered under ``/api/v1`` is described here and the other way round."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from collector.model import CATEGORIES, LEVELS, SOURCES
from collector.writer import BATCH_SIZE_RANGE, FLUSH_INTERVAL_MS_RANGE

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _param(name: str, schema: dict[str, Any], description: str, *, where: str = "query",
           required: bool = False, explode: bool | None = None) -> dict[str, Any]:  # fmt: skip
    param = {"name": name, "in": where, "required": required or where == "path", "description": description,
             "schema": schema}  # fmt: skip
    if explode is not None:
        param["explode"] = explode
    return param


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "invalid parameter or body", 401: "missing, invalid or expired token",
            403: "admins only", 404: "not found or outside your scope", 409: "already exists",
            429: "too many failed logins (see Retry-After)"}  # fmt: skip
    return {str(s): _json(_ref("Error"), text[s]) for s in statuses}


_NAMES = "Repeat the parameter or separate values with commas; unknown values are a 400."
FILTERS = [
    _param("level", {"type": "array", "items": {"type": "string", "enum": list(LEVELS)}}, _NAMES, explode=True),
    _param("source", {"type": "array", "items": {"type": "string", "enum": list(SOURCES)}}, _NAMES, explode=True),
    _param("mode", {"type": "string", "enum": list(CATEGORIES)}, "curated or verbose entries only"),
    _param("entity_type", {"type": "string"}, "entity type, exact"),
    _param("entity_id", {"type": "integer", "format": "int64"}, "entity id"),
    _param("job_id", {"type": "integer", "format": "int64"}, "job id"),
    _param("user_id", {"type": "integer", "format": "int64"}, "user id"),
    _param("project_id", {"type": "integer", "format": "int64"}, "project id"),
    _param("trace_id", {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}, "W3C trace id"),
    _param("from", {"type": "string", "format": "date-time"}, "inclusive lower bound (RFC 3339; no offset = UTC)"),
    _param("to", {"type": "string", "format": "date-time"}, "exclusive upper bound (RFC 3339)"),
    _param("search", {"type": "string", "maxLength": 1000},
           "case-insensitive substring of the message; % and _ match themselves"),
]  # fmt: skip

_INT = {"type": "integer"}
_SETTINGS_PROPS = {
    "retention_days_debug": {**_INT, "minimum": 1, "maximum": 3650},
    "retention_days_info": {**_INT, "minimum": 1, "maximum": 3650},
    "retention_days_warn": {**_INT, "minimum": 1, "maximum": 3650},
    "retention_days_error": {**_INT, "minimum": 7, "maximum": 3650},
    "batch_size": {**_INT, "minimum": BATCH_SIZE_RANGE[0], "maximum": BATCH_SIZE_RANGE[1]},
    "flush_interval_ms": {**_INT, "minimum": FLUSH_INTERVAL_MS_RANGE[0], "maximum": FLUSH_INTERVAL_MS_RANGE[1]},
}
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_STR = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string", "examples": ["bad_request", "unauthenticated", "forbidden", "not_found"]},
            "message": {"type": "string"}}}},
    },
    "Entry": {
        "type": "object", "description": "One activity log entry; the same shape as the WebSocket live tail's.",
        "properties": {
            "id": {"type": "integer", "format": "int64"}, "timestamp": _TIME,
            "level": {"type": "string", "enum": list(LEVELS)}, "source": {"type": "string", "enum": list(SOURCES)},
            "message": {"type": "string"}, "category": {"type": "string", "enum": list(CATEGORIES)},
            "fields": {"type": "object"}, "entity_type": _NULLABLE_STR, "entity_id": _NULLABLE_INT,
            "user_id": _NULLABLE_INT, "job_id": _NULLABLE_INT, "project_id": _NULLABLE_INT,
            "trace_id": _NULLABLE_STR, "span_id": _NULLABLE_STR, "trace_flags": _NULLABLE_INT,
            "severity_number": _INT, "severity_text": _NULLABLE_STR, "service_name": _NULLABLE_STR,
            "event_name": _NULLABLE_STR, "resource": {"type": "object"}, "scope_name": _NULLABLE_STR,
            "scope_version": _NULLABLE_STR,
            "admin_only": {"type": "boolean", "description": "an entry only admins see (the server's own records)"},
            "truncated": {"type": "boolean", "description":
                "present (true) when a list view or the live tail shortened this entry: the message is cut at "
                "8,192 characters; a fields or resource map larger than 16 KiB shows its first 50 keys with values "
                "cut at 1,024 characters. GET /api/v1/activity-logs/{id} returns it whole"},
            "message_length": {"type": "integer", "description": "with truncated: the full message's length"},
        },
    },
    "EntryList": {
        "type": "object", "required": ["data", "meta"],
        "properties": {"data": {"type": "array", "items": _ref("Entry")}, "meta": {"type": "object", "description":
            "page form: {page, per_page, total, total_exact} (total is exact up to 10,000, then 10,000 with "
            "total_exact false); cursor form: {per_page, has_more, before_id, next_before_id} "
            "or {per_page, has_more, after_id, next_after_id}"}},
    },
    "User": {"type": "object", "properties": {"id": _INT, "email": {"type": "string"},
             "role": {"type": "string", "enum": ["admin", "creator"]}, "created_at": _TIME}},
    "Project": {"type": "object", "properties": {"id": _INT, "name": {"type": "string"}, "created_at": _TIME,
                "member_ids": {"type": "array", "items": _INT}}},
    "IngestToken": {"type": "object", "properties": {
        "id": _INT, "name": {"type": "string"}, "token_prefix": {"type": "string"}, "created_at": _TIME,
        "revoked_at": {"type": ["string", "null"], "format": "date-time"},
        "last_used_at": {"type": ["string", "null"], "format": "date-time"},
        "token": {"type": "string", "description": "only in the response that creates the token"}}},
    "Settings": {"type": "object", "properties": {**_SETTINGS_PROPS, "updated_at": {"type": ["string", "null"]}}},
    "SettingsUpdate": {"type": "object", "additionalProperties": False, "minProperties": 1,
                       "properties": _SETTINGS_PROPS},
}  # fmt: skip


def _op(summary: str, responses: dict[str, Any], *, params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, tag: str = "logs", public: bool = False) -> dict[str, Any]:  # fmt: skip
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if public:
        op["security"] = []
    return op


_ID = {"type": "integer", "format": "int64"}
_PAGE = [
    _param("page", {**_INT, "minimum": 1, "default": 1}, "1-based page; offsets end at 100,000"),
    _param("per_page", {**_INT, "minimum": 1, "maximum": 100, "default": 25}, "entries per page"),
    _param("before_id", _ID, "cursor form: entries older than this one in (timestamp, id) order, newest first"),
    _param("after_id", _ID, "cursor form: entries committed after this id, oldest first (gapless resume)"),
]
_DATA_OF = lambda name: {"type": "object", "properties": {"data": {"type": "array", "items": _ref(name)}}}  # noqa: E731

PATHS: dict[str, Any] = {
    "/api/v1/auth/login": {"post": _op(
        "Log in; returns a JWT (HS256) valid for 12 hours by default",
        {"200": _json({"type": "object", "properties": {"token": {"type": "string"}, "token_type": {"const": "Bearer"},
                       "expires_at": {"type": "integer", "description": "Unix seconds"}, "user": _ref("User")}}, "logged in"),
         **_errors(400, 401, 429),
         "503": _json(_ref("Error"), "too many logins in progress; retry after Retry-After seconds")},
        body={"type": "object", "required": ["email", "password"],
              "properties": {"email": {"type": "string"}, "password": {"type": "string"}}},
        tag="auth", public=True)},
    "/api/v1/auth/me": {"get": _op("The current user (with project_ids for creators)",
                                   {"200": _json({"type": "object", "properties": {"user": _ref("User")}}, "you"),
                                    **_errors(401)}, tag="auth")},
    "/api/v1/admin/users": {
        "get": _op("List users", {"200": _json(_DATA_OF("User"), "users"), **_errors(401, 403)}, tag="admin"),
        "post": _op("Create a user", {"201": _json(_ref("User"), "created"), **_errors(400, 401, 403, 409)},
                    body={"type": "object", "required": ["email", "password", "role"], "properties": {
                        "email": {"type": "string"}, "password": {"type": "string", "minLength": 8},
                        "role": {"type": "string", "enum": ["admin", "creator"]}}}, tag="admin"),
    },
    "/api/v1/admin/projects": {
        "get": _op("List projects with their member ids", {"200": _json(_DATA_OF("Project"), "projects"),
                   **_errors(401, 403)}, tag="admin"),
        "post": _op("Create a project", {"201": _json(_ref("Project"), "created"), **_errors(400, 401, 403, 409)},
                    body={"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                    tag="admin"),
    },
    "/api/v1/admin/projects/{project_id}/members": {"post": _op(
        "Add a user to a project (idempotent)", {"201": _json({"type": "object"}, "membership"),
                                                  **_errors(400, 401, 403, 404)},
        params=[_param("project_id", _ID, "project", where="path")],
        body={"type": "object", "required": ["user_id"], "properties": {"user_id": _INT}}, tag="admin")},
    "/api/v1/admin/projects/{project_id}/members/{user_id}": {"delete": _op(
        "Remove a user from a project", {"200": _json({"type": "object"}, "removed"), **_errors(401, 403, 404)},
        params=[_param("project_id", _ID, "project", where="path"), _param("user_id", _ID, "user", where="path")],
        tag="admin")},
    "/api/v1/admin/ingest-tokens": {
        "get": _op("List ingest tokens (never the secrets)", {"200": _json(_DATA_OF("IngestToken"), "tokens"),
                   **_errors(401, 403)}, tag="admin"),
        "post": _op("Create an ingest token; the token is in this response only",
                    {"201": _json(_ref("IngestToken"), "created"), **_errors(400, 401, 403)},
                    body={"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                    tag="admin"),
    },
    "/api/v1/admin/ingest-tokens/{token_id}": {"delete": _op(
        "Revoke an ingest token (effective at once)", {"200": _json(_ref("IngestToken"), "revoked"),
                                                       **_errors(401, 403, 404)},
        params=[_param("token_id", _ID, "token", where="path")], tag="admin")},
    "/api/v1/activity-logs": {"get": _op(
        "Entries visible to you, newest first: a page, or a cursor slice",
        {"200": _json(_ref("EntryList"), "entries"), **_errors(400, 401)}, params=FILTERS + _PAGE)},
    "/api/v1/activity-logs/export": {"get": _op(
        "Every matching entry, oldest first, streamed as an attachment. format=json is NDJSON "
        "(application/x-ndjson, one entry object per line); format=text is one line per entry: "
        "`timestamp level source message key=value…`",
        {"200": {"description": "the export", "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}}}}, **_errors(400, 401)},
        params=FILTERS + [_param("format", {"type": "string", "enum": ["json", "text"], "default": "json"}, "format")])},
    "/api/v1/activity-logs/{log_id}": {"get": _op(
        "One entry, whole (list views and the live tail may shorten large ones)",
        {"200": _json({"type": "object", "properties": {"data": _ref("Entry")}}, "the entry"),
         **_errors(400, 401, 404)},
        params=[_param("log_id", _ID, "the entry", where="path")])},
    "/api/v1/activity-logs/{log_id}/context": {"get": _op(
        "The entries around one entry, oldest first, the entry included (filters apply to the neighbours)",
        {"200": _json(_ref("EntryList"), "entries; meta {anchor_id, before, after}"), **_errors(400, 401, 404)},
        params=[_param("log_id", _ID, "the entry", where="path"),
                _param("before", {**_INT, "minimum": 0, "maximum": 100, "default": 10}, "older entries"),
                _param("after", {**_INT, "minimum": 0, "maximum": 100, "default": 10}, "newer entries")] + FILTERS)},
    "/api/v1/activity-logs/histogram": {"get": _op(
        "Counts per equal time bucket and level over [from, to) (default: the last 24 hours)",
        {"200": _json({"type": "object", "properties": {"data": {"type": "array", "items": {"type": "object",
            "properties": {"start": _TIME, "end": _TIME, "total": _INT, "counts": {"type": "object",
                "properties": {level: _INT for level in LEVELS}}}}},
            "meta": {"type": "object"}}}, "buckets"), **_errors(400, 401)},
        params=FILTERS + [_param("buckets", {**_INT, "minimum": 1, "maximum": 1000, "default": 60}, "buckets")])},
    "/api/v1/traces/{trace_id}": {"get": _op(
        "Every visible entry of a trace, oldest first, with span ids",
        {"200": _json(_ref("EntryList"), "entries; meta {trace_id, count, truncated}"), **_errors(400, 401)},
        params=[_param("trace_id", {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}, "trace id", where="path"),
                _param("limit", {**_INT, "minimum": 1, "maximum": 10000, "default": 1000}, "at most")])},
    "/api/v1/admin/activity-logs/settings": {
        "get": _op("Retention and batch settings", {"200": _json(_ref("Settings"), "settings"),
                   **_errors(401, 403)}, tag="admin"),
        "put": _op("Change some settings (partial); the batch writer applies them at once",
                   {"200": _json(_ref("Settings"), "the settings now"), **_errors(400, 401, 403)},
                   body=_ref("SettingsUpdate"), tag="admin"),
    },
    "/api/v1/admin/activity-logs": {"delete": _op(
        "Delete entries older than `before` (optionally of some levels) now; returns the exact count",
        {"200": _json({"type": "object", "properties": {"deleted": _INT, "by_level": {"type": "object"},
                       "before": _TIME}}, "purged"), **_errors(400, 401, 403)},
        params=[_param("before", _TIME, "cutoff (exclusive)", required=True), FILTERS[0]], tag="admin")},
    "/api/v1/openapi.json": {"get": _op("This document", {"200": _json({"type": "object"}, "OpenAPI 3.1")},
                                        tag="meta", public=True)},
}  # fmt: skip

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Activity Console API", "version": "1",
             "description": "Every endpoint but login and this document needs `Authorization: Bearer <JWT>`. "
                            "Errors are `{\"error\": {\"code\", \"message\"}}`. Creators see their own entries, "
                            "their projects' entries and system entries; admins see all."},
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
                   "schemas": SCHEMAS},
    "paths": PATHS,
}  # fmt: skip


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", openapi_document)
