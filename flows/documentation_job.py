"""documentation-job: document every object of a job, a few at a time, resumably.

Two entry points share the flow name, each with its own deployment and form:
`new_documentation_job` (documentation-job/on-demand: organization, selection, user and
options; it creates the job) and `documentation_job` (documentation-job/existing-job: a
job id; also what nightly-redocumentation, the orchestrator and extra runners call).
One flow name keeps every run of a job under documentation-job in the Prefect UI; two
signatures let each form require exactly its own fields.

This module is the adapter between Prefect and docgen's core: how a job walks its objects
is docgen.scheduler (ready set, concurrency, the pause/cancel/budget gate), what happens to
one object is the document-object subflow, and the run's state is the JobRuntime this flow
owns (flows/runtime.py). Helpers: flows/job_setup.py (start), flows/job_finish.py (end).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.context import get_run_context
from prefect.states import Failed

from docgen import jobs as core_jobs
from docgen.db.engine import get_engine
from docgen.errors import APIKeyError, DocgenError, KeyDecryptionError
from docgen.jobs import JobOptions
from docgen.redact import one_line, redact
from docgen.scheduler import Item, Scheduler
from flows import hooks
from flows.batch import run_in_waves
from flows.document_object import ObjectResult, document_object
from flows.forms import Id, JobOptionsForm, JobSelectionForm, OrganizationRef, UserRef
from flows.job_finish import JobSummary, fail_job, finish, publish_summary
from flows.job_setup import (
    GENERATED_NAME,
    ProgressArtifact,
    cancelled_in_prefect,
    create_from_form,
    existing_job_run_name,
    fan_out,
    new_job_run_name,
    start_job,
)
from flows.runtime import JobRuntime, build_runtime, runner_name, running
from flows.secrets import load_secret_blocks
from tasks.artifacts import ObjectArtifacts
from tasks.storage import run_db

#: the options of a job made from the form when nobody changes them
DEFAULT_OPTIONS = JobOptions()
#: kept for callers that test run names against it
_GENERATED_NAME = GENERATED_NAME

#: hooks both entry points share: they mirror Prefect states into the job row
_HOOKS: dict[str, Any] = {
    "on_running": [hooks.on_running],
    "on_completion": [hooks.on_completion],
    "on_failure": [hooks.on_failure],
    "on_crashed": [hooks.on_crashed],
    "on_cancellation": [hooks.on_cancellation],
}


@flow(
    name="documentation-job",
    flow_run_name=existing_job_run_name,
    persist_result=False,
    **_HOOKS,
)
async def documentation_job(job_id: Id) -> Any:
    """Run an existing documentation job: one made with docgen jobs create, a paused one
    (resume), a failed one (try again), or a running one (join it as an extra runner).

    Args:
        job_id: The job's id, as docgen jobs create or docgen jobs list prints it.

    Steps:
    1. Join the job's runners; when no other runner is alive, objects a dead run left in
       progress go back to pending. The job becomes processing.
    2. Build the run's runtime: the organization's provider (a missing or unreadable API
       key fails the job here, before any object is tried) and its rate limiter.
    3. Run document-object for pending objects, upstream objects first, `concurrency` at a
       time (docgen.scheduler). Before each one starts, honour pause and cancel (from
       docgen or from Prefect) and the cost budget. Progress is an artifact.
    4. Publish the job's summary tables.
    5. Finish: completed once every object is counted; paused or cancelled as asked;
       failed on an error no object can avoid (the API key); left waiting_for_batch in
       batch mode while a batch runs. Returns the job's summary.
    """
    await load_secret_blocks()
    return await _run_job(get_engine(), job_id)


@flow(
    name="documentation-job",
    flow_run_name=new_job_run_name,
    persist_result=False,
    **_HOOKS,
)
async def new_documentation_job(
    organization: OrganizationRef,
    selection: JobSelectionForm,
    triggered_by: UserRef,
    options: JobOptionsForm = DEFAULT_OPTIONS,
) -> Any:
    """Document objects of an organization: creates a job, then runs it (the
    documentation-job/on-demand form).

    Args:
        organization: Organization name or id (docgen org list shows both).
        selection: Which objects: name patterns (such as fct_*), object ids, or every object.
        triggered_by: Email or id of an admin of the organization; the job is recorded as
            theirs (docgen org users ORG lists users with their ids and roles).
        options: How the job runs; the defaults suit a first run.

    Steps:
    1. Create the job from the form: the organization, the user (an admin of it) and the
       objects are checked, and the cost is estimated, before anything runs. A wrong field
       fails the run with one line naming it.
    2. Run it as documentation-job runs an existing job (see documentation_job).
    """
    logger = get_run_logger()
    await load_secret_blocks()
    engine = get_engine()
    try:
        job_id = await run_db(
            create_from_form, engine, organization, selection, triggered_by, options
        )
    except DocgenError as exc:
        message = redact(one_line(str(exc), 500))
        logger.error(message)
        return Failed(message=message)
    logger.info("job %s created for %s", job_id, organization)
    return await _run_job(engine, job_id)


async def _run_job(engine: Any, job_id: UUID) -> Any:
    """Steps 1-5 of documentation_job."""
    logger = get_run_logger()
    flow_run_id = get_run_context().flow_run.id  # type: ignore[union-attr]
    runner = runner_name(flow_run_id)
    with core_jobs.runner_lock(engine, job_id) as sole:
        job = await run_db(start_job, engine, job_id, flow_run_id)
        logger.info(
            "job %s: %d objects, %d already counted%s",
            job_id,
            job.total_objects,
            job.processed_objects,
            "" if sole else " (joining another live runner)",
        )
        try:
            runtime = await run_db(build_runtime, job_id, runner, engine)
        except (APIKeyError, KeyDecryptionError) as exc:
            await run_db(fail_job, engine, job_id, exc)
            raise
        if sole and runtime.options.extra_runners:
            await fan_out(job_id, runtime.options.extra_runners, logger)
        with running(runtime):  # document-object subflows find the runtime here
            stopped = await _schedule(runtime, logger)
        await publish_summary(engine, job_id)
        return await run_db(finish, runtime, stopped)


async def _schedule(runtime: JobRuntime, logger: Any) -> str | None:
    """Step 3: the scheduler over document-object subflows; why it stopped, or None."""
    options = runtime.options
    if options.skip_existing:
        skipped = await run_db(
            core_jobs.skip_up_to_date,
            runtime.engine,
            runtime.job_id,
            runtime.service.provider.model,
        )
        logger.info("job %s: %d objects already up to date, skipped", runtime.job_id, skipped)
    progress = await ProgressArtifact.create(runtime.job_id)

    def claim(object_id: UUID) -> bool:
        """Claim the object and read what its subflow needs, in one transaction (one
        round trip fewer per object than claiming here and reading in the subflow)."""
        start = runtime.start_object(object_id)
        if start is None:
            return False
        runtime.started[object_id] = start
        return True

    async def run_object(item: Item) -> Decimal | None:
        try:
            return await _document(runtime, item, logger)
        finally:
            runtime.started.pop(item.object_id, None)

    scheduler = Scheduler(
        runtime.engine,
        runtime.job_id,
        runtime.runner,
        runtime,
        run_object,
        concurrency=options.concurrency,
        max_cost_usd=options.max_cost_usd,
        cancelled_elsewhere=cancelled_in_prefect,
        on_progress=progress.update,
        log=logger,
        claim=claim,
    )
    async with ObjectArtifacts() as runtime.artifacts, scheduler.watching():
        try:
            if options.mode == "batch":
                return await run_in_waves(runtime, scheduler.run, logger)
            return await scheduler.run()
        finally:
            runtime.artifacts = None  # leaving the block waits for the pages it posts


class ObjectNotFinished(Exception):
    """The document-object subflow ended without a result (crashed): the scheduler gives
    the object back and tries it again in its next pass."""


async def _document(runtime: JobRuntime, item: Item, logger: Any) -> Decimal | None:
    """One document-object subflow; the cost it recorded."""
    state = await document_object(
        job_id=runtime.job_id,
        object_id=item.object_id,
        object_name=item.name,
        # the scheduler claimed it: runners sharing a job never start a subflow for an
        # object another runner holds (benchmarks/scale_out: 64 subflows for 32 before)
        claimed=True,
        return_state=True,
    )
    result = await state.aresult(raise_on_failure=False)
    if not isinstance(result, ObjectResult):
        raise ObjectNotFinished(redact(one_line(str(result))))
    if result.status == "failed":
        logger.warning("object %s failed: %s", item.name, result.error)
    return result.cost_usd


__all__ = ["JobSummary", "documentation_job", "new_documentation_job"]
