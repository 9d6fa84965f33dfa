"""What one run of a job needs: engine, options, the organization's service (provider with
its decrypted key, and the run's rate limiter, shared by every object of the run), this
runner's name, and the run's control state (docgen.scheduler.RunControl).

The parent flow builds the runtime, owns it for the run, and makes it the current one
(`current_runtime`, a ContextVar): its document-object subflows run in its task context and
find it there (`runtime_for`). A subflow in another process (started on another worker)
builds its own. Nothing is kept in module globals but the process's stop event: the CLI's
SIGTERM handler calls `stop_all()`, which sets it, and every runtime of the process
observes it (its scheduler's watcher looks every 0.2 s; a runtime built afterwards starts
stopped). The decrypted key stays inside the provider object in memory; it is never a flow
parameter.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from uuid import UUID

from prefect.logging import get_logger
from sqlalchemy.engine import Engine

from docgen.config import LLMSettings
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import get_engine, transaction
from docgen.jobs import JobOptions, job_options
from docgen.object_run import ObjectStart, start_object
from docgen.one_call import with_one_call
from docgen.pricing import org_pricing
from docgen.ratelimit import RateLimiter
from docgen.scheduler import SIGNAL_REASON, RunControl
from docgen.service import DocumentationGenerationService, build_provider
from tasks.artifacts import ObjectArtifacts

#: set once this process was told to stop (SIGTERM, SIGINT): see the module doc
PROCESS_STOP = threading.Event()


@dataclass(eq=False)
class JobRuntime(RunControl):
    job_id: UUID
    organization_id: UUID
    engine: Engine
    options: JobOptions
    service: DocumentationGenerationService
    #: identifies this process's claims on the job's objects
    runner: str
    #: base of the exponential backoff between layer retries (DOCGEN_LLM_RETRY_BACKOFF_SECONDS)
    retry_backoff_seconds: float = 1.0
    #: set when this run must stop now (cancelled, SIGTERM): every wait of the run's LLM
    #: calls ends at once (the service and its rate limiter wait on it)
    stop: threading.Event = field(default_factory=threading.Event)
    #: the parent flow's background poster of object artifacts while its scheduler runs
    #: (None: a subflow run alone posts its own, before it returns)
    artifacts: ObjectArtifacts | None = None
    #: objects this run's scheduler claimed and read (docgen.object_run.start_object in
    #: the claim's transaction), by id, until their subflow takes them
    started: dict[UUID, ObjectStart] = field(default_factory=dict)

    def __post_init__(self) -> None:
        RunControl.__init__(self, self.stop, PROCESS_STOP)

    def start_object(self, object_id: UUID, *, claimed: bool = False) -> ObjectStart | None:
        """Claim (or, `claimed`, check the claim on) one object of this run and read what
        its subflow needs, in one transaction (docgen.object_run.start_object)."""
        return start_object(
            self.engine,
            self.service,
            self.job_id,
            object_id,
            self.runner,
            skip_existing=self.options.skip_existing,
            claimed=claimed,
        )

    def close(self) -> None:
        self.service.close()


#: the runtime of the job run this task context belongs to (set by documentation-job)
current_runtime: ContextVar[JobRuntime | None] = ContextVar("docgen_job_runtime", default=None)


def stop_all(reason: str = SIGNAL_REASON) -> None:
    """Stop every job this process runs, now and later (the CLI's SIGTERM handler)."""
    del reason  # one reason only: the runs stop as SIGNAL_REASON
    PROCESS_STOP.set()


def runner_name(flow_run_id: UUID | None) -> str:
    """host:pid:flow-run, unique per runner process and run."""
    run = str(flow_run_id) if flow_run_id else uuid.uuid4().hex
    return f"{socket.gethostname()}:{os.getpid()}:{run}"


def build_runtime(job_id: UUID, runner: str, engine: Engine | None = None) -> JobRuntime:
    """Load the job and its organization's settings, and build the provider and the
    run's rate limiter.

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
        rate_limiter=RateLimiter(settings.requests_per_minute, settings.tokens_per_minute),
        stop=stop,
    )
    return JobRuntime(
        job_id,
        job.organization_id,
        engine,
        options,
        service,
        runner,
        retry_backoff_seconds=LLMSettings().retry_backoff_seconds,
        stop=stop,
    )


@contextmanager
def running(runtime: JobRuntime) -> Iterator[JobRuntime]:
    """Make `runtime` the current one for the block (its subflows find it), then close it."""
    token = current_runtime.set(runtime)
    try:
        yield runtime
    finally:
        current_runtime.reset(token)
        runtime.close()


def runtime_for(job_id: UUID, runner: str | None = None) -> JobRuntime:
    """The runtime of this run of the job: the parent flow's, or, for a subflow running
    without it (another process), one built here and made current for the subflow."""
    runtime = runtime_if_any(job_id)
    if runtime is not None:
        return runtime
    runtime = build_runtime(job_id, runner or runner_name(None))
    current_runtime.set(runtime)  # the subflow's own context: its state hooks find it
    return runtime


def runtime_if_any(job_id: UUID) -> JobRuntime | None:
    """The current runtime, if it is this job's."""
    runtime = current_runtime.get()
    return runtime if runtime is not None and runtime.job_id == job_id else None


__all__ = [
    "PROCESS_STOP",
    "SIGNAL_REASON",
    "JobRuntime",
    "build_runtime",
    "current_runtime",
    "runner_name",
    "running",
    "runtime_for",
    "runtime_if_any",
    "stop_all",
]
