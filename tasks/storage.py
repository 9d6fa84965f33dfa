"""Storage tasks: record what happened to one object of a job, each in one transaction.

Thin wrappers over docgen.jobs (which holds the logic and is tested without Prefect); they
run the synchronous database work in a worker thread so the flow's event loop keeps going.
No retries here: a database error leaves the object claimed and unstored, and the job's
next run picks it up again.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import anyio
from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.engine import Engine

from docgen import jobs as core_jobs
from docgen.db.documentation import Documentation
from docgen.service import DocumentationGenerationService, GeneratedDocumentation, LayerOutcome


@task(
    name="store-documentation", task_run_name="store-{generated.object_id}", cache_policy=NO_CACHE
)
async def store_documentation(
    engine: Engine,
    service: DocumentationGenerationService,
    job_id: UUID,
    runner: str,
    generated: GeneratedDocumentation,
) -> Documentation | None:
    """New current version + six log rows + job counters; None if the claim was lost."""
    return await anyio.to_thread.run_sync(
        core_jobs.record_documented, engine, service, job_id, runner, generated
    )


@task(name="record-failed-object", task_run_name="failed-{object_id}", cache_policy=NO_CACHE)
async def record_failed(
    engine: Engine,
    job_id: UUID,
    object_id: UUID,
    runner: str,
    outcomes: list[LayerOutcome],
    error: str,
    cost: Decimal,
) -> bool:
    return await anyio.to_thread.run_sync(
        core_jobs.record_failed, engine, job_id, object_id, runner, outcomes, error, cost
    )


async def run_db(function: Any, *args: Any) -> Any:
    """Run a synchronous database call in a worker thread (not a task: no run record)."""
    return await anyio.to_thread.run_sync(function, *args)
