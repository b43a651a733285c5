"""``GET /metrics``: the server's state in Prometheus' text format, written by prometheus_client
from what the writer, ingest, the live hub and retention already count (read at scrape time,
nothing counted twice). Names are listed in the README ("Metrics").

The endpoint needs no token, as Prometheus scrapes expect: it shows totals and sizes only, no
entry, name or id, and it listens where the API does (127.0.0.1 unless ``ACTIVITY_HOST`` says
otherwise).
"""

from __future__ import annotations

from typing import Iterator

from aiohttp import web
from prometheus_client.exposition import choose_encoder
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from api.runtime import RUNTIME, Runtime
from collector.writer import FLUSH_SECONDS_BUCKETS

METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


class ServerCollector(Collector):
    def __init__(self, runtime: Runtime):
        self._runtime = runtime

    def collect(self) -> Iterator[object]:
        runtime = self._runtime
        writer, ingest, hub = runtime.writer, runtime.ingest, runtime.hub
        # Under serve --workers each scrape is answered by one of the processes: this says which.
        worker = GaugeMetricFamily("activity_worker", "the process answering (serve --workers: its index)",
                                   labels=["index"])  # fmt: skip
        worker.add_metric([str(runtime.settings.worker_index or 0)], 1)
        yield worker
        received = CounterMetricFamily("activity_ingest_records", "OTLP log records of answered requests, by "
                                       "transport and outcome (stored; spooled, to be stored by the replayer; or "
                                       "rejected in partial_success)", labels=["protocol", "outcome"])  # fmt: skip
        for protocol, counts in ingest.records.items():
            for outcome in ("stored", "spooled", "rejected"):
                received.add_metric([protocol, outcome], counts[outcome])
        yield received
        refused = CounterMetricFamily("activity_ingest_refused_requests", "OTLP requests refused with retry-later "
                                      "because the writer's queue or the ingest memory was full", labels=["reason"])  # fmt: skip
        refused.add_metric(["queue_full"], writer.stats.refused_requests)
        refused.add_metric(["memory_full"], ingest.budget.refused)
        yield refused
        yield GaugeMetricFamily("activity_ingest_memory_reserved_bytes", "ingest memory reserved by requests in "
                                "flight and the writer's queue", value=ingest.budget.reserved)  # fmt: skip
        yield GaugeMetricFamily("activity_ingest_memory_capacity_bytes", "ACTIVITY_INGEST_MEMORY_BYTES",
                                value=ingest.budget.capacity)  # fmt: skip
        stats = writer.stats
        yield CounterMetricFamily("activity_writer_committed_records", "records committed to activity_logs",
                                  value=stats.committed)  # fmt: skip
        yield CounterMetricFamily("activity_writer_rejected_records", "records PostgreSQL refused (data errors)",
                                  value=stats.rejected)  # fmt: skip
        yield CounterMetricFamily("activity_writer_dropped_internal_records", "the server's own records that "
                                  "could not be queued or stored", value=stats.dropped_internal)  # fmt: skip
        yield GaugeMetricFamily("activity_writer_queue_records", "records waiting for a flush", value=writer.queued_rows)
        yield GaugeMetricFamily("activity_writer_queue_bytes", "bytes of requests waiting for a flush",
                                value=writer.queued_bytes)  # fmt: skip
        yield GaugeMetricFamily("activity_writer_flushes_under_way", "flushes running side by side (at most "
                                "ACTIVITY_WRITER_FLUSHES_IN_FLIGHT)", value=writer.flushes_under_way)  # fmt: skip
        cumulative, buckets = 0, []
        for bound, count in zip((*map(str, FLUSH_SECONDS_BUCKETS), "+Inf"), stats.flush_buckets):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily("activity_writer_flush_seconds", "time from a flush's start to its commit",
                                    buckets=buckets, sum_value=stats.flush_seconds)  # fmt: skip
        yield GaugeMetricFamily("activity_database_available", "1 while the writer reaches PostgreSQL",
                                value=1 if writer.available else 0)  # fmt: skip
        yield GaugeMetricFamily("activity_database_unavailable_seconds", "how long PostgreSQL has been unreachable",
                                value=writer.unavailable_advice.lasting)  # fmt: skip
        delivery = runtime.delivery
        spool, delivered = delivery.spool, delivery.stats
        yield GaugeMetricFamily("activity_spool_records", "records in the spool not yet committed",
                                value=spool.records if spool is not None else 0)  # fmt: skip
        yield GaugeMetricFamily("activity_spool_bytes", "bytes of those records",
                                value=spool.bytes if spool is not None else 0)  # fmt: skip
        yield GaugeMetricFamily("activity_spool_disk_bytes", "disk the spool's segment files take",
                                value=spool.disk_bytes if spool is not None else 0)  # fmt: skip
        yield GaugeMetricFamily("activity_spool_capacity_bytes", "ACTIVITY_SPOOL_MAX_BYTES (0: no spool)",
                                value=spool.max_bytes if spool is not None else 0)  # fmt: skip
        yield CounterMetricFamily("activity_spool_spooled_records", "records acknowledged from the spool",
                                  value=delivered.spooled_records)  # fmt: skip
        yield CounterMetricFamily("activity_spool_replayed_records", "records the replayer committed from the spool",
                                  value=delivered.replayed_records)  # fmt: skip
        yield CounterMetricFamily("activity_spool_duplicate_records", "replayed records found committed already "
                                  "(skipped: exactly once)", value=delivered.replay_duplicate_records)  # fmt: skip
        yield CounterMetricFamily("activity_spool_rejected_records", "replayed records PostgreSQL refused",
                                  value=delivered.replay_rejected)  # fmt: skip
        yield CounterMetricFamily("activity_spool_refused_requests", "requests refused with retry-later because "
                                  "the spool was full", value=delivered.refused_full)  # fmt: skip
        yield GaugeMetricFamily("activity_ingest_spooling", "1 while new requests go to the spool",
                                value=1 if delivery.spooling else 0)  # fmt: skip
        yield GaugeMetricFamily("activity_live_subscriptions", "open live-tail subscriptions",
                                value=hub.subscriber_count)  # fmt: skip
        yield CounterMetricFamily("activity_live_lagged_records", "entries dropped from live-tail clients that did "
                                  "not keep up (reported to them as lagged)", value=hub.dropped)  # fmt: skip
        deleted = CounterMetricFamily("activity_retention_deleted_records", "entries deleted by retention, by "
                                      "level", labels=["level"])  # fmt: skip
        for level, count in sorted(runtime.retention.deleted.items()):
            deleted.add_metric([level], count)
        yield deleted
        yield CounterMetricFamily("activity_retention_dropped_partitions", "day partitions retention dropped whole",
                                  value=runtime.retention.days_dropped)  # fmt: skip
        yield CounterMetricFamily("activity_partitions_created", "day partitions created ahead or for back-filled "
                                  "entries", value=runtime.retention.days_created)  # fmt: skip
        yield CounterMetricFamily("activity_closed_day_indexes_built", "query indexes built on closed days' "
                                  "partitions", value=runtime.retention.indexes_built)  # fmt: skip
        yield CounterMetricFamily("activity_today_partial_indexes_built", "partial query indexes built on today's "
                                  "partitions", value=runtime.retention.today_indexes_built)  # fmt: skip
        catalogue = runtime.key_catalogue.stats
        yield CounterMetricFamily("activity_key_catalogue_written_keys", "attribute keys written to the key catalogue",
                                  value=catalogue.written)  # fmt: skip
        yield CounterMetricFamily("activity_key_catalogue_dropped_keys", "new attribute keys not catalogued because "
                                  "too many were waiting to be written", value=catalogue.dropped)  # fmt: skip
        yield CounterMetricFamily("activity_key_catalogue_failed_writes", "key catalogue writes that failed "
                                  "(retried)", value=catalogue.failed_writes)  # fmt: skip


async def metrics(request: web.Request) -> web.Response:
    """Prometheus' text format, or OpenMetrics when the scraper asks for it (Accept)."""
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encode(request.app[METRICS_REGISTRY]), headers={"Content-Type": content_type})


def add_routes(app: web.Application) -> None:
    """The registry reads the runtime when scraped, so it can exist before the runtime is up."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(app[RUNTIME]))
    app[METRICS_REGISTRY] = registry
    app.router.add_get("/metrics", metrics)
