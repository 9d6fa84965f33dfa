"""What one process needs to work on a job: engine, options, the organization's service
(provider with its decrypted key) and rate limiter, and this runner's name.

The parent flow builds it once per job; each document-object subflow looks it up by job id,
or builds its own when it runs in another process (a subflow started on another worker).
The decrypted key stays inside the provider object in memory; it is never a flow parameter.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from uuid import UUID

from prefect.logging import get_logger
from sqlalchemy.engine import Engine

from docgen.config import LLMSettings
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import get_engine, transaction
from docgen.errors import ProviderError
from docgen.jobs import JobOptions, job_options
from docgen.one_call import with_one_call
from docgen.pricing import org_pricing
from docgen.ratelimit import limiter_for
from docgen.service import DocumentationGenerationService, build_provider


@dataclass
class JobRuntime:
    job_id: UUID
    organization_id: UUID
    engine: Engine
    options: JobOptions
    service: DocumentationGenerationService
    #: identifies this process's claims on the job's objects
    runner: str
    #: base of the exponential backoff between layer retries (DOCGEN_LLM_RETRY_BACKOFF_SECONDS)
    retry_backoff_seconds: float = 1.0
    #: set by the first object that hits an error no other object can avoid (bad API key)
    fatal: ProviderError | None = None
    #: why the job must pause although nobody asked (a Retry-After over the cap)
    pause_reason: str | None = None
    #: set when this run must stop now (cancelled, SIGTERM): every wait of the run's LLM
    #: calls ends at once (the service and its rate limiter wait on it)
    stop: threading.Event = field(default_factory=threading.Event)
    stop_reason: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_fatal(self, error: ProviderError) -> None:
        with self.lock:
            if self.fatal is None:
                self.fatal = error

    def request_pause(self, reason: str) -> None:
        with self.lock:
            if self.pause_reason is None:
                self.pause_reason = reason

    def request_stop(self, reason: str) -> None:
        with self.lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        self.stop.set()

    @property
    def halted(self) -> str | None:
        """Why objects of this run must be given back unfinished, or None to go on."""
        if self.fatal is not None:
            return str(self.fatal)
        if self.stop.is_set():
            return self.stop_reason or "stopped"
        return self.pause_reason


_runtimes: dict[UUID, JobRuntime] = {}
_registry_lock = threading.Lock()
#: set once this process was told to stop (SIGTERM): runtimes built later start stopped
_process_stop: list[str] = []

#: the stop reason of a runner whose process received SIGTERM (or SIGINT)
SIGNAL_REASON = "signal"


def stop_all(reason: str = SIGNAL_REASON) -> None:
    """Stop every job this process runs, now and later (the CLI's SIGTERM handler)."""
    with _registry_lock:
        if not _process_stop:
            _process_stop.append(reason)
        runtimes = list(_runtimes.values())
    for runtime in runtimes:
        runtime.request_stop(reason)


def runner_name(flow_run_id: UUID | None) -> str:
    """host:pid:flow-run, unique per runner process and run."""
    run = str(flow_run_id) if flow_run_id else uuid.uuid4().hex
    return f"{socket.gethostname()}:{os.getpid()}:{run}"


def build_runtime(job_id: UUID, runner: str, engine: Engine | None = None) -> JobRuntime:
    """Load the job and its organization's settings, and build the provider.

    Raises APIKeyError ("No OpenAI API key configured for organization") or
    KeyDecryptionError before any object is tried when the key is missing or unreadable.
    """
    engine = engine or get_engine()
    with transaction(engine) as conn:
        job = jobs_repo.get_job(conn, job_id)
        settings = orgs.get_llm_settings(conn, job.organization_id)
    options = job_options(job)
    # a refusal of structured outputs is said once, in the worker's log, and remembered
    provider = build_provider(settings, engine=engine, notify=get_logger("docgen").warning)
    stop = threading.Event()
    if options.one_call and options.mode == "sync":
        provider = with_one_call(provider)
    service = DocumentationGenerationService(
        engine,
        job.organization_id,
        provider=provider,
        pricing=org_pricing(settings),
        concurrent_layers=options.concurrent_layers,
        rate_limiter=limiter_for(
            job.organization_id, settings.requests_per_minute, settings.tokens_per_minute
        ),
        stop=stop,
    )
    runtime = JobRuntime(
        job_id,
        job.organization_id,
        engine,
        options,
        service,
        runner,
        retry_backoff_seconds=LLMSettings().retry_backoff_seconds,
        stop=stop,
    )
    with _registry_lock:
        _runtimes[job_id] = runtime
        stopping = list(_process_stop)
    if stopping:
        runtime.request_stop(stopping[0])
    return runtime


def runtime_for(job_id: UUID, runner: str | None = None) -> JobRuntime:
    """This process's runtime for the job (built on first use in a new process)."""
    with _registry_lock:
        runtime = _runtimes.get(job_id)
    if runtime is not None:
        return runtime
    return build_runtime(job_id, runner or runner_name(None))


def runtime_if_any(job_id: UUID) -> JobRuntime | None:
    with _registry_lock:
        return _runtimes.get(job_id)


def forget_runtime(job_id: UUID) -> None:
    with _registry_lock:
        runtime = _runtimes.pop(job_id, None)
    if runtime is not None:
        runtime.service.close()
