"""documentation-job: document every object of a job, a few at a time, resumably.

Two entry points share the flow name, each with its own deployment and form:
`new_documentation_job` (documentation-job/on-demand: organization, selection, user and
options; it creates the job) and `documentation_job` (documentation-job/existing-job: a
job id; also what nightly-redocumentation, the orchestrator and extra runners call).
One flow name keeps every run of a job under documentation-job in the Prefect UI; two
signatures let each form require exactly its own fields.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.client.orchestration import get_client
from prefect.context import get_run_context
from prefect.states import Cancelled, Completed, Failed
from pydantic import BaseModel

from docgen import jobs as core_jobs
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import get_engine, transaction
from docgen.errors import (
    APIKeyError,
    DocgenError,
    InvalidInput,
    KeyDecryptionError,
    NotFound,
    PermissionDenied,
)
from docgen.jobs import JobOptions
from docgen.redact import one_line, redact
from docgen.render.summary import job_layer_summary, job_object_summary
from flows import hooks
from flows.batch import run_in_waves
from flows.document_object import ObjectResult, document_object
from flows.forms import (
    Id,
    JobOptionsForm,
    JobSelection,
    JobSelectionForm,
    OrganizationRef,
    UserRef,
    describe_selection,
    to_selection,
)
from flows.runtime import (
    SIGNAL_REASON,
    JobRuntime,
    build_runtime,
    forget_runtime,
    runner_name,
)
from flows.secrets import load_secret_blocks
from tasks.artifacts import apublish_job_summary_artifact, apublish_object_summary_artifact
from tasks.storage import run_db

#: seconds between checks of this flow run's own Prefect state (cancel from the Prefect UI)
PREFECT_STATE_CHECK_SECONDS = 2.0
#: passes over pending objects (objects given back by a crashed subflow are tried again)
MAX_PASSES = 3
#: the deployment extra runners are started from (prefect.yaml, `docgen serve`): it runs an
#: existing job by id
EXISTING_JOB_DEPLOYMENT = "documentation-job/existing-job"
#: the options of a job made from the form when nobody changes them
DEFAULT_OPTIONS = JobOptions()


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


#: hooks both entry points share: they mirror Prefect states into the job row
_HOOKS: dict[str, Any] = {
    "on_running": [hooks.on_running],
    "on_completion": [hooks.on_completion],
    "on_failure": [hooks.on_failure],
    "on_crashed": [hooks.on_crashed],
    "on_cancellation": [hooks.on_cancellation],
}

#: names Prefect makes up for a run nobody named: the UI's `alpha3-andromedae-nebula`,
#: the server's and the SDK's `brave-tiger`; any other name was typed by someone and stays
_GREEK = (
    "alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa|lambda|mu|nu|xi|omicron|pi|rho"
    "|sigma|tau|upsilon|phi|chi|psi|omega"
)
_GENERATED_NAME = re.compile(rf"^(?:(?:{_GREEK})\d*-[a-z]+(?:-[a-z]+)*|[a-z]+-[a-z]+)$")


def _run_name(describe: Any) -> str:
    """The run's typed name, else what `describe(parameters)` says the run does."""
    from prefect.runtime import flow_run

    current = flow_run.name or ""
    if current and not _GENERATED_NAME.match(current):
        return str(current)
    return str(describe(flow_run.parameters or {}))


def _new_job_run_name() -> str:
    """`acme: fct_*, dim_*`, `acme: 3 objects` or `acme: all objects`."""
    return _run_name(
        lambda p: f"{p.get('organization') or '?'}: {describe_selection(p.get('selection'))}"
    )


def _existing_job_run_name() -> str:
    return _run_name(lambda p: f"job {p.get('job_id')}")


@flow(
    name="documentation-job",
    flow_run_name=_existing_job_run_name,
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
    2. Build the organization's provider once: a missing or unreadable API key fails the
       job here, before any object is tried.
    3. Run document-object for pending objects, `concurrency` at a time. Before each one
       starts, honour pause and cancel (from docgen or from Prefect) and the cost budget.
    4. Finish: completed once every object is counted; paused or cancelled as asked;
       failed on an error no object can avoid (the API key). Returns the job's summary.
    """
    await load_secret_blocks()
    return await _run_job(get_engine(), job_id)


@flow(
    name="documentation-job",
    flow_run_name=_new_job_run_name,
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
            _create_from_form, engine, organization, selection, triggered_by, options
        )
    except DocgenError as exc:
        message = redact(one_line(str(exc), 500))
        logger.error(message)
        return Failed(message=message)
    logger.info("job %s created for %s", job_id, organization)
    return await _run_job(engine, job_id)


async def _run_job(engine: Any, job_id: UUID) -> Any:
    logger = get_run_logger()
    flow_run_id = get_run_context().flow_run.id  # type: ignore[union-attr]
    runner = runner_name(flow_run_id)
    with core_jobs.runner_lock(engine, job_id) as sole:
        job = await run_db(_start, engine, job_id, flow_run_id)
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
            await run_db(_fail_job, engine, job_id, exc)
            raise
        if sole and runtime.options.extra_runners:
            await _fan_out(job_id, runtime.options.extra_runners, logger)
        try:
            stopped = await _run_objects(runtime, logger)
        finally:
            forget_runtime(job_id)
        await _publish_summary(engine, job_id)
        return await run_db(_finish, runtime, stopped)


def _create_from_form(
    engine: Any,
    organization: str,
    selection: JobSelection,
    triggered_by: str,
    options: JobOptions,
) -> UUID:
    """Create the job the form describes; errors name the form's field."""
    with transaction(engine) as conn:
        try:
            org = orgs.get_organization(conn, organization)
        except NotFound:
            raise InvalidInput(
                f"organization: no organization is named or has the id {organization.strip()!r}"
                " (docgen org list shows them)"
            ) from None
        try:
            user = orgs.get_user(conn, triggered_by)
        except NotFound:
            raise InvalidInput(
                f"triggered_by: no user has the email or id {triggered_by.strip()!r}"
                f" (docgen org users {org.name} lists them)"
            ) from None
        try:
            orgs.require_admin(conn, org, user)
        except PermissionDenied as exc:
            raise InvalidInput(f"triggered_by: {exc}") from None
    try:
        job = core_jobs.create_job(
            engine, org.id, to_selection(selection), options, triggered_by_user_id=user.id
        )
    except (InvalidInput, NotFound, PermissionDenied) as exc:
        raise InvalidInput(f"selection: {exc}") from None
    return job.id


def _start(engine: Any, job_id: UUID, flow_run_id: UUID) -> jobs_repo.Job:
    core_jobs.reopen_for_run(engine, job_id)
    with transaction(engine) as conn:
        jobs_repo.set_flow_run(conn, job_id, flow_run_id)
        return jobs_repo.update_job_status(conn, job_id, "processing")


def _fail_job(engine: Any, job_id: UUID, error: BaseException) -> None:
    message = redact(one_line(str(error), 1000))
    with transaction(engine) as conn:
        job = jobs_repo.get_job(conn, job_id)
        if not job.is_terminal:
            jobs_repo.update_job_status(
                conn, job_id, "failed", {"error": message, "kind": type(error).__name__}
            )


class _Gate:
    """Decides, before each object starts, whether the job may go on."""

    def __init__(self, runtime: JobRuntime) -> None:
        self.runtime = runtime
        self.in_flight_estimate = Decimal(0)
        self._last_prefect_check = 0.0
        #: the objects being documented now (asyncio tasks), interrupted on cancel
        self.running: set[asyncio.Task[None]] = set()

    async def reason_to_stop(self, estimated_cost: Decimal) -> str | None:
        runtime = self.runtime
        if runtime.fatal is not None:
            return "provider error"
        if runtime.stop.is_set():
            return runtime.stop_reason or "stopped"
        if runtime.pause_reason is not None:
            return "paused: " + runtime.pause_reason
        job = await run_db(_read_job, runtime.engine, runtime.job_id)
        if job.status in ("paused", "cancelled", "failed", "completed"):
            return job.status
        budget = runtime.options.max_cost_usd
        if budget is not None and (
            job.actual_cost + self.in_flight_estimate + estimated_cost > budget
        ):
            await run_db(
                core_jobs.pause_job,
                runtime.engine,
                runtime.job_id,
                f"budget: ${job.actual_cost} spent, next object estimated ${estimated_cost}, "
                f"max_cost_usd ${budget}",
            )
            return "budget"
        if time.monotonic() - self._last_prefect_check >= PREFECT_STATE_CHECK_SECONDS:
            self._last_prefect_check = time.monotonic()
            if await _cancelled_in_prefect():
                await run_db(
                    core_jobs.cancel_job,
                    runtime.engine,
                    runtime.job_id,
                    "flow run cancelled in Prefect",
                )
                return "cancelled"
        return None

    async def watch(self, logger: Any) -> None:
        """Until cancelled: look for a cancel (`docgen jobs cancel`, the Prefect UI, once a
        second) or a stop of this runner (SIGTERM, `runtime.request_stop`, every 0.2 s)
        and, when there is one, stop the run now. Waiting objects are interrupted wherever
        they wait (rate limiter, Retry-After, HTTP call, retry backoff) and given back;
        nothing half-done is stored."""
        runtime = self.runtime
        last_look = time.monotonic()
        while True:
            await asyncio.sleep(0.2)
            if runtime.stop.is_set():
                self.interrupt(runtime.stop_reason or "stopped")
                logger.info("job %s: runner stopping (%s)", runtime.job_id, runtime.stop_reason)
                return
            if time.monotonic() - last_look < CANCEL_CHECK_SECONDS:
                continue
            last_look = time.monotonic()
            job = await run_db(_read_job, runtime.engine, runtime.job_id)
            if job.status == "cancelled" or (
                time.monotonic() - self._last_prefect_check >= PREFECT_STATE_CHECK_SECONDS
                and await self._prefect_cancel()
            ):
                self.interrupt("cancelled")
                logger.info("job %s cancelled: in-flight objects interrupted", runtime.job_id)
                return

    async def _prefect_cancel(self) -> bool:
        self._last_prefect_check = time.monotonic()
        if not await _cancelled_in_prefect():
            return False
        await run_db(
            core_jobs.cancel_job,
            self.runtime.engine,
            self.runtime.job_id,
            "flow run cancelled in Prefect",
        )
        return True

    def interrupt(self, reason: str) -> None:
        """Stop every wait of this run and cancel the objects in flight."""
        self.runtime.request_stop(reason)
        for task in list(self.running):
            task.cancel()


#: seconds between looks at the job row for a cancel while objects are in flight
CANCEL_CHECK_SECONDS = 1.0


async def _cancelled_in_prefect() -> bool:
    """True when someone asked Prefect to cancel this flow run (UI, `prefect flow-run
    cancel`): an in-process run is not killed by Prefect, so it stops itself."""
    flow_run = get_run_context().flow_run  # type: ignore[union-attr]
    async with get_client() as client:
        current = await client.read_flow_run(flow_run.id)
    return bool(current.state and current.state.type.value in ("CANCELLING", "CANCELLED"))


async def _run_objects(runtime: JobRuntime, logger: Any) -> str | None:
    """Run pending objects with the job's concurrency; the reason it stopped early, or None."""
    if runtime.options.skip_existing:
        skipped = await run_db(
            core_jobs.skip_up_to_date,
            runtime.engine,
            runtime.job_id,
            runtime.service.provider.model,
        )
        logger.info("job %s: %d objects already up to date, skipped", runtime.job_id, skipped)
    gate = _Gate(runtime)
    progress = _Progress(runtime)
    await progress.create()
    watcher = asyncio.create_task(gate.watch(logger))
    try:
        if runtime.options.mode == "batch":
            return await run_in_waves(
                runtime, lambda only: _passes(runtime, gate, progress, logger, only), logger
            )
        return await _passes(runtime, gate, progress, logger)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await progress.update(force=True)


async def _passes(
    runtime: JobRuntime,
    gate: _Gate,
    progress: _Progress,
    logger: Any,
    only: set[UUID] | None = None,
) -> str | None:
    """Passes over the pending objects (`only`: those of them, a batch-mode wave)."""
    for _ in range(MAX_PASSES):
        work = await run_db(_pending, runtime)
        if only is not None:
            work.pending = [p for p in work.pending if p.object_id in only]
        if not work.pending:
            # other runners may still hold objects: wait for them, then take over any they
            # gave back (a crashed subflow releases its object)
            if not await _wait_for_other_runners(runtime, logger):
                return None
            continue
        stopped = await _run_pass(runtime, gate, work, progress, logger)
        if stopped:
            logger.info("job %s stops starting objects: %s", runtime.job_id, stopped)
            return stopped
        if runtime.halted:
            return await _gate_reason(gate)
    return None


async def _gate_reason(gate: _Gate) -> str | None:
    return await gate.reason_to_stop(Decimal(0))


#: stop waiting for other runners after this long without any object finishing
OTHERS_STALL_SECONDS = 900.0


async def _wait_for_other_runners(runtime: JobRuntime, logger: Any) -> bool:
    """Wait while other runners document objects of this job; True if objects came back
    to pending (so another pass is needed)."""
    last_progress, last_count = time.monotonic(), -1
    while True:
        held, pending, processed = await run_db(_others, runtime)
        if pending:
            return True
        if not held:
            return False
        if processed != last_count:
            last_progress, last_count = time.monotonic(), processed
        elif time.monotonic() - last_progress > OTHERS_STALL_SECONDS:
            logger.warning(
                "job %s: other runners made no progress for %d s; stopping",
                runtime.job_id,
                OTHERS_STALL_SECONDS,
            )
            return False
        await asyncio.sleep(1.0)


def _others(runtime: JobRuntime) -> tuple[int, int, int]:
    """Objects held by other runners, pending objects, and processed objects of the job."""
    with transaction(runtime.engine) as conn:
        objects = jobs_repo.job_objects(conn, runtime.job_id)
        processed = jobs_repo.get_job(conn, runtime.job_id).processed_objects
    held = sum(1 for o in objects if o.status == "processing" and o.claimed_by != runtime.runner)
    pending = sum(1 for o in objects if o.status == "pending")
    return held, pending, processed


async def _fan_out(job_id: UUID, runs: int, logger: Any) -> None:
    """Start `runs` more flow runs of the existing-job deployment for this job, without waiting:
    any worker of the deployment's pool picks them up and they join the job."""
    from prefect.deployments import run_deployment

    for _ in range(runs):
        try:
            flow_run = await run_deployment(
                EXISTING_JOB_DEPLOYMENT,
                parameters={"job_id": str(job_id)},
                timeout=0,
                as_subflow=False,
            )
        except Exception as exc:  # noqa: BLE001 - no deployment: this run works alone
            logger.warning(
                "job %s: cannot start extra runners (%s); running alone", job_id, one_line(str(exc))
            )
            return
        logger.info("job %s: extra runner %s submitted", job_id, flow_run.id)


async def _run_pass(
    runtime: JobRuntime, gate: _Gate, work: _Work, progress: _Progress, logger: Any
) -> str | None:
    """One pass over the pending objects, at most `concurrency` at a time, each one started
    only after its upstream objects in this job are finished (their fresh documentation is
    part of its context)."""
    slots = asyncio.Semaphore(runtime.options.concurrency)
    unfinished = set(work.unfinished)
    waiting = list(work.pending)
    running: dict[asyncio.Task[None], UUID] = {}

    async def guarded(item: jobs_repo.JobObject) -> None:
        try:
            await _one(runtime, item, work.names.get(item.object_id, ""), progress, logger)
        except asyncio.CancelledError:
            logger.info(
                "object %s interrupted: %s",
                work.names.get(item.object_id, ""),
                runtime.halted or "cancelled",
            )
            raise
        finally:
            gate.in_flight_estimate -= item.estimated_cost
            unfinished.discard(item.object_id)
            slots.release()

    stopped: str | None = None
    while waiting:
        ready = next(
            (i for i in waiting if not (work.upstream.get(i.object_id, set()) & unfinished)),
            None,
        )
        if ready is None and running:
            await asyncio.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
            for task in [t for t in running if t.done()]:
                running.pop(task)
            continue
        item = ready or waiting[0]  # nothing runs and nothing is ready: a cycle, break it
        await slots.acquire()
        stopped = await gate.reason_to_stop(item.estimated_cost)
        if stopped:
            slots.release()
            break
        waiting.remove(item)
        gate.in_flight_estimate += item.estimated_cost
        started = asyncio.create_task(guarded(item))
        running[started] = item.object_id
        gate.running.add(started)
        started.add_done_callback(gate.running.discard)
    if running:
        await asyncio.gather(*running, return_exceptions=True)
    return stopped


async def _one(
    runtime: JobRuntime, item: jobs_repo.JobObject, name: str, progress: Any, logger: Any
) -> None:
    state = await document_object(
        job_id=runtime.job_id,
        object_id=item.object_id,
        object_name=name or str(item.object_id),
        return_state=True,
    )
    result = await state.aresult(raise_on_failure=False)
    if isinstance(result, ObjectResult) and result.status == "failed":
        logger.warning("object %s failed: %s", name, result.error)
    elif not isinstance(result, ObjectResult):
        logger.warning("object %s did not finish: %s", name, redact(one_line(str(result))))
    await progress.update()


class _Progress:
    """The job's Prefect progress artifact, updated at most once a second (and at the end)."""

    INTERVAL = 1.0

    def __init__(self, runtime: JobRuntime) -> None:
        self.runtime = runtime
        self.artifact_id: Any = None
        self._last = 0.0

    async def create(self) -> None:
        self.artifact_id = await acreate_progress_artifact(
            progress=0.0, description=f"documentation job {self.runtime.job_id}"
        )

    async def update(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last < self.INTERVAL:
            return
        self._last = time.monotonic()
        job = await run_db(_read_job, self.runtime.engine, self.runtime.job_id)
        await aupdate_progress_artifact(
            artifact_id=self.artifact_id,
            progress=float(job.progress_percentage),
            description=f"{job.processed_objects}/{job.total_objects} objects, "
            f"{job.failed_objects} failed, ${job.actual_cost:.4f}",
        )


@dataclass
class _Work:
    pending: list[jobs_repo.JobObject]
    names: dict[UUID, str]
    #: upstream objects of each pending object that are part of this job
    upstream: dict[UUID, set[UUID]]
    #: objects of the job not finished yet (pending or being documented)
    unfinished: set[UUID]


def _pending(runtime: JobRuntime) -> _Work:
    from docgen.db.objects import get_objects

    with transaction(runtime.engine) as conn:
        everything = jobs_repo.job_objects(conn, runtime.job_id)
        pending = [o for o in everything if o.status == "pending"]
        found = get_objects(conn, [p.object_id for p in pending])
    in_job = {o.object_id for o in everything}
    return _Work(
        pending=pending,
        names={i: o.name for i, o in found.items()},
        upstream={i: set(o.upstream_object_ids) & in_job for i, o in found.items()},
        unfinished={o.object_id for o in everything if o.status in ("pending", "processing")},
    )


def _finish(runtime: JobRuntime, stopped: str | None) -> Any:
    engine, job_id = runtime.engine, runtime.job_id
    if runtime.fatal is not None:
        _fail_job(engine, job_id, runtime.fatal)
        raise runtime.fatal
    if runtime.stop_reason == SIGNAL_REASON:
        _pause_for(
            engine, job_id, "its runner was stopped (SIGTERM); objects in flight were given back"
        )
    elif runtime.pause_reason is not None and not runtime.stop.is_set():
        _pause_for(engine, job_id, runtime.pause_reason)
    with transaction(engine) as conn:
        job = jobs_repo.get_job(conn, job_id)
        if job.status == "processing" and job.processed_objects == job.total_objects:
            failure = core_jobs.all_failed(job)
            job = jobs_repo.update_job_status(
                conn, job_id, "failed" if failure else "completed", failure
            )
    summary = JobSummary(
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
        stopped_because=runtime.stop_reason if runtime.stop_reason == SIGNAL_REASON else stopped,
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


def _pause_for(engine: Any, job_id: UUID, reason: str) -> None:
    """Pause the job for a reason found while running (a Retry-After over the cap)."""
    with transaction(engine) as conn:
        job = jobs_repo.get_job(conn, job_id)
        if job.status in ("queued", "processing"):
            jobs_repo.update_job_status(conn, job_id, "paused", {"reason": redact(reason)})


async def _publish_summary(engine: Any, job_id: UUID) -> None:
    """The job's tables as Prefect table artifacts: per layer (tokens, cost) and per object
    (status, tokens, cost, duration)."""

    def rows() -> Any:
        with transaction(engine) as conn:
            return job_layer_summary(conn, job_id), job_object_summary(conn, job_id)

    per_layer, per_object = await run_db(rows)
    await apublish_object_summary_artifact(job_id, per_object)
    await apublish_job_summary_artifact(job_id, per_layer)


def _read_job(engine: Any, job_id: UUID) -> jobs_repo.Job:
    with transaction(engine) as conn:
        return jobs_repo.get_job(conn, job_id)


__all__ = ["JobSummary", "documentation_job", "new_documentation_job"]
