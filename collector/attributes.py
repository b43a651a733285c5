"""Every OpenTelemetry attribute name Activity Console reads: the contract with emitting services.

Keep this module free of imports from the rest of the project: ``sdk_shim`` (the emitters' side)
imports it too. The README's "Attribute contract" table mirrors this file.
"""

# --- Activity attributes (on the log record; ``activity.source`` may also sit on the resource) ---
SOURCE = "activity.source"  # api | comfyui | worker | agent | pipeline
CATEGORY = "activity.category"  # curated | verbose (absent = verbose)
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

# --- Values ---
LEVELS = ("debug", "info", "warn", "error")
SOURCES = ("api", "comfyui", "worker", "agent", "pipeline")
CATEGORIES = ("curated", "verbose")
DEFAULT_CATEGORY = "verbose"
# A record whose source can be neither read nor derived from service.name is attributed to
# the API server, as the seed's tracing layer did for unrecognised targets; its service_name
# column keeps the real name.
FALLBACK_SOURCE = "api"
