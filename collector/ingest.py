"""What both OTLP transports do with a decoded request: map it, have it committed, answer."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from collector.mapping import MappedRequest, iter_mapped
from collector.otlp_codec import export_response
from collector.writer import BatchWriter


# Records mapped between two turns of the event loop. Mapping a 512-record request takes about
# 10 ms; unbroken, it delayed the batch writer's database round trips by as much, and the writer
# (which commits one batch at a time) spent half its time waiting for the loop (bench/ingest.py).
MAP_CHUNK = 64


async def _map_cooperatively(request: ExportLogsServiceRequest, received_at: datetime) -> MappedRequest:
    """``map_request``, giving the event loop a turn every ``MAP_CHUNK`` records."""
    mapped = MappedRequest(rows=[])
    for count, (row, repaired) in enumerate(iter_mapped(request, received_at), 1):
        mapped.rows.append(row)
        mapped.repaired += repaired
        if count % MAP_CHUNK == 0:
            await asyncio.sleep(0)
    return mapped


class IngestService:
    def __init__(self, writer: BatchWriter):
        self._writer = writer

    async def export(self, request: ExportLogsServiceRequest) -> ExportLogsServiceResponse:
        """Commit every record of the request. Raises ``StoreUnavailable`` (retryable) when none
        could be committed; rejects individual records through ``partial_success``."""
        mapped = await _map_cooperatively(request, datetime.now(timezone.utc))
        result = await self._writer.submit(mapped.rows)
        notes = []
        if result.rejected:
            notes.append(f"{result.rejected} log record(s) rejected by the database: " + "; ".join(result.errors))
        if mapped.repaired:
            # OTLP allows a message with rejected_log_records = 0 as a warning.
            notes.append(f"{mapped.repaired} log record(s) stored with NUL characters replaced by U+FFFD")
        return export_response(result.rejected, "; ".join(notes))
