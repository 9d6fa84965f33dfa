"""API keys at rest: AES-256-GCM bound to organization and provider, never in clear text."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from docgen import crypto
from docgen.config import DatabaseSettings, SecuritySettings
from docgen.db import orgs
from docgen.db.engine import transaction
from docgen.errors import APIKeyError, ConfigError, KeyDecryptionError
from tests.conftest import OrgFixture, make_org
from tests.crypto_probe import find_in_database

PLANTED_KEY = "sk-planted-" + "Zx9" * 12


def test_round_trip_and_binding(engine: Engine, org: OrgFixture, env: dict[str, str]) -> None:
    master = crypto.load_master_key()
    other = make_org(engine, "other")
    with transaction(engine) as conn:
        orgs.set_api_key(conn, org.id, PLANTED_KEY, master)
        mine = orgs.get_llm_settings(conn, org.id)
    assert orgs.decrypt_api_key(mine, master) == PLANTED_KEY
    assert mine.encrypted_key is not None
    # the same ciphertext copied into another organization's row does not decrypt there
    with transaction(engine) as conn:
        conn.exec_driver_sql(
            "UPDATE enterprise.organization_llm_settings SET api_key_ciphertext = %(c)s,"
            " api_key_nonce = %(n)s WHERE organization_id = %(o)s",
            {"c": mine.encrypted_key.ciphertext, "n": mine.encrypted_key.nonce, "o": other.id},
        )
        stolen = orgs.get_llm_settings(conn, other.id)
    with pytest.raises(KeyDecryptionError, match="does not decrypt"):
        orgs.decrypt_api_key(stolen, master)
    # nor under another provider label, nor with another master key
    with pytest.raises(KeyDecryptionError):
        crypto.decrypt_api_key(mine.encrypted_key, org.id, "offline", master)
    with pytest.raises(KeyDecryptionError):
        crypto.decrypt_api_key(mine.encrypted_key, org.id, "openai", os.urandom(32))


def test_nonce_is_fresh_each_time() -> None:
    key, org_id = os.urandom(32), __import__("uuid").uuid4()
    first = crypto.encrypt_api_key(PLANTED_KEY, org_id, "openai", key)
    second = crypto.encrypt_api_key(PLANTED_KEY, org_id, "openai", key)
    assert first.nonce != second.nonce and first.ciphertext != second.ciphertext
    assert len(first.nonce) == 12


def test_plaintext_key_is_in_no_table(
    engine: Engine, org: OrgFixture, env: dict[str, str], database_url: str
) -> None:
    with transaction(engine) as conn:
        orgs.set_api_key(conn, org.id, PLANTED_KEY, crypto.load_master_key())
    assert find_in_database(database_url, PLANTED_KEY) == []
    # the probe itself works: a value we know is stored is found
    assert find_in_database(database_url, org.name) != []


def test_missing_key_is_the_briefs_error(engine: Engine, org: OrgFixture) -> None:
    with transaction(engine) as conn:
        settings = orgs.get_llm_settings(conn, org.id)
    with pytest.raises(APIKeyError, match="No OpenAI API key configured for organization"):
        orgs.decrypt_api_key(settings, os.urandom(32))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64!!", "not valid base64"),
        (base64.b64encode(b"short").decode(), "32 bytes, got 5 bytes"),
    ],
)
def test_malformed_master_key(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv("DOCGEN_MASTER_KEY", value)
    with pytest.raises(ConfigError, match=message):
        crypto.load_master_key()


def test_embedded_mode_generates_a_private_key_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DOCGEN_MASTER_KEY", raising=False)
    monkeypatch.delenv("DOCGEN_DATABASE_URL", raising=False)
    monkeypatch.setenv("DOCGEN_HOME", str(tmp_path))
    first = crypto.load_master_key()
    path = tmp_path / crypto.KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert crypto.load_master_key() == first and len(first) == 32
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        crypto.load_master_key()


def test_external_database_requires_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCGEN_MASTER_KEY", raising=False)
    monkeypatch.setenv("DOCGEN_DATABASE_URL", "postgresql://u@127.0.0.1/x")
    with pytest.raises(ConfigError, match="DOCGEN_MASTER_KEY is not set"):
        crypto.load_master_key(SecuritySettings(), DatabaseSettings())
