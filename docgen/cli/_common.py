"""Shared pieces of the CLI: consoles, the engine, and printing created ids."""

from __future__ import annotations

import os
import sys
from uuid import UUID

from rich.console import Console
from sqlalchemy.engine import Engine

#: human-facing messages go to stderr so stdout carries only results (ids, JSON)
err = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)


def engine() -> Engine:
    from docgen.db.engine import get_engine

    return get_engine()


def print_created(what: str, new_id: UUID | str) -> None:
    """Say what was created on stderr, and print the id alone on stdout's last line."""
    err.print(f"created {what}")
    sys.stdout.write(f"{new_id}\n")
    sys.stdout.flush()


def read_secret_from_stdin(prompt: str) -> str:
    """Read a secret from stdin without echoing it when stdin is a terminal."""
    if sys.stdin is None:
        return ""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    return sys.stdin.read()


def prepare_prefect(verbose: bool = False) -> None:
    """Set Prefect's environment before Prefect is imported.

    With no PREFECT_API_URL, flows run against Prefect's ephemeral server; on the embedded
    database docgen points that server at a `prefect` database of the embedded PostgreSQL.
    """
    from docgen.config import DatabaseSettings, PrefectEnvironment

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    prefect_env = PrefectEnvironment()
    if not verbose and not prefect_env.api_url:
        # the ephemeral server runs in a subprocess that is stopped when we exit; events it
        # was still recording then fail with cancellation tracebacks about nothing the user
        # can act on (the job's outcome is in docgen's tables). --verbose shows them.
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    if prefect_env.api_url or prefect_env.api_database_connection_url:
        return
    database = DatabaseSettings()
    if database.embedded:
        from docgen.db import embedded

        os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = embedded.prefect_database_url(
            database.home
        )


def parse_uuid(value: str, what: str) -> UUID:
    from docgen.errors import InvalidInput

    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput(f"{what} must be a UUID, not {value!r}") from None
