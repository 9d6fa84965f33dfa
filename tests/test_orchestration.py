"""documentation-job and document-object: real flows, real PostgreSQL, fake OpenAI over HTTP."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen import jobs as core_jobs
from docgen.db import jobs as jobs_repo
from docgen.db import logs
from docgen.db.engine import transaction
from docgen.jobs import JobOptions
from docgen.layers import LAYER_NAMES
from docgen.pricing import Usage, load_pricing
from flows.documentation_job import documentation_job
from tests.conftest import OrgFixture, use_openai
from tests.factories import make_chain
from tests.fake_openai import FakeOpenAI, Fault

pytestmark = pytest.mark.prefect


def new_job(engine: Engine, org: OrgFixture, count: int, **options: Any) -> tuple[UUID, list[UUID]]:
    objs = make_chain(engine, org, count)
    ids = [o.id for o in objs]
    job = core_jobs.create_job(engine, org.id, ids, JobOptions(**options),
                               triggered_by_user_id=org.admin_id)
    return job.id, ids


def run(job_id: UUID) -> Any:
    return asyncio.run(documentation_job(job_id=job_id, return_state=True))


def job_row(engine: Engine, job_id: UUID) -> jobs_repo.Job:
    with transaction(engine) as conn:
        return jobs_repo.get_job(conn, job_id)


def test_twenty_objects_complete_with_exact_accounting(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    job_id, ids = new_job(engine, org, 20, concurrency=4)
    state = run(job_id)
    assert state.is_completed(), state.message
    job = job_row(engine, job_id)
    assert job.status == "completed"
    assert (job.processed_objects, job.failed_objects, job.progress_percentage) == (
        20, 0, Decimal("100.00"))
    reported = fake_openai.reported_usage()
    assert len(fake_openai.completions) == 120
    assert job.prompt_tokens_used == reported["prompt_tokens"]
    assert job.completion_tokens_used == reported["completion_tokens"]
    assert job.total_tokens_used == reported["prompt_tokens"] + reported["completion_tokens"]
    expected = sum(
        (load_pricing().cost("gpt-4o", Usage(r.usage["prompt_tokens"], r.usage["completion_tokens"],
                                             r.usage["cached_tokens"]))
         for r in fake_openai.requests if r.usage),
        Decimal(0),
    )
    assert abs(job.actual_cost - expected) <= Decimal("0.000001") * 120
    assert job.layers_completed == {layer: 20 for layer in LAYER_NAMES}
    assert job.layers_failed == {}
    assert job.started_at and job.completed_at and job.estimated_completion_time
    assert job.average_processing_time_ms is not None
    with transaction(engine) as conn:
        rows = logs.logs_for(conn, job_id=job_id)
        current = conn.execute(sa.text(
            "SELECT count(*) FROM metadata.object_documentation WHERE object_id = ANY(:ids)"
            " AND is_current"), {"ids": ids}).scalar_one()
    assert len(rows) == 120 and current == 20
    assert {(r["object_id"], r["layer"]) for r in rows} == {(i, l) for i in ids for l in LAYER_NAMES}
