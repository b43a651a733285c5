"""Every OpenTelemetry attribute name Activity Console reads: the contract with emitting services.

Keep this module free of imports from the rest of the project but ``collector.contract`` (itself a
leaf): ``sdk_shim`` (the emitters' side) imports it too. The README's "Attribute contract" table
mirrors this file.
"""

from collector import contract

# --- Activity attributes (on the log record; ``activity.source`` may also sit on the resource) ---
SOURCE = "activity.source"  # a contract.Source value
CATEGORY = "activity.category"  # a contract.Category value (absent = DEFAULT_CATEGORY)
ENTITY_TYPE = "activity.entity.type"
ENTITY_ID = "activity.entity.id"  # int or numeric string
USER_ID = "activity.user.id"  # int or numeric string
JOB_ID = "activity.job.id"
PROJECT_ID = "activity.project.id"
WORKER_ID = "activity.worker.id"  # GPU agent / worker identity; kept in fields
# Set by the collector, not read: the record's own time when it was too far in the future to keep.
ORIGINAL_TIMESTAMP = "activity.original_timestamp"

# --- OpenTelemetry semantic conventions we map ---
SERVICE_NAME = "service.name"  # resource attribute; "unknown_service" when absent
ENDUSER_ID = "enduser.id"  # accepted as the user id when activity.user.id is absent
EXCEPTION_TYPE = "exception.type"  # kept in fields, shown by the console
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
LOG_RECORD_UID = "log.record.uid"  # kept in fields

# Record attributes that become columns, and so are not repeated in ``fields``.
COLUMN_ATTRIBUTES = frozenset(
    {SOURCE, CATEGORY, ENTITY_TYPE, ENTITY_ID, USER_ID, JOB_ID, PROJECT_ID, ENDUSER_ID}
)

# --- Values (defined in collector.contract) ---
LEVELS = contract.LEVELS
SOURCES = contract.SOURCES
CATEGORIES = contract.CATEGORIES
DEFAULT_CATEGORY = contract.DEFAULT_CATEGORY
# A record whose source can be neither read nor derived from service.name is attributed to the
# API server, the one source every deployment has; its service_name column keeps the real name.
FALLBACK_SOURCE = contract.Source.API.value
