"""Engine lifetime (docgen/db/engine.py): one engine per URL per process in an explicit cache,
closed by whoever owns the process - the CLI at the end of every command."""

from __future__ import annotations

import os

import pytest

from docgen.cli import main
from docgen.config import DatabaseSettings
from docgen.db.engine import ENGINES, dispose_engines, get_engine
from docgen.errors import MigrationError


@pytest.fixture
def no_engines(env: dict[str, str]) -> None:
    dispose_engines()


def test_one_engine_per_url_until_disposed(no_engines: None) -> None:
    first = get_engine()
    assert get_engine() is first and get_engine(DatabaseSettings()) is first
    assert len(ENGINES) == 1
    with first.connect():
        assert first.pool.checkedout() == 1
    assert dispose_engines() == 1
    assert len(ENGINES) == 0
    second = get_engine()
    assert second is not first
    dispose_engines()


def test_a_cli_command_leaves_no_engine_behind(no_engines: None) -> None:
    with pytest.raises(SystemExit) as done:
        main(["org", "list", "--json"])
    assert done.value.code == 0
    assert len(ENGINES) == 0


def test_db_upgrade_uses_its_own_engine(
    no_engines: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["db", "upgrade"])
    assert done.value.code == 0
    assert "database schema is current" in capsys.readouterr().err
    assert len(ENGINES) == 0


def test_an_outdated_schema_is_refused_every_time_not_cached(
    no_engines: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed schema check leaves nothing in the cache, so the next call checks again."""
    from tests.conftest import create_database, drop_database

    admin = os.environ["DOCGEN_DATABASE_URL"]
    empty = create_database(admin, "docgen_outdated")
    try:
        monkeypatch.setenv("DOCGEN_DATABASE_URL", empty)
        for _ in range(2):
            with pytest.raises(MigrationError, match="run `docgen db upgrade`"):
                get_engine()
            assert len(ENGINES) == 0
    finally:
        dispose_engines()
        drop_database(admin, empty)
