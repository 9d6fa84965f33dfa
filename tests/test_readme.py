"""The README's "Your own project" and "Running it with Prefect" blocks, run verbatim by bash
as a new user would: a fresh HOME, an empty PostgreSQL database of their own, an
OpenAI-compatible endpoint (the fake server, through the SDK's OPENAI_BASE_URL), the example
dbt project; then a Prefect server started by the block, a process worker and
`prefect deployment run`. Only the variables the README asks for are set.

Slow (a few minutes): one test, sharing the session's PostgreSQL and fake OpenAI server.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from deployments.local_server import free_port
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import create_engine, transaction, with_database
from tests.conftest import REPO_ROOT, create_database, drop_database
from tests.fake_openai import FakeOpenAI

README = REPO_ROOT / "README.md"
UUID_LINE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.M)
#: objects of examples/jaffle_shop, and the LLM calls it takes to document them
OBJECTS = 17
CALLS = OBJECTS * 6


def readme_blocks(section: str) -> list[str]:
    """The ```bash blocks of one `## section` of the README, in order."""
    text = README.read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", body, re.S)
    assert blocks, f"no bash block under '## {section}'"
    return blocks


def user_environment(home: Path, **values: str) -> dict[str, str]:
    """A new user's environment: nothing of docgen, Prefect or OpenAI but what is given."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DOCGEN_", "PREFECT_", "OPENAI_")) and k != "VIRTUAL_ENV"
    }
    return {**keep, "HOME": str(home), "DO_NOT_TRACK": "1", **values}


def run_block(
    block: str, env: dict[str, str], log: Path, timeout: float, sessions: list[int]
) -> tuple[int, str]:
    """bash -e on the block, in the checkout, in a session of its own (so whatever it leaves
    in the background can be stopped); output to a file, since a background worker keeps
    pipes open."""
    with open(log, "w") as handle:
        process = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-x", "-c", block],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sessions.append(process.pid)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(
                f"block still running after {timeout}s:\n{log.read_text()[-5000:]}"
            ) from None
    return code, log.read_text()


def stop_session(pid: int, grace: float = 20) -> None:
    """SIGTERM to what a block left running (its worker), SIGKILL after `grace` seconds."""
    deadline = time.monotonic() + grace
    sent = signal.SIGTERM
    while True:
        try:
            os.killpg(pid, sent)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            sent = signal.SIGKILL
        time.sleep(0.5)


def prefect_rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.timeout(1800)
def test_readme_blocks_run_verbatim(
    pg_admin_url: str, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    database_url = create_database(pg_admin_url, "readme")
    database = make_url(database_url).database
    prefect_url = with_database(database_url, f"{database}_prefect")
    home = tmp_path / "home"
    home.mkdir()
    project = tmp_path / "jaffle_shop"
    shutil.copytree(REPO_ROOT / "examples" / "jaffle_shop", project)
    env = user_environment(
        home,
        DOCGEN_DATABASE_URL=database_url,
        DBT_PROJECT=str(project),
        OPENAI_API_KEY=f"sk-readme-{uuid.uuid4().hex}",
        OPENAI_BASE_URL=fake_openai.base_url,
        PREFECT_SERVER_API_PORT=str(free_port()),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    engine = create_engine(database_url)
    sessions: list[int] = []
    try:
        # --- "Your own project" -------------------------------------------------------
        (own,) = readme_blocks("Your own project")
        code, output = run_block(own, env, tmp_path / "own-project.log", 900, sessions)
        assert code == 0, output[-6000:]
        assert "Traceback" not in output, output[-6000:]
        assert len(UUID_LINE.findall(output)) >= 2  # the organization and user ids
        key_file = home / ".docgen-master-key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert (home / "acme-docs" / "index.html").is_file()
        with transaction(engine) as conn:
            organization = orgs.get_organization(conn, "acme")
            (job,) = jobs_repo.list_jobs(conn, organization.id)
        assert (job.status, job.processed_objects, job.failed_objects) == (
            "completed",
            OBJECTS,
            0,
        )
        assert job.api_provider == "openai" and job.actual_cost > 0
        assert len(fake_openai.completions) == CALLS
        assert all(
            r.headers.get("authorization") == f"Bearer {env['OPENAI_API_KEY']}"
            for r in fake_openai.completions
        )
        # `docgen run` started Prefect itself, on PostgreSQL: DB_prefect holds its flow run
        assert job.prefect_flow_run_id is not None
        assert prefect_rows(
            prefect_url, f"SELECT 1 FROM flow_run WHERE id = '{job.prefect_flow_run_id}'"
        ) == [(1,)]

        # --- "Running it with Prefect" ------------------------------------------------
        (with_prefect,) = readme_blocks("Running it with Prefect")
        log = tmp_path / "with-prefect.log"
        code, output = run_block(with_prefect, env, log, 1200, sessions)
        assert code == 0, output[-6000:]
        assert output.count("Flow run finished successfully in 'Completed'") == 3, output[-6000:]
        with transaction(engine) as conn:
            jobs = sorted(jobs_repo.list_jobs(conn, organization.id), key=lambda j: j.created_at)
        on_demand, existing = jobs[-2:]  # the form's job (all objects), then `jobs create`'s
        for done, total in ((on_demand, OBJECTS), (existing, 1)):  # fct_* is fct_orders
            assert (done.status, done.processed_objects, done.failed_objects) == (
                "completed",
                total,
                0,
            )
            assert done.prefect_flow_run_id is not None
        # regenerate_all: every layer again
        assert len(fake_openai.completions) == CALLS + (OBJECTS + 1) * 6
        deployments = prefect_rows(prefect_url, "SELECT name FROM deployment")
        assert sorted(r[0] for r in deployments) == [
            "existing-job",
            "nightly",
            "on-demand",
            "on-demand",
            "poll",
        ]
        for done, deployment in ((on_demand, "on-demand"), (existing, "existing-job")):
            (flow_run,) = prefect_rows(
                prefect_url,
                "SELECT f.state_type, d.name FROM flow_run f JOIN deployment d"
                f" ON d.id = f.deployment_id WHERE f.id = '{done.prefect_flow_run_id}'",
            )
            assert flow_run == ("COMPLETED", deployment)  # the deployment's run, by the worker
    finally:
        for pid in sessions:  # the worker first, while its server still answers
            stop_session(pid)
        subprocess.run(
            ["bash", "-c", "source .venv/bin/activate && prefect server stop"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        engine.dispose()
        drop_database(pg_admin_url, database_url)
        drop_database(pg_admin_url, prefect_url)
