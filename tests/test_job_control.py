"""Pause, resume, cancel, budget and a SIGKILL mid-job: counts stay exact, nothing twice."""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen import jobs as core_jobs
from docgen.db import jobs as jobs_repo
from docgen.db.engine import transaction
from tests.conftest import OrgFixture, run_cli, use_openai
from tests.factories import (
    assert_exactly_once,
    cli_env,
    create_job,
    independent_objects,
    job_row,
    new_job,
    run_job,
    start_cli,
    start_in_thread,
    wait_for,
)
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.prefect


def test_pause_then_resume_mid_job(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    fake_openai.latency = 0.05
    job_id, ids = new_job(engine, org, 8, concurrency=2)
    thread, box = start_in_thread(job_id)
    wait_for(lambda: job_row(engine, job_id).processed_objects >= 2)
    core_jobs.pause_job(engine, job_id)
    thread.join(60)
    paused = job_row(engine, job_id)
    assert paused.status == "paused" and paused.paused_at is not None
    assert 2 <= paused.processed_objects < 8
    with transaction(engine) as conn:
        assert not jobs_repo.job_objects(conn, job_id, status="processing")
    assert box["state"].is_completed()
    # a new process (here: a new flow run) resumes it; nothing done twice
    core_jobs.reopen_for_run(engine, job_id)
    thread, box = start_in_thread(job_id)
    thread.join(120)
    assert_exactly_once(engine, job_id, ids)


def test_cancel_mid_job(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    fake_openai.latency = 0.05
    job_id, ids = new_job(engine, org, 8, concurrency=2)
    thread, box = start_in_thread(job_id)
    wait_for(lambda: job_row(engine, job_id).processed_objects >= 2)
    core_jobs.cancel_job(engine, job_id)
    thread.join(60)
    job = job_row(engine, job_id)
    assert job.status == "cancelled" and job.completed_at is not None
    assert box["state"].is_cancelled()
    with transaction(engine) as conn:
        objects = jobs_repo.job_objects(conn, job_id)
        stored = conn.execute(
            sa.text("SELECT count(*) FROM metadata.object_documentation WHERE job_id = :j"),
            {"j": job_id},
        ).scalar_one()
    documented = [o for o in objects if o.status == "documented"]
    assert len(documented) == job.processed_objects == stored  # in-flight ones finished
    assert {o.status for o in objects} <= {"documented", "pending"}
    with pytest.raises(Exception, match="cannot run again"):
        core_jobs.reopen_for_run(engine, job_id)


def test_budget_pauses_the_job(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    ids = independent_objects(engine, org, 6)
    probe = create_job(engine, org, ids[:1])
    per_object = job_row(engine, probe).estimated_cost
    job_id = create_job(engine, org, ids, max_cost_usd=per_object * Decimal("2.5"))
    run_job(job_id)
    job = job_row(engine, job_id)
    assert job.status == "paused"
    assert 1 <= job.processed_objects < 6
    assert job.actual_cost <= per_object * Decimal("2.5")
    assert "budget" in job.error_log[-1]["reason"]


def test_cancel_from_prefect_stops_an_in_process_run(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    use_openai(engine, org, fake_openai)
    fake_openai.latency = 0.05
    job_id, ids = new_job(engine, org, 8)
    thread, _ = start_in_thread(job_id)
    wait_for(lambda: job_row(engine, job_id).processed_objects >= 1)
    flow_run_id = job_row(engine, job_id).prefect_flow_run_id

    async def cancel() -> None:
        async with get_client() as client:
            await client.set_flow_run_state(flow_run_id, Cancelling(), force=True)

    asyncio.run(cancel())
    thread.join(60)
    job = job_row(engine, job_id)
    assert job.status == "cancelled"
    assert job.processed_objects < 8


@pytest.mark.slow
def test_sigkill_mid_job_then_rerun_is_exactly_once(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    from prefect.settings import PREFECT_API_URL

    use_openai(engine, org, fake_openai)
    fake_openai.latency = 0.03
    job_id, ids = new_job(engine, org, 10, concurrency=3)
    child_env = cli_env(env, PREFECT_API_URL=str(PREFECT_API_URL.value()))
    child = start_cli("jobs", "run", str(job_id), env=child_env)
    try:
        wait_for(lambda: job_row(engine, job_id).processed_objects >= 3, timeout=90)
        # kill while objects are in flight: some rows say 'processing', nothing half-stored
        wait_for(lambda: _processing(engine, job_id) > 0, timeout=30)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    killed = job_row(engine, job_id)
    assert killed.status == "processing" and killed.processed_objects < 10
    rerun = run_cli("jobs", "run", str(job_id), env=child_env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert_exactly_once(engine, job_id, ids)


def _processing(engine: Engine, job_id: UUID) -> int:
    with transaction(engine) as conn:
        return len(jobs_repo.job_objects(conn, job_id, status="processing"))
