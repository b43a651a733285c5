"""The project's single base exception and its subclasses."""


class ActivityConsoleError(Exception):
    """Base of every error Activity Console raises on purpose."""


class ConfigurationError(ActivityConsoleError):
    """A setting is missing or invalid."""


class DecodeError(ActivityConsoleError):
    """An OTLP request body could not be decoded (maps to INVALID_ARGUMENT / HTTP 400)."""


class PayloadTooLarge(ActivityConsoleError):
    """A request is larger than the configured limit after decompression (RESOURCE_EXHAUSTED / 413)."""


class Unauthenticated(ActivityConsoleError):
    """An ingest request carried no valid bearer token (UNAUTHENTICATED / 401)."""


class StoreUnavailable(ActivityConsoleError):
    """The records could not be committed now but may be later: the sender should retry.

    ``retry_after`` is the delay, in seconds, that the receiver advertises (RetryInfo / Retry-After).
    """

    def __init__(self, message: str, retry_after: float = 1.0):
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(StoreUnavailable):
    """The writer's bounded queue is full."""


class MigrationError(ActivityConsoleError):
    """A migration file is invalid or could not be applied."""
