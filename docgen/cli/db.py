"""`docgen db upgrade | url | prefect-url | stop`."""

from __future__ import annotations

import sys

import typer

from docgen.cli._common import err, out
from docgen.config import DatabaseSettings

app = typer.Typer(help="The PostgreSQL database docgen uses.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Apply pending sql/ migrations (idempotent; refuses edited migrations)."""
    from docgen.db import migrate
    from docgen.db.engine import create_engine, resolve_url

    # this command's own engine, for one job, closed when it is done (not the shared cache)
    settings = DatabaseSettings()
    engine = create_engine(resolve_url(settings), settings)
    try:
        applied = migrate.upgrade(engine)
    finally:
        engine.dispose()
    if applied:
        for migration in applied:
            err.print(f"applied {migration.path.name}")
    else:
        err.print("database schema is current")


@app.command()
def url(
    show_password: bool = typer.Option(
        False, "--show-password", help="Print the password instead of ***."
    ),
) -> None:
    """Print the PostgreSQL URL in use (starting the embedded server if that is the one)."""
    from docgen.database_url import mask_url
    from docgen.db.engine import resolve_url

    resolved = resolve_url(DatabaseSettings())
    out.print(resolved if show_password else mask_url(resolved))


@app.command()
def stop() -> None:
    """Stop the embedded PostgreSQL server (no effect with DOCGEN_DATABASE_URL)."""
    from docgen.db import embedded

    settings = DatabaseSettings()
    if not settings.embedded:
        err.print("DOCGEN_DATABASE_URL is set: docgen does not manage that server")
        return
    stopped = embedded.stop(settings.home)
    err.print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL is not running")


@app.command("prefect-url")
def prefect_url(
    show_password: bool = typer.Option(
        False, "--show-password", help="Print the password instead of ***."
    ),
) -> None:
    """Print the URL of Prefect's own PostgreSQL database for PREFECT_API_DATABASE_CONNECTION_URL:
    NAME_prefect beside DOCGEN_DATABASE_URL's NAME (`prefect` on the embedded server),
    created with pg_trgm if missing."""
    from docgen.database_url import mask_url
    from docgen.db.prefect_database import prefect_database
    from docgen.errors import ConfigError

    database = prefect_database()
    if database.url is None:
        raise ConfigError(database.note)
    sys.stdout.write(f"{database.url if show_password else mask_url(database.url)}\n")
