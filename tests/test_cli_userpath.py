"""The CLI as a new user meets it (issue 14): exit codes scripts can rely on, provider
readiness checked before anything starts, names printed as text. Every command runs as a
subprocess; jobs run against the session's Prefect server."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from docgen.crypto import generate_master_key
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import transaction
from tests.conftest import OrgFixture, use_openai
from tests.factories import make_object, one_line_error
from tests.fake_openai import FakeOpenAI, Fault

#: the docstring of docgen.cli._common.ExitCode, as users read it in `--help` and the README
OK, FAILED, USAGE, OBJECTS_FAILED, PAUSED = 0, 1, 2, 3, 4


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


@pytest.mark.slow
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


# --- docs show: the same Lineage section as the Markdown export ------------------------------


def test_docs_show_prints_the_real_lineage(cli, engine: Engine, org: OrgFixture) -> None:  # type: ignore[no-untyped-def]
    from tests.docs_factory import build_shop_project

    build_shop_project(engine, org)
    shown = cli("docs", "show", "fct_orders", "--org", org.name)
    assert shown.returncode == 0, shown.stderr
    lineage = shown.stdout.split("## Lineage", 1)[1].split("\n## ", 1)[0]
    built_from, feeds_into = lineage.split("**Feeds into:**")
    # names as the Markdown export writes them (underscores escaped)
    assert "- stg\\_orders (view)" in built_from and "- stg\\_payments (view)" in built_from
    assert "stg\\_customers" not in built_from
    assert "- dim\\_customers (" in feeds_into
    assert "reads source data directly" not in lineage
    staging = cli("docs", "show", "stg_customers", "--org", org.name).stdout
    assert "- (reads source data directly)" in staging and "dim\\_customers" in staging


# --- CLI polish ------------------------------------------------------------------------------


def test_help_version_and_flag_names(cli, engine: Engine, org: OrgFixture) -> None:  # type: ignore[no-untyped-def]
    version = cli("--version")
    assert version.returncode == 0 and re.fullmatch(r"docgen \d+\.\d+\.\d+\n", version.stdout)
    jobs_help = " ".join(cli("jobs", "--help").stdout.split())
    assert "watch" not in jobs_help and "status, list, pause" in jobs_help
    serve_help = " ".join(cli("serve", "--help").stdout.split())
    assert "five deployments" in serve_help and "both" not in serve_help
    run_help = cli("run", "--help").stdout
    assert "<bool>" not in run_help and "--all" in run_help

    set_offline(engine, org)
    make_object(engine, org)
    base = ("run", "--org", org.name, "--user", org.admin_email, "--all")
    line = one_line_error(cli(*base, "--max-cost", "-1"), USAGE)
    assert line == "docgen: error: --max-cost: Input should be greater than 0"
    line = one_line_error(cli(*base, "--skip-existing", "--regenerate-all"), USAGE)
    assert "--skip-existing and --regenerate-all contradict each other" in line
    assert jobs_of(engine, org) == []


def test_ids_are_never_cut_and_estimate_totals_line_up(
    cli, engine: Engine, org: OrgFixture, fake_openai: FakeOpenAI
) -> None:  # type: ignore[no-untyped-def]
    from docgen import jobs as core_jobs

    use_openai(engine, org, fake_openai)
    objects = [make_object(engine, org, f"a_rather_long_model_name_number_{i}") for i in range(2)]
    job = core_jobs.create_job(
        engine, org.id, [o.id for o in objects], triggered_by_user_id=org.admin_id
    )
    for columns in ("", "80"):  # piped with no COLUMNS, and an 80-column terminal's COLUMNS
        listed = cli("objects", "list", "--org", org.name, COLUMNS=columns)
        assert all(str(o.id) in listed.stdout for o in objects), listed.stdout
        jobs = cli("jobs", "list", "--org", org.name, COLUMNS=columns)
        assert str(job.id) in jobs.stdout, jobs.stdout

    estimate = cli("estimate", "--org", org.name, "--all")
    as_json = json.loads(cli("estimate", "--org", org.name, "--all", "--json").stdout)
    rows = [line.split("│")[1:-1] for line in estimate.stdout.splitlines() if "│" in line]
    total = [cell.strip() for cell in next(r for r in rows if r[0].strip() == "total")]
    prompt = sum(o["prompt_tokens"] for o in as_json["objects"])
    cached = sum(o["cached_tokens"] for o in as_json["objects"])
    completion = sum(o["completion_tokens"] for o in as_json["objects"])
    assert total == ["total", f"{prompt:,}", f"{cached:,}", f"{completion:,}", total[4]]
    assert total[4] == f"{float(as_json['total_cost_usd']):.4f}"
    assert f"{as_json['total_tokens']:,} tokens in total" in estimate.stdout


def test_html_footer_names_the_offline_analyser(engine: Engine, org: OrgFixture) -> None:
    from docgen.render.data import load_catalog
    from docgen.render.html import render_index, written_by
    from tests.docs_factory import build_shop_project

    build_shop_project(engine, org)
    with transaction(engine) as conn:
        catalog = load_catalog(conn, org.name)
    models = {e.doc.generated_by_model for e in catalog.documented if e.doc}
    assert models and not any(m and m.startswith("offline") for m in models)
    assert "written by an AI model from the code" in render_index(catalog)
    offline = catalog.documented[0].doc
    assert offline is not None
    offline = offline.model_copy(update={"generated_by_model": "offline-static-analysis-1"})
    assert written_by([offline]) == "by docgen's offline analyser (no AI model)"
    assert written_by([offline, catalog.documented[1].doc]) == (
        "by an AI model or by docgen's offline analyser"
    )


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.timeout(600)
def test_serve_stops_quietly_on_sigterm(
    env: dict[str, str], pg_admin_url: str, tmp_path: Path
) -> None:
    """`docgen serve` without PREFECT_API_URL: its own Prefect server (on PostgreSQL beside
    docgen's database), and on SIGTERM one closing line, exit 0, nothing left running."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    from sqlalchemy.engine import make_url

    from deployments.local_server import free_port
    from docgen.db.engine import with_database
    from tests.conftest import REPO_ROOT, drop_database

    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    child_env |= env | {
        "DOCGEN_NIGHTLY_PREFECT_PORT": str(port),
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    child_env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
    stderr = tmp_path / "serve.err"
    with open(stderr, "w") as handle:
        serve = subprocess.Popen(
            [sys.executable, "-m", "docgen", "serve"],
            cwd=REPO_ROOT,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=handle,
            start_new_session=True,  # so that a failed test stops its Prefect server too
        )
    try:
        deadline = time.monotonic() + 300
        while "Ctrl-C to stop" not in stderr.read_text():
            assert serve.poll() is None and time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.5)
        # the line comes before the deployments are registered and the runner starts: on a
        # busy machine that takes more than a few seconds, so wait for the last deployment
        poller = f"http://127.0.0.1:{port}/api/deployments/name/batch-poller/poll"
        while not answers(poller):
            assert serve.poll() is None and time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.5)
        time.sleep(3)  # the runner is up
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(60) == 0, stderr.read_text()
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait(30)
        name = make_url(env["DOCGEN_DATABASE_URL"]).database
        drop_database(pg_admin_url, with_database(env["DOCGEN_DATABASE_URL"], f"{name}_prefect"))
    lines = stderr.read_text().strip().splitlines()
    assert lines[0].startswith("Prefect's database: ")
    assert make_url(lines[0].removeprefix("Prefect's database: ")).database == f"{name}_prefect"
    assert lines[-1] == "docgen serve stopped", lines
    assert not any(w in "\n".join(lines) for w in ("Warning", "Traceback", "INFO")), lines
    with pytest.raises(ConnectionRefusedError):  # its Prefect server is gone too
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def answers(url: str) -> bool:
    """Whether GET `url` answers 200."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


# --- JSON for scripts, progress for logs -----------------------------------------------------


def test_read_commands_print_json(cli, engine: Engine, org: OrgFixture) -> None:  # type: ignore[no-untyped-def]
    from tests.docs_factory import build_shop_project

    build_shop_project(engine, org)
    listed = json.loads(cli("org", "list", "--json").stdout)
    assert {"id", "name", "created_at"} == set(listed[0])
    assert org.name in [o["name"] for o in listed]
    shown = json.loads(cli("org", "show", org.name, "--json").stdout)
    assert shown["name"] == org.name and shown["api_key_set"] is False
    doc = json.loads(cli("docs", "show", "fct_orders", "--org", org.name, "--json").stdout)
    assert doc["name"] == "fct_orders" and doc["documentation"]["version"] == 1
    assert doc["documentation"]["executive_summary"]
    assert sorted(u["name"] for u in doc["upstream"]) == ["stg_orders", "stg_payments"]
    assert [d["name"] for d in doc["downstream"]] == ["dim_customers"]
    history = json.loads(cli("docs", "history", "fct_orders", "--org", org.name, "--json").stdout)
    assert history["name"] == "fct_orders" and history["versions"][0]["version"] == 1
    for command in (
        ("objects", "list", "--org", org.name),
        ("jobs", "list", "--org", org.name),
        ("estimate", "--org", org.name, "--all"),
    ):
        result = cli(*command, "--json")
        assert result.returncode == 0, result.stderr
        json.loads(result.stdout)


@pytest.mark.prefect
def test_run_prints_progress_lines_when_not_a_terminal(
    cli, engine: Engine, org: OrgFixture, fake_openai: FakeOpenAI, prefect_harness: str
) -> None:  # type: ignore[no-untyped-def]
    use_openai(engine, org, fake_openai)
    fake_openai.latency = 0.1  # 3 objects x 6 calls: a few seconds of progress
    for _ in range(3):
        make_object(engine, org)
    result = cli(
        "run",
        "--org",
        org.name,
        "--user",
        org.admin_email,
        "--all",
        PREFECT_API_URL=prefect_harness,
        DOCGEN_CLI_PROGRESS_SECONDS="0.3",
    )
    assert result.returncode == OK, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert f"starting the flow run on the Prefect server at {prefect_harness}" in lines
    progress = [
        line for line in lines if re.match(r"job \S+: processing, \d/3 objects, 0 failed, \$", line)
    ]
    assert progress, result.stderr
    counts = [int(re.search(r"(\d)/3 objects", line).group(1)) for line in progress]  # type: ignore[union-attr]
    assert counts == sorted(counts)  # progress only goes forward
