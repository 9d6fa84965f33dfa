"""PostgreSQL URLs: driver spellings, another database on the same server, masking passwords.

Users write libpq-style URLs (`postgresql://user:pass@host/db`, or `postgres://`); SQLAlchemy
needs the driver in the scheme (`postgresql+psycopg://` for docgen's engine and the postgres
source, `postgresql+asyncpg://` for Prefect's own server). Every change goes through
SQLAlchemy's `make_url(url).set(...)`, so passwords with `@`, `:` or `/`, query parameters
(`?host=/socket/dir` of the embedded server) and IPv6 hosts survive. No database, no engine:
sources, the CLI and `docgen.db` all use this module.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url

#: scheme spellings that mean PostgreSQL through a libpq-compatible driver
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")


def parse(url: str | URL) -> URL:
    """`make_url`, with `postgres://` read as `postgresql://` (SQLAlchemy has no `postgres`
    dialect). Raises `sqlalchemy.exc.ArgumentError` (or ValueError: a bad port) when malformed."""
    parsed = make_url(url)
    if parsed.drivername == "postgres":
        parsed = parsed.set(drivername="postgresql")
    return parsed


def with_driver(url: str | URL, drivername: str) -> URL:
    """The URL with a PostgreSQL scheme (any spelling in `_POSTGRES_SCHEMES`) replaced by
    `drivername`; another scheme is returned unchanged, for the caller to refuse."""
    parsed = parse(url)
    if parsed.drivername in _POSTGRES_SCHEMES:
        return parsed.set(drivername=drivername)
    return parsed


def psycopg_url(url: str | URL) -> URL:
    """The URL for docgen's SQLAlchemy engines (psycopg 3)."""
    return with_driver(url, "postgresql+psycopg")


def async_url(url: str) -> str:
    """`postgresql://...` (any psycopg driver spelling) as `postgresql+asyncpg://...` text,
    what Prefect takes in PREFECT_API_DATABASE_CONNECTION_URL."""
    return render(with_driver(url, "postgresql+asyncpg"))


def libpq_url(url: str | URL) -> str:
    """The URL as libpq (psycopg.connect) reads it: scheme `postgresql://`, password kept."""
    return render(with_driver(url, "postgresql"))


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database (libpq spelling)."""
    return libpq_url(parse(url).set(database=database))


def render(url: URL) -> str:
    """The URL as text, password included (for connecting; never for messages)."""
    return url.render_as_string(hide_password=False)


def has_password(url: str) -> bool:
    """Whether the URL carries a password (False for a malformed one)."""
    try:
        return bool(parse(url).password)
    except Exception:  # noqa: BLE001 - malformed: no password we could find
        return False


def mask_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***, safe for messages and logs.

    The text keeps the user's own spelling otherwise (scheme, query), so a message shows the
    URL they gave; a malformed URL is not echoed at all."""
    try:
        password = parse(url).password
    except Exception:  # noqa: BLE001 - a malformed URL must not leak through an error
        return "<malformed URL>"
    if not password:
        return url
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url, count=1)
