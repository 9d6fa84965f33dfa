"""Fault and security suite: fault storms lose no object, a PostgreSQL restart mid-job leaves
nothing half-stored, a planted API key appears nowhere, organizations stay apart."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen import jobs as core_jobs
from docgen.db import embedded, migrate
from docgen.db import jobs as jobs_repo
from docgen.db.engine import create_engine, dispose_all, transaction
from docgen.errors import PermissionDenied
from tests.conftest import OrgFixture, make_org, run_cli, use_openai
from tests.crypto_probe import find_in_database
from tests.factories import cli_env, create_job, job_row, make_object, new_job, run_job, start_cli
from tests.fake_openai import FakeOpenAI, Fault

pytestmark = pytest.mark.prefect


def accounted(engine: Engine, job_id: UUID) -> dict[str, int]:
    """Job-object states, and a check that counters match what is stored."""
    with transaction(engine) as conn:
        states: dict[str, int] = {}
        for item in jobs_repo.job_objects(conn, job_id):
            states[item.status] = states.get(item.status, 0) + 1
        stored = conn.execute(
            sa.text("SELECT count(*) FROM metadata.object_documentation WHERE job_id = :j"),
            {"j": job_id},
        ).scalar_one()
        orphans = conn.execute(
            sa.text(
                "SELECT count(*) FROM metadata.documentation_generation_logs l"
                " WHERE l.job_id = :j AND l.documentation_id IS NULL AND NOT EXISTS ("
                "  SELECT 1 FROM metadata.documentation_job_objects o WHERE o.job_id = l.job_id"
                "  AND o.object_id = l.object_id AND o.status = 'failed')"
            ),
            {"j": job_id},
        ).scalar_one()
        per_doc = conn.execute(
            sa.text(
                "SELECT count(*) FROM metadata.documentation_generation_logs l"
                " JOIN metadata.object_documentation d ON d.id = l.documentation_id"
                " WHERE d.job_id = :j GROUP BY d.id HAVING count(*) <> 6"
            ),
            {"j": job_id},
        ).all()
    job = job_row(engine, job_id)
    assert stored == states.get("documented", 0), "a stored version for every documented object"
    assert orphans == 0 and per_doc == [], "no log rows without their object's outcome"
    assert job.processed_objects == sum(
        states.get(s, 0) for s in ("documented", "failed", "skipped")
    )
    assert job.failed_objects == states.get("failed", 0)
    return states


def test_fault_storm_loses_no_object(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCGEN_LLM_REQUEST_TIMEOUT", "1")
    use_openai(engine, org, fake_openai)
    chance = random.Random(20261124)
    lock = threading.Lock()

    def draw(body: dict[str, Any]) -> bool:
        with lock:
            return chance.random() < 0.05

    # six fault kinds, each on ~5% of requests: about a quarter of all calls go wrong
    for kind in (
        Fault.rate_limit(retry_after=0.05),
        Fault.server_error(),
        Fault.timeout(1.5),
        Fault.broken_json(),
        Fault.length(),
        Fault.schema_violation(),
    ):
        fake_openai.add_rule(draw, kind)
    job_id, _ = new_job(engine, org, 16, concurrency=4, max_retries=4)
    run_job(job_id)
    done = job_row(engine, job_id)
    states = accounted(engine, job_id)
    faults = sum(1 for r in fake_openai.requests if r.fault)
    assert faults >= 10, "the storm happened"
    assert done.status == "completed" and done.processed_objects == 16
    assert states.get("pending", 0) == 0 and states.get("processing", 0) == 0


@pytest.mark.slow
def test_postgres_restart_mid_job_leaves_nothing_half_stored(
    org: OrgFixture,
    fake_openai: FakeOpenAI,
    prefect_harness: str,
    tmp_path: Path,
    master_key_b64: str,
) -> None:
    """docgen's own database on a separate embedded server that the test restarts."""
    home = tmp_path / "restart-home"
    url = embedded.start(home)
    engine = create_engine(url)
    migrate.upgrade(engine)
    env = {
        "DOCGEN_DATABASE_URL": url,
        "DOCGEN_MASTER_KEY": master_key_b64,
        "DOCGEN_HOME": str(home),
        "PREFECT_API_URL": prefect_harness,
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        local = make_org(engine, "restart")
        use_openai(engine, local, fake_openai)
        fake_openai.latency = 0.05
        job_id, _ = new_job(engine, local, 10, concurrency=2)
        child_env = cli_env(env)
        child = start_cli(
            "jobs", "run", str(job_id), env=child_env, stdout=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 120
        while job_row(engine, job_id).processed_objects < 2:
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.05)
        embedded.stop(home)  # the server goes away with objects in flight ...
        time.sleep(1.0)
        embedded.start(home)  # ... and comes back
        dispose_all()
        engine.dispose()
        child.communicate(timeout=300)
        states = accounted(engine, job_id)  # whatever happened, nothing is half-stored
        first = job_row(engine, job_id)
        assert first.status != "completed" or first.processed_objects == 10
        if first.status != "completed":  # the run failed cleanly; running it again finishes
            rerun = run_cli("jobs", "run", str(job_id), env=child_env)
            assert rerun.returncode == 0, rerun.stderr[-2000:]
        states = accounted(engine, job_id)
        assert states == {"documented": 10}
        assert job_row(engine, job_id).status == "completed"
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        engine.dispose()
        dispose_all()
        embedded.stop(home)


PLANTED = "sk-planted-" + "Vq3" * 14


def test_planted_key_appears_nowhere(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: str,
    database_url: str,
    tmp_path: Path,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    use_openai(engine, org, fake_openai, api_key=PLANTED)
    ids = [make_object(engine, org).id for _ in range(3)]
    # the server echoes the key back in 401 bodies: on a non-critical layer of every object
    fake_openai.add_rule(lambda b: "Fill businessRules only" in json.dumps(b), Fault.auth())
    job_id = create_job(engine, org, ids)
    run = run_cli(
        "jobs", "run", str(job_id), "--verbose", env={**env, "PREFECT_API_URL": prefect_harness}
    )
    status = run_cli("jobs", "status", str(job_id), "--json", env=env)
    exports = []
    for fmt in ("html", "markdown"):
        out = tmp_path / fmt
        exported = run_cli("export", "--org", org.name, "--format", fmt, "--out", str(out), env=env)
        assert exported.returncode == 0, exported.stderr
        exports += [p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()]
    assert any(r.status == 401 for r in fake_openai.requests), "the key was refused and echoed"
    assert any(PLANTED in str(r.headers) for r in fake_openai.requests), "it was really sent"
    flow_run_id = job_row(engine, job_id).prefect_flow_run_id

    async def prefect_side() -> str:
        async with get_client() as client:
            runs = await client.read_flow_runs()
            ids_ = [r.id for r in runs if r.id == flow_run_id or r.parent_task_run_id]
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids_))
            )
            artifacts = await client.read_artifacts()
            return json.dumps([log.message for log in logs]) + json.dumps(
                [str(a.data) + str(a.description) for a in artifacts]
            )

    prefect_text = asyncio.run(prefect_side())
    assert "refused the API key" in prefect_text or "refused the API key" in run.stdout + run.stderr
    for where, text in [
        ("CLI run", run.stdout + run.stderr),
        ("CLI status", status.stdout + status.stderr),
        ("exports", "".join(exports)),
        ("Prefect logs and artifacts", prefect_text),
    ]:
        assert PLANTED not in text, where
    assert find_in_database(database_url, PLANTED) == []


def test_organizations_stay_apart(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    from docgen.db import orgs

    other = make_org(engine, "other")
    use_openai(engine, other, fake_openai)  # B has a key; A has the openai provider, no key
    with transaction(engine) as conn:
        orgs.set_provider(conn, org.id, "openai", base_url=fake_openai.base_url)
    theirs = make_object(engine, other)
    mine = make_object(engine, org)
    with pytest.raises(PermissionDenied):
        core_jobs.create_job(engine, org.id, [theirs.id], triggered_by_user_id=org.admin_id)
    with pytest.raises(PermissionDenied):  # B's admin is nobody in A
        core_jobs.create_job(engine, org.id, [mine.id], triggered_by_user_id=other.admin_id)
    job_id = create_job(engine, org, [mine.id])
    state = run_job(job_id)
    assert state.is_failed()
    assert "No OpenAI API key configured for organization" in json.dumps(
        job_row(engine, job_id).error_log
    )
    assert fake_openai.completions == [], "A never borrows B's key"


def test_non_admin_cannot_start_a_job_from_the_form(
    engine: Engine, org: OrgFixture, env: dict[str, str], prefect_harness: None
) -> None:
    from flows.documentation_job import new_documentation_job
    from flows.forms import AllObjects

    make_object(engine, org)
    state = asyncio.run(
        new_documentation_job(
            organization=org.name,
            selection=AllObjects(all=True),
            triggered_by=org.member_email,
            return_state=True,
        )
    )
    assert state.is_failed() and "not an admin" in (state.message or "")
    assert (state.message or "").startswith("triggered_by: ")
    with transaction(engine) as conn:
        assert jobs_repo.list_jobs(conn, org.id) == []
