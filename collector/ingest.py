"""What both OTLP transports do with a decoded request: map it, have it committed, answer."""

from __future__ import annotations

from datetime import datetime, timezone

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from collector.mapping import map_request
from collector.otlp_codec import export_response
from collector.writer import BatchWriter


class IngestService:
    def __init__(self, writer: BatchWriter):
        self._writer = writer

    async def export(self, request: ExportLogsServiceRequest) -> ExportLogsServiceResponse:
        """Commit every record of the request. Raises ``StoreUnavailable`` (retryable) when none
        could be committed; rejects individual records through ``partial_success``."""
        mapped = map_request(request, datetime.now(timezone.utc))
        result = await self._writer.submit(mapped.rows)
        notes = []
        if result.rejected:
            notes.append(f"{result.rejected} log record(s) rejected by the database: " + "; ".join(result.errors))
        if mapped.repaired:
            # OTLP allows a message with rejected_log_records = 0 as a warning.
            notes.append(f"{mapped.repaired} log record(s) stored with NUL characters replaced by U+FFFD")
        return export_response(result.rejected, "; ".join(notes))
