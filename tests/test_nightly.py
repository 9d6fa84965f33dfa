"""nightly-redocumentation: nothing changed -> no job, no call; one model changed -> it and
its downstream models, nothing else."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen import nightly
from docgen.db.engine import transaction
from docgen.jobs import JobOptions
from flows.nightly import nightly_redocumentation
from tests.conftest import OrgFixture, use_openai
from tests.factories import create_job, make_chain, make_object, run_job
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.prefect


def stale(engine: Engine, org: OrgFixture) -> list[uuid.UUID]:
    with transaction(engine) as conn:
        return nightly.stale_objects(conn, org.id)


def test_nightly_documents_exactly_what_changed(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    chain = make_chain(engine, org, 3)  # a -> b -> c
    lone = make_object(engine, org, "lone_model")
    everything = [o.id for o in [*chain, lone]]
    assert set(stale(engine, org)) == set(everything)  # never documented

    run_job(create_job(engine, org, everything, concurrency=2))
    assert stale(engine, org) == []

    # nothing changed: no job and no LLM call
    calls = len(fake_openai.completions)
    results = asyncio.run(nightly_redocumentation(organization=org.name))
    assert [(r.stale_objects, r.job_id) for r in results] == [(0, None)]
    assert len(fake_openai.completions) == calls
    with transaction(engine) as conn:
        jobs_count = conn.execute(
            sa.text("SELECT count(*) FROM metadata.documentation_jobs WHERE organization_id = :o"),
            {"o": org.id},
        ).scalar_one()
    assert jobs_count == 1

    # the middle model changes: it and its downstream model are re-documented, nothing else
    with transaction(engine) as conn:
        conn.execute(
            sa.text(
                "UPDATE metadata.objects SET code = code || ' and amount < 1000000',"
                " content_hash = 'changed' WHERE id = :i"
            ),
            {"i": chain[1].id},
        )
    assert set(stale(engine, org)) == {chain[1].id, chain[2].id}
    # sync mode: every call is a chat completion counted below (batch: tests/test_batch_mode)
    (result,) = asyncio.run(
        nightly_redocumentation(organization=org.name, options=JobOptions(mode="sync"))
    )
    assert result.stale_objects == 2 and result.status == "completed"
    new_calls = fake_openai.completions[calls:]
    assert len(new_calls) == 12
    names = {
        json.dumps(r.body["messages"][1]["content"]).split("Name: ")[1].split("\\n")[0]
        for r in new_calls
    }
    assert names == {chain[1].name, chain[2].name}
    with transaction(engine) as conn:
        job = conn.execute(
            sa.text(
                "SELECT j.object_ids, u.email, u.is_system FROM metadata.documentation_jobs j"
                " JOIN enterprise.users u ON u.id = j.triggered_by_user_id WHERE j.id = :j"
            ),
            {"j": result.job_id},
        ).one()
    assert job.object_ids == [chain[1].id, chain[2].id]  # upstream first
    assert job.email == nightly.SYSTEM_USER_EMAIL and job.is_system
    assert stale(engine, org) == []
