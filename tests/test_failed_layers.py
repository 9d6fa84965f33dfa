"""A job says what failed: failed layers in the job row, its summary and `jobs status`,
errors (redacted) in error_log, and a job in which every object failed is 'failed'."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from docgen.db import jobs as jobs_repo
from tests.conftest import OrgFixture, use_openai
from tests.factories import job_row, new_job, run_job
from tests.fake_openai import FakeOpenAI, Fault

pytestmark = pytest.mark.prefect


def run(engine: Engine, org: OrgFixture, count: int) -> tuple[object, jobs_repo.Job]:
    job_id, _ = new_job(engine, org, count, max_retries=0)
    return run_job(job_id), job_row(engine, job_id)


def test_failed_layers_are_counted_shown_and_logged(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    use_openai(engine, org, fake_openai)
    fake_openai.add_rule(
        lambda body: "Fill businessRules only" in str(body["messages"]), Fault.schema_violation()
    )
    state, job = run(engine, org, 2)
    assert job.status == "completed" and job.failed_objects == 0
    assert job.layers_failed == {"business_rules": 2}
    entries = [e for e in job.error_log if e.get("status") == "layers_failed"]
    assert len(entries) == 2
    assert "business_rules" in entries[0]["layers"]
    assert "BusinessRules" in entries[0]["error"]  # the cause, not just "failed"
    assert state.result().layers_failed == {"business_rules": 2}  # the flow's summary
    shown = cli("jobs", "status", str(job.id))
    assert "layers    2 failed (business_rules 2)" in shown.stdout, shown.stdout


def test_a_job_where_every_object_failed_is_failed(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    key = use_openai(engine, org, fake_openai)
    # a broken answer echoing the key on the critical first layer: every object fails
    fake_openai.content_for = lambda k, body: {"executiveSummary": [key]}
    state, job = run(engine, org, 3)
    assert state.is_failed()
    assert job.status == "failed" and job.failed_objects == 3
    last = job.error_log[-1]
    assert last["kind"] == "AllObjectsFailed" and "every object failed (3 of 3)" in last["error"]
    failed = [e for e in job.error_log if e.get("status") == "object_failed"]
    assert len(failed) == 3 and "executive_summary" in failed[0]["error"]
    assert key not in str(job.error_log)
