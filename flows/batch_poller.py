"""batch-poller: waits for batch-mode jobs so that no flow run has to (issue 18).

A documentation-job run from a deployment submits its wave's batch, marks the job
`waiting_for_batch` and ends (flows/batch.py). This short flow, scheduled every minute
(`batch-poller/poll` in prefect.yaml and `docgen serve`), does the waiting for all of them.
Runs that overlap are harmless: every change is made under the job's row lock, so a job is
handed back once.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger
from pydantic import BaseModel

from docgen import batch_jobs
from docgen.batch import BatchStatus
from docgen.db.engine import get_engine
from docgen.errors import DocgenError
from docgen.redact import one_line, redact
from flows.batch import EXISTING_JOB_DEPLOYMENT
from flows.secrets import load_secret_blocks
from tasks.storage import run_db


class PollerSummary(BaseModel):
    """What one poller run did, job ids by outcome."""

    #: still running at the provider (counts updated on the job)
    waiting: list[UUID] = []
    #: batch done: the job was handed to a new documentation-job/existing-job run
    resumed: list[UUID] = []
    #: the job was paused or cancelled: its batch was cancelled at the provider
    cancelled: list[UUID] = []
    #: the provider could not be asked, or no runner could be started (tried again next run)
    errors: dict[UUID, str] = {}


@flow(name="batch-poller", persist_result=False, log_prints=False)
async def batch_poller() -> PollerSummary:
    """Poll the Batch API batches of batch-mode jobs that wait without a flow run, and
    start each job again once its batch is done.

    Steps:
    1. List the live batches: those of jobs `waiting_for_batch`, and those still running
       at the provider whose job was paused or cancelled.
    2. A paused or cancelled job: cancel its batch at the provider.
    3. A waiting job: ask the provider about its batch and keep the status and request
       counts on the job (`docgen jobs status`).
    4. A batch that is done (completed, failed, expired or cancelled at the provider): the
       job becomes queued and a documentation-job/existing-job run is started for it
       (without waiting); that run reattaches to the batch and documents the objects from
       its answers, never submitting it again.
    """
    logger = get_run_logger()
    await load_secret_blocks()
    engine = get_engine()
    summary = PollerSummary()
    for live in await run_db(batch_jobs.live_batches, engine):
        try:
            await _look_after(engine, live, summary, logger)
        except DocgenError as exc:
            message = redact(one_line(str(exc), 300))
            summary.errors[live.job_id] = message
            logger.warning("job %s: batch %s: %s", live.job_id, live.batch.batch_id, message)
    logger.info(
        "%d batches waiting, %d jobs resumed, %d batches cancelled",
        len(summary.waiting),
        len(summary.resumed),
        len(summary.cancelled),
    )
    return summary


async def _look_after(
    engine: Any, live: batch_jobs.LiveBatch, summary: PollerSummary, logger: Any
) -> None:
    provider = await run_db(batch_jobs.organization_provider, engine, live.organization_id)
    try:
        if live.job_status != "waiting_for_batch":
            if await run_db(batch_jobs.cancel_if_stopped, engine, live.job_id, provider):
                summary.cancelled.append(live.job_id)
                logger.info(
                    "job %s %s: batch %s cancelled",
                    live.job_id,
                    live.job_status,
                    live.batch.batch_id,
                )
            return
        if live.batch.phase == "waiting_for_batch":
            status: BatchStatus = await run_db(batch_jobs.poll, engine, live.job_id, provider)
            if not status.final:
                summary.waiting.append(live.job_id)
                logger.info(
                    "job %s: batch %s %s, %d/%d done",
                    live.job_id,
                    status.id,
                    status.status,
                    status.completed + status.failed,
                    status.total,
                )
                return
        await _resume(engine, live.job_id, summary, logger)
    finally:
        provider.close()


async def _resume(engine: Any, job_id: UUID, summary: PollerSummary, logger: Any) -> None:
    """Hand the job to a new existing-job run, once (another poller run may be here too)."""
    from prefect.deployments import run_deployment

    if not await run_db(batch_jobs.hand_back, engine, job_id):
        return
    try:
        flow_run = await run_deployment(
            EXISTING_JOB_DEPLOYMENT,
            parameters={"job_id": str(job_id)},
            timeout=0,
            as_subflow=False,
        )
    except Exception as exc:  # noqa: BLE001 - no deployment or no API: try again next run
        message = redact(one_line(f"cannot start {EXISTING_JOB_DEPLOYMENT}: {exc}", 300))
        await run_db(batch_jobs.back_to_waiting, engine, job_id, message)
        summary.errors[job_id] = message
        logger.warning("job %s: %s", job_id, message)
        return
    summary.resumed.append(job_id)
    logger.info(
        "job %s: batch done, %s run %s started", job_id, EXISTING_JOB_DEPLOYMENT, flow_run.id
    )


__all__ = ["PollerSummary", "batch_poller"]
