"""Shared pieces of the CLI: consoles, the engine, and printing created ids."""

from __future__ import annotations

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
