"""`docgen db upgrade | url | stop`."""

from __future__ import annotations

import typer

from docgen.cli._common import err, out
from docgen.config import DatabaseSettings

app = typer.Typer(help="The PostgreSQL database docgen uses.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Apply pending sql/ migrations (idempotent; refuses edited migrations)."""
    from docgen.db import migrate
    from docgen.db.engine import get_engine

    applied = migrate.upgrade(get_engine(migrate=False))
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
    from docgen.db.engine import mask_url, resolve_url

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
