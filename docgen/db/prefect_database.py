"""Where Prefect keeps its own state when docgen starts a Prefect server itself.

`docgen run|jobs run|demo` (Prefect's ephemeral server) and `docgen serve` (a local
`prefect server start`) start Prefect when PREFECT_API_URL is unset. Prefect's default
database is SQLite under PREFECT_HOME, whose single writer turns concurrent subflows into
`database is locked` stalls (18x slower on a real project). So docgen gives Prefect a
PostgreSQL database of its own on docgen's server:

- embedded PostgreSQL: the `prefect` database beside `docgen`;
- DOCGEN_DATABASE_URL=.../NAME: the database `NAME_prefect` on the same server with the same
  credentials, created (with pg_trgm) when missing. Prefect needs a database of its own (its
  migrations own the `public` schema), not a schema in docgen's.

When it cannot be created (no CREATEDB right, pg_trgm missing) Prefect falls back to SQLite
and `note` says so and how to fix it. SQLite is otherwise used only by explicit choice:
PREFECT_API_DATABASE_CONNECTION_URL set by the user always wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from docgen.config import DatabaseSettings
from docgen.database_url import async_url, mask_url, parse, with_database
from docgen.db import embedded

#: suffix of Prefect's database name next to the user's own docgen database
SUFFIX = "_prefect"


@dataclass(frozen=True)
class PrefectDatabase:
    #: postgresql:// URL of Prefect's database; None = Prefect's own SQLite
    libpq_url: str | None
    #: one line for the user: which database Prefect uses, or why it fell back (no secrets)
    note: str

    @property
    def url(self) -> str | None:
        """The async SQLAlchemy URL Prefect takes in PREFECT_API_DATABASE_CONNECTION_URL."""
        return async_url(self.libpq_url) if self.libpq_url else None


def prefect_database(settings: DatabaseSettings | None = None) -> PrefectDatabase:
    """Prefect's own PostgreSQL database on docgen's server (created if it can be)."""
    settings = settings or DatabaseSettings()
    if settings.embedded:
        embedded.prefect_database_url(settings.home)  # created, with pg_trgm
        url = embedded.server_uri(settings.home, embedded.PREFECT_DATABASE_NAME)
        return PrefectDatabase(url, "Prefect's database: `prefect` on the embedded PostgreSQL")
    assert settings.database_url is not None
    docgen_url = settings.database_url.get_secret_value().strip()
    database = parse(docgen_url).database
    name = f"{database or 'docgen'}{SUFFIX}"
    target = with_database(docgen_url, name)
    try:
        embedded.ensure_database(docgen_url, name, ("pg_trgm",))
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return PrefectDatabase(
            None,
            f"Prefect's database: could not prepare {mask_url(target)} ({reason}); Prefect"
            " falls back to SQLite under PREFECT_HOME, which is slow with concurrent"
            f" objects. Fix: `CREATE DATABASE {name}` (with pg_trgm) as a user who may, or"
            " point PREFECT_API_DATABASE_CONNECTION_URL at a PostgreSQL database",
        )
    return PrefectDatabase(target, f"Prefect's database: {mask_url(target)}")
