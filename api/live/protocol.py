"""The live tail's wire protocol: what ``GET /ws/activity-logs`` reads and writes. Every frame is a
JSON text frame; the messages are the contract's models (``collector.contract``)::

    client → {"action": "auth", "token": "<JWT>"}           first message, within live_auth_timeout_s
    client → {"action": "subscribe", <filter fields>, "after_id"?}
    client → {"action": "update_filter", <any filter field>}
    server → {"type": "subscribed", "filter": {...}}        a subscription (or its new filter) is in force
    server → {"type": "entries", "entries": [<entry>, ...]} in id (commit) order, batched to save frames;
                                                            the same entry shape as the REST API's
    server → {"type": "lagged", "skipped": N}               N matching entries were dropped because this
                                                            client read too slowly; they lie between the
                                                            entries received before and after it
    server → {"type": "error", "message": "...", "position"?} a malformed or unknown message (position:
                                                            where a query ``q`` cannot be parsed); the
                                                            connection stays open

The filter fields and their bounds are those of the REST query string (``LogFilterFields``), so
that both answer the same input the same way.
"""

from __future__ import annotations

from pydantic import ValidationError

from collector.contract import (
    LiveAuthMessage,
    LiveClientMessage,
    LiveErrorMessage,
    LiveLaggedMessage,
    LiveSubscribedMessage,
    LiveSubscribeMessage,
    LiveUpdateFilterMessage,
    LogFilterFields,
    describe_validation_error,
)
from collector.db.repository import LogFilter

# A frame carries at most this many entries or about this many bytes, whichever comes first, so
# that a burst never makes one huge frame (browsers and aiohttp cap message sizes).
FRAME_MAX_ENTRIES = 1000
FRAME_MAX_BYTES = 512 * 1024

ClientMessage = LiveAuthMessage | LiveSubscribeMessage | LiveUpdateFilterMessage


def parse_client_message(text: str | bytes) -> ClientMessage:
    """The validated message, else ``ValueError`` with a message fit for the client."""
    try:
        return LiveClientMessage.model_validate_json(text).root
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc)) from None


def describe_filter(log_filter: LogFilter) -> LogFilterFields:
    """The filter in force, as the ``subscribed`` message shows it."""
    return LogFilterFields.model_validate({name: getattr(log_filter, name) for name in LogFilterFields.model_fields})


def subscribed_frame(log_filter: LogFilter) -> bytes:
    return LiveSubscribedMessage(type="subscribed", filter=describe_filter(log_filter)).model_dump_json().encode()


def lagged_frame(skipped: int) -> bytes:
    return LiveLaggedMessage(type="lagged", skipped=skipped).model_dump_json().encode()


def error_frame(message: str, position: int | None = None) -> bytes:
    """An ``error`` message; ``position`` only for a query that cannot be parsed."""
    frame = LiveErrorMessage(type="error", message=message, position=position)
    return frame.model_dump_json(exclude_none=True).encode()


def entries_frame(encoded_entries: list[bytes]) -> bytes:
    """An ``entries`` message from entries already serialised (``ActivityRow.json``: once for
    every client that receives them)."""
    return b"".join((b'{"type":"entries","entries":[', b",".join(encoded_entries), b"]}"))


def entries_frames(encoded_entries: list[bytes]) -> list[tuple[bytes, int]]:
    """A batch's ``entries`` messages, each with how many entries it holds: at most
    ``FRAME_MAX_ENTRIES`` entries or about ``FRAME_MAX_BYTES`` a frame, in order."""
    size = sum(map(len, encoded_entries))
    per_frame = len(encoded_entries)
    if per_frame > FRAME_MAX_ENTRIES or size > FRAME_MAX_BYTES:
        per_frame = max(1, min(FRAME_MAX_ENTRIES, len(encoded_entries) * FRAME_MAX_BYTES // max(size, 1)))
    return [(entries_frame(encoded_entries[start:start + per_frame]), len(encoded_entries[start:start + per_frame]))
            for start in range(0, len(encoded_entries), per_frame)]  # fmt: skip
