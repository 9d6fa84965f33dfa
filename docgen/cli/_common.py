"""Shared pieces of the CLI: consoles, the engine, and printing created ids."""

from __future__ import annotations

import json
import os
import re
import sys
from enum import IntEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from rich.console import Console
from rich.table import Column
from rich.text import Text
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from docgen.db.jobs import Job


class ExitCode(IntEnum):
    """What `docgen run`, `docgen jobs run|resume` and `docgen demo` exit with."""

    OK = 0  #: the job completed and every object was documented (or skipped)
    FAILED = 1  #: the job failed (or any other error: one line on stderr)
    USAGE = 2  #: bad input: unknown option, missing selection, malformed value
    OBJECTS_FAILED = 3  #: the job completed, but some objects failed
    PAUSED = 4  #: the job paused (`jobs pause`, or --max-cost reached); `jobs resume` goes on
    CANCELLED = 5  #: the job was cancelled
    #: the job waits for its Batch API batch (batch mode under a deployment: the batch-poller
    #: deployment resumes it when the batch is done)
    WAITING_FOR_BATCH = 6


#: for the help texts of the commands that run a job
EXIT_CODES_HELP = (
    "Exit codes: 0 completed, 1 failed (or an error), 2 bad input,"
    " 3 completed with failed objects, 4 paused, 5 cancelled, 6 waiting for its batch."
)


def job_exit_code(job: Job) -> ExitCode:
    if job.status == "completed":
        return ExitCode.OBJECTS_FAILED if job.failed_objects else ExitCode.OK
    return {
        "paused": ExitCode.PAUSED,
        "cancelled": ExitCode.CANCELLED,
        "waiting_for_batch": ExitCode.WAITING_FOR_BATCH,
    }.get(job.status, ExitCode.FAILED)


#: control characters (ANSI escapes, carriage returns...) but newline and tab
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with control characters shown as escapes (`\\x1b`), so a name cannot drive
    the terminal."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


#: the width tables get when the output is not a terminal (and COLUMNS is unset)
PIPED_WIDTH = 400


class PlainConsole(Console):
    """A rich console that prints strings as text: no markup (`[/x]` is a name, not a closing
    tag), no emoji codes (`:link:` stays), control characters escaped. Styled output is built
    from `rich.text.Text` explicitly."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, emoji=False, highlight=False, **kwargs)
        if not self.is_terminal and not os.environ.get("COLUMNS"):
            # piped or captured: rich would assume 80 columns and cut table cells
            self.width = PIPED_WIDTH

    def render_str(self, text: str, **kwargs: Any) -> Text:
        kwargs["markup"] = False
        kwargs["emoji"] = False
        return super().render_str(printable(text), **kwargs)


#: human-facing messages go to stderr so stdout carries only results (ids, JSON)
err = PlainConsole(stderr=True, soft_wrap=True)
out = PlainConsole(soft_wrap=True)


def id_column(header: str = "id") -> Column:
    """A table column for UUIDs: never wrapped or cut, whatever the terminal's width, so an
    id can be copied (other columns give way)."""
    return Column(header, no_wrap=True, min_width=36, overflow="ignore")


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

    With no PREFECT_API_URL, flows run against Prefect's ephemeral server, whose database
    docgen puts on PostgreSQL (`docgen.db.prefect_database`) unless the user chose one with
    PREFECT_API_DATABASE_CONNECTION_URL.
    """
    from docgen.config import PrefectEnvironment
    from docgen.db.prefect_database import prefect_database

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
    # the first start on a new database runs Prefect's migrations: more than the default 20 s
    # on a busy machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    database = prefect_database()
    if database.url is None:
        err.print(f"warning: {database.note}")
        return
    os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = database.url
    if verbose:
        err.print(database.note)


def print_json(data: object) -> None:
    """JSON for scripts on stdout: plain (no colours, no wrapping), keys as documented."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def parse_uuid(value: str, what: str) -> UUID:
    from docgen.errors import InvalidInput

    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput(f"{what} must be a UUID, not {value!r}") from None
