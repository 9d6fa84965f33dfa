"""nightly-redocumentation: keep documentation current, one job per organization that needs it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger
from pydantic import BaseModel

from docgen import jobs as core_jobs
from docgen import nightly
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import get_engine, transaction
from docgen.jobs import JobOptions
from flows.documentation_job import documentation_job
from flows.forms import JobOptionsForm
from flows.secrets import load_secret_blocks
from tasks.storage import run_db

#: the nightly form's default options: batch mode (half the price; a nightly run can wait
#: for the Batch API), or sync where the organization's provider has no Batch API
NIGHTLY_OPTIONS = JobOptions(mode="batch")


class NightlyResult(BaseModel):
    organization_id: UUID
    stale_objects: int
    job_id: UUID | None = None
    status: str | None = None


@flow(name="nightly-redocumentation", persist_result=False)
async def nightly_redocumentation(
    organization: str = "",
    options: JobOptionsForm = NIGHTLY_OPTIONS,
) -> list[NightlyResult]:
    """Re-document what changed since its current documentation.

    Args:
        organization: Organization name or id to check; empty checks every organization.
        options: How each job runs. Up-to-date objects are always skipped, so "Skip
            up-to-date objects" is on whatever is chosen here. Mode batch (the default)
            becomes sync for an organization on the offline analyser.

    Steps:
    1. For each organization (or the one named), find stale objects: no documentation yet,
       or code, upstream documentation, prompt version or model changed since it was made;
       everything downstream of those is stale too.
    2. Nothing stale: no job, and a log line saying so.
    3. Otherwise create a job triggered by the organization's system user, with skip_existing
       on, and run documentation-job for it (upstream objects first).
    """
    logger = get_run_logger()
    await load_secret_blocks()
    engine = get_engine()
    options = (options or NIGHTLY_OPTIONS).model_copy(update={"skip_existing": True})
    results = []
    for organization_id in await run_db(_organizations, engine, organization.strip() or None):
        stale, user_id = await run_db(_stale, engine, organization_id)
        if not stale:
            logger.info(
                "organization %s: documentation is current, no job created", organization_id
            )
            results.append(NightlyResult(organization_id=organization_id, stale_objects=0))
            continue
        job = await run_db(_create_job, engine, organization_id, stale, options, user_id)
        logger.info(
            "organization %s: %d stale objects, job %s", organization_id, len(stale), job.id
        )
        await documentation_job(job_id=job.id, return_state=True)
        status = (await run_db(_job, engine, job.id)).status
        results.append(
            NightlyResult(
                organization_id=organization_id,
                stale_objects=len(stale),
                job_id=job.id,
                status=status,
            )
        )
    return results


def _organizations(engine: Any, organization: str | None) -> list[UUID]:
    with transaction(engine) as conn:
        return nightly.organizations_to_check(conn, organization)


def _stale(engine: Any, organization_id: UUID) -> tuple[list[UUID], UUID | None]:
    with transaction(engine) as conn:
        stale = nightly.stale_objects(conn, organization_id)
        user = nightly.system_user(conn, organization_id) if stale else None
    return stale, (user.id if user else None)


def _create_job(
    engine: Any, organization_id: UUID, stale: list[UUID], options: JobOptions, user_id: UUID
) -> jobs_repo.Job:
    with transaction(engine) as conn:
        provider = orgs.get_llm_settings(conn, organization_id).provider
    if options.mode == "batch" and provider == "offline":
        options = options.model_copy(update={"mode": "sync"})  # nothing to batch offline
    return core_jobs.create_job(
        engine, organization_id, stale, options, triggered_by_user_id=user_id
    )


def _job(engine: Any, job_id: UUID) -> jobs_repo.Job:
    with transaction(engine) as conn:
        return jobs_repo.get_job(conn, job_id)
