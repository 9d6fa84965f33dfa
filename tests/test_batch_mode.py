"""Jobs in batch mode (`mode: batch`): one Batch API batch instead of synchronous calls,
against the fake server's files and batches endpoints, through real flows."""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy.engine import Engine

from docgen import batch_jobs
from docgen.db import logs
from docgen.db.engine import transaction
from docgen.errors import InvalidInput
from docgen.layers import LAYER_NAMES
from docgen.pricing import Usage, load_pricing
from tests.conftest import OrgFixture, use_openai
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

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("fast_batch_polling")]


def job_batch(engine: Engine, job_id: UUID) -> batch_jobs.JobBatch | None:
    with transaction(engine) as conn:
        return batch_jobs.get_job_batch(conn, job_id)


def batch_cost(records: list[Any]) -> Decimal:
    pricing = load_pricing()
    return sum(
        (
            pricing.cost(
                "gpt-4o@batch",
                Usage(
                    r.usage["prompt_tokens"], r.usage["completion_tokens"], r.usage["cached_tokens"]
                ),
            )
            for r in records
        ),
        Decimal(0),
    )


def test_a_batch_job_makes_no_synchronous_call_and_costs_half(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    ids = independent_objects(engine, org, 4)
    sync_estimate = create_job(engine, org, ids)
    job_id = create_job(engine, org, ids, mode="batch", concurrency=2)
    # the estimate is at the batch price
    assert job_row(engine, job_id).estimated_cost * 2 == pytest.approx(
        job_row(engine, sync_estimate).estimated_cost, rel=Decimal("0.001")
    )
    state = run_job(job_id)
    assert state.is_completed(), state.message
    assert fake_openai.completions == []  # 0 synchronous chat.completions
    assert fake_openai.batches.created == 1
    assert len(fake_openai.batch_requests) == 6 * len(ids)
    assert_exactly_once(engine, job_id, ids)
    job = job_row(engine, job_id)
    # costs are stored per object with 6 decimals
    assert abs(job.actual_cost - batch_cost(fake_openai.batch_requests)) <= Decimal("1e-6") * 4
    full = load_pricing().cost("gpt-4o", Usage(job.prompt_tokens_used, job.completion_tokens_used))
    assert job.actual_cost < full * Decimal("0.51")
    batch = job_batch(engine, job_id)
    assert batch is not None and batch.phase == "answered"
    assert batch.request_counts == {"total": 24, "completed": 24, "failed": 0}
    with transaction(engine) as conn:
        rows = logs.logs_for(conn, object_id=ids[0])
    assert sorted(r["layer"] for r in rows) == sorted(LAYER_NAMES)  # per-layer logs kept
    # each line's body is exactly the synchronous request
    line = fake_openai.batch_requests[0].body
    assert line["response_format"]["json_schema"]["strict"] is True
    assert "max_completion_tokens" in line and "messages" in line


def test_failed_lines_are_asked_synchronously(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    job_id, ids = new_job(engine, org, 2, mode="batch")
    fake_openai.batches.fail_ids = {f"{ids[1]}:business_rules", f"{ids[0]}:executive_summary"}
    state = run_job(job_id)
    assert state.is_completed(), state.message
    assert sorted(r.requested_key or "" for r in fake_openai.completions) == [
        "businessRules",
        "executiveSummary",
    ]
    assert_exactly_once(engine, job_id, ids)


def test_kill_while_waiting_then_resume_reattaches(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    from prefect.settings import PREFECT_API_URL

    use_openai(engine, org, fake_openai)
    fake_openai.batches.delay = 3600.0  # the batch will not finish while the first run lives
    job_id, ids = new_job(engine, org, 3, mode="batch")
    child_env = cli_env(
        env, PREFECT_API_URL=str(PREFECT_API_URL.value()), DOCGEN_BATCH_POLL_SECONDS="0.05"
    )
    child = start_cli("jobs", "run", str(job_id), env=child_env)
    try:
        wait_for(lambda: (b := job_batch(engine, job_id)) is not None and b.batch_id, 120)
        wait_for(lambda: len(fake_openai.batches.batches) == 1, 10)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    waiting = job_batch(engine, job_id)
    assert waiting is not None and waiting.phase == "waiting_for_batch"
    assert job_row(engine, job_id).processed_objects == 0
    fake_openai.batches.delay = 0.0
    state = run_job(job_id)
    assert state.is_completed(), state.message
    assert fake_openai.batches.created == 1  # reattached, never submitted twice
    assert job_batch(engine, job_id).batch_id == waiting.batch_id  # type: ignore[union-attr]
    assert fake_openai.completions == []
    assert_exactly_once(engine, job_id, ids)


def test_cancel_cancels_the_batch(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    from docgen import jobs as core_jobs

    use_openai(engine, org, fake_openai)
    fake_openai.batches.delay = 3600.0
    job_id, ids = new_job(engine, org, 2, mode="batch")
    thread, box = start_in_thread(job_id)
    wait_for(lambda: (b := job_batch(engine, job_id)) is not None and b.batch_id, 60)
    core_jobs.cancel_job(engine, job_id)
    thread.join(60)
    assert not thread.is_alive()
    assert job_row(engine, job_id).status == "cancelled"
    assert fake_openai.batches.cancelled == 1
    batch = job_batch(engine, job_id)
    assert batch is not None and batch.phase == "cancelled"
    assert fake_openai.completions == [] and box["state"] is not None


def test_batch_mode_refuses_the_offline_analyser(engine: Engine, org: OrgFixture) -> None:
    from docgen.db import orgs

    with transaction(engine) as conn:
        orgs.set_provider(conn, org.id, "offline")
    ids = independent_objects(engine, org, 1)
    with pytest.raises(InvalidInput, match="--mode batch needs provider openai or azure"):
        create_job(engine, org, ids, mode="batch")


def test_nightly_defaults_to_batch_in_waves_along_the_lineage(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    """The nightly job is a batch job. b reads a, and both changed: a (and the lone model)
    go in the first batch, b in a second one once a's new summary is stored, so b's prompt
    holds it - and no call is synchronous."""
    import sqlalchemy as sa

    from flows.nightly import nightly_redocumentation
    from tests.factories import make_chain, make_object

    use_openai(engine, org, fake_openai)
    chain = make_chain(engine, org, 2)  # a -> b
    lone = make_object(engine, org, "lone_model")
    ids = [o.id for o in [*chain, lone]]
    run_job(create_job(engine, org, ids))
    a_summary_before = _summary(engine, chain[0].id)
    fake_openai.reset()
    with transaction(engine) as conn:
        conn.execute(
            sa.text(
                "UPDATE metadata.objects SET code = code || ' and amount < 1000000',"
                " content_hash = 'changed' WHERE id = ANY(:i)"
            ),
            {"i": [chain[0].id, lone.id]},
        )
    (result,) = asyncio.run(nightly_redocumentation(organization=org.name))
    assert result.stale_objects == 3 and result.status == "completed"
    assert fake_openai.completions == []
    assert fake_openai.batches.created == 2 and len(fake_openai.batch_requests) == 18
    a_summary = _summary(engine, chain[0].id)
    assert a_summary != a_summary_before
    b_prompts = [
        r.body["messages"][1]["content"]
        for r in fake_openai.batch_requests
        if f"Name: {chain[1].name}" in r.body["messages"][1]["content"]
    ]
    assert len(b_prompts) == 6 and all(a_summary in p for p in b_prompts)


def _summary(engine: Engine, object_id: UUID) -> str:
    import sqlalchemy as sa

    with transaction(engine) as conn:
        return str(
            conn.execute(
                sa.text(
                    "SELECT executive_summary FROM metadata.object_documentation"
                    " WHERE object_id = :i AND is_current"
                ),
                {"i": object_id},
            ).scalar_one()
        )


def test_cli_mode_batch_and_status_shows_the_batch(  # type: ignore[no-untyped-def]
    cli,
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    import json

    use_openai(engine, org, fake_openai)
    (object_id,) = independent_objects(engine, org, 1)
    args = ("jobs", "create", "--org", org.name, "--user", org.admin_email)
    created = cli(*args, "--object", str(object_id), "--mode", "batch")
    assert created.returncode == 0, created.stderr
    job_id = UUID(created.stdout.strip().splitlines()[-1])
    assert run_job(job_id).is_completed()
    shown = cli("jobs", "status", str(job_id), "--json")
    batch = json.loads(shown.stdout)["batch"]
    assert batch["phase"] == "answered" and batch["batch_id"].startswith("batch_")
    assert batch["request_counts"] == {"total": 6, "completed": 6, "failed": 0}
    text = cli("jobs", "status", str(job_id))
    assert f"batch     answered {batch['batch_id']}: completed, 6/6" in text.stdout
    wrong = cli(*args, "--object", str(object_id), "--mode", "fast")
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1
    assert "mode" in wrong.stderr


def test_azure_batch_job(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    from tests.test_azure_provider import use_azure

    use_azure(engine, org, fake_openai)
    job_id, ids = new_job(engine, org, 2, mode="batch")
    assert run_job(job_id).is_completed()
    assert fake_openai.completions == [] and fake_openai.batches.created == 1
    lines = fake_openai.batch_requests
    assert len(lines) == 12 and {r.body["model"] for r in lines} == {"docgen-gpt4o"}
    assert_exactly_once(engine, job_id, ids)
