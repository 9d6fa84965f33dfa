"""AES-256-GCM encryption of organizations' API keys.

Each key is encrypted with a fresh random 96-bit nonce. The associated data binds the
ciphertext to its organization and provider, so a ciphertext copied to another
organization's row (or relabelled for another provider) fails authentication instead of
decrypting. The master key comes from DOCGEN_MASTER_KEY (base64 of 32 bytes); with the
embedded database and no variable set, it is generated once into DOCGEN_HOME/master.key
with mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from docgen.config import DatabaseSettings, SecuritySettings
from docgen.errors import ConfigError, KeyDecryptionError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

KEY_FILE_NAME = "master.key"
NONCE_BYTES = 12


@dataclass(frozen=True)
class EncryptedKey:
    nonce: bytes
    ciphertext: bytes


def _decode_master_key(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where} is not valid base64") from None
    if len(raw) != 32:
        raise ConfigError(f"{where} must be base64 of 32 bytes, got {len(raw)} bytes")
    return raw


def generate_master_key() -> str:
    """A new master key, as the base64 text DOCGEN_MASTER_KEY expects."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def load_master_key(
    security: SecuritySettings | None = None, database: DatabaseSettings | None = None
) -> bytes:
    """The 32-byte master key (see module doc for where it comes from)."""
    security = security or SecuritySettings()
    if security.master_key is not None:
        return _decode_master_key(security.master_key.get_secret_value(), "DOCGEN_MASTER_KEY")
    database = database or DatabaseSettings()
    if not database.embedded:
        raise ConfigError(
            "DOCGEN_MASTER_KEY is not set; it is required with DOCGEN_DATABASE_URL "
            '(generate one with: python -c "import base64,os;'
            'print(base64.b64encode(os.urandom(32)).decode())")'
        )
    return _key_file(security.home)


def master_key_source(security: SecuritySettings | None = None) -> str:
    """Where the master key in use comes from, for messages (never the key itself)."""
    security = security or SecuritySettings()
    if security.master_key is not None:
        return "DOCGEN_MASTER_KEY"
    return str(security.home / KEY_FILE_NAME)


def _encrypted_keys_stored(home: Path) -> int:
    """How many API keys the embedded database under `home` holds encrypted with a master
    key (0 without a database there yet: nothing to check, nothing started)."""
    from docgen.db import embedded
    from docgen.db.engine import get_engine, transaction

    if not embedded.pgdata_path(home).exists():
        return 0

    with transaction(get_engine()) as conn:
        return count_encrypted_keys(conn)


def count_encrypted_keys(conn: Connection) -> int:
    """How many organizations have an API key encrypted with the master key (the ciphertexts
    a new master key would orphan). Here rather than in `docgen.db.orgs`, which imports this
    module for the cipher."""
    return int(
        conn.execute(
            sa.text(
                "SELECT count(*) FROM enterprise.organization_llm_settings"
                " WHERE api_key_ciphertext IS NOT NULL"
            )
        ).scalar_one()
    )


def _key_file(home: Path) -> bytes:
    path = home / KEY_FILE_NAME
    if not path.exists():
        stored = _encrypted_keys_stored(home)
        if stored:
            # a new key would silently make every stored API key unreadable
            raise ConfigError(
                f"the master key file {path} is missing, but {stored} organization(s) have "
                "API keys encrypted with it; restore that file (mode 0600), or set "
                "DOCGEN_MASTER_KEY to its content. docgen does not create a new master key "
                "while encrypted keys exist"
            )
        home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process wrote it first
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(generate_master_key() + "\n")
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path} must be readable by its owner only (chmod 600 {path})")
    return _decode_master_key(path.read_text(encoding="ascii"), str(path))


def _associated_data(organization_id: UUID, provider: str) -> bytes:
    return f"docgen/api-key/v1/org={organization_id}/provider={provider}".encode()


def encrypt_api_key(
    api_key: str, organization_id: UUID, provider: str, master_key: bytes
) -> EncryptedKey:
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = AESGCM(master_key).encrypt(
        nonce, api_key.encode("utf-8"), _associated_data(organization_id, provider)
    )
    return EncryptedKey(nonce=nonce, ciphertext=ciphertext)


def decrypt_api_key(
    encrypted: EncryptedKey, organization_id: UUID, provider: str, master_key: bytes
) -> str:
    try:
        plaintext = AESGCM(master_key).decrypt(
            encrypted.nonce, encrypted.ciphertext, _associated_data(organization_id, provider)
        )
    except InvalidTag:
        raise KeyDecryptionError(
            f"the stored API key of organization {organization_id} does not decrypt: the "
            f"master key from {master_key_source()} is not the key it was stored with, or "
            "the ciphertext belongs to another organization"
        ) from None
    return plaintext.decode("utf-8")
