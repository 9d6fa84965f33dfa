"""`docgen serve`: every deployment from one process, schedules active.

For users without a Prefect server and worker: `serve()` registers
documentation-job/on-demand, nightly-redocumentation/nightly and ingest/on-demand with the
Prefect API and
runs their flow runs itself (each in a subprocess, so cancelling one from the UI kills it).
"""

from __future__ import annotations

import logging
import warnings

from prefect import serve
from prefect.schedules import Cron

from docgen.config import ServeSettings
from flows.documentation_job import documentation_job
from flows.ingest import ingest as ingest_flow
from flows.nightly import nightly_redocumentation


def deployments(settings: ServeSettings | None = None) -> list[object]:
    settings = settings or ServeSettings()
    on_demand = documentation_job.to_deployment(
        name="on-demand",
        tags=["docgen"],
        description="Document a selection of objects, or run/resume a job (job_id).",
    )
    nightly = nightly_redocumentation.to_deployment(
        name="nightly",
        tags=["docgen"],
        schedules=[Cron(settings.cron, timezone=settings.timezone)],
        parameters={"organization": settings.organization} if settings.organization else {},
        description="Re-document what changed since its current documentation.",
    )
    ingest = ingest_flow.to_deployment(
        name="on-demand",
        tags=["docgen"],
        description="Register a source's objects for an organization (dbt, sql, postgres, python).",
    )
    return [on_demand, nightly, ingest]


def serve_all(limit: int | None = None, quiet: bool = True) -> None:
    """Serve the deployments until interrupted (Ctrl-C or SIGTERM).

    `quiet`: no info line and no warning when SIGTERM stops it. Prefect's runner logs its
    shutdown at INFO and its SIGTERM handler calls the async `stop()` without awaiting it
    (a RuntimeWarning about nothing the user can act on); the runner pauses the
    deployments either way.
    """
    if quiet:
        logging.getLogger("prefect.runner").setLevel(logging.WARNING)
        warnings.filterwarnings(
            "ignore", message="coroutine 'Runner.astop' was never awaited", category=RuntimeWarning
        )
    serve(*deployments(), limit=limit)  # type: ignore[arg-type]
