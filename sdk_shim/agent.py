"""Curated entries for GPU agents written in Python (source ``agent``), over sdk_shim's OTLP exporter.

    from sdk_shim import agent
    events = agent.configure(worker_id=7)          # or sdk_shim.configure(...) then AgentEvents(7)
    events.gpu_snapshot(agent.GpuSnapshot(index=0, utilization_percent=87, memory_used_mib=20480,
                                          memory_total_mib=24576, temperature_c=71, power_watts=285))
    events.restart_result("comfyui", succeeded=False, attempt=3, error="exit code 137")
    events.warning("Fan 2 stalled", fan=2)
    events.entry("info", "Model cache warmed").with_job(42).emit()   # anything else, chained
    sdk_shim.shutdown()

Every entry carries ``activity.source=agent``, ``activity.category=curated`` and the worker id as
``activity.worker.id`` (kept in the entry's fields), and names the worker as its entity
(``activity.entity.type=worker``), so the console can filter one worker's entries.
An agent that only writes JSON-lines files forwards them with ``otel-config.yaml`` instead.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import sdk_shim
from collector import attributes as attr

__all__ = ["AgentEvents", "GpuSnapshot", "configure", "WORKER_ENTITY_TYPE"]

WORKER_ENTITY_TYPE = "worker"


@dataclass(frozen=True, slots=True)
class GpuSnapshot:
    """One GPU's readings at one moment (what nvidia-smi / NVML report). Unknown values stay None
    and are left out of the entry's fields."""

    index: int
    name: str | None = None
    utilization_percent: float | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    temperature_c: float | None = None
    power_watts: float | None = None

    def fields(self) -> dict[str, Any]:
        values = {
            "gpu_index": self.index,
            "gpu_name": self.name,
            "utilization_percent": self.utilization_percent,
            "memory_used_mib": self.memory_used_mib,
            "memory_total_mib": self.memory_total_mib,
            "temperature_c": self.temperature_c,
            "power_watts": self.power_watts,
        }
        return {key: value for key, value in values.items() if value is not None}

    def summary(self) -> str:
        parts = [f"GPU {self.index}"]
        if self.utilization_percent is not None:
            parts.append(f"{self.utilization_percent:g}% util")
        if self.memory_used_mib is not None and self.memory_total_mib:
            parts.append(f"{self.memory_used_mib / 1024:.1f}/{self.memory_total_mib / 1024:.1f} GiB")
        if self.temperature_c is not None:
            parts.append(f"{self.temperature_c:g} °C")
        if self.power_watts is not None:
            parts.append(f"{self.power_watts:g} W")
        return ", ".join(parts)


class AgentEvents:
    """The events of one GPU agent, each sent as a curated entry through ``sdk_shim``'s provider."""

    def __init__(self, worker_id: int):
        if isinstance(worker_id, bool) or not isinstance(worker_id, int):
            raise TypeError(f"worker_id must be an int, not {type(worker_id).__name__}")
        self.worker_id = worker_id

    def entry(self, level: str, message: str) -> sdk_shim.CuratedEntry:
        """A curated agent entry for this worker, not yet sent: chain ``with_…`` calls, then ``emit()``."""
        return (
            sdk_shim.curated(level, message)
            .with_source("agent")
            .with_entity(WORKER_ENTITY_TYPE, self.worker_id)
            .with_fields({attr.WORKER_ID: self.worker_id})
        )

    def gpu_snapshot(self, snapshot: GpuSnapshot, *, level: str = "info", **fields: Any) -> None:
        self.entry(level, snapshot.summary()).with_fields(snapshot.fields()).with_fields(fields).emit()

    def gpu_metrics(self, snapshots: Iterable[GpuSnapshot], *, level: str = "info") -> None:
        """One entry per GPU, so that each GPU's readings are flat, filterable fields."""
        for snapshot in snapshots:
            self.gpu_snapshot(snapshot, level=level)

    def restart_result(
        self,
        target: str,
        *,
        succeeded: bool,
        attempt: int | None = None,
        duration_s: float | None = None,
        exit_code: int | None = None,
        error: str | BaseException | None = None,
        **fields: Any,
    ) -> None:
        """The outcome of restarting a supervised process (ComfyUI, a worker, …): info when it
        came back, error when it did not."""
        details = {"target": target, "succeeded": succeeded, "attempt": attempt,
                   "duration_s": duration_s, "exit_code": exit_code}  # fmt: skip
        entry_fields: dict[str, Any] = {key: value for key, value in details.items() if value is not None}
        entry_fields.update(fields)
        suffix = f" (attempt {attempt})" if attempt is not None else ""
        if succeeded:
            took = f" in {duration_s:.1f} s" if duration_s is not None else ""
            entry = self.entry("info", f"Restarted {target}{took}{suffix}")
        else:
            reason = f": {error}" if error is not None else ""
            entry = self.entry("error", f"Restart of {target} failed{reason}{suffix}")
            entry_fields.update(_exception_fields(error))
        entry.with_fields(entry_fields).emit()

    def warning(self, message: str, **fields: Any) -> None:
        self.entry("warn", message).with_fields(fields).emit()

    def info(self, message: str, **fields: Any) -> None:
        self.entry("info", message).with_fields(fields).emit()

    def error(self, message: str, *, exception: BaseException | None = None, **fields: Any) -> None:
        self.entry("error", message).with_fields(_exception_fields(exception)).with_fields(fields).emit()


def configure(
    worker_id: int,
    service_name: str | None = None,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    **options: Any,
) -> AgentEvents:
    """``sdk_shim.configure`` for an agent (source ``agent``, the worker id also on the resource,
    service name ``gpu-agent-<id>`` unless given), returning the agent's event helper."""
    resource_attributes = {attr.WORKER_ID: worker_id, **options.pop("resource_attributes", {})}
    sdk_shim.configure(
        service_name=service_name or f"gpu-agent-{worker_id}",
        source="agent",
        endpoint=endpoint,
        headers=headers,
        resource_attributes=resource_attributes,
        **options,
    )
    return AgentEvents(worker_id)


def _exception_fields(error: str | BaseException | None) -> dict[str, Any]:
    """OTel exception semantic conventions, so the console shows the error the same way for every source."""
    if not isinstance(error, BaseException):
        return {}
    fields = {attr.EXCEPTION_TYPE: type(error).__qualname__, attr.EXCEPTION_MESSAGE: str(error)}
    if error.__traceback__ is not None:
        fields[attr.EXCEPTION_STACKTRACE] = "".join(traceback.format_exception(error))
    return fields
