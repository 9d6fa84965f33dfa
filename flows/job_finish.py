"""The end of a documentation-job run: the job's final status, its summary, and the flow
run's final state (Completed, Failed or Cancelled, with the summary as data).

    paused (SIGTERM, a Retry-After over the cap)   <- the run stopped itself
    completed / failed (every object failed)       <- every object counted
    waiting_for_batch                              <- set by flows/batch.py; left alone
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from prefect.states import Cancelled, Completed, Failed
from pydantic import BaseModel

from docgen import jobs as core_jobs
from docgen.db import jobs as jobs_repo
from docgen.db.engine import transaction
from docgen.redact import one_line, redact
from docgen.render.summary import job_layer_summary, job_object_summary
from docgen.scheduler import SIGNAL_REASON
from flows.runtime import JobRuntime
from tasks.artifacts import apublish_job_summary_artifact, apublish_object_summary_artifact
from tasks.storage import run_db

#: what flows/batch.py's run_in_waves returns when it set the job waiting_for_batch
WAITING_FOR_BATCH = "waiting_for_batch"


class JobSummary(BaseModel):
    job_id: UUID
    status: str
    total_objects: int
    processed_objects: int
    failed_objects: int
    skipped_objects: int
    total_tokens_used: int
    actual_cost: Decimal
    estimated_cost: Decimal
    #: layer -> objects whose layer failed (non-critical layers degrade to empty)
    layers_failed: dict[str, int] = {}
    stopped_because: str | None = None


def finish(runtime: JobRuntime, stopped: str | None) -> Any:
    """Settle the job's status and return the flow run's final state."""
    engine, job_id = runtime.engine, runtime.job_id
    if runtime.fatal is not None:
        fail_job(engine, job_id, runtime.fatal)
        raise runtime.fatal
    if stopped == WAITING_FOR_BATCH:
        job, batch_id = _waiting(engine, job_id)
        return Completed(
            message=f"job {job_id} waits for batch {batch_id or '(not submitted yet)'}",
            data=_summary(job, stopped),
        )
    if runtime.stop_reason == SIGNAL_REASON:
        pause_for(
            engine, job_id, "its runner was stopped (SIGTERM); objects in flight were given back"
        )
    elif runtime.pause_reason is not None and not runtime.stop.is_set():
        pause_for(engine, job_id, runtime.pause_reason)
    with transaction(engine) as conn:
        job = jobs_repo.get_job(conn, job_id)
        if job.status == "processing" and job.processed_objects == job.total_objects:
            failure = core_jobs.all_failed(job)
            job = jobs_repo.update_job_status(
                conn, job_id, "failed" if failure else "completed", failure
            )
    summary = _summary(
        job, runtime.stop_reason if runtime.stop_reason == SIGNAL_REASON else stopped
    )
    if job.status == "cancelled":
        return Cancelled(message=f"job {job_id} cancelled", data=summary)
    if job.status == "failed":
        return Failed(message=str(job.error_log[-1].get("error")), data=summary)
    if job.status == "paused":
        return Completed(message=f"job {job_id} paused ({stopped or 'by user'})", data=summary)
    return Completed(
        message=f"job {job_id} {job.status}: {job.processed_objects}/{job.total_objects} "
        f"objects, {job.failed_objects} failed",
        data=summary,
    )


def _summary(job: jobs_repo.Job, stopped: str | None) -> JobSummary:
    return JobSummary(
        job_id=job.id,
        status=job.status,
        total_objects=job.total_objects,
        processed_objects=job.processed_objects,
        failed_objects=job.failed_objects,
        skipped_objects=job.skipped_objects,
        total_tokens_used=job.total_tokens_used,
        actual_cost=job.actual_cost,
        estimated_cost=job.estimated_cost,
        layers_failed=job.layers_failed,
        stopped_because=stopped,
    )


def _waiting(engine: Any, job_id: UUID) -> tuple[jobs_repo.Job, str | None]:
    from docgen.batch_jobs import get_job_batch

    with transaction(engine) as conn:
        batch = get_job_batch(conn, job_id)
        return jobs_repo.get_job(conn, job_id), batch.batch_id if batch else None


def fail_job(engine: Any, job_id: UUID, error: BaseException) -> None:
    """Fail the job with `error` (redacted) unless it already ended."""
    message = redact(one_line(str(error), 1000))
    with transaction(engine) as conn:
        job = jobs_repo.get_job(conn, job_id)
        if not job.is_terminal:
            jobs_repo.update_job_status(
                conn, job_id, "failed", {"error": message, "kind": type(error).__name__}
            )


def pause_for(engine: Any, job_id: UUID, reason: str) -> None:
    """Pause the job for a reason found while running (a Retry-After over the cap)."""
    with transaction(engine) as conn:
        job = jobs_repo.get_job(conn, job_id)
        if job.status in ("queued", "processing"):
            jobs_repo.update_job_status(conn, job_id, "paused", {"reason": redact(reason)})


async def publish_summary(engine: Any, job_id: UUID) -> None:
    """The job's tables as Prefect table artifacts: per layer (tokens, cost) and per object
    (status, tokens, cost, duration)."""

    def rows() -> Any:
        with transaction(engine) as conn:
            return job_layer_summary(conn, job_id), job_object_summary(conn, job_id)

    per_layer, per_object = await run_db(rows)
    await apublish_object_summary_artifact(job_id, per_object)
    await apublish_job_summary_artifact(job_id, per_layer)
