"""Settings from Prefect Secret blocks (real blocks on the session's Prefect server), with
nothing copied into os.environ."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest
from prefect import flow

from docgen.config import DatabaseSettings, SecuritySettings, clear_secret_blocks
from docgen.crypto import generate_master_key, load_master_key
from docgen.errors import InvalidInput
from flows.secrets import load_secret, load_secret_blocks

pytestmark = pytest.mark.prefect

URL = "postgresql://reader:s3cr%40t@db.example.com:5432/warehouse"


def save_secret(value: object) -> str:
    from prefect.blocks.system import Secret

    name = f"docgen-test-{uuid.uuid4().hex[:10]}"
    Secret(value=value).save(name, overwrite=True)  # type: ignore[arg-type]
    return name


@pytest.fixture
def no_secrets(prefect_harness: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Neither secret nor block variable set; the block cache empty before and after."""
    for name in ("DOCGEN_DATABASE_URL", "DOCGEN_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name + "_SECRET_BLOCK", raising=False)
    clear_secret_blocks()
    yield
    clear_secret_blocks()


def test_database_url_comes_from_its_block_without_touching_the_environment(
    no_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = save_secret(URL)
    monkeypatch.setenv("DOCGEN_DATABASE_URL_SECRET_BLOCK", block)
    before = dict(os.environ)
    settings = DatabaseSettings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == URL
    assert not settings.embedded
    assert settings.database_url_secret_block == block
    assert dict(os.environ) == before


def test_a_set_variable_wins_and_the_block_is_not_read(
    no_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCGEN_DATABASE_URL", "postgresql://env@127.0.0.1/db")
    monkeypatch.setenv("DOCGEN_DATABASE_URL_SECRET_BLOCK", "no-such-block-anywhere")
    settings = DatabaseSettings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql://env@127.0.0.1/db"


def test_an_empty_variable_counts_as_unset(
    no_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = save_secret(URL)
    monkeypatch.setenv("DOCGEN_DATABASE_URL", "  ")
    monkeypatch.setenv("DOCGEN_DATABASE_URL_SECRET_BLOCK", block)
    settings = DatabaseSettings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == URL


def test_arguments_still_win_over_the_block(
    no_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCGEN_DATABASE_URL_SECRET_BLOCK", "no-such-block-anywhere")
    settings = DatabaseSettings(database_url="postgresql://arg@127.0.0.1/db")  # type: ignore[arg-type]
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql://arg@127.0.0.1/db"


def test_master_key_from_its_block_decrypts(
    no_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_master_key()
    monkeypatch.setenv("DOCGEN_MASTER_KEY_SECRET_BLOCK", save_secret(key))
    monkeypatch.setenv("DOCGEN_DATABASE_URL", URL)  # not embedded: the key must be given
    settings = SecuritySettings()
    assert settings.master_key is not None and settings.master_key.get_secret_value() == key
    assert len(load_master_key()) == 32
    assert "DOCGEN_MASTER_KEY" not in os.environ


def test_a_missing_block_is_one_clear_line(
    no_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCGEN_DATABASE_URL_SECRET_BLOCK", "no-such-block-anywhere")
    with pytest.raises(InvalidInput) as caught:
        DatabaseSettings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "DOCGEN_DATABASE_URL_SECRET_BLOCK: Prefect Secret block 'no-such-block-anywhere' not found"
    )


def test_a_block_without_text_is_refused(no_secrets: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCGEN_MASTER_KEY_SECRET_BLOCK", save_secret({"key": "value"}))
    with pytest.raises(InvalidInput, match="holds no text"):
        SecuritySettings()


def test_load_secret_blocks_checks_and_names_without_writing(
    no_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCGEN_DATABASE_URL_SECRET_BLOCK", save_secret(URL))
    monkeypatch.setenv("DOCGEN_MASTER_KEY_SECRET_BLOCK", save_secret(generate_master_key()))
    before = dict(os.environ)
    assert asyncio.run(load_secret_blocks()) == ["DOCGEN_DATABASE_URL", "DOCGEN_MASTER_KEY"]
    assert dict(os.environ) == before
    monkeypatch.setenv("DOCGEN_DATABASE_URL", "postgresql://env@127.0.0.1/db")
    assert asyncio.run(load_secret_blocks()) == ["DOCGEN_MASTER_KEY"]
    monkeypatch.setenv("DOCGEN_MASTER_KEY_SECRET_BLOCK", "no-such-block-anywhere")
    with pytest.raises(InvalidInput, match="DOCGEN_MASTER_KEY_SECRET_BLOCK"):
        asyncio.run(load_secret_blocks())


def test_settings_read_blocks_inside_an_async_flow(
    no_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flow builds settings on its event loop; the block is read there too (sync client)."""
    monkeypatch.setenv("DOCGEN_DATABASE_URL_SECRET_BLOCK", save_secret(URL))

    @flow
    async def reads_settings() -> tuple[list[str], str]:
        loaded = await load_secret_blocks()
        url = DatabaseSettings().database_url
        assert url is not None
        return loaded, url.get_secret_value()

    assert asyncio.run(reads_settings()) == (["DOCGEN_DATABASE_URL"], URL)
    assert "DOCGEN_DATABASE_URL" not in os.environ


def test_load_secret_for_a_source(no_secrets: None) -> None:
    assert asyncio.run(load_secret(save_secret(f"  {URL}\n"), "source")) == URL
    with pytest.raises(InvalidInput, match="source: Prefect Secret block 'nope-x' not found"):
        asyncio.run(load_secret("nope-x", "source"))
