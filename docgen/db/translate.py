"""The one place where database errors become docgen errors, and `transaction()`.

`transaction(engine)` is `engine.begin()` with SQLAlchemy/psycopg errors translated:
connection failures -> DatabaseUnavailable, our plpgsql functions' own SQLSTATEs -> the
matching docgen error, anything else -> RepositoryError with a one-line message.

It lives apart from `docgen.db.engine` so that the migration runner (which the engine calls
to check the schema) can use it without importing the engine back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from docgen.errors import (
    DatabaseUnavailable,
    DocgenError,
    InvalidInput,
    InvalidJobState,
    NotFound,
    PermissionDenied,
    RepositoryError,
)

#: SQLSTATEs raised by sql/ functions (RAISE ... USING ERRCODE) and the error each becomes.
SQLSTATE_ERRORS: dict[str, type[DocgenError]] = {
    "DGN01": NotFound,
    "DGJ01": InvalidJobState,
    "DGP01": PermissionDenied,
    "DGI01": InvalidInput,
}

#: SQLSTATE classes that mean "the server is not there (any more)".
_UNAVAILABLE_CLASSES = ("08", "57")  # connection exception, operator intervention (shutdown)


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """`engine.begin()` with database errors translated into docgen errors."""
    with translate_errors(engine):
        with engine.begin() as conn:
            yield conn


@contextmanager
def translate_errors(engine: Engine | None = None) -> Iterator[None]:
    try:
        yield
    except sa.exc.DBAPIError as exc:
        raise translate(exc, engine) from exc


def translate(exc: sa.exc.DBAPIError, engine: Engine | None = None) -> DocgenError:
    """The docgen error for one SQLAlchemy/psycopg error (see SQLSTATE_ERRORS)."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or ""
    diag = getattr(orig, "diag", None)
    primary = (getattr(diag, "message_primary", None) or str(orig)).strip().splitlines()
    message = primary[0] if primary else type(orig).__name__
    if sqlstate in SQLSTATE_ERRORS:
        return SQLSTATE_ERRORS[sqlstate](message)
    where = (
        engine.url.set(drivername="postgresql").render_as_string(hide_password=True)
        if engine
        else "PostgreSQL"
    )
    if (
        (isinstance(orig, psycopg.OperationalError) and not sqlstate)
        or sqlstate[:2] in _UNAVAILABLE_CLASSES
        or exc.connection_invalidated
    ):
        return DatabaseUnavailable(f"cannot reach PostgreSQL at {where}: {message}")
    return RepositoryError(f"database error ({sqlstate or type(orig).__name__}): {message}")
