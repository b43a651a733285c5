"""The wire contract: what services, the collector, the API and the console agree on.

Levels, sources and categories (with the ids of their lookup rows), the bounds the API enforces,
the log filter, the live tail's WebSocket messages and the REST responses of the log endpoints
are defined here once. Everything else follows: ``collector.attributes`` and ``sdk_shim`` (the
emitters' side), the mapping and the repository, the REST and WebSocket parsers, the OpenAPI
document (``api/openapi.py``, from which the console's types are generated) and the lookup rows
of ``migrations/0001_initial.sql`` (``tests/unit/test_contract.py`` checks that they agree).

A leaf: it imports nothing from the project, so that ``sdk_shim`` can import it without the server.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

# --- names ---------------------------------------------------------------------------------------


class Level(StrEnum):
    """An entry's level, in increasing severity."""

    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class Source(StrEnum):
    """The kind of service an entry comes from."""

    API = "api"
    COMFYUI = "comfyui"
    WORKER = "worker"
    AGENT = "agent"
    PIPELINE = "pipeline"


class Category(StrEnum):
    """Curated entries are written for people; verbose ones are everything else (plain logs)."""

    CURATED = "curated"
    VERBOSE = "verbose"


# The values as plain strings, in declaration order (levels: by severity).
LEVELS: tuple[str, ...] = tuple(level.value for level in Level)
SOURCES: tuple[str, ...] = tuple(source.value for source in Source)
CATEGORIES: tuple[str, ...] = tuple(category.value for category in Category)
# A record without a (valid) ``activity.category`` is verbose: plain logs need no attribute.
DEFAULT_CATEGORY: str = Category.VERBOSE.value
# The rows of the lookup tables activity_log_levels and activity_log_sources: the migration
# numbers them from 1 in declaration order, and the writer stores these ids.
LEVEL_IDS: dict[str, int] = {name: number for number, name in enumerate(LEVELS, start=1)}
SOURCE_IDS: dict[str, int] = {name: number for number, name in enumerate(SOURCES, start=1)}

# --- bounds --------------------------------------------------------------------------------------

# Ids and id-like filter values are PostgreSQL bigints.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Search is a substring scan of every candidate message; longer needles only cost.
SEARCH_MAX_CHARS = 1000
# A query (docs/query.md) becomes one SQL condition and one live predicate: its size bounds both
# (collector/query/parser.py checks the same bound and also bounds depth and terms).
QUERY_MAX_CHARS = 2000
# Names and labels (service, scope and event names, severity text, entity type) are identifiers,
# shown in full in every list view and live frame: ingest keeps this many characters of each.
NAME_MAX_CHARS = 256
# Ingest drops longer entity types: a longer filter value could match nothing.
ENTITY_TYPE_MAX_CHARS = NAME_MAX_CHARS
TRACE_ID_HEX_CHARS = 32
# Timestamps a filter may name are clamped to this range: no entry lies outside it, and at the
# calendar's ends the date arithmetic that follows (a default range, a UTC conversion) would overflow.
TIMESTAMP_RANGE = (datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(9999, 12, 31, tzinfo=timezone.utc))

DEFAULT_PER_PAGE, MAX_PER_PAGE = 25, 100
# Deep OFFSET pages read and discard every row before them; past this, clients use the cursor form.
MAX_OFFSET = 100_000
DEFAULT_CONTEXT_ENTRIES = 10  # each side of the anchor; at most MAX_PER_PAGE
DEFAULT_TRACE_ENTRIES, MAX_TRACE_ENTRIES = 1000, 10_000
DEFAULT_BUCKETS, MAX_BUCKETS = 60, 1000

# Settings (PUT /api/v1/admin/activity-logs/settings); the batch writer clamps to the same ranges.
BATCH_SIZE_RANGE = (1, 10_000)
FLUSH_INTERVAL_MS_RANGE = (10, 60_000)
RETENTION_DAYS_RANGE = (1, 3650)
# Errors are what an incident is investigated from: they are kept at least a week.
ERROR_RETENTION_DAYS_RANGE = (7, 3650)

# The live tail refuses larger client messages (a filter is a few hundred bytes).
LIVE_CLIENT_MESSAGE_MAX_BYTES = 64 * 1024
AUTH_TOKEN_MAX_CHARS = 8192

# --- validation with the API's own messages ----------------------------------------------------
#
# The checks below raise errors whose messages name their field, so that REST (HTTP 400) and the
# live tail (``error`` messages) answer the same input with the same words.

_OWN_ERRORS = frozenset({"setting_range", "unknown_name", "trace_id", "text_bound", "int_range", "timestamp", "time_range"})


def describe_validation_error(exc: ValidationError, limit: int = 3) -> str:
    """A client-facing line for a failed validation: the contract's own messages as they are,
    pydantic's prefixed with where the problem is."""
    problems = []
    for error in exc.errors(include_url=False)[:limit]:
        where = ".".join(str(part) for part in error["loc"])
        own = error["type"] in _OWN_ERRORS
        problems.append(f"{where}: {error['msg']}" if where and not own else error["msg"])
    return "; ".join(problems)


def _names_of(kind: str, names: tuple[str, ...]) -> WrapValidator:
    """Every value must be one of ``names`` (unknown ones are listed in one message); repeated
    values count once."""
    expected = ", ".join(names)

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        items = value if isinstance(value, list) else [value]
        unknown = [item for item in items if item not in names]
        if unknown:
            raise PydanticCustomError("unknown_name", "unknown {kind} {unknown}; expected one of {expected}",
                                      {"kind": kind, "expected": expected, "unknown": ", ".join(map(repr, unknown))})  # fmt: skip
        result = handler(value)
        return list(dict.fromkeys(result)) if isinstance(result, list) else result

    return WrapValidator(validate)


def normalise_trace_id(text: str) -> str:
    """A W3C trace id as stored: 32 hexadecimal characters in lower case. Either case is accepted
    (and surrounding spaces); anything else is a ``ValueError``."""
    trace_id = text.strip().lower()
    if not re.fullmatch(f"[0-9a-f]{{{TRACE_ID_HEX_CHARS}}}", trace_id):
        raise ValueError(f"trace_id must be {TRACE_ID_HEX_CHARS} hexadecimal characters")
    return trace_id


def _trace_id(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # str validation refuses it
    try:
        return normalise_trace_id(value)
    except ValueError as exc:
        raise PydanticCustomError("trace_id", str(exc)) from None


def _bounded_text(max_chars: int) -> BeforeValidator:
    def validate(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            # PostgreSQL text cannot hold NUL: refused here rather than failing in the database.
            if "\x00" in value:
                raise PydanticCustomError("text_bound", "{field} must not contain NUL characters",
                                          {"field": info.field_name})  # fmt: skip
            if len(value) > max_chars:
                raise PydanticCustomError("text_bound", "{field} is limited to {max_chars} characters",
                                          {"field": info.field_name, "max_chars": max_chars})  # fmt: skip
        return value

    return BeforeValidator(validate)


def _int_range(low: int, high: int) -> BeforeValidator:
    def validate(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
            raise PydanticCustomError("int_range", "{field} must be between {low} and {high}",
                                      {"field": info.field_name, "low": low, "high": high})  # fmt: skip
        return value

    return BeforeValidator(validate)


def parse_timestamp(text: str) -> datetime:
    """RFC 3339 / ISO 8601 (``2026-01-31T12:00:00Z``, offsets allowed; no offset means UTC),
    clamped to ``TIMESTAMP_RANGE``; ``ValueError`` when it is not a timestamp."""
    value = datetime.fromisoformat(text.strip())
    value = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    earliest, latest = TIMESTAMP_RANGE
    return min(max(value, earliest), latest)


Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX), _int_range(INT64_MIN, INT64_MAX)]
EntryId = Annotated[int, Field(ge=0, le=INT64_MAX), _int_range(0, INT64_MAX)]
LevelNames = Annotated[list[Level], _names_of("level", LEVELS)]
SourceNames = Annotated[list[Source], _names_of("source", SOURCES)]
Mode = Annotated[Category, _names_of("mode", CATEGORIES)]
TraceId = Annotated[str, Field(pattern=f"^[0-9a-fA-F]{{{TRACE_ID_HEX_CHARS}}}$"), BeforeValidator(_trace_id)]
EntityType = Annotated[str, Field(max_length=ENTITY_TYPE_MAX_CHARS), _bounded_text(ENTITY_TYPE_MAX_CHARS)]
SearchText = Annotated[str, Field(max_length=SEARCH_MAX_CHARS), _bounded_text(SEARCH_MAX_CHARS)]
QueryText = Annotated[str, Field(max_length=QUERY_MAX_CHARS), _bounded_text(QUERY_MAX_CHARS)]

# --- the log filter ------------------------------------------------------------------------------


class _Wire(BaseModel):
    """Every message of the contract: unknown fields are refused (a typo must not silently widen
    a filter), and enums hold their plain string values."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class LogFilterFields(_Wire):
    """What a log filter can ask for, the same in the REST query string and the live tail's
    messages. Unset fields add no condition; an empty list means any."""

    levels: LevelNames | None = Field(None, description="entries of these levels")
    sources: SourceNames | None = Field(None, description="entries from these sources")
    mode: Mode | None = Field(None, description="curated or verbose entries only")
    entity_type: EntityType | None = Field(None, description="entity type, exact")
    entity_id: Int64 | None = Field(None, description="entity id")
    job_id: Int64 | None = Field(None, description="job id")
    user_id: Int64 | None = Field(None, description="user id")
    project_id: Int64 | None = Field(None, description="project id")
    trace_id: TraceId | None = Field(None, description="W3C trace id, either case")
    search: SearchText | None = Field(
        None, description="case-insensitive substring of the message; % and _ match themselves"
    )
    q: QueryText | None = Field(
        None, description="a query in the console's query language (docs/query.md), ANDed with the other filters",
        examples=['service:render-worker gpu:1 level>=warn "out of memory" -node_id:12'],
    )


class LogQuery(LogFilterFields):
    """The filter as the REST query string spells it (``level`` and ``source`` repeated or
    comma-separated), with its time range."""

    levels: LevelNames | None = Field(None, alias="level", description="entries of these levels")
    sources: SourceNames | None = Field(None, alias="source", description="entries from these sources")
    since: datetime | None = Field(None, alias="from", description="inclusive lower bound (RFC 3339; no offset = UTC)")
    until: datetime | None = Field(None, alias="to", description="exclusive upper bound (RFC 3339)")

    @field_validator("since", "until", mode="before")
    @classmethod
    def _timestamp(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse_timestamp(value)
        except ValueError:
            name = cls.model_fields[info.field_name].alias  # type: ignore[index]
            raise PydanticCustomError("timestamp", "{name} is not an RFC 3339 timestamp (e.g. 2026-01-31T12:00:00Z)",
                                      {"name": name}) from None  # fmt: skip

    @model_validator(mode="after")
    def _ordered(self) -> "LogQuery":
        if self.since is not None and self.until is not None and self.since > self.until:
            raise PydanticCustomError("time_range", "from must not be after to")
        return self


# --- entries ---------------------------------------------------------------------------------------


class ActivityEntry(_Wire):
    """One activity log entry (``collector.model.ActivityRow.to_dict``); the same shape in REST
    responses, exports and the live tail."""

    id: int
    timestamp: datetime
    level: Level
    source: Source
    message: str
    category: Category
    fields: dict[str, Any]
    entity_type: str | None
    entity_id: int | None
    user_id: int | None
    job_id: int | None
    project_id: int | None
    trace_id: str | None = Field(description="32 lower-case hexadecimal characters")
    span_id: str | None = Field(description="16 lower-case hexadecimal characters")
    trace_flags: int | None
    severity_number: int
    severity_text: str | None
    service_name: str | None
    event_name: str | None
    resource: dict[str, Any]
    scope_name: str | None
    scope_version: str | None
    admin_only: bool = Field(description="an entry only admins see (the server's own records)")
    truncated: bool = Field(
        False,
        description="present (true) when a list view or the live tail shortened this entry: the message is cut at "
        "8,192 characters; a fields or resource map larger than 16 KiB shows its first 50 keys with values cut at "
        "1,024 characters. GET /api/v1/activity-logs/{id} returns it whole",
    )
    message_length: int | None = Field(None, description="with truncated: the full message's length")


# --- the live tail's messages (GET /ws/activity-logs) ---------------------------------------------


class LiveAuthMessage(_Wire):
    """The first message of every connection: the token travels here, never in the URL."""

    action: Literal["auth"]
    token: str = Field(max_length=AUTH_TOKEN_MAX_CHARS)


class LiveSubscribeMessage(LogFilterFields):
    """Start (or restart) the subscription; with ``after_id``, first replay the stored entries
    after it that match, then continue live, with no gap and no duplicate."""

    action: Literal["subscribe"]
    after_id: EntryId | None = None


class LiveUpdateFilterMessage(LogFilterFields):
    """Change the running subscription's filter: fields present replace the current ones (null
    clears one), absent ones stay. Applies to entries committed from then on."""

    action: Literal["update_filter"]


class LiveClientMessage(
    RootModel[
        Annotated[Union[LiveAuthMessage, LiveSubscribeMessage, LiveUpdateFilterMessage], Field(discriminator="action")]
    ]
):
    """Any message a live-tail client sends."""


class LiveSubscribedMessage(_Wire):
    """A subscription (or its new filter) is in force."""

    type: Literal["subscribed"]
    filter: LogFilterFields


class LiveEntriesMessage(_Wire):
    """Entries in id (commit) order, batched to save frames; shortened as list views shorten them."""

    type: Literal["entries"]
    entries: list[ActivityEntry]


class LiveLaggedMessage(_Wire):
    """``skipped`` matching entries were dropped because this client read too slowly; they lie
    between the entries received before and after this message."""

    type: Literal["lagged"]
    skipped: int = Field(ge=1)


class LiveErrorMessage(_Wire):
    """A malformed or unknown message; the connection stays open."""

    type: Literal["error"]
    message: str
    position: int | None = Field(
        None, description="with a query that cannot be parsed: the 0-based position in q of the problem"
    )


class LiveServerMessage(
    RootModel[
        Annotated[
            Union[LiveSubscribedMessage, LiveEntriesMessage, LiveLaggedMessage, LiveErrorMessage],
            Field(discriminator="type"),
        ]
    ]
):
    """Any message the live-tail server sends."""


# --- REST responses of the log endpoints ----------------------------------------------------------


class PageMeta(_Wire):
    """A numbered page. ``total`` is exact when ``total_exact``, else a lower bound (counting
    stops at 10,000 entries, or when it takes too long)."""

    page: int
    per_page: int
    total: int
    total_exact: bool


class BeforeCursorMeta(_Wire):
    """A slice older than ``before_id``, newest first; continue with ``next_before_id``."""

    per_page: int
    has_more: bool
    before_id: int
    next_before_id: int | None


class AfterCursorMeta(_Wire):
    """A slice committed after ``after_id``, oldest first; continue with ``next_after_id``."""

    per_page: int
    has_more: bool
    after_id: int
    next_after_id: int


class LogPage(_Wire):
    """``GET /api/v1/activity-logs``: a page or a cursor slice of the entries visible to the caller."""

    data: list[ActivityEntry]
    meta: Union[PageMeta, BeforeCursorMeta, AfterCursorMeta]


class EntryDetail(_Wire):
    """``GET /api/v1/activity-logs/{id}``: one entry, whole."""

    data: ActivityEntry


class ContextMeta(_Wire):
    anchor_id: int
    before: int = Field(description="how many older entries came")
    after: int = Field(description="how many newer entries came")


class EntryContext(_Wire):
    """The entries around one entry, oldest first, the entry itself included."""

    data: list[ActivityEntry]
    meta: ContextMeta


class TraceMeta(_Wire):
    trace_id: str
    count: int
    truncated: bool = Field(description="more entries exist than the limit or the response size allowed")


class TraceEntries(_Wire):
    """Every visible entry of a trace, oldest first."""

    data: list[ActivityEntry]
    meta: TraceMeta


LevelCounts = create_model(
    "LevelCounts",
    __base__=_Wire,
    __doc__="Entries per level.",
    **{level: (int, ...) for level in LEVELS},  # type: ignore[call-overload]
)


class HistogramBucket(_Wire):
    start: datetime
    end: datetime
    total: int
    counts: LevelCounts  # type: ignore[valid-type]


class HistogramMeta(_Wire):
    from_: datetime = Field(alias="from")
    to: datetime
    buckets: int
    bucket_seconds: float


class Histogram(_Wire):
    """Counts per equal time bucket and level over [from, to)."""

    data: list[HistogramBucket]
    meta: HistogramMeta


_RANGE_ERRORS = frozenset({"greater_than_equal", "less_than_equal"})


def _setting(label: str, unit: str, bounds: tuple[int, int], note: str = "") -> Any:
    """A setting's integer type, whose errors say in plain words what is allowed ("Debug
    retention must be between 1 and 3650 days") rather than pydantic's generic "Input should
    be greater than or equal to 1"; its bounds are in the API description too."""
    low, high = bounds

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            if all(error["type"] in _RANGE_ERRORS for error in exc.errors()):
                message = "{label} must be between {low} and {high} {unit}"
            else:
                message = "{label} must be a whole number of {unit}, between {low} and {high}"
            raise PydanticCustomError("setting_range", message,
                                      {"label": label, "low": low, "high": high, "unit": unit}) from None  # fmt: skip

    description = f"{unit}, {low}–{high}{note}"
    return Annotated[int, Field(ge=low, le=high, description=description), WrapValidator(validate)]


DebugRetentionDays = _setting("Debug retention", "days", RETENTION_DAYS_RANGE)
InfoRetentionDays = _setting("Info retention", "days", RETENTION_DAYS_RANGE)
WarnRetentionDays = _setting("Warn retention", "days", RETENTION_DAYS_RANGE)
ErrorRetentionDays = _setting("Error retention", "days", ERROR_RETENTION_DAYS_RANGE,
                              "; errors are kept at least a week")  # fmt: skip
BatchSize = _setting("Batch size", "entries", BATCH_SIZE_RANGE)
FlushIntervalMs = _setting("Flush interval", "ms", FLUSH_INTERVAL_MS_RANGE)


class Settings(_Wire):
    """Retention per level (days) and the batch writer's settings."""

    retention_days_debug: DebugRetentionDays
    retention_days_info: InfoRetentionDays
    retention_days_warn: WarnRetentionDays
    retention_days_error: ErrorRetentionDays
    batch_size: BatchSize
    flush_interval_ms: FlushIntervalMs
    updated_at: datetime | None


class SettingsUpdate(_Wire):
    """A partial update: only the fields present change. ``null`` is not a value."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    # Defaults are not validated, so ``None`` means "absent" while an explicit null fails as a
    # non-integer.
    retention_days_debug: DebugRetentionDays = None  # type: ignore[assignment]
    retention_days_info: InfoRetentionDays = None  # type: ignore[assignment]
    retention_days_warn: WarnRetentionDays = None  # type: ignore[assignment]
    retention_days_error: ErrorRetentionDays = None  # type: ignore[assignment]
    batch_size: BatchSize = None  # type: ignore[assignment]
    flush_interval_ms: FlushIntervalMs = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _not_empty(self) -> "SettingsUpdate":
        if not self.model_fields_set:
            raise ValueError("give at least one setting to change")
        return self


class PurgeResult(_Wire):
    """What a manual purge deleted: in all, and per level asked for."""

    deleted: int
    by_level: dict[Level, int]
    before: datetime


class RowEstimate(_Wire):
    """How many entries a read (an export, a purge) would cover: an exact count when it is cheap
    to make, else the query planner's estimate (``exact: false``)."""

    rows: int = Field(ge=0)
    exact: bool


class ExportLink(_Wire):
    """A one-time download address for an export: no token needed to fetch it, valid once and
    until ``expires_at``; it streams with the creator's scope as it is when fetched."""

    url: str = Field(description="path of the download, relative to the server's origin")
    expires_at: datetime


class IngestStatus(_Wire):
    """What ingest is doing: ``direct`` (committed as it arrives), ``spooling`` (PostgreSQL is
    away: requests are kept on the server's disk and acknowledged), ``replaying`` (the spool is
    being committed), ``refusing`` (PostgreSQL is away and there is no spool: senders retry) or
    ``failed`` (the writer stopped: the server needs a restart)."""

    state: Literal["direct", "spooling", "replaying", "refusing", "failed"]
    message: str = Field(description="one line for people, empty when direct",
                         examples=["PostgreSQL unavailable for 42 s; 18,300 records spooled, 210 MB"])  # fmt: skip
    database_unavailable_s: float
    spooled_records: int
    spooled_bytes: int
    spool_enabled: bool


class ErrorDetail(_Wire):
    code: str = Field(examples=["bad_request", "bad_query", "unauthenticated", "forbidden", "not_found"])
    message: str
    position: int | None = Field(
        None, description="with code bad_query: the 0-based position in q where the query could not be parsed"
    )


class Error(_Wire):
    """Every API error: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


# --- the key catalogue (collector/key_catalogue.py) ------------------------------------------

MAX_CATALOGUE_KEYS = 500
DEFAULT_CATALOGUE_KEYS = 100
MAX_CATALOGUE_KEY_CHARS = 128


class LogKey(_Wire):
    """An attribute key stored entries carry: ``field`` (a record attribute, as the query names
    it: ``gpu``, ``http.status_code``) or ``resource`` (``resource.<key>`` in a query)."""

    scope: Literal["field", "resource"]
    key: str
    types: list[Literal["string", "int", "float", "bool", "null", "map", "array"]]
    last_seen: datetime


class LogKeys(_Wire):
    """The catalogue's keys the caller may see (their projects' and unscoped entries'; every
    key for admins), most recently seen first."""

    data: list[LogKey]


# --- facets (GET /api/v1/activity-logs/facets) ---------------------------------------------------

FACET_BUILTINS = ("level", "source", "service", "category", "project", "user", "job", "entity")
DEFAULT_FACETS = ("level", "source", "service")
MAX_FACETS = 10
DEFAULT_FACET_TOP = 10
MAX_FACET_TOP = 50
FACET_MAX_ROWS = 100_000
DEFAULT_FACET_SPAN = timedelta(hours=1)


class FacetValue(_Wire):
    value: str | int | float | bool = Field(description="the value, with its JSON type")
    count: int


class FacetCounts(_Wire):
    facet: str = Field(description="as asked: a built-in name, a record attribute's key, or resource.<key>")
    values: list[FacetValue]
    distinct: int = Field(description="how many distinct values were counted: more than len(values) when the "
                                      "list holds only the top ones")


class FacetsMeta(_Wire):
    from_: datetime = Field(alias="from")
    to: datetime
    rows: int = Field(description="entries counted: the newest that match, at most FACET_MAX_ROWS")
    sampled: bool = Field(description="more entries match than were counted (the counts are the newest ones')")


class Facets(_Wire):
    """The most frequent values of each facet over the entries that match, most frequent first."""

    data: list[FacetCounts]
    meta: FacetsMeta
