"""`docgen serve`: the on-demand and nightly deployments in one process."""

from __future__ import annotations

import os

import typer

from docgen.cli._common import err


def serve_command(
    limit: int | None = typer.Option(None, "--limit", help="Flow runs at the same time."),
) -> None:
    """Serve both deployments here (nightly schedule active) until Ctrl-C.

    With PREFECT_API_URL set, they register with that server. Without it, docgen starts a
    local Prefect server (on the embedded PostgreSQL when docgen uses it) on
    DOCGEN_NIGHTLY_PREFECT_PORT (4200) for as long as this command runs.
    """
    from docgen.config import DatabaseSettings, PrefectEnvironment, ServeSettings

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    settings = ServeSettings()
    server = None
    if not PrefectEnvironment().api_url:
        from deployments.local_server import LocalPrefectServer
        from docgen.db import embedded

        database = DatabaseSettings()
        url = None
        if database.embedded:
            url = embedded.prefect_database_url(database.home).replace(
                "postgresql+asyncpg://", "postgresql://", 1
            )
        server = LocalPrefectServer(
            url, database.home / "prefect-server", port=settings.prefect_port
        )
        server.start()
        os.environ["PREFECT_API_URL"] = server.api_url
        err.print(f"started a local Prefect server: {server.api_url.removesuffix('/api')}")
    try:
        from deployments.serve import serve_all

        err.print(
            "serving documentation-job/on-demand, ingest/on-demand and"
            " nightly-redocumentation/nightly "
            f"(cron '{settings.cron}' {settings.timezone}); Ctrl-C to stop"
        )
        serve_all(limit=limit)
    finally:
        if server is not None:
            server.stop()
