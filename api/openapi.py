"""The OpenAPI 3.1 description of the HTTP API and of the live tail's messages, served at
``/api/v1/openapi.json`` (no token needed) and committed as ``ui/src/api/openapi.json``, from which
the console generates its TypeScript types.

Generated, not written: the schemas are the pydantic models of the contract
(``collector/contract.py``) and of ``api/accounts.py``; this module adds the route table.
``tests/integration/test_api_logs.py`` checks that every route registered under ``/api/v1`` is
described here and the other way round, and ``tests/unit/test_contract.py`` that the committed copy
is current::

    .venv/bin/python -m api.openapi           # print the document
    .venv/bin/python -m api.openapi --write   # write ui/src/api/openapi.json
"""

from __future__ import annotations

import argparse
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from api import accounts, views
from collector import contract
from collector.contract import (
    DEFAULT_BUCKETS,
    DEFAULT_CATALOGUE_KEYS,
    DEFAULT_FACET_TOP,
    FACET_MAX_ROWS,
    MAX_FACET_TOP,
    MAX_FACETS,
    DEFAULT_CONTEXT_ENTRIES,
    DEFAULT_PER_PAGE,
    DEFAULT_TRACE_ENTRIES,
    INT64_MAX,
    MAX_BUCKETS,
    MAX_CATALOGUE_KEY_CHARS,
    MAX_CATALOGUE_KEYS,
    MAX_OFFSET,
    MAX_PER_PAGE,
    MAX_TRACE_ENTRIES,
    TRACE_ID_HEX_CHARS,
)

PATH = "/api/v1/openapi.json"
UI_COPY = Path(__file__).resolve().parents[1] / "ui" / "src" / "api" / "openapi.json"
REF_TEMPLATE = "#/components/schemas/{model}"
# Components that no route returns: the live tail's messages (GET /ws/activity-logs), for the
# console's types.
MESSAGE_MODELS: tuple[type[BaseModel], ...] = (contract.LiveClientMessage, contract.LiveServerMessage)

_ERRORS = {
    400: "invalid parameter or body", 401: "missing, invalid or expired token", 403: "admins only",
    404: "not found or outside your scope", 409: "already exists, or not allowed in the current state", 410: "used or expired",
    429: "too many requests (see Retry-After)",
    503: "busy; retry after Retry-After seconds",
}  # fmt: skip


class _Schemas(GenerateJsonSchema):
    """Pydantic's JSON schemas without field titles, which only repeat the field names (and would
    clutter the generated TypeScript)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


@dataclass(frozen=True)
class Route:
    """One operation. ``response`` is the model of its JSON body on success (a raw schema for the
    few bodies no model describes), ``stream`` the media types of a streamed one instead."""

    method: str
    path: str
    operation_id: str
    summary: str
    response: type[BaseModel] | dict[str, Any] | None
    status: int = 200
    body: type[BaseModel] | None = None
    params: tuple[dict[str, Any], ...] = ()
    errors: tuple[int, ...] = (400, 401)
    tag: str = "logs"
    public: bool = False
    stream: tuple[str, ...] = ()


def _param(name: str, schema: dict[str, Any], description: str, *, where: str = "query",
           required: bool = False) -> dict[str, Any]:  # fmt: skip
    return {"name": name, "in": where, "required": required or where == "path", "description": description,
            "schema": schema}  # fmt: skip


def _integer(low: int, high: int = INT64_MAX, default: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "format": "int64", "minimum": low, "maximum": high}
    if default is not None:
        schema["default"] = default
    return schema


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional field's schema without its null branch: a query parameter is absent, never null."""
    branches = [branch for branch in schema.get("anyOf", ()) if branch != {"type": "null"}]
    if len(branches) != 1:
        return dict(schema)
    rest = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
    return {**rest, **branches[0]}


def _filter_params() -> tuple[dict[str, Any], ...]:
    """The query parameters of ``LogQuery``, from its schema: the bounds are the contract's."""
    schema = contract.LogQuery.model_json_schema(ref_template=REF_TEMPLATE, schema_generator=_Schemas)
    params = []
    for name, prop in schema["properties"].items():
        prop = _not_null(prop)
        description = prop.pop("description", "")
        if prop.get("type") == "array":
            description += "; repeat the parameter or separate values with commas"
        params.append(_param(name, prop, description))
    return tuple(params)


FILTERS = _filter_params()
_LEVEL = next(param for param in FILTERS if param["name"] == "level")
_ENTRY_ID = _param("log_id", _integer(1), "the entry", where="path")
_VIEW_ID = _param("view_id", _integer(1), "the view", where="path")
_PAGE = (
    _param("page", {"type": "integer", "minimum": 1, "default": 1}, f"1-based page; offsets end at {MAX_OFFSET:,}"),
    _param("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE},
           "entries per page"),
    _param("before_id", _integer(1), "cursor form: entries older than this one in (timestamp, id) order, newest first"),
    _param("after_id", _integer(0), "cursor form: entries committed after this id, oldest first (gapless resume)"),
)  # fmt: skip
_USER_ID = _param("user_id", _integer(1), "user", where="path")
_PROJECT_ID = _param("project_id", _integer(1), "project", where="path")
_AROUND = {"type": "integer", "minimum": 0, "maximum": MAX_PER_PAGE, "default": DEFAULT_CONTEXT_ENTRIES}

ROUTES: tuple[Route, ...] = (
    Route("post", "/api/v1/auth/login", "login", "Log in; returns a JWT (HS256) valid for 12 hours by default",
          accounts.LoginResult, body=accounts.LoginBody, errors=(400, 401, 429, 503), tag="auth", public=True),
    Route("get", "/api/v1/auth/me", "currentUser", "The current user (with project_ids for creators)",
          accounts.CurrentUser, errors=(401,), tag="auth"),
    Route("get", "/api/v1/admin/users", "listUsers", "List users", accounts.UserList, errors=(401, 403), tag="admin"),
    Route("post", "/api/v1/admin/users", "createUser", "Create a user", accounts.User, status=201,
          body=accounts.NewUser, errors=(400, 401, 403, 409), tag="admin"),
    Route("patch", "/api/v1/admin/users/{user_id}", "changeUserRole",
          "Change a user's role (applies from the account's next request); the last admin cannot be demoted (409)",
          accounts.User, body=accounts.RoleChange, params=(_USER_ID,), errors=(400, 401, 403, 404, 409), tag="admin"),
    Route("put", "/api/v1/admin/users/{user_id}/password", "resetUserPassword",
          "Set a new password for a user (the rules of user creation apply)", accounts.User,
          body=accounts.PasswordReset, params=(_USER_ID,), errors=(400, 401, 403, 404, 503), tag="admin"),
    Route("delete", "/api/v1/admin/users/{user_id}", "deleteUser",
          "Delete a user and their memberships (their entries stay); not yourself, not the last admin (409)",
          accounts.DeletedUser, params=(_USER_ID,), errors=(401, 403, 404, 409), tag="admin"),
    Route("get", "/api/v1/admin/projects", "listProjects", "List projects with their member ids",
          accounts.ProjectList, errors=(401, 403), tag="admin"),
    Route("post", "/api/v1/admin/projects", "createProject", "Create a project", accounts.Project, status=201,
          body=accounts.NewProject, errors=(400, 401, 403, 409), tag="admin"),
    Route("patch", "/api/v1/admin/projects/{project_id}", "renameProject", "Rename a project", accounts.Project,
          body=accounts.ProjectRename, params=(_PROJECT_ID,), errors=(400, 401, 403, 404, 409), tag="admin"),
    Route("delete", "/api/v1/admin/projects/{project_id}", "deleteProject",
          "Delete a project and its memberships (its entries stay, visible to admins only)", accounts.DeletedProject,
          params=(_PROJECT_ID,), errors=(401, 403, 404), tag="admin"),
    Route("post", "/api/v1/admin/projects/{project_id}/members", "addMember", "Add a user to a project (idempotent)",
          accounts.Membership, status=201, body=accounts.NewMember,
          params=(_param("project_id", _integer(1), "project", where="path"),), errors=(400, 401, 403, 404),
          tag="admin"),
    Route("delete", "/api/v1/admin/projects/{project_id}/members/{user_id}", "removeMember",
          "Remove a user from a project", accounts.MembershipRemoved,
          params=(_param("project_id", _integer(1), "project", where="path"),
                  _param("user_id", _integer(1), "user", where="path")),
          errors=(401, 403, 404), tag="admin"),
    Route("get", "/api/v1/admin/ingest-tokens", "listIngestTokens", "List ingest tokens (never the secrets)",
          accounts.IngestTokenList, errors=(401, 403), tag="admin"),
    Route("post", "/api/v1/admin/ingest-tokens", "createIngestToken",
          "Create an ingest token; the token is in this response only", accounts.CreatedIngestToken, status=201,
          body=accounts.NewIngestToken, errors=(400, 401, 403, 409), tag="admin"),
    Route("delete", "/api/v1/admin/ingest-tokens/{token_id}", "revokeIngestToken",
          "Revoke an ingest token (effective at once)", accounts.RevokedIngestToken,
          params=(_param("token_id", _integer(1), "token", where="path"),), errors=(401, 403, 404), tag="admin"),
    Route("get", "/api/v1/activity-logs", "listLogs", "Entries visible to you, newest first: a page, or a cursor slice",
          contract.LogPage, params=FILTERS + _PAGE),
    Route("get", "/api/v1/activity-logs/export", "exportLogs",
          "Every matching entry, oldest first, streamed as an attachment. format=json is NDJSON "
          "(application/x-ndjson, one ActivityEntry object per line, whole); format=text is one line per entry: "
          "`timestamp level source message key=value…`", None,
          params=FILTERS + (_param("format", {"type": "string", "enum": ["json", "text"], "default": "json"},
                                   "format"),),
          errors=(400, 401, 429), stream=("application/x-ndjson", "text/plain")),
    Route("get", "/api/v1/activity-logs/export/estimate", "estimateExport",
          "How many entries the export with these filters would hold, in your scope: exact when counting is "
          "cheap, else the query planner's estimate", contract.RowEstimate,
          params=FILTERS + (_param("format", {"type": "string", "enum": ["json", "text"], "default": "json"},
                                   "format (ignored)"),), errors=(400, 401)),
    Route("post", "/api/v1/activity-logs/export-links", "createExportLink",
          "A one-time link (60 s, single use, bound to you and these filters) that streams the export as an "
          "attachment without a token, for a browser's own download; filters are checked now", contract.ExportLink,
          status=201,
          params=FILTERS + (_param("format", {"type": "string", "enum": ["json", "text"], "default": "json"},
                                   "format"),), errors=(400, 401)),
    Route("get", "/api/v1/activity-logs/export-links/{link}", "downloadExportLink",
          "The export of a one-time link (no token: the link is the credential), in its creator's scope as it is "
          "now; 410 once used or expired", None,
          params=(_param("link", {"type": "string"}, "the link's token", where="path"),),
          errors=(401, 403, 410, 429), stream=("application/x-ndjson", "text/plain"), public=True),
    Route("get", "/api/v1/activity-logs/{log_id}", "getLog",
          "One entry, whole (list views and the live tail may shorten large ones)", contract.EntryDetail,
          params=(_ENTRY_ID,), errors=(400, 401, 404)),
    Route("get", "/api/v1/activity-logs/{log_id}/context", "getLogContext",
          "The entries around one entry, oldest first, the entry included (filters apply to the neighbours)",
          contract.EntryContext,
          params=(_ENTRY_ID, _param("before", _AROUND, "older entries"), _param("after", _AROUND, "newer entries"))
          + FILTERS, errors=(400, 401, 404)),
    Route("get", "/api/v1/activity-logs/histogram", "getLogHistogram",
          "Counts per equal time bucket and level over [from, to); an open end covers the matching entries "
          "(oldest within retention to now; the last 24 hours when none match)", contract.Histogram,
          params=FILTERS + (_param("buckets", {"type": "integer", "minimum": 1, "maximum": MAX_BUCKETS,
                                               "default": DEFAULT_BUCKETS}, "buckets"),)),
    Route("get", "/api/v1/views", "listViews",
          "Saved views the caller may open: their own, and those shared with a project they belong to "
          "(admins: every shared view)", views.ViewList, tag="views"),
    Route("post", "/api/v1/views", "createView",
          f"Save a view (a name for a query, range and mode); at most {views.MAX_VIEWS_PER_USER} per user; "
          "only admins share one with a project", views.View, status=201, body=views.NewView,
          errors=(400, 401, 403, 404, 409), tag="views"),
    Route("get", "/api/v1/views/{view_id}", "getView", "One saved view", views.View, params=(_VIEW_ID,),
          errors=(400, 401, 404), tag="views"),
    Route("patch", "/api/v1/views/{view_id}", "changeView",
          "Change a view (its owner only); null clears a range end, the mode or the sharing", views.View,
          params=(_VIEW_ID,), body=views.ViewChange, errors=(400, 401, 403, 404, 409), tag="views"),
    Route("delete", "/api/v1/views/{view_id}", "deleteView", "Delete a view (its owner, or an admin)",
          {"type": "object", "properties": {"id": {"type": "integer"}, "deleted": {"type": "boolean"}},
           "required": ["id", "deleted"]}, params=(_VIEW_ID,), errors=(401, 403, 404), tag="views"),
    Route("get", "/api/v1/activity-logs/facets", "listLogFacets",
          "The most frequent values of each facet over the matching entries (default range: the last hour), "
          f"counted over at most the newest {FACET_MAX_ROWS:,}", contract.Facets,
          params=FILTERS + (
              {**_param("facet", {"type": "array", "maxItems": MAX_FACETS, "items": {"type": "string"}},
                        "repeated: level, source, service, category, project, user, job, entity, a record "
                        "attribute's key, or resource.<key> (default: level, source, service)"),
               "style": "form", "explode": True},
              _param("top", {"type": "integer", "minimum": 1, "maximum": MAX_FACET_TOP,
                             "default": DEFAULT_FACET_TOP}, "values per facet"))),
    Route("get", "/api/v1/activity-logs/keys", "listLogKeys",
          "Attribute keys stored entries carry (the key catalogue), most recently seen first, for completions",
          contract.LogKeys,
          params=(_param("prefix", {"type": "string", "maxLength": MAX_CATALOGUE_KEY_CHARS}, "keys starting with this"),
                  _param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_CATALOGUE_KEYS,
                                   "default": DEFAULT_CATALOGUE_KEYS}, "at most this many keys"))),
    Route("get", "/api/v1/traces/{trace_id}", "getTrace", "Every visible entry of a trace, oldest first, with span ids",
          contract.TraceEntries,
          params=(_param("trace_id", {"type": "string", "pattern": f"^[0-9a-fA-F]{{{TRACE_ID_HEX_CHARS}}}$"},
                         "W3C trace id, either case", where="path"),
                  _param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_TRACE_ENTRIES,
                                   "default": DEFAULT_TRACE_ENTRIES}, "at most this many entries"))),
    Route("get", "/api/v1/admin/activity-logs/settings", "getSettings", "Retention and batch settings",
          contract.Settings, errors=(401, 403), tag="admin"),
    Route("put", "/api/v1/admin/activity-logs/settings", "updateSettings",
          "Change some settings (partial); the batch writer applies them at once", contract.Settings,
          body=contract.SettingsUpdate, errors=(400, 401, 403), tag="admin"),
    Route("delete", "/api/v1/admin/activity-logs", "purgeLogs",
          "Delete entries older than `before` (optionally of some levels) now; returns the exact count",
          contract.PurgeResult,
          params=(_param("before", {"type": "string", "format": "date-time"}, "cutoff (exclusive)", required=True),
                  _LEVEL),
          errors=(400, 401, 403), tag="admin"),
    Route("get", "/api/v1/admin/activity-logs/purge-estimate", "estimatePurge",
          "How many entries a purge with these parameters would delete now (exact when cheap to count)",
          contract.RowEstimate,
          params=(_param("before", {"type": "string", "format": "date-time"}, "cutoff (exclusive)", required=True),
                  _LEVEL),
          errors=(400, 401, 403), tag="admin"),
    Route("get", "/api/v1/ingest/status", "getIngestStatus",
          "Whether ingest commits as records arrive, or spools them while PostgreSQL is away (/readyz says the same)",
          contract.IngestStatus, errors=(), tag="meta", public=True),
    Route("get", PATH, "getOpenApi", "This document", {"type": "object", "description": "OpenAPI 3.1"}, errors=(),
          tag="meta", public=True),
)  # fmt: skip


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(route: Route) -> dict[str, Any]:
    if route.stream:
        success = {"description": "the stream", "content": {media: {"schema": {"type": "string"}} for media in route.stream}}
    elif isinstance(route.response, dict):
        success = _json(route.response, "success")
    else:
        assert route.response is not None
        success = _json(_ref(route.response), route.response.__name__)
    responses = {str(route.status): success}
    responses.update({str(status): _json(_ref(contract.Error), _ERRORS[status]) for status in route.errors})
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary, "tags": [route.tag],
                                 "responses": responses}  # fmt: skip
    if route.params:
        operation["parameters"] = list(route.params)
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(route.body)}}}
    if route.public:
        operation["security"] = []
    return operation


def _models() -> list[type[BaseModel]]:
    """Every model the document names, each once, in a stable order."""
    models: dict[type[BaseModel], None] = {}
    for route in ROUTES:
        for model in (route.response, route.body):
            if isinstance(model, type):
                models[model] = None
    models.update(dict.fromkeys((contract.Error, *MESSAGE_MODELS)))
    return list(models)


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once)."""
    _, definitions = models_json_schema([(model, "validation") for model in _models()], ref_template=REF_TEMPLATE,
                                        schema_generator=_Schemas)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Activity Console API", "version": "1",
                 "description": "Every endpoint but login and this document needs `Authorization: Bearer <JWT>`. "
                                "Errors are `{\"error\": {\"code\", \"message\"}}`. Creators see their own entries, "
                                "their projects' entries and system entries; admins see all. The live tail "
                                "(GET /ws/activity-logs, a WebSocket) exchanges LiveClientMessage and "
                                "LiveServerMessage."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
                       "schemas": definitions["$defs"]},
        "paths": paths,
    }  # fmt: skip


def render() -> str:
    """The document as committed: sorted keys, two-space indents, a final newline."""
    return json.dumps(document(), sort_keys=True, indent=2) + "\n"


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(document())


def setup(app: web.Application) -> None:
    app.router.add_get(PATH, openapi_document)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m api.openapi", description="Print the OpenAPI document.")
    parser.add_argument("--write", action="store_true", help=f"write it to {UI_COPY} instead")
    if parser.parse_args(argv).write:
        UI_COPY.parent.mkdir(parents=True, exist_ok=True)
        UI_COPY.write_text(render())
        print(f"wrote {UI_COPY}")
    else:
        print(render(), end="")


if __name__ == "__main__":
    main()
