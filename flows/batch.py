"""The batch step of documentation-job (a job with `mode: batch`).

Steps, for each wave (the pending objects whose upstream objects in the job are documented,
so every prompt holds fresh upstream summaries, as in sync mode):
1. Submit the wave's layer requests as one Batch API batch, or reattach to the batch this
   job already has for them (a resumed run never submits twice; docgen.batch_jobs).
2. Wait for it, in one of two ways:
   - under a deployment (a worker or `docgen serve` runs this flow run, and the
     batch-poller and existing-job deployments are registered): the job becomes
     `waiting_for_batch` and this run ends at once (`run_in_waves` returns WAITING), so no
     worker slot is held for hours; the batch-poller flow (flows/batch_poller.py, every
     minute) polls the batch and starts documentation-job/existing-job for the job when it
     is done, and that run comes back here, reattaches and goes on to step 3;
   - in-process (`docgen jobs run`, `docgen run`, tests: the user's own process, no
     deployment to hand over to): poll the provider with a doubling interval
     (DOCGEN_BATCH_POLL_SECONDS up to DOCGEN_BATCH_POLL_MAX_SECONDS) between `anyio.sleep`s.
   Either way the provider's status and request counts are kept on the job (`docgen jobs
   status`), and a pause or cancel (docgen or Prefect) cancels the batch at the provider.
   A suspended flow run was not used: Prefect resumes one by re-running the flow from its
   start, which needs persisted results and still someone to poll and resume it.
3. Give the job's service a provider that answers from the batch: the per-object subflows
   then run as in sync mode (same layer tasks, validation, storage, per-layer logs), and
   requests the batch has no good answer for (failed or expired lines, a prompt that changed
   since submission, repair retries) go to the API synchronously.
4. Document the wave's objects, then start the next wave.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import anyio

from docgen import batch_jobs
from docgen.batch import BatchAnsweringProvider, BatchStatus, compatible_provider
from docgen.db import jobs as jobs_repo
from docgen.db.engine import transaction
from docgen.errors import ProviderError
from docgen.grounding import GroundedProvider
from docgen.redact import one_line, redact
from flows.runtime import JobRuntime
from tasks.storage import run_db

#: waves at most (a DAG deeper than this finishes synchronously in the last pass)
MAX_WAVES = 64
#: status checks in a row that may fail (timeout, 5xx) before the job fails
MAX_POLL_MISSES = 5
#: what `run_in_waves` returns when the job now waits for its batch without a flow run
WAITING = "waiting_for_batch"
#: the deployment the batch-poller starts for a job whose batch is done (prefect.yaml)
EXISTING_JOB_DEPLOYMENT = "documentation-job/existing-job"
#: the scheduled deployment of flows/batch_poller.py (prefect.yaml, `docgen serve`)
POLLER_DEPLOYMENT = "batch-poller/poll"


async def run_in_waves(
    runtime: JobRuntime,
    run_objects: Callable[[set[UUID] | None], Awaitable[str | None]],
    logger: Any,
) -> str | None:
    """Steps 1-4 for each wave; `run_objects(ids)` documents those objects (None: every
    pending object, synchronously, when the provider has no Batch API). Returns why the
    job stopped, or None."""
    for _ in range(MAX_WAVES):
        stopped, wave = await run_batch_step(runtime, logger)
        if stopped:
            return stopped
        if wave is None:
            return await run_objects(None)
        if not wave:
            return None
        stopped = await run_objects(wave)
        if stopped or runtime.fatal is not None:
            return stopped
    return None


async def run_batch_step(runtime: JobRuntime, logger: Any) -> tuple[str | None, set[UUID] | None]:
    """Steps 1-3 for the next wave: why the job stops (paused, cancelled) or None, and the
    wave's objects (empty: nothing pending; None: no Batch API, go synchronous)."""
    provider = compatible_provider(runtime.service.provider)
    if provider is None:
        logger.warning(
            "job %s: provider %s has no Batch API; documenting synchronously",
            runtime.job_id,
            runtime.service.provider.name,
        )
        return None, None
    wave = await run_db(_next_wave, runtime)
    if not wave:
        return None, set()
    # the previous wave's answers are spent; answers are grounding-checked as in sync mode
    runtime.service.use_provider(GroundedProvider(provider))
    batch, submitted = await run_db(
        batch_jobs.submit_or_reattach, runtime.engine, runtime.job_id, runtime.service, wave
    )
    logger.info(
        "job %s: %s batch %s (%d objects)",
        runtime.job_id,
        "submitted" if submitted else "reattached to",
        batch.batch_id,
        len(wave),
    )
    if await _hand_over(runtime, provider, logger):
        return WAITING, set()
    stopped = await _wait(runtime, logger)
    if stopped:
        return stopped, set()
    answers = await run_db(batch_jobs.answers, runtime.engine, runtime.job_id, provider)
    logger.info("job %s: %d answers from the batch", runtime.job_id, len(answers.bodies))
    runtime.service.use_provider(
        GroundedProvider(BatchAnsweringProvider(provider, answers))  # type: ignore[arg-type]
    )
    return None, set(wave)


async def _hand_over(runtime: JobRuntime, provider: Any, logger: Any) -> bool:
    """Under a deployment, leave the wait to the batch-poller: True once the job is
    `waiting_for_batch` (its run ends). False to wait in this process: no deployment, the
    batch is already done, or the job was paused or cancelled meanwhile."""
    if not await poller_deployed():
        return False
    try:
        status: BatchStatus | None = await run_db(
            batch_jobs.poll, runtime.engine, runtime.job_id, provider
        )
    except ProviderError as exc:
        if not exc.retryable:
            raise
        status = None  # the poller asks again
    if status is not None and status.final:
        return False
    if not await run_db(batch_jobs.mark_waiting, runtime.engine, runtime.job_id):
        return False
    logger.info(
        "job %s: waiting_for_batch %s; this run ends, %s starts the job again when the batch"
        " is done",
        runtime.job_id,
        f"{status.id} ({status.status}, {status.completed + status.failed}/{status.total} done)"
        if status is not None
        else "(status unknown for now)",
        POLLER_DEPLOYMENT,
    )
    return True


async def poller_deployed() -> bool:
    """True when this flow run (or the flow run it is a subflow of) comes from a deployment
    and the batch-poller and existing-job deployments are registered with the Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.runtime import deployment

    if await run_db(lambda: deployment.id) is None:
        return False
    async with get_client() as client:
        for name in (POLLER_DEPLOYMENT, EXISTING_JOB_DEPLOYMENT):
            try:
                await client.read_deployment_by_name(name)
            except ObjectNotFound:
                return False
    return True


async def _wait(runtime: JobRuntime, logger: Any) -> str | None:
    settings = batch_jobs.BatchSettings()
    interval = settings.poll_seconds
    provider = runtime.service.provider
    misses = 0
    while True:
        job = await run_db(_read_job, runtime)
        if job.status in ("paused", "cancelled", "failed"):
            cancelled = await run_db(
                batch_jobs.cancel_job_batch, runtime.engine, runtime.job_id, provider
            )
            if cancelled:
                logger.info("job %s %s: its batch is cancelled", runtime.job_id, job.status)
            return str(job.status)
        try:
            status: BatchStatus = await run_db(
                batch_jobs.poll, runtime.engine, runtime.job_id, provider
            )
            misses = 0
        except ProviderError as exc:
            # a status check that timed out or met a 5xx is asked again at the next poll
            misses += 1
            if not exc.retryable or misses > MAX_POLL_MISSES:
                raise
            logger.warning(
                "job %s: status check of its batch failed (%s); asking again in %.0f s",
                runtime.job_id,
                redact(one_line(str(exc), 300)),
                interval,
            )
            await anyio.sleep(interval)
            continue
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


def _next_wave(runtime: JobRuntime) -> list[UUID]:
    """Pending objects none of whose upstream objects in the job is still unfinished (all
    pending objects when a cycle leaves none ready), in job order."""
    from docgen.db.objects import get_objects

    with transaction(runtime.engine) as conn:
        everything = jobs_repo.job_objects(conn, runtime.job_id)
        pending = [o.object_id for o in everything if o.status == "pending"]
        found = get_objects(conn, pending)
    unfinished = {o.object_id for o in everything if o.status in ("pending", "processing")}
    ready = [i for i in pending if not (set(found[i].upstream_object_ids) & unfinished)]
    return ready or pending


def _read_job(runtime: JobRuntime) -> jobs_repo.Job:
    with transaction(runtime.engine) as conn:
        return jobs_repo.get_job(conn, runtime.job_id)
