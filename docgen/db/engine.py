"""Engines: which database, schema checked, and how long an engine lives.

`get_engine()` resolves the URL (DOCGEN_DATABASE_URL, or the embedded server started on
demand), checks the schema is current (applying migrations automatically only on the
embedded server, which docgen owns) and hands back the process's engine for that URL.

Engine lifetime. An engine is a connection pool; SQLAlchemy's advice is one engine per
database URL per process, shared by its threads. In one docgen process the CLI command, the
flows it runs in Prefect's in-process runner, their tasks (worker threads) and the crypto
module all need the same database, and none of them owns the others' lifetime, so the pool
is kept in an explicit cache, `ENGINES`, with the schema checked once when an engine enters
it. Whoever owns the process ends it: the CLI's `main()` calls `dispose_engines()` when the
command returns (so no command leaves connections to close at interpreter exit), tests call
it between databases, and a command that needs an engine for a single job only
(`docgen db upgrade`) builds its own with `create_engine()` and disposes it. After a fork
the child must not reuse the parent's connections: `dispose_engines()` there too.

Errors: `transaction()` and the translation of database errors live in `docgen.db.translate`
and are re-exported here for callers.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen.config import DatabaseSettings
from docgen.database_url import mask_url as mask_url
from docgen.database_url import psycopg_url
from docgen.database_url import with_database as with_database
from docgen.db import embedded
from docgen.db.migrate import ensure_current
from docgen.db.translate import SQLSTATE_ERRORS as SQLSTATE_ERRORS
from docgen.db.translate import transaction as transaction
from docgen.db.translate import translate as translate
from docgen.db.translate import translate_errors as translate_errors
from docgen.errors import DatabaseUnavailable


class EngineCache:
    """One engine per resolved URL in this process (see the module doc for why), guarded by
    a lock so that concurrent first uses build and migrate once."""

    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def get(self, url: str, settings: DatabaseSettings, *, migrate: bool) -> Engine:
        with self._lock:
            engine = self._engines.get(url)
            if engine is None:
                engine = create_engine(url, settings)
                if migrate:
                    try:
                        ensure_current(engine, apply=settings.embedded)
                    except BaseException:
                        engine.dispose()
                        raise
                self._engines[url] = engine
        return engine

    def dispose(self) -> int:
        """Close every engine's pooled connections and forget the engines; returns how many."""
        with self._lock:
            engines = list(self._engines.values())
            self._engines.clear()
        for engine in engines:
            engine.dispose()
        return len(engines)

    def __len__(self) -> int:
        return len(self._engines)


#: the process's engines (the only module-level state in docgen.db)
ENGINES = EngineCache()


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
    return ENGINES.get(resolve_url(settings), settings, migrate=migrate)


def create_engine(url: str, settings: DatabaseSettings | None = None) -> Engine:
    """A new engine the caller owns (and disposes); `get_engine()` for the shared one."""
    settings = settings or DatabaseSettings()
    try:
        sa_url = psycopg_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
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


def dispose_engines() -> int:
    """Close every cached engine (end of a CLI command, tests, after a fork)."""
    return ENGINES.dispose()


#: the older name, kept for callers outside docgen.db (tests, demo)
dispose_all = dispose_engines
