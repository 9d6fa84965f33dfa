"""A misbehaving provider: an HTTP 200 that is not a completion is retried like a 5xx,
impossible usage counts are a provider error (the object is not redone, no spend is lost),
and expected LLM failures print one line each, no traceback (issue 13, bad-input bullets)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen.db import jobs as jobs_repo
from docgen.db.engine import transaction
from docgen.layers import LAYER_NAMES
from tests.conftest import OrgFixture, run_cli, use_openai
from tests.factories import create_job, job_row, make_object, new_job, run_job
from tests.fake_openai import FakeOpenAI, Fault

pytestmark = pytest.mark.prefect


def run_one(engine: Engine, org: OrgFixture) -> tuple[jobs_repo.Job, UUID]:
    job_id, (object_id,) = new_job(engine, org, 1)
    run_job(job_id)
    return job_row(engine, job_id), object_id


def versions(engine: Engine, object_id: UUID) -> list[dict[str, Any]]:
    with transaction(engine) as conn:
        rows = conn.execute(
            sa.text(
                "SELECT generation_metadata FROM metadata.object_documentation WHERE object_id = :o"
            ),
            {"o": object_id},
        ).all()
    return [r[0] for r in rows]


def test_an_http_200_that_is_not_json_is_retried_like_a_5xx(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:  # fmt: skip
    use_openai(engine, org, fake_openai)
    fake_openai.enqueue(Fault.non_json())
    job, object_id = run_one(engine, org)
    assert job.status == "completed" and job.failed_objects == 0
    assert len(fake_openai.completions) == len(LAYER_NAMES) + 1, "one retry"
    (meta,) = versions(engine, object_id)
    assert meta["failed_layers"] == []
    assert meta["layers"]["executive_summary"]["attempts"] == 2


def test_impossible_usage_is_a_provider_error_and_no_spend_is_lost(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:  # fmt: skip
    use_openai(engine, org, fake_openai)
    fake_openai.add_rule(lambda b: "Fill businessRules only" in json.dumps(b), Fault.bad_usage())
    job, object_id = run_one(engine, org)
    assert job.status == "completed" and job.processed_objects == 1
    (meta,) = versions(engine, object_id)  # stored once: the object was not redone
    assert meta["failed_layers"] == ["business_rules"]
    assert (
        "impossible token usage (prompt_tokens=-5 is impossible)"
        in (meta["layers"]["business_rules"]["error"])
    )
    reported = fake_openai.reported_usage()  # the five good answers
    assert job.total_tokens_used == reported["prompt_tokens"] + reported["completion_tokens"]
    assert job.total_tokens_used > 0


def test_expected_llm_failures_print_one_line_each(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI,
    prefect_harness: str,
) -> None:  # fmt: skip
    use_openai(engine, org, fake_openai)
    ids = [make_object(engine, org, f"model_{i}").id for i in range(2)]
    fake_openai.add_rule(
        lambda b: "Fill executiveSummary only" in json.dumps(b), Fault.content_filter()
    )
    job_id = create_job(engine, org, ids)
    run = run_cli("jobs", "run", str(job_id), env={**env, "PREFECT_API_URL": prefect_harness})
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    lines = run.stderr.splitlines()
    failures = [line for line in lines if "content filter" in line and "object model_" in line]
    assert len(failures) == 2, run.stderr[-3000:]
    assert all("prefect.flow_runs: object model_" in line for line in failures), failures
    # every object failed: the job is failed (not 'completed'), said once at the end
    assert run.returncode != 0
    assert "failed: every object failed (2 of 2)" in lines[-1], lines[-1]
    assert not any("Finished in state" in line for line in lines), run.stderr[-3000:]
