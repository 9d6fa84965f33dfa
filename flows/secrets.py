"""docgen's secrets from Prefect Secret blocks, for workers whose environment should not hold
them.

docgen reads DOCGEN_DATABASE_URL and DOCGEN_MASTER_KEY through its settings classes. A worker
can instead name a Secret block for each (DOCGEN_DATABASE_URL_SECRET_BLOCK,
DOCGEN_MASTER_KEY_SECRET_BLOCK: names, not secrets, so they may sit in prefect.yaml's job
variables); the settings read the block themselves (`docgen.config.SecretBlockSettingsSource`)
when the variable is unset, and nothing is copied into `os.environ`. `source="secret:BLOCK"`
reads the ingest flow's database URL the same way.
"""

from __future__ import annotations

import anyio

from docgen.config import (
    BLOCK_SUFFIX,
    DatabaseSettings,
    SecretBlockSettingsSource,
    SecuritySettings,
    read_secret_block,
)

#: the settings that may come from a Secret block
SECRET_VARIABLES = ("DOCGEN_DATABASE_URL", "DOCGEN_MASTER_KEY")

__all__ = ["BLOCK_SUFFIX", "SECRET_VARIABLES", "load_secret", "load_secret_blocks"]


async def load_secret(block: str, what: str) -> str:
    """The value of the Secret block `block`; a one-line error naming `what` if it is missing."""
    return await anyio.to_thread.run_sync(read_secret_block, block, what)


async def load_secret_blocks() -> list[str]:
    """Check, at a flow's start, that the Secret blocks the settings will read exist and hold
    text (a one-line InvalidInput otherwise); returns the names of the variables that come
    from a block (never their values). Writes nothing: the settings read the blocks."""

    def _check() -> list[str]:
        loaded: list[str] = []
        for settings_cls in (DatabaseSettings, SecuritySettings):
            source = SecretBlockSettingsSource(settings_cls, settings_cls.secret_block_fields)
            if source():  # reads (and keeps) each named block's value
                loaded.extend(variable for variable, _ in source.block_variables().values())
        return loaded

    return await anyio.to_thread.run_sync(_check)
