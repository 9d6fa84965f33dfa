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

from sqlalchemy.engine import Engine

from docgen.config import LLMSettings
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import get_engine, transaction
from docgen.errors import ProviderError
from docgen.jobs import JobOptions, job_options
from docgen.one_call import OneCallProvider
from docgen.providers.openai_compat import OpenAICompatibleProvider
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
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_fatal(self, error: ProviderError) -> None:
        with self.lock:
            if self.fatal is None:
                self.fatal = error


_runtimes: dict[UUID, JobRuntime] = {}
_registry_lock = threading.Lock()


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
    provider = build_provider(settings, engine=engine)
    if (
        options.one_call
        and options.mode == "sync"
        and isinstance(provider, OpenAICompatibleProvider)
    ):
        provider = OneCallProvider(provider)  # type: ignore[assignment]
    service = DocumentationGenerationService(
        engine,
        job.organization_id,
        provider=provider,
        concurrent_layers=options.concurrent_layers,
        rate_limiter=limiter_for(
            job.organization_id, settings.requests_per_minute, settings.tokens_per_minute
        ),
    )
    runtime = JobRuntime(
        job_id,
        job.organization_id,
        engine,
        options,
        service,
        runner,
        retry_backoff_seconds=LLMSettings().retry_backoff_seconds,
    )
    with _registry_lock:
        _runtimes[job_id] = runtime
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
