"""documentation-job and document-object: real flows, real PostgreSQL, fake OpenAI over HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen.db import jobs as jobs_repo
from docgen.db import logs
from docgen.db.engine import transaction
from docgen.layers import LAYER_NAMES
from docgen.pricing import Usage, load_pricing
from tests.conftest import OrgFixture, use_openai
from tests.factories import create_job, job_row, make_chain, new_job, run_job
from tests.fake_openai import FakeOpenAI, Fault

pytestmark = pytest.mark.prefect


@pytest.mark.slow
def test_twenty_objects_complete_with_exact_accounting(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    job_id, ids = new_job(engine, org, 20, chain=True, concurrency=4)
    state = run_job(job_id)
    assert state.is_completed(), state.message
    job = job_row(engine, job_id)
    assert job.status == "completed"
    assert (job.processed_objects, job.failed_objects, job.progress_percentage) == (
        20,
        0,
        Decimal("100.00"),
    )
    reported = fake_openai.reported_usage()
    assert len(fake_openai.completions) == 120
    assert job.prompt_tokens_used == reported["prompt_tokens"]
    assert job.completion_tokens_used == reported["completion_tokens"]
    assert job.total_tokens_used == reported["prompt_tokens"] + reported["completion_tokens"]
    expected = sum(
        (
            load_pricing().cost(
                "gpt-4o",
                Usage(
                    r.usage["prompt_tokens"], r.usage["completion_tokens"], r.usage["cached_tokens"]
                ),
            )
            for r in fake_openai.requests
            if r.usage
        ),
        Decimal(0),
    )
    assert abs(job.actual_cost - expected) <= Decimal("0.000001") * 120
    assert job.layers_completed == {layer: 20 for layer in LAYER_NAMES}
    assert job.layers_failed == {}
    assert job.started_at and job.completed_at and job.estimated_completion_time
    assert job.average_processing_time_ms is not None
    with transaction(engine) as conn:
        rows = logs.logs_for(conn, job_id=job_id)
        current = conn.execute(
            sa.text(
                "SELECT count(*) FROM metadata.object_documentation WHERE object_id = ANY(:ids)"
                " AND is_current"
            ),
            {"ids": ids},
        ).scalar_one()
    assert len(rows) == 120 and current == 20
    assert {(r["object_id"], r["layer"]) for r in rows} == {
        (i, layer) for i in ids for layer in LAYER_NAMES
    }


def fill_key(layer_key: str):  # type: ignore[no-untyped-def]
    return lambda body: f"Fill {layer_key} only" in json.dumps(body)


def test_rate_limits_and_server_errors_are_retried(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    job_id, ids = new_job(engine, org, 5, chain=True, concurrency=2, max_retries=4)
    fake_openai.enqueue(
        Fault.rate_limit(retry_after=0.2),
        Fault.server_error(),
        Fault.rate_limit(retry_after=0.1),
        Fault.server_error(503),
    )
    state = run_job(job_id)
    assert state.is_completed(), state.message
    job = job_row(engine, job_id)
    assert (job.status, job.processed_objects, job.failed_objects) == ("completed", 5, 0)
    assert sum(1 for r in fake_openai.requests if r.status in (429, 500, 503)) == 4
    assert len(fake_openai.completions) == 30 + 4


def test_a_failing_object_is_counted_and_the_job_goes_on(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    job_id, ids = new_job(engine, org, 20, chain=True, concurrency=4, max_retries=1)
    with transaction(engine) as conn:
        bad_name = conn.execute(
            sa.text("SELECT name FROM metadata.objects WHERE id = :i"), {"i": ids[7]}
        ).scalar_one()
    # the narrative (critical) of one object always breaks
    fake_openai.add_rule(
        lambda b: (
            "Fill businessNarrative only" in json.dumps(b)
            and f"Name: {bad_name}\n" in b["messages"][1]["content"]
        ),
        Fault.server_error(),
    )
    state = run_job(job_id)
    assert state.is_completed(), state.message
    job = job_row(engine, job_id)
    assert (job.status, job.processed_objects, job.failed_objects) == ("completed", 20, 1)
    assert job.layers_completed["executive_summary"] == 20
    assert job.layers_completed["business_narrative"] == 19
    assert job.layers_failed == {"business_narrative": 1}
    with transaction(engine) as conn:
        state_row = jobs_repo.job_objects(conn, job_id, status="failed")
        failed_logs = [r for r in logs.logs_for(conn, job_id=job_id, object_id=ids[7])]
    assert [r.object_id for r in state_row] == [ids[7]]
    assert "business_narrative" in (state_row[0].error_message or "")
    assert {r["layer"]: r["status"] for r in failed_logs} == {
        "executive_summary": "completed",
        "business_narrative": "failed",
    }
    assert failed_logs[1]["attempts"] == 2  # one try + max_retries=1


def test_401_fails_the_job_fast(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    key = use_openai(engine, org, fake_openai, api_key="sk-fastfail-" + "k" * 24)
    job_id, ids = new_job(engine, org, 6, chain=True, concurrency=1)
    fake_openai.add_rule(lambda b: True, Fault.auth())
    state = run_job(job_id)
    assert state.is_failed()
    job = job_row(engine, job_id)
    assert job.status == "failed" and job.completed_at is not None
    assert len(fake_openai.completions) == 1, "no further calls, no further objects"
    assert job.processed_objects == 0 and job.failed_objects == 0
    errors = [e for e in job.error_log if e.get("status") == "failed"]
    assert errors and "refused the API key" in errors[0]["error"]
    assert key not in json.dumps(job.error_log)
    with transaction(engine) as conn:
        assert not jobs_repo.job_objects(conn, job_id, status="processing")


def test_missing_key_fails_before_any_object(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    from docgen.db import orgs

    with transaction(engine) as conn:
        orgs.set_provider(conn, org.id, "openai", base_url=fake_openai.base_url)
    job_id, _ = new_job(engine, org, 3, chain=True)
    state = run_job(job_id)
    assert state.is_failed()
    job = job_row(engine, job_id)
    assert job.status == "failed"
    assert any(
        "No OpenAI API key configured for organization" in e.get("error", "") for e in job.error_log
    )
    assert fake_openai.completions == []


def test_rerun_makes_no_calls_nor_versions_and_regenerate_all_makes_new_versions(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    objs = make_chain(engine, org, 4)
    ids = [o.id for o in objs]

    def job(**options: Any) -> UUID:
        created = create_job(engine, org, ids, **options)
        assert run_job(created).is_completed()
        return created

    job(concurrency=2)
    calls = len(fake_openai.completions)
    assert calls == 24
    # same inputs, skip_existing: every object skipped, no call
    skipped = job(skip_existing=True)
    assert len(fake_openai.completions) == calls
    row = job_row(engine, skipped)
    assert (row.processed_objects, row.skipped_objects, row.total_tokens_used) == (4, 4, 0)
    # same inputs without skip_existing: the layer cache answers, no call, and the result
    # equals the current documentation, so no new version (issue 14, item 10)
    cached = job()
    assert len(fake_openai.completions) == calls
    assert job_row(engine, cached).total_tokens_used == 0
    assert version_counts(engine, ids) == {(1, 1)}
    # regenerate_all: calls again; new text makes one more version, one current row each
    fake_openai.text_for = lambda label, index: f"{label}: regenerated sentence {index}."
    job(regenerate_all=True)
    assert len(fake_openai.completions) == calls + 24
    assert version_counts(engine, ids) == {(2, 1)}


def version_counts(engine: Engine, ids: list[UUID]) -> set[tuple[int, int]]:
    """{(versions, current versions)} over the objects."""
    with transaction(engine) as conn:
        counts = conn.execute(
            sa.text(
                "SELECT object_id, count(*) AS versions, count(*) FILTER (WHERE is_current) AS cur"
                " FROM metadata.object_documentation WHERE object_id = ANY(:ids)"
                " GROUP BY object_id"
            ),
            {"ids": ids},
        ).all()
    return {(c.versions, c.cur) for c in counts}


def test_client_limiter_keeps_within_the_servers_limits(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    # 22 objects x 6 calls = 132 requests against a server allowing 120 a minute: the
    # limiter (same setting) lets a minute's allowance through, then spaces the last 12 at
    # 2/s; no request is refused and no object fails, even with 8 objects at once
    use_openai(engine, org, fake_openai, requests_per_minute=120)
    fake_openai.set_limits(rpm=120)
    objs = [make_chain(engine, org, 1)[0].id for _ in range(22)]
    job_id = create_job(engine, org, objs, concurrency=8)
    started = time.monotonic()
    state = run_job(job_id)
    elapsed = time.monotonic() - started
    assert state.is_completed()
    job = job_row(engine, job_id)
    assert (job.status, job.processed_objects, job.failed_objects) == ("completed", 22, 0)
    assert fake_openai.rejected == 0
    assert len(fake_openai.completions) == 132
    assert elapsed >= 5.0, "the last 12 requests had to wait for the refill"


def test_progress_artifact_follows_the_job(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    use_openai(engine, org, fake_openai)
    job_id, _ = new_job(engine, org, 3, chain=True)
    run_job(job_id)
    flow_run_id = job_row(engine, job_id).prefect_flow_run_id

    async def read() -> list[Any]:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )

    artifacts = asyncio.run(read())
    progress = [a for a in artifacts if a.type == "progress"]
    assert progress and progress[0].data == 100.0


def test_artifacts_per_object_and_job_summary(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactCollectionFilter,
        ArtifactCollectionFilterKey,
    )

    from tasks.artifacts import job_artifact_key, object_artifact_key

    use_openai(engine, org, fake_openai)
    objs = make_chain(engine, org, 2)
    job_id = create_job(engine, org, [o.id for o in objs])
    assert run_job(job_id).is_completed()

    async def latest(key: str) -> Any:
        async with get_client() as client:
            return await client.read_latest_artifacts(
                artifact_filter=ArtifactCollectionFilter(
                    key=ArtifactCollectionFilterKey(any_=[key])
                )
            )

    async def run_name(flow_run_id: Any) -> str:
        async with get_client() as client:
            return (await client.read_flow_run(flow_run_id)).name

    for obj in objs:
        found = asyncio.run(latest(object_artifact_key(obj)))
        assert found and found[0].type == "markdown"
        assert obj.name.replace("_", "\\_") in found[0].data  # Markdown-escaped name
        # posted in the background by the job run, yet shown on the object's own subflow
        assert found[0].flow_run_id is not None
        assert asyncio.run(run_name(found[0].flow_run_id)) == obj.name
    table = asyncio.run(latest(job_artifact_key(job_id)))
    assert table and table[0].type == "table"
    assert "executive_summary" in json.dumps(table[0].data)


def test_the_run_owns_its_runtime(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    """No process-wide registry: a runtime is found only inside the run that made it
    current, and each run has its own rate limiter, shared by the objects of the run."""
    from flows.runtime import build_runtime, running, runtime_for, runtime_if_any

    use_openai(engine, org, fake_openai, requests_per_minute=60)
    job_id, _ = new_job(engine, org, 1, chain=True)
    first = build_runtime(job_id, "runner-a", engine)
    second = build_runtime(job_id, "runner-b", engine)
    assert first.service.rate_limiter is not second.service.rate_limiter
    assert runtime_if_any(job_id) is None
    with running(first):
        assert runtime_for(job_id) is first
        with running(second):
            assert runtime_for(job_id) is second
        assert runtime_if_any(job_id) is first
    assert runtime_if_any(job_id) is None


def test_a_job_waiting_for_its_batch_is_left_waiting(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    """flows/batch.py set the job waiting_for_batch and returned "waiting_for_batch": the
    run ends Completed, saying so, and leaves the job's status alone."""
    from flows.job_finish import WAITING_FOR_BATCH, finish
    from flows.runtime import build_runtime

    use_openai(engine, org, fake_openai)
    job_id, _ = new_job(engine, org, 2, chain=True)
    with transaction(engine) as conn:
        jobs_repo.update_job_status(conn, job_id, "processing")
    runtime = build_runtime(job_id, "runner", engine)
    state = finish(runtime, WAITING_FOR_BATCH)
    assert state.is_completed()
    assert f"job {job_id} waits for batch" in str(state.message)
    assert state.data.stopped_because == WAITING_FOR_BATCH
    assert job_row(engine, job_id).status == "processing"  # untouched


def test_each_object_is_claimed_and_read_in_one_transaction(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    """The scheduler claims an object and reads its context in the claim's transaction,
    and hands both to the subflow: the subflow neither claims nor checks the claim again
    (one database round trip fewer per object)."""
    use_openai(engine, org, fake_openai)
    job_id, _ = new_job(engine, org, 3, chain=True)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", seen)
    try:
        assert run_job(job_id).is_completed()
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", seen)
    claims = [s for s in statements if "SET status = 'processing'" in s]
    checks = [s for s in statements if s.startswith("SELECT 1 FROM metadata.documentation_job")]
    assert len(claims) == 3 and not checks
    assert job_row(engine, job_id).processed_objects == 3
