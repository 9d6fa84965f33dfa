"""The batch step of documentation-job (a job with `mode: batch`).

Steps:
1. Submit the pending objects' layer requests as one Batch API batch, or reattach to the
   batch this job already has (a resumed run never submits twice; docgen.batch_jobs).
2. Wait for it: poll the provider with a doubling interval (DOCGEN_BATCH_POLL_SECONDS up to
   DOCGEN_BATCH_POLL_MAX_SECONDS), keeping the provider's status and request counts on the
   job (`docgen jobs status` shows waiting_for_batch). Between polls the flow sleeps
   (`anyio.sleep`): an in-process run has no deployment to suspend to, and a sleeping
   coroutine holds no worker slot of a work pool's concurrency beyond this one flow run.
   A pause or cancel (docgen or Prefect) cancels the batch at the provider and stops here.
3. Give the job's service a provider that answers from the batch: the per-object subflows
   then run as in sync mode (same layer tasks, validation, storage, per-layer logs), and
   requests the batch has no good answer for (failed or expired lines, a prompt that changed
   since submission, repair retries) go to the API synchronously.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import anyio

from docgen import batch_jobs
from docgen.batch import BatchAnsweringProvider, BatchStatus
from docgen.db import jobs as jobs_repo
from docgen.db.engine import transaction
from flows.runtime import JobRuntime
from tasks.storage import run_db


async def run_batch_step(runtime: JobRuntime, logger: Any) -> str | None:
    """Steps 1-3; returns why the job stops (paused, cancelled) or None to go on."""
    provider = runtime.service.provider
    if not batch_jobs.supports_batch(provider):
        logger.warning(
            "job %s: provider %s has no Batch API; documenting synchronously",
            runtime.job_id,
            provider.name,
        )
        return None
    pending = await run_db(_pending_ids, runtime)
    if not pending:
        return None
    batch, submitted = await run_db(
        batch_jobs.submit_or_reattach, runtime.engine, runtime.job_id, runtime.service, pending
    )
    logger.info(
        "job %s: %s batch %s (%d objects)",
        runtime.job_id,
        "submitted" if submitted else "reattached to",
        batch.batch_id,
        len(pending),
    )
    stopped = await _wait(runtime, logger)
    if stopped:
        return stopped
    answers = await run_db(batch_jobs.answers, runtime.engine, runtime.job_id, provider)
    logger.info("job %s: %d answers from the batch", runtime.job_id, len(answers.bodies))
    runtime.service.use_provider(BatchAnsweringProvider(provider, answers))
    return None


async def _wait(runtime: JobRuntime, logger: Any) -> str | None:
    settings = batch_jobs.BatchSettings()
    interval = settings.poll_seconds
    provider = runtime.service.provider
    while True:
        job = await run_db(_read_job, runtime)
        if job.status in ("paused", "cancelled", "failed"):
            cancelled = await run_db(
                batch_jobs.cancel_job_batch, runtime.engine, runtime.job_id, provider
            )
            if cancelled:
                logger.info("job %s %s: its batch is cancelled", runtime.job_id, job.status)
            return str(job.status)
        status: BatchStatus = await run_db(
            batch_jobs.poll, runtime.engine, runtime.job_id, provider
        )
        if status.final:
            logger.info(
                "job %s: batch %s %s (%d completed, %d failed of %d)",
                runtime.job_id,
                status.id,
                status.status,
                status.completed,
                status.failed,
                status.total,
            )
            return None
        logger.info(
            "job %s: waiting_for_batch %s: %s, %d/%d done",
            runtime.job_id,
            status.id,
            status.status,
            status.completed + status.failed,
            status.total,
        )
        await anyio.sleep(interval)
        interval = min(interval * 2, settings.poll_max_seconds)


def _pending_ids(runtime: JobRuntime) -> list[UUID]:
    with transaction(runtime.engine) as conn:
        return [o.object_id for o in jobs_repo.job_objects(conn, runtime.job_id, "pending")]


def _read_job(runtime: JobRuntime) -> jobs_repo.Job:
    with transaction(runtime.engine) as conn:
        return jobs_repo.get_job(conn, runtime.job_id)
