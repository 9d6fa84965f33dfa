"""DocumentationJobOrchestrator: the brief's Phase 3 API, backed by the Prefect flows.

    orchestrator = DocumentationJobOrchestrator(organization_id)
    job_id = orchestrator.create_job(object_ids, JobOptions(concurrency=4),
                                     triggered_by_user_id=admin_id)
    orchestrator.process_job(job_id)          # runs documentation-job in this process
    orchestrator.get_job_status(job_id)       # the job row (progress, tokens, cost...)
    orchestrator.pause_job(job_id); orchestrator.resume_job(job_id); orchestrator.cancel_job(job_id)

process_job and resume_job block until the job is completed, failed, cancelled or paused.
An orchestrator only sees its own organization's jobs.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Engine

from docgen import jobs as core_jobs
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import get_engine, transaction
from docgen.db.objects import Selection
from docgen.errors import JobInterrupted, NotFound
from docgen.jobs import JobOptions
from flows.runtime import stop_all


class DocumentationJobOrchestrator:
    def __init__(self, organization_id: UUID | str, engine: Engine | None = None) -> None:
        self.engine = engine or get_engine()
        with transaction(self.engine) as conn:
            self.organization = orgs.get_organization(conn, organization_id)

    @property
    def organization_id(self) -> UUID:
        return self.organization.id

    def create_job(
        self,
        object_ids: list[UUID] | Selection,
        options: JobOptions | dict[str, Any] | None = None,
        *,
        triggered_by_user_id: UUID | str,
    ) -> UUID:
        if isinstance(options, dict):
            options = JobOptions.model_validate(options)
        job = core_jobs.create_job(
            self.engine,
            self.organization_id,
            object_ids,
            options,
            triggered_by_user_id=triggered_by_user_id,
        )
        return job.id

    def get_job_status(self, job_id: UUID) -> jobs_repo.Job:
        with transaction(self.engine) as conn:
            job = jobs_repo.get_job(conn, job_id)
        if job.organization_id != self.organization_id:
            raise NotFound(f"unknown job {job_id}")  # other organizations' jobs do not exist
        return job

    def process_job(self, job_id: UUID) -> jobs_repo.Job:
        """Run the job to its end (completed, failed, cancelled or paused) in this process.

        Called from the main thread, SIGTERM and SIGINT stop the run within seconds:
        objects in flight are interrupted wherever they wait and given back (nothing
        half-done is stored), the job pauses, and JobInterrupted says how to continue. The
        flow then runs in a second thread, so the signals stay with this process and
        Prefect's own SIGTERM bridge (for flow runs it starts itself) stays out of the way.
        """
        if threading.current_thread() is not threading.main_thread():
            return asyncio.run(self.aprocess_job(job_id))
        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append(asyncio.run(self.aprocess_job(job_id)))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                outcome.append(exc)

        received: list[int] = []

        def on_signal(signum: int, frame: Any) -> None:
            received.append(signum)
            stop_all()

        runner = threading.Thread(target=run, name=f"docgen-job-{job_id}")
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            runner.start()
            while runner.is_alive():
                runner.join(0.2)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        paused = not isinstance(outcome[0], BaseException) and outcome[0].status == "paused"
        if received and paused:
            name = signal.Signals(received[0]).name
            error = JobInterrupted(
                f"job {job_id} stopped: this runner received {name}; objects in flight were "
                f"given back and the job is paused; `docgen jobs resume {job_id}` continues it"
            )
            error.exit_code = 128 + received[0]
            raise error
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]  # type: ignore[no-any-return]

    async def aprocess_job(self, job_id: UUID) -> jobs_repo.Job:
        from flows.documentation_job import documentation_job

        self.get_job_status(job_id)
        await documentation_job(job_id=job_id, return_state=True)
        return self.get_job_status(job_id)

    def pause_job(self, job_id: UUID) -> jobs_repo.Job:
        self.get_job_status(job_id)
        return core_jobs.pause_job(self.engine, job_id)

    def cancel_job(self, job_id: UUID) -> jobs_repo.Job:
        self.get_job_status(job_id)
        return core_jobs.cancel_job(self.engine, job_id)

    def resume_job(self, job_id: UUID, *, run: bool = True) -> jobs_repo.Job:
        """Continue a paused (or failed) job; with run=False only mark it queued again."""
        self.get_job_status(job_id)
        job = core_jobs.reopen_for_run(self.engine, job_id)
        return self.process_job(job_id) if run else job
