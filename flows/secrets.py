"""docgen's secrets from Prefect Secret blocks, for workers whose environment should not hold
them.

docgen reads DOCGEN_DATABASE_URL and DOCGEN_MASTER_KEY from the environment. A worker can
instead name a Secret block for each (DOCGEN_DATABASE_URL_SECRET_BLOCK,
DOCGEN_MASTER_KEY_SECRET_BLOCK: names, not secrets, so they may sit in prefect.yaml's job
variables). Every flow loads the named blocks into its own process's environment before it
reads a setting; a variable already set wins. `source="secret:BLOCK"` does the same for the
ingest flow's database URL.
"""

from __future__ import annotations

import os

from docgen.errors import InvalidInput

#: the settings that may come from a Secret block
SECRET_VARIABLES = ("DOCGEN_DATABASE_URL", "DOCGEN_MASTER_KEY")
BLOCK_SUFFIX = "_SECRET_BLOCK"


async def load_secret(block: str, what: str) -> str:
    """The value of the Secret block `block`; a one-line error naming `what` if it is missing."""
    from prefect.blocks.system import Secret

    try:
        secret = await Secret.aload(block)
    except (ValueError, TypeError) as exc:  # Prefect: no block of that name / not a Secret
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(f"{what}: Prefect Secret block {block!r} not found ({reason})") from None
    value = secret.get()
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what}: Prefect Secret block {block!r} holds no text")
    return value.strip()


async def load_secret_blocks() -> list[str]:
    """Put the values of the configured Secret blocks into os.environ; returns the names of
    the variables it set (never their values)."""
    loaded = []
    for variable in SECRET_VARIABLES:
        block = os.environ.get(variable + BLOCK_SUFFIX, "").strip()
        if not block or os.environ.get(variable, "").strip():
            continue
        os.environ[variable] = await load_secret(block, variable + BLOCK_SUFFIX)
        loaded.append(variable)
    return loaded
