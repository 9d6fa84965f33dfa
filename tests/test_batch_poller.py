"""Batch mode under a deployment: the job waits as `waiting_for_batch` without a flow run and
the batch-poller flow takes it from there, with real Prefect (the session's server, the
deployments registered with it) and the fake server's files and batches endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from prefect.exceptions import ObjectNotFound
from sqlalchemy.engine import Engine

from docgen import batch_jobs
from docgen import jobs as core_jobs
from docgen.cli._common import ExitCode, job_exit_code
from docgen.db.engine import transaction
from flows.batch import EXISTING_JOB_DEPLOYMENT, POLLER_DEPLOYMENT
from flows.batch_poller import PollerSummary, batch_poller
from flows.documentation_job import documentation_job
from tests.conftest import OrgFixture, use_openai
from tests.factories import (
    assert_exactly_once,
    job_row,
    new_job,
    run_job,
)
from tests.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("fast_batch_polling")]


@pytest.fixture
def registered(prefect_harness: str) -> Iterator[None]:
    """documentation-job/existing-job and batch-poller/poll registered with the session's
    Prefect server (as `docgen serve` registers them; no schedule, so only the test polls),
    removed afterwards."""
    from prefect.client.orchestration import get_client

    register_existing_job()
    batch_poller.to_deployment(name=POLLER_DEPLOYMENT.split("/")[1]).apply()
    yield

    async def remove() -> None:
        async with get_client() as client:
            for name in (EXISTING_JOB_DEPLOYMENT, POLLER_DEPLOYMENT):
                with contextlib.suppress(ObjectNotFound):
                    await client.delete_deployment((await client.read_deployment_by_name(name)).id)

    asyncio.run(remove())


def register_existing_job() -> None:
    documentation_job.to_deployment(name=EXISTING_JOB_DEPLOYMENT.split("/")[1]).apply()


def run_as_deployment(job_id: UUID) -> Any:
    """A documentation-job/existing-job flow run for the job, executed here as a worker
    executes it (the run belongs to the deployment)."""
    from prefect.deployments import run_deployment

    flow_run = run_deployment(
        EXISTING_JOB_DEPLOYMENT, parameters={"job_id": str(job_id)}, timeout=0
    )
    return execute(flow_run)


def execute(flow_run: Any) -> Any:
    from prefect.flow_engine import run_flow_async

    return asyncio.run(
        run_flow_async(
            documentation_job,
            flow_run=flow_run,
            parameters=dict(flow_run.parameters),
            return_type="state",
        )
    )


def scheduled_runs_for(job_id: UUID) -> list[Any]:
    """The existing-job flow runs started for the job that nobody executed yet."""
    from prefect.client.orchestration import get_client

    async def read() -> list[Any]:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(EXISTING_JOB_DEPLOYMENT)
            runs = await client.read_flow_runs(limit=200)
        return [
            r
            for r in runs
            if r.deployment_id == deployment.id
            and r.parameters.get("job_id") == str(job_id)
            and r.state is not None
            and r.state.is_scheduled()
        ]

    return asyncio.run(read())


def poll(job_id: UUID) -> list[str]:
    """Run the poller once; what it did with this job (the session's database may hold
    other tests' jobs): a list of 'waiting', 'resumed', 'cancelled', 'error'."""
    summary: PollerSummary = asyncio.run(batch_poller())
    done = [
        name
        for name, ids in (
            ("waiting", summary.waiting),
            ("resumed", summary.resumed),
            ("cancelled", summary.cancelled),
        )
        if job_id in ids
    ]
    return done + (["error: " + summary.errors[job_id]] if job_id in summary.errors else [])


def job_batch(engine: Engine, job_id: UUID) -> batch_jobs.JobBatch:
    with transaction(engine) as conn:
        batch = batch_jobs.get_job_batch(conn, job_id)
    assert batch is not None
    return batch


def waiting_job(engine: Engine, org: OrgFixture, fake_openai: FakeOpenAI, count: int) -> Any:
    """A batch job run from the deployment, its batch still running: the run ends and the
    job waits."""
    use_openai(engine, org, fake_openai)
    fake_openai.batches.delay = 3600.0
    job_id, ids = new_job(engine, org, count, mode="batch")
    state = run_as_deployment(job_id)
    assert state.is_completed(), state.message
    return job_id, ids


def test_under_a_deployment_the_run_ends_and_the_poller_resumes_the_job(  # type: ignore[no-untyped-def]
    cli,
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    registered: None,
) -> None:
    job_id, ids = waiting_job(engine, org, fake_openai, 3)
    job = job_row(engine, job_id)
    assert job.status == "waiting_for_batch" and job.processed_objects == 0
    assert job_exit_code(job) is ExitCode.WAITING_FOR_BATCH
    first = job_batch(engine, job_id)
    assert first.phase == "waiting_for_batch" and first.batch_id
    assert fake_openai.batches.created == 1 and fake_openai.completions == []
    # the status shows the batch and the provider's counts
    shown = json.loads(cli("jobs", "status", str(job_id), "--json").stdout)
    assert shown["status"] == "waiting_for_batch"
    assert shown["batch"]["batch_id"] == first.batch_id
    text = cli("jobs", "status", str(job_id)).stdout
    assert f"job {job_id}: waiting_for_batch" in text
    assert f"batch     waiting_for_batch {first.batch_id}" in text

    # the batch still runs: the poller updates the counts and leaves the job waiting
    assert poll(job_id) == ["waiting"]
    assert job_batch(engine, job_id).request_counts["total"] == 18
    assert job_row(engine, job_id).status == "waiting_for_batch"
    assert scheduled_runs_for(job_id) == []

    # the batch is done: the poller hands the job to one existing-job run, once
    fake_openai.batches.delay = 0.0
    assert poll(job_id) == ["resumed"]
    assert job_row(engine, job_id).status == "queued"
    assert poll(job_id) == []  # a second poller run does not start it again
    (flow_run,) = scheduled_runs_for(job_id)
    state = execute(flow_run)
    assert state.is_completed(), state.message
    job = job_row(engine, job_id)
    assert job.status == "completed" and job.processed_objects == 3
    # reattached by id: the one batch answered everything, no line submitted twice
    assert fake_openai.batches.created == 1
    assert max(fake_openai.batches.submissions.values()) == 1
    assert len(fake_openai.batches.submissions) == 18
    assert job_batch(engine, job_id).batch_id == first.batch_id
    assert fake_openai.completions == []
    assert_exactly_once(engine, job_id, ids)


@pytest.mark.parametrize("action", ["pause", "cancel"])
def test_pausing_or_cancelling_a_waiting_job_cancels_its_batch(
    action: str,
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    registered: None,
) -> None:
    job_id, ids = waiting_job(engine, org, fake_openai, 2)
    first = job_batch(engine, job_id).batch_id
    if action == "pause":
        core_jobs.pause_job(engine, job_id)
    else:
        core_jobs.cancel_job(engine, job_id)
    assert poll(job_id) == ["cancelled"]
    assert fake_openai.batches.cancelled == 1
    assert fake_openai.batches.batches[str(first)].status == "cancelled"
    assert job_batch(engine, job_id).phase == "cancelled"
    assert poll(job_id) == []  # cancelled once
    if action == "cancel":
        assert job_row(engine, job_id).status == "cancelled"
        return
    # resumed in the user's process: a new batch for what is left, waited for in-process
    fake_openai.batches.delay = 0.0
    state = run_job(job_id)
    assert state.is_completed(), state.message
    assert job_row(engine, job_id).status == "completed"
    assert fake_openai.batches.created == 2
    assert job_batch(engine, job_id).previous_batch_ids == [first]
    assert_exactly_once(engine, job_id, ids)


def test_in_process_runs_wait_in_process_even_with_the_deployments_registered(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    registered: None,
) -> None:
    """`docgen jobs run` and `docgen run` run the flow in the user's process, outside any
    deployment: the job never waits without a runner there."""
    use_openai(engine, org, fake_openai)
    fake_openai.batches.delay = 1.0
    job_id, ids = new_job(engine, org, 2, mode="batch")
    state = run_job(job_id)
    assert state.is_completed(), state.message
    job = job_row(engine, job_id)
    assert job.status == "completed"
    assert all(e.get("status") != "waiting_for_batch" for e in job.error_log)
    assert fake_openai.batches.created == 1 and fake_openai.completions == []


def test_a_waiting_job_run_by_the_user_reattaches_and_the_poller_leaves_it(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    registered: None,
) -> None:
    """`docgen jobs run JOB` on a waiting job: this process reattaches to the batch and
    waits for it itself; the poller does not start a second runner."""
    job_id, ids = waiting_job(engine, org, fake_openai, 2)
    fake_openai.batches.delay = 0.0
    state = run_job(job_id)
    assert state.is_completed(), state.message
    assert job_row(engine, job_id).status == "completed"
    assert fake_openai.batches.created == 1
    assert poll(job_id) == []
    assert_exactly_once(engine, job_id, ids)


def test_a_job_whose_runner_cannot_be_started_waits_for_the_next_poller_run(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    registered: None,
) -> None:
    from prefect.client.orchestration import get_client

    job_id, ids = waiting_job(engine, org, fake_openai, 1)
    fake_openai.batches.delay = 0.0

    async def unregister() -> None:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(EXISTING_JOB_DEPLOYMENT)
            await client.delete_deployment(deployment.id)

    asyncio.run(unregister())
    (outcome,) = poll(job_id)
    assert outcome.startswith(f"error: cannot start {EXISTING_JOB_DEPLOYMENT}")
    job = job_row(engine, job_id)
    assert job.status == "waiting_for_batch"
    assert "cannot start" in job.error_log[-1]["error"]
    register_existing_job()
    assert poll(job_id) == ["resumed"]
    (flow_run,) = scheduled_runs_for(job_id)
    assert execute(flow_run).is_completed()
    assert fake_openai.batches.created == 1 and fake_openai.completions == []
    assert_exactly_once(engine, job_id, ids)
