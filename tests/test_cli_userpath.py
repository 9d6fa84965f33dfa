"""The CLI as a new user meets it (issue 14): exit codes scripts can rely on, provider
readiness checked before anything starts, names printed as text. Every command runs as a
subprocess; jobs run against the session's Prefect server."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy.engine import Engine

from docgen.crypto import generate_master_key
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import transaction
from tests.conftest import OrgFixture, use_openai
from tests.factories import make_object
from tests.fake_openai import FakeOpenAI, Fault

#: the docstring of docgen.cli._common.ExitCode, as users read it in `--help` and the README
OK, FAILED, USAGE, OBJECTS_FAILED, PAUSED = 0, 1, 2, 3, 4


def one_line_error(result, code: int) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr[-3000:])
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("docgen: error: "), lines[0]
    return lines[0]


def jobs_of(engine: Engine, org: OrgFixture) -> list[jobs_repo.Job]:
    with transaction(engine) as conn:
        return jobs_repo.list_jobs(conn, org.id)


def set_offline(engine: Engine, org: OrgFixture) -> None:
    with transaction(engine) as conn:
        orgs.set_provider(conn, org.id, "offline")


# --- provider readiness: one line with the fix, nothing created, Prefect never started ------


def test_run_without_a_key_fails_at_once_with_the_fix(cli, engine: Engine, org: OrgFixture) -> None:  # type: ignore[no-untyped-def]
    make_object(engine, org)
    for command in ("run", "jobs create"):
        result = cli(*command.split(), "--org", org.name, "--user", org.admin_email, "--all")
        line = one_line_error(result, FAILED)
        assert f"organization {org.name} uses provider openai but has no API key" in line
        assert f"docgen org set-key {org.name}" in line
        assert f"docgen org set-provider {org.name} offline" in line
        assert "job" not in result.stdout
    assert jobs_of(engine, org) == []  # nothing created


def test_run_with_a_key_from_another_master_key_fails_at_once(
    cli, engine: Engine, org: OrgFixture, fake_openai: FakeOpenAI
) -> None:  # type: ignore[no-untyped-def]
    use_openai(engine, org, fake_openai)
    make_object(engine, org)
    result = cli(
        "run",
        "--org",
        org.name,
        "--user",
        org.admin_email,
        "--all",
        DOCGEN_MASTER_KEY=generate_master_key(),
    )
    line = one_line_error(result, FAILED)
    assert f"the API key of organization {org.name} does not decrypt" in line
    assert f"docgen org set-key {org.name}" in line
    assert jobs_of(engine, org) == [] and fake_openai.requests == []


def test_jobs_run_checks_the_provider_before_starting_prefect(
    cli, engine: Engine, org: OrgFixture
) -> None:  # type: ignore[no-untyped-def]
    from docgen import jobs as core_jobs

    obj = make_object(engine, org)
    job = core_jobs.create_job(engine, org.id, [obj.id], triggered_by_user_id=org.admin_id)
    line = one_line_error(cli("jobs", "run", str(job.id)), FAILED)
    assert "has no API key" in line
    (after,) = jobs_of(engine, org)
    assert after.status == "queued"  # never started


def test_org_create_says_which_provider_and_what_next(cli) -> None:  # type: ignore[no-untyped-def]
    name = f"Next-{uuid.uuid4().hex[:6]}"
    created = cli("org", "create", name)
    assert created.returncode == 0, created.stderr
    uuid.UUID(created.stdout.strip().splitlines()[-1])
    assert "uses provider openai (model gpt-4o) and has no API key yet" in created.stderr
    assert f"docgen org set-key {name}" in created.stderr
    assert f"docgen org set-provider {name} offline" in created.stderr

    offline = cli("org", "set-provider", name, "offline")
    assert offline.returncode == 0, offline.stderr
    assert "provider offline" in offline.stderr and "gpt-4o" not in offline.stderr
    shown = json.loads(cli("org", "show", name, "--json").stdout)
    assert (shown["provider"], shown["model"]) == ("offline", None)
    line = one_line_error(cli("org", "set-provider", name, "offline", "--model", "gpt-4o"), USAGE)
    assert "--model only apply to provider openai" in line


@pytest.mark.parametrize(
    "name", ["[/x]", "[bold]loud[/bold]", "see :link: here", "red \x1b[31mtext\x1b[0m"]
)
def test_names_are_printed_as_text(cli, name: str) -> None:  # type: ignore[no-untyped-def]
    name = f"{name} {uuid.uuid4().hex[:4]}"
    created = cli("org", "create", name)
    assert created.returncode == 0, created.stderr
    uuid.UUID(created.stdout.strip().splitlines()[-1])  # the id is printed after the commit
    shown = name.replace("\x1b", "\\x1b")
    assert f"created organization {shown}" in created.stderr
    assert "\x1b" not in created.stderr and "🔗" not in created.stderr
    listed = cli("org", "list")
    assert shown in listed.stdout and "\x1b" not in listed.stdout


# --- exit codes of a job run ------------------------------------------------------------------


@pytest.mark.prefect
def test_exit_codes_of_docgen_run(
    cli, engine: Engine, org: OrgFixture, fake_openai: FakeOpenAI, prefect_harness: str
) -> None:  # type: ignore[no-untyped-def]
    run = ("run", "--org", org.name, "--user", org.admin_email)
    use_openai(engine, org, fake_openai)
    good = make_object(engine, org, "good_orders")
    make_object(engine, org, "bad_orders", code="select 1 as bad_orders_marker")
    # every call about `bad_orders` is refused by the content filter (never retried): the
    # object fails, the job completes
    fake_openai.add_rule(
        lambda body: "bad_orders_marker" in json.dumps(body), Fault.content_filter()
    )

    done = cli(*run, "--object", str(good.id), PREFECT_API_URL=prefect_harness)
    assert done.returncode == OK, done.stderr[-3000:]
    assert "completed" in done.stdout and "Traceback" not in done.stderr

    partial = cli(*run, "--all", "--regenerate-all", PREFECT_API_URL=prefect_harness)
    assert partial.returncode == OBJECTS_FAILED, partial.stderr[-3000:]
    assert "completed, but 1 of 2 objects failed (exit 3)" in partial.stderr
    assert "Traceback" not in partial.stderr

    fake_openai.reset()
    fake_openai.add_rule(lambda body: True, Fault.auth())
    failed = cli(*run, "--all", "--regenerate-all", PREFECT_API_URL=prefect_harness)
    assert failed.returncode == FAILED, failed.stderr[-3000:]
    assert failed.stderr.strip().splitlines()[-1].startswith("docgen: error: job ")
    assert " failed: " in failed.stderr

    fake_openai.reset()
    paused = cli(
        *run, "--all", "--regenerate-all", "--max-cost", "0.0001", PREFECT_API_URL=prefect_harness
    )
    assert paused.returncode == PAUSED, paused.stderr[-3000:]
    assert "paused at 0/2 (exit 4); `docgen jobs resume" in paused.stderr

    statuses = [j.status for j in jobs_of(engine, org)]
    assert sorted(statuses) == ["completed", "completed", "failed", "paused"]


@pytest.mark.prefect
def test_jobs_run_exits_1_for_a_failed_job_and_help_documents_the_codes(
    cli, engine: Engine, org: OrgFixture, fake_openai: FakeOpenAI, prefect_harness: str
) -> None:  # type: ignore[no-untyped-def]
    from docgen import jobs as core_jobs

    use_openai(engine, org, fake_openai)
    fake_openai.add_rule(lambda body: True, Fault.auth())
    obj = make_object(engine, org)
    job = core_jobs.create_job(engine, org.id, [obj.id], triggered_by_user_id=org.admin_id)
    result = cli("jobs", "run", str(job.id), PREFECT_API_URL=prefect_harness)
    assert result.returncode == FAILED, result.stderr[-3000:]
    assert f"docgen: error: job {job.id} failed:" in result.stderr
    for command in (("run",), ("jobs", "run"), ("jobs", "resume"), ("demo",)):
        shown = cli(*command, "--help")
        assert shown.returncode == 0
        assert "3 completed with failed objects, 4 paused, 5 cancelled" in " ".join(
            shown.stdout.split()
        ), command


# --- Prefect's own database when docgen starts Prefect ---------------------------------------


def test_prefect_gets_its_own_postgresql_database_next_to_docgens(
    pg_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    from docgen.config import DatabaseSettings
    from docgen.db.engine import with_database
    from docgen.db.prefect_database import prefect_database
    from tests.conftest import create_database, drop_database

    url = create_database(pg_admin_url, "userpath")
    name = make_url(url).database
    role = f"nocreate_{uuid.uuid4().hex[:8]}"
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL", raising=False)
    try:
        monkeypatch.setenv("DOCGEN_DATABASE_URL", url)
        database = prefect_database(DatabaseSettings())
        assert database.url is not None and database.url.startswith("postgresql+asyncpg://")
        assert make_url(database.url).database == f"{name}_prefect"
        assert f"/{name}_prefect" in database.note
        with psycopg.connect(database.libpq_url) as conn:  # created, with pg_trgm
            assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").fetchone()
        assert prefect_database(DatabaseSettings()).url == database.url  # again: reused

        # a user who may not create databases: SQLite, and a line that says how to fix it
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
        other = create_database(pg_admin_url, "userpath")
        limited = make_url(other).set(username=role).render_as_string(hide_password=False)
        monkeypatch.setenv("DOCGEN_DATABASE_URL", limited)
        fallback = prefect_database(DatabaseSettings())
        assert fallback.url is None
        assert "could not prepare" in fallback.note and "permission denied" in fallback.note
        assert f"CREATE DATABASE {make_url(other).database}_prefect" in fallback.note
        drop_database(pg_admin_url, other)
    finally:
        drop_database(pg_admin_url, url)
        drop_database(pg_admin_url, with_database(url, f"{name}_prefect"))
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
