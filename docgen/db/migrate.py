"""Apply `sql/NNN_name.sql` migrations in order, once each, recording what was applied.

Rules (checked on every run):
- each file runs in its own transaction, together with the row that records it;
- an applied file whose text changed is refused (add a new migration instead);
- an applied file missing from `sql/` is refused (the code is older than the database);
- concurrent runners serialize on an advisory lock, so two `docgen db upgrade` are safe.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from docgen.db.translate import transaction, translate_errors
from docgen.errors import MigrationError
from docgen.resources import sql_dir

_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x646F6367656E  # "docgen"

_LEDGER = """
CREATE TABLE IF NOT EXISTS public.docgen_schema_migrations (
    version    text PRIMARY KEY,
    filename   text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(folder: Path | None = None) -> list[Migration]:
    folder = folder or sql_dir()
    found: dict[str, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_lowercase_name.sql")
        version = match.group(1)
        if version in found:
            raise MigrationError(f"two migrations share number {version}: {path.name}")
        found[version] = Migration(version, path)
    return [found[v] for v in sorted(found)]


def _applied(conn: Connection) -> dict[str, tuple[str, str]]:
    exists = conn.execute(sa.text("SELECT to_regclass('public.docgen_schema_migrations')")).scalar()
    if exists is None:
        return {}
    rows = conn.execute(
        sa.text("SELECT version, filename, checksum FROM public.docgen_schema_migrations")
    )
    return {r.version: (r.filename, r.checksum) for r in rows}


def _check(migrations: list[Migration], applied: dict[str, tuple[str, str]]) -> list[Migration]:
    """Validate applied files against the folder; return the pending migrations."""
    by_version = {m.version: m for m in migrations}
    for version, (filename, checksum) in sorted(applied.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {filename} applied but sql/ has no such file "
                "(is this docgen older than the database?)"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"sql/{migration.path.name} was edited after it was applied; "
                "put the change in a new migration file instead"
            )
    return [m for m in migrations if m.version not in applied]


def pending(engine: Engine, folder: Path | None = None) -> list[Migration]:
    with transaction(engine) as conn:
        return _check(discover(folder), _applied(conn))


def upgrade(engine: Engine, folder: Path | None = None) -> list[Migration]:
    """Apply every pending migration; return those applied (empty when already current)."""
    migrations = discover(folder)
    applied_now: list[Migration] = []
    with translate_errors(engine), engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        try:
            conn.execute(sa.text(_LEDGER))
            todo = _check(migrations, _applied(conn))
            conn.commit()
            for migration in todo:
                with conn.begin():
                    _run_file(conn, migration)
                    conn.execute(
                        sa.text(
                            "INSERT INTO public.docgen_schema_migrations"
                            " (version, filename, checksum) VALUES (:v, :f, :c)"
                        ),
                        {"v": migration.version, "f": migration.path.name, "c": migration.checksum},
                    )
                applied_now.append(migration)
        finally:
            conn.rollback()
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            conn.commit()
    return applied_now


def _run_file(conn: Connection, migration: Migration) -> None:
    # A raw cursor without parameters: psycopg sends the file as one simple query, so '%'
    # and several statements need no escaping. It runs inside the caller's transaction.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(migration.sql)
    except psycopg.Error as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MigrationError(f"sql/{migration.path.name} failed: {first_line}") from exc
    finally:
        cursor.close()


def ensure_current(engine: Engine, *, apply: bool) -> None:
    """Apply pending migrations when `apply`, else refuse to run on an outdated schema."""
    if apply:
        upgrade(engine)
        return
    todo = pending(engine)
    if todo:
        names = ", ".join(m.path.name for m in todo)
        raise MigrationError(
            f"the database schema is not current ({names} not applied); run `docgen db upgrade`"
        )
