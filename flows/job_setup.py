"""The Prefect side of starting a documentation-job run: run names, the job made from the
on-demand form, marking the job processing, extra runners, and what the scheduler asks of
Prefect while the run goes (was the flow run cancelled? the progress artifact).
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.client.orchestration import get_client
from prefect.context import get_run_context

from docgen import jobs as core_jobs
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import transaction
from docgen.errors import InvalidInput, NotFound, PermissionDenied
from docgen.jobs import JobOptions
from docgen.redact import one_line
from flows.forms import JobSelection, describe_selection, to_selection

#: the deployment extra runners are started from (prefect.yaml, `docgen serve`): it runs an
#: existing job by id
EXISTING_JOB_DEPLOYMENT = "documentation-job/existing-job"

#: names Prefect makes up for a run nobody named: the UI's `alpha3-andromedae-nebula`,
#: the server's and the SDK's `brave-tiger`; any other name was typed by someone and stays
_GREEK = (
    "alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa|lambda|mu|nu|xi|omicron|pi|rho"
    "|sigma|tau|upsilon|phi|chi|psi|omega"
)
GENERATED_NAME = re.compile(rf"^(?:(?:{_GREEK})\d*-[a-z]+(?:-[a-z]+)*|[a-z]+-[a-z]+)$")


def _run_name(describe: Any) -> str:
    """The run's typed name, else what `describe(parameters)` says the run does."""
    from prefect.runtime import flow_run

    current = flow_run.name or ""
    if current and not GENERATED_NAME.match(current):
        return str(current)
    return str(describe(flow_run.parameters or {}))


def new_job_run_name() -> str:
    """`acme: fct_*, dim_*`, `acme: 3 objects` or `acme: all objects`."""
    return _run_name(
        lambda p: f"{p.get('organization') or '?'}: {describe_selection(p.get('selection'))}"
    )


def existing_job_run_name() -> str:
    return _run_name(lambda p: f"job {p.get('job_id')}")


def create_from_form(
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


def start_job(engine: Any, job_id: UUID, flow_run_id: UUID) -> jobs_repo.Job:
    """The job becomes processing, recorded as run by this flow run."""
    core_jobs.reopen_for_run(engine, job_id)
    with transaction(engine) as conn:
        jobs_repo.set_flow_run(conn, job_id, flow_run_id)
        return jobs_repo.update_job_status(conn, job_id, "processing")


async def fan_out(job_id: UUID, runs: int, logger: Any) -> None:
    """Start `runs` more flow runs of the existing-job deployment for this job, without
    waiting: any worker of the deployment's pool picks them up and they join the job."""
    from prefect.deployments import run_deployment

    for _ in range(runs):
        try:
            flow_run = await run_deployment(  # type: ignore[misc]
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


async def cancelled_in_prefect() -> bool:
    """True when someone asked Prefect to cancel this flow run (UI, `prefect flow-run
    cancel`): an in-process run is not killed by Prefect, so it stops itself."""
    flow_run = get_run_context().flow_run  # type: ignore[union-attr]
    assert flow_run is not None
    async with get_client() as client:
        current = await client.read_flow_run(flow_run.id)
    return bool(current.state and current.state.type.value in ("CANCELLING", "CANCELLED"))


class ProgressArtifact:
    """The job's Prefect progress artifact; the scheduler's watcher updates it from the job
    row it reads anyway (at most once a second, and only when the count moved)."""

    def __init__(self, artifact_id: Any) -> None:
        self.artifact_id = artifact_id

    @classmethod
    async def create(cls, job_id: UUID) -> ProgressArtifact:
        return cls(
            await acreate_progress_artifact(progress=0.0, description=f"documentation job {job_id}")
        )

    async def update(self, job: jobs_repo.Job) -> None:
        await aupdate_progress_artifact(
            artifact_id=self.artifact_id,
            progress=float(job.progress_percentage),
            description=f"{job.processed_objects}/{job.total_objects} objects, "
            f"{job.failed_objects} failed, ${job.actual_cost:.4f}",
        )
