"""The master key file: deleting DOCGEN_HOME/master.key never silently makes a new key while
API keys encrypted with the old one are stored (issue 13, item 7). Embedded mode, the CLI
as a user runs it, in a fresh DOCGEN_HOME."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from docgen.db import embedded
from tests.conftest import run_cli
from tests.fake_openai import FakeOpenAI


@pytest.fixture
def embedded_home(tmp_path: Path) -> Iterator[dict[str, str]]:
    home = tmp_path / "home"
    assert "DOCGEN_DATABASE_URL" not in os.environ and "DOCGEN_MASTER_KEY" not in os.environ
    yield {"DOCGEN_HOME": str(home)}
    embedded.stop(home)


def test_a_deleted_master_key_file_is_not_replaced_while_keys_are_stored(
    embedded_home: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    env = embedded_home

    def cli(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return run_cli(*args, env=env, input=input)

    assert cli("org", "create", "acme").returncode == 0
    endpoint = ("--base-url", fake_openai.base_url)
    assert cli("org", "set-provider", "acme", "openai", *endpoint).returncode == 0
    assert cli("org", "set-key", "acme", input="sk-acme-0123456789\n").returncode == 0
    key_file = Path(env["DOCGEN_HOME"]) / "master.key"
    saved = key_file.read_bytes()
    key_file.unlink()

    for args, stdin in ((("org", "verify-key", "acme"), None), (("org", "set-key", "acme"), "k")):
        result = cli(*args, input=stdin)
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip() == (
            f"docgen: error: the master key file {key_file} is missing, but 1 organization(s) "
            "have API keys encrypted with it; restore that file (mode 0600), or set "
            "DOCGEN_MASTER_KEY to its content. docgen does not create a new master key while "
            "encrypted keys exist"
        )
        assert not key_file.exists(), "no new key was generated"

    key_file.write_bytes(saved)
    key_file.chmod(0o600)
    # verify-key decrypts first, then calls the endpoint (unreachable here: no network)
    restored = cli("org", "verify-key", "acme")
    assert "ok    API key: decrypts with the current master key" in restored.stdout
    assert "master key" not in restored.stderr
