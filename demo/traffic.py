"""The demo's traffic: realistic entries from all five sources, through the real OTLP path.

Each simulated service has its own OpenTelemetry ``LoggerProvider`` (its ``service.name`` and
``activity.source`` on the resource) exporting over OTLP/gRPC with the ingest token, exactly as a
deployed service using ``sdk_shim`` would:

- ``studio-api`` (api): a request span per submitted job with a curated entry carrying the user,
  project and job ids; its W3C ``traceparent`` goes with the job to the other services. It also
  reports completions and failures, a scheduler heartbeat (a system entry) and request noise.
- ``render-worker-1/2`` (worker): continue the job's trace, download models, queue the prompt on
  ComfyUI, finish or fail (a model download that raises, with its real traceback). Their curated
  entries carry only the job id: the ``jobs`` row gives them the job's project.
- ``comfyui-bridge`` (comfyui): ComfyUI's WebSocket messages for the prompt (execution_start,
  cached, executing, progress, executed, success, error with ComfyUI's traceback, interrupted, queue
  status), turned into entries by the bridge's own ``translate_message``.
- ``gpu-agent-1/2`` (agent): GPU snapshots, temperature and VRAM warnings, ComfyUI restarts.
- ``pipeline-engine`` (pipeline): upscale, encode and upload stages in the job's trace.

Every service also logs through plain ``logging`` (debug and info noise, verbose entries).
``DemoTraffic`` is the generator; ``stream()`` seeds the demo accounts, runs it and flushes (the
library entry point, used by the tests and by ``activity-console demo``, demo/command.py).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import random
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import asyncpg
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.trace import INVALID_SPAN, SpanKind, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import sdk_shim
from api.passwords import generate_password, hash_password
from collector import attributes as attr
from collector.db.queries import q
from sdk_shim.agent import WORKER_ENTITY_TYPE, GpuSnapshot
from sdk_shim.comfyui import translate_message

__all__ = ["DEFAULT_RATE", "DEMO_USERS", "OUTCOME_DECK", "DemoAccount", "DemoSummary", "DemoTraffic",
           "ensure_demo_accounts", "stream"]  # fmt: skip

log = logging.getLogger(__name__)

PASSWORDS_FILE = "demo-users.txt"
DEMO_PROJECTS = ("Studio A", "Studio B")
# (email, project): each creator is a member of one project, so that each sees only their studio's jobs.
DEMO_USERS = (("ana@demo.local", "Studio A"), ("ben@demo.local", "Studio B"))
DEFAULT_RATE = 20.0
MAX_JOBS_IN_FLIGHT = 3
AGENT_INTERVAL_S = 5.0
HEARTBEAT_INTERVAL_S = 12.0
COMFYUI_URL = "http://127.0.0.1:8188"
propagator = TraceContextTextMapPropagator()
# Emitting in this context attaches no trace, even inside a job's span (an empty Context would
# not do: the SDK then falls back to the current one).
NO_TRACE = set_span_in_context(INVALID_SPAN)


# --- accounts, projects and jobs ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoAccount:
    user_id: int
    email: str
    password: str | None  # None: the account existed before and its password is not on file
    project_id: int
    project_name: str


def _read_passwords(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    return dict(line.split(" ", 1) for line in lines if " " in line)


def _write_passwords(path: Path, passwords: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # 0600, like the first-run files: these are real logins to this server.
    with open(path, "w", opener=lambda name, flags: os.open(name, flags, 0o600)) as file:
        file.writelines(f"{email} {password}\n" for email, password in passwords.items())


async def ensure_demo_accounts(conn: asyncpg.Connection, data_dir: Path) -> list[DemoAccount]:
    """The two creators, their projects and memberships, created when missing. Generated passwords
    are kept in ``<data_dir>/demo-users.txt`` so that later runs can print them again."""
    passwords_path = Path(data_dir) / PASSWORDS_FILE
    passwords = _read_passwords(passwords_path)
    projects = {name: (await conn.fetchrow(q("demo_ensure_project"), name))["id"] for name in DEMO_PROJECTS}
    accounts = []
    for email, project_name in DEMO_USERS:
        user = await conn.fetchrow(q("get_user_by_email"), email)
        if user is None:
            password = generate_password()
            user = await conn.fetchrow(q("insert_user"), email, hash_password(password), "creator")
            passwords[email] = password
            _write_passwords(passwords_path, passwords)
        await conn.execute(q("insert_project_member"), projects[project_name], user["id"])
        accounts.append(DemoAccount(user["id"], email, passwords.get(email), projects[project_name], project_name))
    return accounts


# --- what the simulated jobs run ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Model:
    file: str
    size_gib: float


@dataclass(frozen=True, slots=True)
class Workflow:
    name: str
    title: str
    nodes: tuple[tuple[str, str], ...]  # (node id, class_type) in execution order
    sampler_node: str
    decode_node: str
    output_node: str
    steps: int
    models: tuple[Model, ...]
    outputs: int
    output_ext: str
    prompts: tuple[str, ...]

    @property
    def loader_nodes(self) -> list[str]:
        return [node for node, kind in self.nodes if "Loader" in kind]


WORKFLOWS = (
    Workflow(
        "sdxl-portrait", "SDXL portrait batch",
        (("4", "CheckpointLoaderSimple"), ("6", "CLIPTextEncode"), ("7", "CLIPTextEncode"),
         ("5", "EmptyLatentImage"), ("3", "KSampler"), ("8", "VAEDecode"), ("9", "SaveImage")),
        sampler_node="3", decode_node="8", output_node="9", steps=30,
        models=(Model("sd_xl_base_1.0.safetensors", 6.5), Model("sdxl_vae.safetensors", 0.3)),
        outputs=4, output_ext="png",
        prompts=("studio portrait of an old sailor, rim light, 85mm", "a ceramicist at her wheel, morning light"),
    ),
    Workflow(
        "flux-product-shot", "Flux product shot",
        (("12", "UNETLoader"), ("11", "DualCLIPLoader"), ("10", "VAELoader"), ("6", "CLIPTextEncode"),
         ("27", "EmptySD3LatentImage"), ("31", "KSampler"), ("8", "VAEDecode"), ("9", "SaveImage")),
        sampler_node="31", decode_node="8", output_node="9", steps=20,
        models=(Model("flux1-dev-fp8.safetensors", 11.9), Model("t5xxl_fp8_e4m3fn.safetensors", 4.9),
                Model("ae.safetensors", 0.3)),
        outputs=2, output_ext="png",
        prompts=("matte black headphones on wet slate, softbox", "perfume bottle in a field of lavender"),
    ),
    Workflow(
        "wan-i2v-teaser", "Wan 2.1 image-to-video teaser",
        (("37", "UNETLoader"), ("38", "CLIPLoader"), ("39", "VAELoader"), ("52", "LoadImage"),
         ("6", "CLIPTextEncode"), ("50", "WanImageToVideo"), ("3", "KSampler"), ("8", "VAEDecode"),
         ("47", "VHS_VideoCombine")),
        sampler_node="3", decode_node="8", output_node="47", steps=25,
        models=(Model("wan2.1_i2v_480p_14B_fp8_e4m3fn.safetensors", 16.4), Model("umt5_xxl_fp8_e4m3fn_scaled.safetensors", 6.7),
                Model("wan_2.1_vae.safetensors", 0.25)),
        outputs=1, output_ext="mp4",
        prompts=("slow dolly-in on the poster, dust in the light", "the city skyline turns from dusk to night"),
    ),
)  # fmt: skip


class Outcome(enum.Enum):
    SUCCESS = "success"
    SUCCESS_AFTER_UPLOAD_RETRY = "success after an upload retry"
    COMFYUI_ERROR = "ComfyUI node error"
    DOWNLOAD_FAILED = "model download failed"
    CANCELLED = "cancelled by the user"


# Outcomes are dealt from a shuffled deck, so that every eight jobs show each kind at least once
# (a short run or a test sees an error with a traceback) while the order still varies with the seed.
OUTCOME_DECK = (
    Outcome.SUCCESS, Outcome.SUCCESS, Outcome.SUCCESS, Outcome.SUCCESS,
    Outcome.SUCCESS_AFTER_UPLOAD_RETRY, Outcome.COMFYUI_ERROR, Outcome.DOWNLOAD_FAILED, Outcome.CANCELLED,
)  # fmt: skip

# ComfyUI sends ``traceback.format_tb()`` lines in execution_error; these are its real frames.
_COMFYUI_EXECUTION_FRAMES = [
    '  File "/opt/ComfyUI/execution.py", line 496, in execute\n'
    "    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n",
    '  File "/opt/ComfyUI/execution.py", line 315, in get_output_data\n'
    "    return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, allow_interrupt=True, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n",
    '  File "/opt/ComfyUI/execution.py", line 289, in _async_map_node_over_list\n    await process_inputs(input_dict, i)\n',
    '  File "/opt/ComfyUI/execution.py", line 277, in process_inputs\n    result = f(**inputs)\n',
]
COMFYUI_ERRORS = {
    "sampler": (
        "torch.OutOfMemoryError",
        "CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has a total capacity of 23.64 GiB of which "
        "1.12 GiB is free. Including non-PyTorch memory, this process has 22.48 GiB memory in use. Of the "
        "allocated memory 20.87 GiB is allocated by PyTorch, and 1.16 GiB is reserved by PyTorch but unallocated.",
        _COMFYUI_EXECUTION_FRAMES + [
            '  File "/opt/ComfyUI/nodes.py", line 1525, in sample\n'
            "    return common_ksampler(model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise=denoise)\n",
            '  File "/opt/ComfyUI/nodes.py", line 1492, in common_ksampler\n'
            "    samples = comfy.sample.sample(model, noise, steps, cfg, sampler_name, scheduler, positive, negative, latent_image,\n",
            '  File "/opt/ComfyUI/comfy/sample.py", line 45, in sample\n'
            "    samples = sampler.sample(noise, positive, negative, cfg=cfg, latent_image=latent_image, start_step=start_step, last_step=last_step, force_full_denoise=force_full_denoise, denoise_mask=noise_mask, sigmas=sigmas, callback=callback, disable_pbar=disable_pbar, seed=seed)\n",
            '  File "/opt/ComfyUI/comfy/samplers.py", line 1143, in sample\n'
            "    return sample(self.model, noise, positive, negative, cfg, self.device, sampler, sigmas, self.model_options, latent_image=latent_image, denoise_mask=denoise_mask, callback=callback, disable_pbar=disable_pbar, seed=seed)\n",
            '  File "/opt/ComfyUI/comfy/ldm/modules/attention.py", line 464, in attention_pytorch\n'
            "    out = comfy.ops.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False)\n",
        ],
    ),
    "decode": (
        "RuntimeError",
        "Given groups=1, weight of size [4, 4, 1, 1], expected input[1, 16, 128, 128] to have 4 channels, "
        "but got 16 channels instead",
        _COMFYUI_EXECUTION_FRAMES + [
            '  File "/opt/ComfyUI/nodes.py", line 294, in decode\n    images = vae.decode(samples["samples"])\n',
            '  File "/opt/ComfyUI/comfy/sd.py", line 620, in decode\n'
            "    out = self.process_output(self.first_stage_model.decode(samples).to(self.output_device).float())\n",
            '  File "/opt/ComfyUI/comfy/ldm/models/autoencoder.py", line 209, in decode\n    dec = self.post_quant_conv(z)\n',
            '  File "/opt/venv/lib/python3.11/site-packages/torch/nn/modules/module.py", line 1751, in _wrapped_call_impl\n'
            "    return self._call_impl(*args, **kwargs)\n",
            '  File "/opt/venv/lib/python3.11/site-packages/torch/nn/modules/conv.py", line 554, in forward\n'
            "    return self._conv_forward(input, self.weight, self.bias)\n",
        ],
    ),
}  # fmt: skip


class ModelDownloadError(RuntimeError):
    pass


class ComfyUIUnresponsive(RuntimeError):
    pass


def _fetch_model_file(url: str) -> None:
    # Raised for real, so that the worker's error entry carries a genuine Python traceback.
    raise ConnectionResetError(104, f"Connection reset by peer while reading {url}")


def _download_model(model: Model, attempts: int) -> None:
    url = f"https://huggingface.co/demo-models/resolve/main/{model.file}"
    try:
        _fetch_model_file(url)
    except ConnectionResetError as exc:
        raise ModelDownloadError(f"{model.file}: giving up after {attempts} attempts") from exc


def _wait_for_comfyui(seconds: float) -> None:
    raise ComfyUIUnresponsive(f"GET {COMFYUI_URL}/system_stats did not answer within {seconds:g} s")


def _raised(action: Callable[[], None]) -> BaseException:
    try:
        action()
    except Exception as exc:
        return exc
    raise AssertionError("expected the action to raise")


def exception_fields(error: BaseException) -> dict[str, str]:
    """OTel exception semantic conventions (the same fields sdk_shim.agent sends)."""
    return {
        attr.EXCEPTION_TYPE: type(error).__qualname__,
        attr.EXCEPTION_MESSAGE: str(error),
        attr.EXCEPTION_STACKTRACE: "".join(traceback.format_exception(error)),
    }


# --- one simulated service ---------------------------------------------------------------------


class Pacer:
    """Spaces all emissions of the demo ``1 / rate`` seconds apart (fairly: asyncio.Lock is FIFO);
    a rate of 0 or less means as fast as possible."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next_slot = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            await asyncio.sleep(0)  # still let the other coroutines interleave
            return
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if self._next_slot > now:
                await asyncio.sleep(self._next_slot - now)
            self._next_slot = max(now, self._next_slot) + self.interval

    def scaled(self, entries: float) -> float:
        """The time that ``entries`` emissions take at this rate (for pauses between activities)."""
        return entries * self.interval


class SimulatedService:
    """One service of the demo: its own LoggerProvider and exporter, a tracer for its spans (not
    exported: they only carry the trace context) and a stdlib logger bridged to the provider."""

    def __init__(
        self, name: str, source: str, *, exporter: OTLPLogExporter, pacer: Pacer, counts: Counter,
        resource_attributes: Mapping[str, Any] | None = None, schedule_delay_millis: float = 1000,
    ):  # fmt: skip
        self.name, self.source, self.pacer, self.counts = name, source, pacer, counts
        resource = Resource.create({SERVICE_NAME: name, attr.SOURCE: source, **(resource_attributes or {})})
        self.provider = LoggerProvider(resource=resource)
        self.provider.add_log_record_processor(
            BatchLogRecordProcessor(exporter, schedule_delay_millis=schedule_delay_millis)
        )
        self._otel_logger = self.provider.get_logger("sdk_shim")
        self.tracer = TracerProvider(resource=Resource.create({SERVICE_NAME: name})).get_tracer(f"demo.{name}")
        # A logger of its own, not propagating to the root: this service's plain logging goes to
        # its own provider only (not to the terminal, nor to the in-process server's own log handler).
        self.logger = logging.getLogger(f"demo.{name}")
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        self._handler = LoggingHandler(level=logging.DEBUG, logger_provider=self.provider)
        self.logger.addHandler(self._handler)

    async def send(self, entry: sdk_shim.CuratedEntry, *, category: str = "curated", context: Context | None = None) -> None:
        """A curated entry (built with sdk_shim's builder), in ``context`` or the current span."""
        attributes = entry.attributes()
        attributes[attr.CATEGORY] = category
        severity, severity_text = sdk_shim.LEVEL_SEVERITY[entry.level]
        await self.pacer.wait()
        self._otel_logger.emit(
            severity_number=severity, severity_text=severity_text, body=entry.message,
            attributes=attributes, context=context,
        )  # fmt: skip
        self.counts[self.source] += 1

    async def log(self, level: int, message: str, *args: Any, job_id: int | None = None) -> None:
        """Plain ``logging``: a verbose entry in the current span; ``job_id`` scopes it to the job."""
        await self.pacer.wait()
        self.logger.log(level, message, *args, extra={attr.JOB_ID: job_id} if job_id is not None else None)
        self.counts[self.source] += 1

    def shutdown(self) -> None:
        """Flush and stop the exporter (blocking: run it in a thread while the loop keeps serving)."""
        self.logger.removeHandler(self._handler)
        self.provider.shutdown()


def _traceparent() -> str:
    carrier: dict[str, str] = {}
    propagator.inject(carrier)
    return carrier["traceparent"]


def _context(traceparent: str) -> Context:
    return propagator.extract({"traceparent": traceparent})


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


# --- the traffic -------------------------------------------------------------------------------


@dataclass(slots=True)
class GpuHost:
    """A render worker with one GPU, its agent and what the agent reads from the GPU."""

    worker_id: int
    gpu_name: str
    memory_total_mib: int
    worker: SimulatedService
    agent: SimulatedService
    temperature_c: float = 42.0
    memory_used_mib: float = 900.0
    current_job: int | None = None
    cached_models: set[str] = field(default_factory=set)
    warm_workflows: set[str] = field(default_factory=set)
    needs_restart: bool = False


@dataclass(slots=True)
class DemoJob:
    index: int
    job_id: int
    account: DemoAccount
    workflow: Workflow
    outcome: Outcome
    host: GpuHost
    prompt: str


@dataclass
class DemoSummary:
    jobs_started: int = 0
    outcomes: Counter = field(default_factory=Counter)
    entries: Counter = field(default_factory=Counter)  # per source
    trace_ids: list[str] = field(default_factory=list)  # of the jobs, in start order


class DemoTraffic:
    """Streams the demo's traffic to one OTLP/gRPC endpoint until stopped (see the module doc)."""

    def __init__(
        self, pool: asyncpg.Pool, accounts: Sequence[DemoAccount], *, endpoint: str, token: str,
        seed: int | None = None, rate: float = DEFAULT_RATE, schedule_delay_millis: float = 1000,
    ):  # fmt: skip
        if not accounts:
            raise ValueError("the demo needs at least one account")
        self.pool = pool
        self.accounts = list(accounts)
        self.rng = random.Random(seed)
        self.pacer = Pacer(rate)
        self.summary = DemoSummary()
        self._deck: list[Outcome] = []
        self._slots = asyncio.Semaphore(MAX_JOBS_IN_FLIGHT)
        self._last_queue_remaining: int | None = None
        endpoint = endpoint if "://" in endpoint else f"http://{endpoint}"
        headers = {"authorization": f"Bearer {token}"}

        def service(name: str, source: str, **resource: Any) -> SimulatedService:
            # During a server outage the SDK retries each batch (backing off on UNAVAILABLE) for
            # up to its export timeout (10 s by default), then drops it; the demo carries on.
            exporter = OTLPLogExporter(endpoint=endpoint, headers=headers, insecure=endpoint.startswith("http://"))
            return SimulatedService(name, source, exporter=exporter, pacer=self.pacer, counts=self.summary.entries,
                                    resource_attributes=resource, schedule_delay_millis=schedule_delay_millis)  # fmt: skip

        self.api = service("studio-api", "api")
        self.comfyui = service("comfyui-bridge", "comfyui")
        self.pipeline = service("pipeline-engine", "pipeline")
        self.hosts = [
            GpuHost(worker_id, gpu_name, memory_mib,
                    worker=service(f"render-worker-{worker_id}", "worker", **{attr.WORKER_ID: worker_id}),
                    agent=service(f"gpu-agent-{worker_id}", "agent", **{attr.WORKER_ID: worker_id}))
            for worker_id, gpu_name, memory_mib in ((1, "NVIDIA GeForce RTX 4090", 24564), (2, "NVIDIA L40S", 46068))
        ]  # fmt: skip
        self.services = [self.api, self.comfyui, self.pipeline] + [s for h in self.hosts for s in (h.worker, h.agent)]

    # --- lifecycle ---

    async def run(self, stop: asyncio.Event | None = None, *, jobs: int | None = None, duration: float | None = None) -> DemoSummary:
        """Stream until ``stop`` is set, ``duration`` seconds have passed or ``jobs`` jobs have
        finished, whichever comes first. Call ``shutdown()`` afterwards to flush."""
        stop = stop or asyncio.Event()
        async with asyncio.TaskGroup() as group:
            background = [group.create_task(self._agent_loop(host)) for host in self.hosts]
            background.append(group.create_task(self._heartbeat_loop()))
            launcher = group.create_task(self._launch_jobs(jobs))
            stop_waiter = group.create_task(stop.wait())
            await asyncio.wait({launcher, stop_waiter}, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
            for task in (*background, launcher, stop_waiter):
                task.cancel()
        return self.summary

    async def shutdown(self) -> None:
        """Flush every service's exporter. In threads, in parallel: a flush blocks, and an
        in-process server must keep receiving meanwhile."""
        await asyncio.gather(*(asyncio.to_thread(service.shutdown) for service in self.services))

    # --- jobs ---

    async def _launch_jobs(self, jobs: int | None) -> None:
        async with asyncio.TaskGroup() as group:
            index = 0
            while jobs is None or index < jobs:
                await self._slots.acquire()
                try:
                    job = await self._create_job(index)
                except (asyncpg.PostgresError, OSError, asyncio.TimeoutError) as exc:
                    self._slots.release()
                    log.warning("demo: cannot create a job row (%s); retrying in 2 s", exc)
                    await asyncio.sleep(2)
                    continue
                group.create_task(self._run_job_in_slot(job))
                index += 1
                # Jobs start a little apart, so that their entries interleave in the console.
                await asyncio.sleep(self.pacer.scaled(self.rng.uniform(8, 30)))

    async def _create_job(self, index: int) -> DemoJob:
        if not self._deck:
            self._deck = list(OUTCOME_DECK)
            self.rng.shuffle(self._deck)
            if index == 0:  # the first job of a run succeeds: a newcomer's first trace is a whole one
                self._deck.remove(Outcome.SUCCESS)
                self._deck.append(Outcome.SUCCESS)  # dealt from the end
        account = self.accounts[index % len(self.accounts)]
        workflow = self.rng.choice(WORKFLOWS)
        idle = [host for host in self.hosts if host.current_job is None] or self.hosts
        host = self.rng.choice(idle)
        async with self.pool.acquire() as conn:
            job_id = await conn.fetchval(q("demo_insert_job"), account.project_id, workflow.title)
        outcome = self._deck.pop()
        self.summary.jobs_started += 1
        return DemoJob(index, job_id, account, workflow, outcome, host, self.rng.choice(workflow.prompts))

    async def _run_job_in_slot(self, job: DemoJob) -> None:
        try:
            await self._run_job(job)
            self.summary.outcomes[job.outcome] += 1
        finally:
            if job.host.current_job == job.job_id:
                job.host.current_job = None
            self._slots.release()

    async def _run_job(self, job: DemoJob) -> None:
        api, account, workflow = self.api, job.account, job.workflow
        request_id = uuid.UUID(int=self.rng.getrandbits(128), version=4).hex[:16]
        with api.tracer.start_as_current_span("POST /api/jobs", kind=SpanKind.SERVER,
                                              attributes={"http.request.method": "POST", "http.route": "/api/jobs"}) as span:  # fmt: skip
            self.summary.trace_ids.append(format(span.get_span_context().trace_id, "032x"))
            await api.log(logging.DEBUG, "POST /api/jobs from %s: workflow %s, %d nodes", account.email,
                          workflow.name, len(workflow.nodes), job_id=job.job_id)  # fmt: skip
            used = self.rng.randint(40, 900)
            await api.log(logging.DEBUG, "quota check for project %s: %d/1000 GPU-minutes used",
                          account.project_name, used, job_id=job.job_id)  # fmt: skip
            await api.send(
                self._api_entry(job, "info", f"Job {job.job_id} submitted by {account.email}: {workflow.title}")
                .with_fields({"workflow": workflow.name, "prompt": job.prompt, "batch_size": workflow.outputs,
                              "request_id": request_id, "quota_used_minutes": used})
            )  # fmt: skip
            job_traceparent = _traceparent()
            await api.log(logging.INFO, "POST /api/jobs 201 in %d ms", self.rng.randint(18, 90), job_id=job.job_id)

        handoff = await self._worker_runs(job, job_traceparent)
        if handoff is None:
            return
        handoff = await self._pipeline_runs(job, handoff)
        with api.tracer.start_as_current_span(f"POST /internal/jobs/{job.job_id}/complete", context=_context(handoff),
                                              kind=SpanKind.SERVER):  # fmt: skip
            await api.send(
                self._api_entry(job, "info", f"Job {job.job_id} completed: {workflow.outputs} {workflow.output_ext} "
                                f"output(s) ready in {account.project_name}")
                .with_fields({"workflow": workflow.name, "outputs": workflow.outputs})
            )  # fmt: skip
            await api.log(logging.DEBUG, "notified %s of job %s (websocket push)", account.email, job.job_id, job_id=job.job_id)

    def _api_entry(self, job: DemoJob, level: str, message: str) -> sdk_shim.CuratedEntry:
        return (
            sdk_shim.curated(level, message).with_user(job.account.user_id).with_project(job.account.project_id)
            .with_job(job.job_id).with_entity("job", job.job_id)
        )  # fmt: skip

    def _worker_entry(self, job: DemoJob, level: str, message: str) -> sdk_shim.CuratedEntry:
        # Only the job id: the server scopes the entry through the job's row (its project).
        return (
            sdk_shim.curated(level, message).with_job(job.job_id).with_entity("job", job.job_id)
            .with_fields({attr.WORKER_ID: job.host.worker_id})
        )  # fmt: skip

    async def _report_failure(self, job: DemoJob, worker_traceparent: str, reason: str, level: str = "warn") -> None:
        """The API learns that the job ended without outputs (a callback in the job's trace)."""
        with self.api.tracer.start_as_current_span(f"POST /internal/jobs/{job.job_id}/fail", context=_context(worker_traceparent),
                                                   kind=SpanKind.SERVER):  # fmt: skip
            await self.api.send(self._api_entry(job, level, f"Job {job.job_id} {reason}; {job.account.email} notified"))

    async def _worker_runs(self, job: DemoJob, job_traceparent: str) -> str | None:
        """The worker's part; returns the traceparent to hand to the pipeline, None when the job ended here."""
        host, workflow, worker = job.host, job.workflow, job.host.worker
        host.current_job = job.job_id
        with worker.tracer.start_as_current_span("worker.run_job", context=_context(job_traceparent), kind=SpanKind.CONSUMER,
                                                 attributes={attr.JOB_ID: job.job_id}):  # fmt: skip
            worker_traceparent = _traceparent()
            await worker.send(self._worker_entry(job, "info", f"Job {job.job_id} picked up by {worker.name}").with_fields(
                {"workflow": workflow.name, "queue_wait_ms": self.rng.randint(40, 4000), "gpu": host.gpu_name}))
            await worker.log(logging.DEBUG, "job %s: resolving %d model files", job.job_id, len(workflow.models), job_id=job.job_id)
            missing = [model for model in workflow.models if model.file not in host.cached_models]
            if job.outcome is Outcome.DOWNLOAD_FAILED:
                lora = Model(f"{_slug(job.account.project_name)}-style-v{self.rng.randint(2, 9)}.safetensors", 0.2)
                missing.append(lora)
            for model in workflow.models:
                if model not in missing:
                    await worker.log(logging.DEBUG, "model cache hit: %s", model.file, job_id=job.job_id)
            if missing:
                total = sum(model.size_gib for model in missing)
                await worker.send(self._worker_entry(job, "info", f"Downloading {len(missing)} model(s) for job {job.job_id} "
                                                     f"({total:.1f} GiB)").with_fields({"models": [m.file for m in missing]}))  # fmt: skip
                for model in missing:
                    if job.outcome is Outcome.DOWNLOAD_FAILED and model is missing[-1]:
                        await worker.log(logging.WARNING, "download of %s interrupted: connection reset; retrying", model.file, job_id=job.job_id)
                        error = _raised(lambda: _download_model(model, attempts=3))
                        await worker.send(self._worker_entry(job, "error", f"Job {job.job_id} failed: cannot download {model.file}")
                                          .with_fields(exception_fields(error)))  # fmt: skip
                        await self._report_failure(job, worker_traceparent, "failed before rendering (model download)")
                        return None
                    for percent in (35, 70):
                        await worker.log(logging.DEBUG, "%s: %d%% of %.1f GiB", model.file, percent, model.size_gib, job_id=job.job_id)
                    host.cached_models.add(model.file)
                await worker.send(self._worker_entry(job, "info", f"Models ready for job {job.job_id} in "
                                                     f"{total * self.rng.uniform(2.5, 6):.1f} s"))  # fmt: skip
            prompt_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            await worker.log(logging.INFO, "job %s: queued prompt %s on ComfyUI at %s", job.job_id, prompt_id, COMFYUI_URL, job_id=job.job_id)
            started = time.monotonic()
            result = await self._comfyui_runs(job, prompt_id, worker_traceparent)
            if isinstance(result, tuple):  # (exception type, message, traceback text)
                exception_type, exception_message, stacktrace = result
                await worker.send(self._worker_entry(job, "error", f"Job {job.job_id} failed in ComfyUI: {exception_type}")
                                  .with_fields({attr.EXCEPTION_TYPE: exception_type, attr.EXCEPTION_MESSAGE: exception_message,
                                                attr.EXCEPTION_STACKTRACE: stacktrace, "prompt_id": prompt_id}))  # fmt: skip
                host.needs_restart = exception_type.endswith("OutOfMemoryError")
                await self._report_failure(job, worker_traceparent, "failed", level="error")
                return None
            if result == "interrupted":
                await worker.send(self._worker_entry(job, "warn", f"Job {job.job_id} cancelled while rendering; GPU released"))
                return None
            host.warm_workflows.add(workflow.name)
            await worker.send(self._worker_entry(job, "info", f"Job {job.job_id} rendered: {workflow.outputs} "
                                                 f"{workflow.output_ext} file(s), handing over to the pipeline")
                              .with_fields({"duration_s": round(time.monotonic() - started, 3), "prompt_id": prompt_id}))  # fmt: skip
            return _traceparent()

    async def _comfyui_message(self, message_type: str, data: Mapping[str, Any], job: DemoJob | None, context: Context | None) -> None:
        """One ComfyUI message, mapped by the bridge's own translation, with the ids the bridge's
        ``track()`` would attach (job, project, user) and the job's trace."""
        entry = translate_message(message_type, data)
        if entry is None:
            return
        builder = sdk_shim.curated(entry.level, entry.message).with_source("comfyui").with_fields(entry.fields)
        if job is not None:
            builder.with_job(job.job_id).with_project(job.account.project_id).with_user(job.account.user_id)
        await self.comfyui.send(builder, category=entry.category, context=context)

    async def _queue_status(self) -> None:
        """ComfyUI's queue status is about the server, not a prompt: a system entry without a
        trace (sent, like the bridge does, only when the value changes)."""
        remaining = sum(1 for host in self.hosts if host.current_job is not None)
        if remaining != self._last_queue_remaining:
            self._last_queue_remaining = remaining
            await self._comfyui_message("status", {"status": {"exec_info": {"queue_remaining": remaining}}}, None, NO_TRACE)

    async def _comfyui_runs(self, job: DemoJob, prompt_id: str, worker_traceparent: str) -> str | tuple[str, str, str]:
        """The prompt's messages; returns "success", "interrupted" or the error (type, message, traceback)."""
        workflow, comfyui = job.workflow, self.comfyui
        context = _context(worker_traceparent)  # what bridge.track(prompt_id, traceparent=…) keeps
        base = {"prompt_id": prompt_id}

        async def message(message_type: str, **data: Any) -> None:
            await self._comfyui_message(message_type, {**base, **data}, job, context)

        await self._queue_status()
        await message("execution_start", timestamp=int(time.time() * 1000))
        cached = workflow.loader_nodes if workflow.name in job.host.warm_workflows else []
        if cached:
            await message("execution_cached", nodes=cached, timestamp=int(time.time() * 1000))
        failing_node = None
        if job.outcome is Outcome.COMFYUI_ERROR:
            failing_node = self.rng.choice([workflow.sampler_node, workflow.decode_node])
        executed: list[str] = list(cached)
        for node, kind in workflow.nodes:
            if node in cached:
                continue
            await message("executing", node=node, display_node=node)
            await comfyui.log(logging.DEBUG, "ws frame: executing %s (%s)", node, kind, job_id=job.job_id)
            if node == failing_node:
                error_type, error_message, frames = COMFYUI_ERRORS["sampler" if node == workflow.sampler_node else "decode"]
                if node == workflow.sampler_node:
                    await self._sampler_progress(job, message, node, stop_at=self.rng.randint(3, workflow.steps // 2))
                await message("execution_error", node_id=node, node_type=kind, executed=executed,
                              exception_type=error_type, exception_message=error_message, traceback=frames,
                              current_inputs={}, current_outputs={})  # fmt: skip
                await self._queue_status()
                stacktrace = "Traceback (most recent call last):\n" + "".join(frames) + f"{error_type}: {error_message}\n"
                return error_type, error_message, stacktrace
            if node == workflow.sampler_node:
                if job.outcome is Outcome.CANCELLED:
                    await self._sampler_progress(job, message, node, stop_at=self.rng.randint(4, workflow.steps - 2))
                    await self._user_cancels(job)
                    await message("execution_interrupted", node_id=node, node_type=kind, executed=executed)
                    await self._queue_status()
                    return "interrupted"
                await self._sampler_progress(job, message, node, stop_at=workflow.steps)
            if node == workflow.output_node:
                files = [{"filename": f"{workflow.name}_{job.job_id:05d}_{n:02d}.{workflow.output_ext}", "subfolder": "",
                          "type": "output"} for n in range(1, workflow.outputs + 1)]  # fmt: skip
                key = "gifs" if workflow.output_ext == "mp4" else "images"
                await message("executed", node=node, display_node=node, output={key: files})
            executed.append(node)
        await message("executing", node=None)
        await message("execution_success", timestamp=int(time.time() * 1000))
        await self._queue_status()
        return "success"

    async def _sampler_progress(self, job: DemoJob, message: Callable, node: str, stop_at: int) -> None:
        # The bridge throttles progress (one entry per node per second, plus the final step);
        # the demo sends about every fifth step, and the last one reached.
        total = job.workflow.steps
        stride = max(1, total // 5)
        for step in range(1, stop_at + 1):
            if step % stride == 0 or step == stop_at:
                await message("progress", value=step, max=total, node=node)
            if step == total // 2:
                # Newer ComfyUI also sends progress_state, which the bridge keeps as a verbose entry.
                await message("progress_state", nodes={node: {"value": step, "max": total, "state": "running"}})

    async def _user_cancels(self, job: DemoJob) -> None:
        """The user cancels from the UI: a separate API request (its own trace)."""
        with self.api.tracer.start_as_current_span(f"DELETE /api/jobs/{job.job_id}", kind=SpanKind.SERVER):
            await self.api.send(self._api_entry(job, "info", f"Job {job.job_id} cancelled by {job.account.email}"))
            await self.api.log(logging.INFO, "POST /prompt/interrupt sent to %s for job %s", COMFYUI_URL, job.job_id, job_id=job.job_id)

    async def _pipeline_runs(self, job: DemoJob, worker_traceparent: str) -> str:
        """Upscale, encode and upload, each a span continuing the worker's; returns the last one's traceparent."""
        pipeline, workflow = self.pipeline, job.workflow
        bucket = f"s3://{_slug(job.account.project_name)}-renders/jobs/{job.job_id}/"
        stages = (
            ("upscale", "4x-UltraSharp" if workflow.output_ext == "png" else "RealESRGAN_x2plus"),
            ("encode", "webp q90 + thumbnails" if workflow.output_ext == "png" else "h264 crf 18, 24 fps"),
            ("upload", bucket),
        )
        handoff = worker_traceparent
        for stage, how in stages:
            with pipeline.tracer.start_as_current_span(f"pipeline.{stage}", context=_context(worker_traceparent),
                                                       kind=SpanKind.CONSUMER, attributes={attr.JOB_ID: job.job_id}):  # fmt: skip

                def entry(level: str, message: str) -> sdk_shim.CuratedEntry:
                    return (sdk_shim.curated(level, message).with_job(job.job_id).with_project(job.account.project_id)
                            .with_fields({"stage": stage}))  # fmt: skip

                await pipeline.send(entry("info", f"Stage {stage} started for job {job.job_id} ({how})")
                                    .with_fields({"items": workflow.outputs}))  # fmt: skip
                started = time.monotonic()
                for item in range(1, workflow.outputs + 1):
                    if stage == "upload" and item == 1 and job.outcome is Outcome.SUCCESS_AFTER_UPLOAD_RETRY:
                        await pipeline.send(entry("warn", f"Upload of job {job.job_id} item {item} to {bucket} failed: "
                                                  "503 SlowDown; retrying in 2 s (attempt 1/5)")
                                            .with_fields({"item": item, "attempt": 1, "status": 503}))  # fmt: skip
                    await pipeline.log(logging.INFO if stage == "upload" else logging.DEBUG, "%s: item %d/%d done",
                                       stage, item, workflow.outputs, job_id=job.job_id)  # fmt: skip
                size_mib = workflow.outputs * self.rng.uniform(1.5, 9) * (12 if workflow.output_ext == "mp4" else 1)
                await pipeline.send(entry("info", f"Stage {stage} finished for job {job.job_id}: {workflow.outputs}/"
                                          f"{workflow.outputs} items")
                                    .with_fields({"succeeded": workflow.outputs, "size_mib": round(size_mib, 1),
                                                  "duration_s": round(time.monotonic() - started, 3)}))  # fmt: skip
                handoff = _traceparent()
        return handoff

    # --- GPU agents and system entries ---

    async def _agent_loop(self, host: GpuHost) -> None:
        agent, worker_id = host.agent, host.worker_id

        def entry(level: str, message: str) -> sdk_shim.CuratedEntry:
            # What sdk_shim.agent.AgentEvents.entry builds, sent through this agent's own provider.
            return (sdk_shim.curated(level, message).with_source("agent").with_entity(WORKER_ENTITY_TYPE, worker_id)
                    .with_fields({attr.WORKER_ID: worker_id}))  # fmt: skip

        await agent.send(entry("info", f"GPU agent on worker {worker_id} started (1 GPU: {host.gpu_name})")
                         .with_fields({"gpu_name": host.gpu_name, "memory_total_mib": host.memory_total_mib}))  # fmt: skip
        while True:
            busy = host.current_job is not None
            target_temp = self.rng.uniform(76, 89) if busy else self.rng.uniform(38, 48)
            host.temperature_c += (target_temp - host.temperature_c) * 0.6
            target_mem = host.memory_total_mib * self.rng.uniform(0.7, 0.97) if busy else self.rng.uniform(600, 1400)
            host.memory_used_mib += (target_mem - host.memory_used_mib) * 0.7
            snapshot = GpuSnapshot(
                index=0, name=host.gpu_name, utilization_percent=round(self.rng.uniform(85, 100) if busy else self.rng.uniform(0, 6)),
                memory_used_mib=round(host.memory_used_mib), memory_total_mib=host.memory_total_mib,
                temperature_c=round(host.temperature_c), power_watts=round(self.rng.uniform(280, 430) if busy else self.rng.uniform(18, 40)),
            )  # fmt: skip
            await agent.log(logging.DEBUG, "nvml: polled 1 GPU in %.1f ms", self.rng.uniform(0.8, 4.0))
            fields = snapshot.fields() | ({"current_job": host.current_job} if busy else {})
            await agent.send(entry("info", snapshot.summary()).with_fields(fields))
            if snapshot.temperature_c is not None and snapshot.temperature_c >= 84:
                await agent.send(entry("warn", f"GPU 0 on worker {worker_id} at {snapshot.temperature_c:g} °C: clocks throttled")
                                 .with_fields({"temperature_c": snapshot.temperature_c, "threshold_c": 84}))  # fmt: skip
            if host.memory_used_mib / host.memory_total_mib >= 0.93:
                await agent.send(entry("warn", f"VRAM nearly full on worker {worker_id}: {host.memory_used_mib / 1024:.1f}/"
                                       f"{host.memory_total_mib / 1024:.1f} GiB")
                                 .with_fields({"memory_used_mib": round(host.memory_used_mib), "memory_total_mib": host.memory_total_mib}))  # fmt: skip
            if host.needs_restart:
                host.needs_restart = False
                await self._restart_comfyui(host, entry)
            await asyncio.sleep(AGENT_INTERVAL_S * self.rng.uniform(0.8, 1.2))

    async def _restart_comfyui(self, host: GpuHost, entry: Callable[[str, str], sdk_shim.CuratedEntry]) -> None:
        """After an out-of-memory error the agent restarts ComfyUI; now and then the first try times out."""
        agent = host.agent
        await agent.log(logging.INFO, "restarting comfyui on worker %d (CUDA OOM reported)", host.worker_id)
        attempt = 1
        if self.rng.random() < 0.35:
            error = _raised(lambda: _wait_for_comfyui(30))
            await agent.send(entry("error", f"Restart of comfyui failed: {error} (attempt 1)")
                             .with_fields({"target": "comfyui", "succeeded": False, "attempt": 1, **exception_fields(error)}))  # fmt: skip
            attempt = 2
        await agent.send(entry("info", f"Restarted comfyui in {self.rng.uniform(3, 9):.1f} s (attempt {attempt})")
                         .with_fields({"target": "comfyui", "succeeded": True, "attempt": attempt}))  # fmt: skip

    async def _heartbeat_loop(self) -> None:
        """The API's scheduler heartbeat and health checks: entries with no user or project."""
        while True:
            running = sum(1 for host in self.hosts if host.current_job is not None)
            with self.api.tracer.start_as_current_span("scheduler.tick", kind=SpanKind.INTERNAL):
                await self.api.log(logging.DEBUG, "GET /healthz 200 in %d ms", self.rng.randint(1, 4))
                await self.api.send(sdk_shim.curated("info", f"Scheduler: {running} job(s) running, {len(self.hosts)} "
                                                     "workers online").with_fields({"running": running, "workers": len(self.hosts)}))  # fmt: skip
            await asyncio.sleep(HEARTBEAT_INTERVAL_S * self.rng.uniform(0.8, 1.2))


# --- streaming ---------------------------------------------------------------------------------


def _print_accounts(accounts: Sequence[DemoAccount]) -> None:
    lines = ["Demo accounts (creators; each sees only their studio's jobs and system entries):"]
    for account in accounts:
        password = account.password or "(existing account; password unchanged)"
        lines.append(f"  {account.email} / {password}   ({account.project_name})")
    print("\n".join(lines), flush=True)


async def stream(
    pool: asyncpg.Pool, data_dir: Path, *, endpoint: str, token: str, seed: int | None = None,
    rate: float = DEFAULT_RATE, jobs: int | None = None, duration: float | None = None,
    stop: asyncio.Event | None = None, schedule_delay_millis: float = 1000, announce: bool = False,
) -> DemoSummary:
    """Seed the demo accounts, then stream (``DemoTraffic.run``) and flush. The library entry point."""
    async with pool.acquire() as conn:
        accounts = await ensure_demo_accounts(conn, data_dir)
    if announce:
        _print_accounts(accounts)
        until = f"{jobs} jobs" if jobs else (f"{duration:g} s" if duration else "Ctrl-C")
        print(f"Streaming demo traffic to {endpoint} (~{rate:g} entries/s, seed {seed}) until {until}.\n"
              "Open the console, then Tools → Activity Console.", flush=True)  # fmt: skip
    traffic = DemoTraffic(pool, accounts, endpoint=endpoint, token=token, seed=seed, rate=rate,
                          schedule_delay_millis=schedule_delay_millis)  # fmt: skip
    try:
        return await traffic.run(stop, jobs=jobs, duration=duration)
    finally:
        await traffic.shutdown()
