"""`docgen serve`: the five deployments of prefect.yaml in one process."""

from __future__ import annotations

import logging
import os
import signal
import sys

import typer

from docgen.cli._common import err


def _exit_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(0)


def serve_command(
    limit: int | None = typer.Option(None, "--limit", help="Flow runs at the same time."),
) -> None:
    """Serve the five deployments here, nightly schedule active, until Ctrl-C.

    documentation-job/on-demand, documentation-job/existing-job, ingest/on-demand,
    nightly-redocumentation/nightly and batch-poller/poll (every minute: batch-mode jobs
    waiting for their batch).
    With PREFECT_API_URL set, they register with that server. Without it, docgen starts a
    local Prefect server on DOCGEN_NIGHTLY_PREFECT_PORT (4200) for as long as this command
    runs; its database is PostgreSQL on docgen's server (`prefect` on the embedded one,
    NAME_prefect next to DOCGEN_DATABASE_URL's NAME) unless
    PREFECT_API_DATABASE_CONNECTION_URL says otherwise.
    """
    from docgen.config import DatabaseSettings, PrefectEnvironment, ServeSettings

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # SIGTERM before Prefect's runner installs its own handler: still a clean stop (the
    # local server below is stopped in `finally`)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = ServeSettings()
    server = None
    if not PrefectEnvironment().api_url:
        from deployments.local_server import LocalPrefectServer
        from docgen.db.prefect_database import prefect_database

        libpq_url = None  # the user's PREFECT_API_DATABASE_CONNECTION_URL, if set, wins
        if not PrefectEnvironment().api_database_connection_url:
            database = prefect_database()
            err.print(database.note if database.url else f"warning: {database.note}")
            libpq_url = database.libpq_url
        server = LocalPrefectServer(
            libpq_url,
            DatabaseSettings().home / "prefect-server",
            port=settings.prefect_port,
        )
        server.start()
        os.environ["PREFECT_API_URL"] = server.api_url
        err.print(f"started a local Prefect server: {server.api_url.removesuffix('/api')}")
    try:
        from deployments.serve import serve_all

        err.print(
            "serving documentation-job/on-demand, documentation-job/existing-job,"
            " ingest/on-demand and nightly-redocumentation/nightly "
            f"(cron '{settings.cron}' {settings.timezone}); Ctrl-C to stop"
        )
        serve_all(limit=limit, quiet=not logging.getLogger().isEnabledFor(logging.INFO))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how serve is meant to stop
    finally:
        if server is not None:
            server.stop()
        err.print("docgen serve stopped")
