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
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Engine

from docgen import jobs as core_jobs
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import get_engine, transaction
from docgen.db.objects import Selection
from docgen.errors import NotFound
from docgen.jobs import JobOptions


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
        """Run the job to its end (completed, failed, cancelled or paused) in this process."""
        return asyncio.run(self.aprocess_job(job_id))

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
