"""Engines and transactions, and the one place where database errors become docgen errors.

`get_engine()` resolves the URL (DOCGEN_DATABASE_URL, or the embedded server started on
demand), checks the schema is current (applying migrations automatically only on the
embedded server, which docgen owns) and caches one engine per URL and process.

`transaction(engine)` is `engine.begin()` with SQLAlchemy/psycopg errors translated:
connection failures -> DatabaseUnavailable, our plpgsql functions' own SQLSTATEs -> the
matching docgen error, anything else -> RepositoryError with a one-line message.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from docgen.config import DatabaseSettings
from docgen.db import embedded
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

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def mask_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***, safe for messages and logs."""
    try:
        password = make_url(_sqlalchemy_url(url)).password
    except Exception:  # noqa: BLE001 - a malformed URL must not leak through an error
        return "<malformed URL>"
    if not password:
        return url
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url, count=1)


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    sa_url = make_url(_sqlalchemy_url(url)).set(database=database)
    return sa_url.set(drivername="postgresql").render_as_string(hide_password=False)


def resolve_url(settings: DatabaseSettings | None = None) -> str:
    """The libpq-style URL in use: DOCGEN_DATABASE_URL, or the embedded server's (started)."""
    settings = settings or DatabaseSettings()
    if settings.embedded:
        return embedded.start(settings.home)
    assert settings.database_url is not None
    return settings.database_url.get_secret_value().strip()


def get_engine(settings: DatabaseSettings | None = None, *, migrate: bool = True) -> Engine:
    """The process's engine for the configured database, schema checked (see module doc)."""
    settings = settings or DatabaseSettings()
    url = resolve_url(settings)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_engine(url, settings)
            _engines[url] = engine
            if migrate:
                from docgen.db.migrate import ensure_current

                ensure_current(engine, apply=settings.embedded)
    return engine


def create_engine(url: str, settings: DatabaseSettings | None = None) -> Engine:
    settings = settings or DatabaseSettings()
    try:
        sa_url = make_url(_sqlalchemy_url(url))
    except sa.exc.ArgumentError as exc:
        raise DatabaseUnavailable(f"DOCGEN_DATABASE_URL is not a database URL: {exc}") from None
    if sa_url.get_backend_name() != "postgresql":
        raise DatabaseUnavailable(
            f"DOCGEN_DATABASE_URL must be a postgresql:// URL, not {sa_url.drivername}://"
        )
    return sa.create_engine(
        sa_url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": settings.connect_timeout, "application_name": "docgen"},
    )


def dispose_all() -> None:
    """Close every cached engine (tests, and after a fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


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
