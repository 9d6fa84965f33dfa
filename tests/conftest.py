"""Shared fixtures: a real PostgreSQL database per test session, the CLI as a subprocess.

PostgreSQL: DOCGEN_TEST_DATABASE_URL (an admin URL such as
postgresql://postgres@127.0.0.1:5432/postgres) selects an existing server; unset, the tests
start the embedded PostgreSQL that a new user gets, in a temporary DOCGEN_HOME. Either way
the session creates a fresh database, applies sql/ with docgen's own runner, and drops it
at the end.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from sqlalchemy.engine import Engine

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# Prefect keeps task results (the layer cache) under its home: a throwaway one for tests.
_PREFECT_HOME = tempfile.mkdtemp(prefix="docgen-tests-prefect-")
atexit.register(shutil.rmtree, _PREFECT_HOME, True)
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_LOCAL_STORAGE_PATH", os.path.join(_PREFECT_HOME, "storage"))
# Retries back off 0.1, 0.2, 0.4 s in tests instead of 1, 2, 4 s (behaviour is the same).
os.environ.setdefault("DOCGEN_LLM_RETRY_BACKOFF_SECONDS", "0.1")
# A batch's status is checked every 0.05-0.5 s in tests instead of 30-600 s (nightly and the
# CLI wait for their batch in-process; the fake's batches finish in well under a second).
os.environ.setdefault("DOCGEN_BATCH_POLL_SECONDS", "0.05")
os.environ.setdefault("DOCGEN_BATCH_POLL_MAX_SECONDS", "0.5")

from docgen.crypto import generate_master_key  # noqa: E402
from docgen.db import embedded, migrate  # noqa: E402
from docgen.db import orgs as orgs_repo  # noqa: E402
from docgen.db.engine import create_engine, dispose_all, transaction, with_database  # noqa: E402

if TYPE_CHECKING:
    from tests.fake_openai import FakeOpenAI

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "test-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow first, the rest in their usual order: with several workers
    (scripts/check runs two) no worker is left alone with a two-minute test at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a database on the server the tests use, with rights to create databases."""
    url = os.environ.get("DOCGEN_TEST_DATABASE_URL")
    if url:
        yield url
        return
    home = tmp_path_factory.mktemp("embedded-home")
    embedded.start(home)
    yield embedded.server_uri(home, "postgres")
    dispose_all()
    embedded.stop(home)


def create_database(admin_url: str, prefix: str = "docgen_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database for this test session, migrated with docgen's runner."""
    url = create_database(pg_admin_url)
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    dispose_all()
    drop_database(pg_admin_url, url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def master_key_b64() -> str:
    return generate_master_key()


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, master_key_b64: str
) -> dict[str, str]:
    """docgen's environment pointing at the session database; returned for subprocesses."""
    values = {
        "DOCGEN_DATABASE_URL": database_url,
        "DOCGEN_HOME": str(tmp_path / "docgen-home"),
        "DOCGEN_MASTER_KEY": master_key_b64,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@dataclass
class OrgFixture:
    id: uuid.UUID
    name: str
    admin_id: uuid.UUID
    admin_email: str
    member_id: uuid.UUID
    member_email: str


def make_org(engine: Engine, label: str = "org") -> OrgFixture:
    """A new organization with one admin and one member (unique names per call)."""
    suffix = uuid.uuid4().hex[:8]
    with transaction(engine) as conn:
        organization = orgs_repo.create_organization(conn, f"{label}-{suffix}")
        admin = orgs_repo.add_user(conn, organization.id, f"admin-{suffix}@example.com", "admin")
        member = orgs_repo.add_user(conn, organization.id, f"member-{suffix}@example.com", "member")
    return OrgFixture(
        organization.id, organization.name, admin.id, admin.email, member.id, member.email
    )


@pytest.fixture
def org(engine: Engine) -> OrgFixture:
    return make_org(engine)


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m docgen ARGS` as a real process (stdin closed unless `input`)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "docgen", *args],
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


@pytest.fixture
def cli(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """run_cli bound to the test environment."""

    def _run(*args: str, input: str | None = None, **extra_env: str):  # type: ignore[no-untyped-def]
        return run_cli(*args, env={**env, **extra_env}, input=input)

    return _run


@pytest.fixture(scope="session")
def prefect_harness(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real local Prefect server for the whole session, on PostgreSQL (a fresh database
    with pg_trgm on the tests' server), like the one docgen runs for users. Prefect's own
    test harness uses SQLite, whose single writer turns concurrent subflows into
    'database is locked' retries. Yields the API URL, also set for subprocesses."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.local_server import LocalPrefectServer

    database = create_database(pg_admin_url, "prefect_test")
    server = LocalPrefectServer(database, tmp_path_factory.mktemp("prefect-server-home"))
    try:
        server.start()
        previous = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = server.api_url
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
    finally:
        server.stop()
        drop_database(pg_admin_url, database)


@pytest.fixture
def fast_batch_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's status checked every 0.05-0.2 s, whatever the environment says."""
    monkeypatch.setenv("DOCGEN_BATCH_POLL_SECONDS", "0.05")
    monkeypatch.setenv("DOCGEN_BATCH_POLL_MAX_SECONDS", "0.2")


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The session's fake OpenAI server, emptied of requests, faults and limits."""
    fake_openai_server.reset()
    yield fake_openai_server
    fake_openai_server.reset()


def use_openai(
    engine: Engine,
    org: OrgFixture,
    server: FakeOpenAI,
    api_key: str = "sk-test-key-0123456789",
    **settings: object,
) -> str:
    """Point the organization at the fake server with an encrypted key; returns the key."""
    from docgen.crypto import load_master_key

    with transaction(engine) as conn:
        orgs_repo.set_provider(conn, org.id, "openai", base_url=server.base_url, **settings)  # type: ignore[arg-type]
        orgs_repo.set_api_key(conn, org.id, api_key, load_master_key())
    return api_key
