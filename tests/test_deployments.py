"""Deployments as users run them: prefect.yaml entrypoints, `prefect deploy --all`, process
workers on one pool, `prefect deployment run`, and `docgen serve`."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
import yaml
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema
from sqlalchemy.engine import Engine

from docgen import jobs as core_jobs
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import transaction
from docgen.jobs import JobOptions
from tests.conftest import REPO_ROOT, OrgFixture, use_openai
from tests.factories import make_object
from tests.fake_openai import FakeOpenAI

PREFECT_YAML = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
DEPLOYMENTS = PREFECT_YAML["deployments"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_entrypoints_load_and_parameters_match(deployment: dict[str, Any]) -> None:
    flow = load_flow_from_entrypoint(str(REPO_ROOT / deployment["entrypoint"]))
    signature = inspect.signature(flow.fn)
    assert set(deployment.get("parameters") or {}) <= set(signature.parameters)
    schema = parameter_schema(flow.fn)  # what the Prefect UI renders as the run form
    assert set(schema.properties) == set(signature.parameters)
    assert deployment["work_pool"]["name"] == "docgen"


def openapi_schema(entrypoint: str) -> dict[str, Any]:
    flow = load_flow_from_entrypoint(str(REPO_ROOT / entrypoint))
    return parameter_schema(flow.fn).model_dump_for_openapi()


def test_on_demand_form_requires_what_a_job_needs() -> None:
    schema = openapi_schema("flows/documentation_job.py:new_documentation_job")
    props = schema["properties"]
    assert list(props) == ["organization", "selection", "triggered_by", "options"]
    assert schema["required"] == ["organization", "selection", "triggered_by"]
    for name, prop in props.items():
        assert prop.get("description"), f"{name} has no description"
        assert "`" not in prop["description"], name
    assert props["organization"]["minLength"] == 1 and props["triggered_by"]["minLength"] == 1
    definitions = schema["definitions"]
    shapes = [definitions[ref["$ref"].rsplit("/", 1)[1]] for ref in props["selection"]["anyOf"]]
    assert [s["title"] for s in shapes] == ["Objects by name", "Objects by id", "Every object"]
    assert [s["required"] for s in shapes] == [["select"], ["object_ids"], ["all"]]
    assert shapes[0]["properties"]["select"]["minItems"] == 1
    assert shapes[1]["properties"]["object_ids"]["minItems"] == 1
    assert shapes[2]["properties"]["all"]["const"] is True
    assert shapes[2]["properties"]["all"]["default"] is True  # the UI fills it in
    options = props["options"]  # written out, so the Parameters tab shows its type
    assert options["type"] == "object" and "`" not in options["description"]
    assert options["properties"]["max_cost_usd"] == {
        "description": options["properties"]["max_cost_usd"]["description"],
        "exclusiveMinimum": 0,
        "title": "Budget (USD)",
        "type": "number",
    }
    assert props["options"]["default"]["concurrency"] == 1


def test_existing_job_form_is_one_required_id() -> None:
    schema = openapi_schema("flows/documentation_job.py:documentation_job")
    assert schema["required"] == ["job_id"]
    assert schema["properties"]["job_id"]["format"] == "uuid"
    assert schema["properties"]["job_id"]["description"]


def test_nightly_and_ingest_forms_are_described() -> None:
    for entrypoint in ("flows/nightly.py:nightly_redocumentation", "flows/ingest.py:ingest"):
        for name, prop in openapi_schema(entrypoint)["properties"].items():
            assert prop.get("description"), f"{entrypoint} {name}"


def test_every_deployment_enforces_its_form() -> None:
    assert all(d["enforce_parameter_schema"] is True for d in DEPLOYMENTS)
    names = {(d["entrypoint"].rsplit(":", 1)[1], d["name"]) for d in DEPLOYMENTS}
    assert ("new_documentation_job", "on-demand") in names
    assert ("documentation_job", "existing-job") in names


def test_nightly_deployment_is_scheduled() -> None:
    (nightly,) = [d for d in DEPLOYMENTS if d["name"] == "nightly"]
    (schedule,) = nightly["schedules"]
    assert schedule["cron"] and schedule["timezone"]


def test_serve_builds_the_same_deployments(monkeypatch: pytest.MonkeyPatch) -> None:
    from deployments.serve import deployments

    monkeypatch.setenv("DOCGEN_NIGHTLY_TIMEZONE", "Europe/Amsterdam")
    on_demand, nightly, ingest, existing, poller = deployments()
    assert (poller.flow_name, poller.name) == ("batch-poller", "poll")
    assert poller.schedules[0].schedule.interval.total_seconds() == 60
    assert (ingest.flow_name, ingest.name) == ("ingest", "on-demand")
    assert (on_demand.flow_name, on_demand.name) == ("documentation-job", "on-demand")
    assert (existing.flow_name, existing.name) == ("documentation-job", "existing-job")
    assert on_demand._parameter_openapi_schema.required == [
        "organization",
        "selection",
        "triggered_by",
    ]
    assert all(d.enforce_parameter_schema for d in (on_demand, nightly, ingest, existing))
    assert (nightly.flow_name, nightly.name) == ("nightly-redocumentation", "nightly")
    assert nightly.schedules[0].schedule.timezone == "Europe/Amsterdam"


# --- a real server, `prefect deploy`, workers ------------------------------------------------


def prefect_cli(*args: str, env: dict[str, str], timeout: float = 180) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def deployment_names() -> list[str]:
    """FLOW/DEPLOYMENT of every deployment in prefect.yaml."""
    return [
        f"{load_flow_from_entrypoint(str(REPO_ROOT / d['entrypoint'])).name}/{d['name']}"
        for d in DEPLOYMENTS
    ]


def read_deployments(*names: str) -> dict[str, Any]:
    """These deployments as the session's Prefect server has them (None: it has not)."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async def read() -> dict[str, Any]:
        found: dict[str, Any] = {}
        async with get_client() as client:
            for name in names:
                try:
                    found[name] = await client.read_deployment_by_name(name)
                except ObjectNotFound:
                    found[name] = None
        return found

    return asyncio.run(read())


def on_pool(names: list[str], pool: str = "docgen") -> bool:
    """Whether the session's Prefect server has each deployment, on work pool `pool`."""
    found = read_deployments(*names)
    return all(d is not None and d.work_pool_name == pool for d in found.values())


@pytest.fixture
def deployed(prefect_harness: str, env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """prefect.yaml deployed to the session's Prefect server (pool `docgen`): the pool created
    and `prefect deploy --all` run as a user runs them, once, and again whenever a test has
    since removed or replaced a deployment (`docgen serve` registers its own)."""
    child_env = {
        **os.environ,
        **env,
        "PREFECT_API_URL": prefect_harness,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    names = deployment_names()
    if not on_pool(names):
        existing = subprocess.run(
            [sys.executable, "-m", "prefect", "work-pool", "inspect", "docgen"],
            env=child_env,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        if existing.returncode != 0:
            prefect_cli("work-pool", "create", "docgen", "--type", "process", env=child_env)
        prefect_cli("--no-prompt", "deploy", "--all", env=child_env)
    assert on_pool(names)
    yield child_env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = open(log, "w")  # noqa: SIM115 - owned by the worker process
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", "docgen", "--limit", "1"],
        cwd=REPO_ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    handle.close()
    return worker


def wait_job(engine: Engine, job_id: UUID, logs: list[Path], timeout: float = 240) -> jobs_repo.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with transaction(engine) as conn:
            job = jobs_repo.get_job(conn, job_id)
        if job.status in ("completed", "failed", "cancelled", "paused"):
            return job
        time.sleep(0.5)
    tails = "\n".join(p.read_text()[-3000:] for p in logs if p.exists())
    raise AssertionError(f"job still {job.status} after {timeout}s; worker logs:\n{tails}")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def save_secret(name: str, value: str) -> None:
    from prefect.blocks.system import Secret

    Secret(value=value).save(name, overwrite=True)


@pytest.mark.slow
@pytest.mark.prefect
def test_deployment_run_drives_a_job_to_completed_with_secrets_from_blocks(
    deployed: dict[str, str],
    engine: Engine,
    org: OrgFixture,
    fake_openai: FakeOpenAI,
    tmp_path: Path,
) -> None:
    """The worker's environment holds only the names of Secret blocks: the flow run finds
    the database and decrypts the organization's key with the master key from its block."""
    use_openai(engine, org, fake_openai)
    ids = [make_object(engine, org).id for _ in range(3)]
    job = core_jobs.create_job(
        engine, org.id, ids, JobOptions(concurrency=2), triggered_by_user_id=org.admin_id
    )
    save_secret("docgen-test-database-url", deployed["DOCGEN_DATABASE_URL"])
    save_secret("docgen-test-master-key", deployed["DOCGEN_MASTER_KEY"])
    worker_env = {
        k: v for k, v in deployed.items() if k not in ("DOCGEN_DATABASE_URL", "DOCGEN_MASTER_KEY")
    }
    worker_env["DOCGEN_DATABASE_URL_SECRET_BLOCK"] = "docgen-test-database-url"
    worker_env["DOCGEN_MASTER_KEY_SECRET_BLOCK"] = "docgen-test-master-key"
    worker = start_worker(worker_env, tmp_path / "worker.log")
    try:
        prefect_cli(
            "deployment",
            "run",
            "documentation-job/existing-job",
            "--param",
            f"job_id={job.id}",
            env=deployed,
        )
        done = wait_job(engine, job.id, [tmp_path / "worker.log"])
    finally:
        stop([worker])
    assert (done.status, done.processed_objects, done.failed_objects) == ("completed", 3, 0)
    assert done.prefect_flow_run_id is not None
    assert len(fake_openai.completions) == 18


@pytest.mark.slow
@pytest.mark.prefect
def test_ingest_deployment_registers_a_dbt_project_and_documents_it(
    deployed: dict[str, str], engine: Engine, org: OrgFixture, tmp_path: Path
) -> None:
    from tests.test_ingest import DBT_PROJECT, EXPECTED_LINEAGE, lineage, write

    with transaction(engine) as conn:
        orgs.set_provider(conn, org.id, "offline")
    project = write(tmp_path / "shop", DBT_PROJECT)
    worker = start_worker(deployed, tmp_path / "worker.log")
    try:
        prefect_cli(
            "deployment",
            "run",
            "ingest/on-demand",
            "--param",
            f"organization={org.name}",
            "--param",
            "kind=dbt",
            "--param",
            f"source={project}",
            "--param",
            "document_changes=true",
            "--watch",
            env=deployed,
            timeout=300,
        )
    finally:
        stop([worker])
    assert lineage(engine, org) == EXPECTED_LINEAGE
    with transaction(engine) as conn:
        (job,) = jobs_repo.list_jobs(conn, org.id)
        current = conn.execute(
            sa.text(
                "SELECT count(*) FROM metadata.object_documentation"
                " WHERE organization_id = :o AND is_current"
            ),
            {"o": org.id},
        ).scalar_one()
    assert (job.status, job.processed_objects, job.failed_objects) == ("completed", 8, 0)
    assert current == 8


@pytest.mark.prefect
def test_ingest_flow_refuses_a_password_in_its_parameters(
    prefect_harness: str, env: dict[str, str], org: OrgFixture
) -> None:
    import asyncio

    from docgen.errors import SourceError
    from flows.ingest import ingest

    state = asyncio.run(
        ingest(
            organization=org.name,
            kind="postgres",
            source="postgresql://u:hunter2-secret@127.0.0.1/x",
            return_state=True,
        )
    )
    assert state.is_failed()
    with pytest.raises(SourceError, match="without its password") as caught:
        state.result()
    assert "hunter2" not in str(caught.value)


@pytest.mark.prefect
def test_ingest_flow_reads_a_warehouse_url_from_a_secret_block(
    prefect_harness: str, env: dict[str, str], engine: Engine, org: OrgFixture
) -> None:
    import asyncio
    import uuid

    from docgen.errors import InvalidInput
    from flows.ingest import ingest

    schema = f"wh_{uuid.uuid4().hex[:8]}"
    with transaction(engine) as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.t (id int)"))
        conn.execute(sa.text(f"CREATE VIEW {schema}.v AS SELECT id FROM {schema}.t"))
    block = f"docgen-test-warehouse-{schema[3:]}"
    save_secret(block, env["DOCGEN_DATABASE_URL"])
    try:
        report = asyncio.run(
            ingest(
                organization=org.name, kind="postgres", source=f"secret:{block}", schemas=[schema]
            )
        )
        assert (report.added, report.removed) == (2, 0)
        state = asyncio.run(
            ingest(
                organization=org.name,
                kind="postgres",
                source="secret:no-such-block",
                schemas=[schema],
                return_state=True,
            )
        )
        with pytest.raises(InvalidInput, match="Secret block 'no-such-block' not found") as caught:
            state.result()
        assert "\n" not in str(caught.value)
    finally:
        with transaction(engine) as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.mark.slow
@pytest.mark.prefect
def test_two_workers_share_a_job_without_doing_anything_twice(
    deployed: dict[str, str],
    engine: Engine,
    org: OrgFixture,
    fake_openai: FakeOpenAI,
    tmp_path: Path,
) -> None:
    use_openai(engine, org, fake_openai)
    # slow answers until the second worker's run has joined (its process takes seconds to
    # start on a busy machine), then fast ones: no race on who gets there first
    fake_openai.latency = 0.5
    ids = [make_object(engine, org).id for _ in range(16)]
    job = core_jobs.create_job(
        engine,
        org.id,
        ids,
        JobOptions(concurrency=2, extra_runners=1),
        triggered_by_user_id=org.admin_id,
    )
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [start_worker(deployed, log) for log in logs]
    try:
        prefect_cli(
            "deployment",
            "run",
            "documentation-job/existing-job",
            "--param",
            f"job_id={job.id}",
            env=deployed,
        )
        deadline = time.monotonic() + 120
        while len(claimed_pids(engine, job.id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        fake_openai.latency = 0.02
        done = wait_job(engine, job.id, logs)
    finally:
        stop(workers)
    assert (done.status, done.processed_objects, done.failed_objects) == ("completed", 16, 0)
    with transaction(engine) as conn:
        per_object = conn.execute(
            sa.text(
                "SELECT object_id, count(*) FROM metadata.object_documentation WHERE job_id = :j"
                " GROUP BY object_id"
            ),
            {"j": job.id},
        ).all()
    assert sorted(n for _, n in per_object) == [1] * 16  # every object exactly once
    assert len(fake_openai.completions) == 96
    pids = claimed_pids(engine, job.id)
    assert len(pids) == 2, f"both workers' flow runs documented objects: {pids}"


def remove_deployments(*names: str) -> None:
    """Delete these deployments from the session's Prefect server (those that exist)."""
    import asyncio

    from prefect.client.orchestration import get_client

    ids = [d.id for d in read_deployments(*names).values() if d is not None]

    async def remove() -> None:
        async with get_client() as client:
            for deployment_id in ids:
                await client.delete_deployment(deployment_id)

    asyncio.run(remove())


def nightly_crons() -> list[str]:
    """The cron expressions of nightly-redocumentation/nightly's schedules, [] without it."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async def read() -> list[str]:
        async with get_client() as client:
            try:
                found = await client.read_deployment_by_name("nightly-redocumentation/nightly")
            except ObjectNotFound:
                return []
            return [str(getattr(s.schedule, "cron", None)) for s in found.schedules]

    return asyncio.run(read())


def flow_run_name(flow_run_id: UUID | None) -> str:
    import asyncio

    from prefect.client.orchestration import get_client

    async def read() -> str:
        async with get_client() as client:
            return (await client.read_flow_run(flow_run_id)).name  # type: ignore[arg-type]

    return asyncio.run(read())


def claimed_pids(engine: Engine, job_id: UUID) -> set[str]:
    """Process ids of the runners that claimed objects of the job (claimed_by is
    host:pid:flow-run)."""
    with transaction(engine) as conn:
        runners = conn.execute(
            sa.text(
                "SELECT DISTINCT claimed_by FROM metadata.documentation_job_objects"
                " WHERE job_id = :j AND claimed_by IS NOT NULL"
            ),
            {"j": job_id},
        ).scalars()
        return {r.split(":")[1] for r in runners}


@pytest.mark.slow
@pytest.mark.prefect
def test_docgen_serve_runs_the_on_demand_deployment(
    prefect_harness: str,
    env: dict[str, str],
    engine: Engine,
    org: OrgFixture,
    fake_openai: FakeOpenAI,
    tmp_path: Path,
) -> None:
    use_openai(engine, org, fake_openai)
    ids = [make_object(engine, org).id for _ in range(2)]
    job = core_jobs.create_job(engine, org.id, ids, JobOptions(), triggered_by_user_id=org.admin_id)
    child_env = {
        **os.environ,
        **env,
        "PREFECT_API_URL": prefect_harness,
        "DOCGEN_NIGHTLY_CRON": "30 3 * * *",
        "DOCGEN_NIGHTLY_TIMEZONE": "Europe/Paris",
    }
    # a user moving from workers to `docgen serve` removes the pool deployments first
    remove_deployments(
        "documentation-job/on-demand",
        "documentation-job/existing-job",
        "nightly-redocumentation/nightly",
        "ingest/on-demand",
    )
    log = tmp_path / "serve.log"
    with open(log, "w") as handle:
        served = subprocess.Popen(
            [sys.executable, "-m", "docgen", "serve"],
            cwd=REPO_ROOT,
            env=child_env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 90
        while "serving documentation-job" not in log.read_text():
            assert served.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        # serve() (re)registers both deployments right after printing; the nightly schedule
        # it sets shows when that happened
        while nightly_crons() != ["30 3 * * *"]:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        prefect_cli(
            "deployment",
            "run",
            "documentation-job/existing-job",
            "--param",
            f"job_id={job.id}",
            env=child_env,
        )
        done = wait_job(engine, job.id, [log])
        nightly = prefect_cli(
            "deployment", "inspect", "nightly-redocumentation/nightly", env=child_env
        )
    finally:
        stop([served])
    assert (done.status, done.processed_objects) == ("completed", 2)
    assert flow_run_name(done.prefect_flow_run_id) == f"job {job.id}"  # not documentation-job-None
    assert "30 3 * * *" in nightly and "Europe/Paris" in nightly
