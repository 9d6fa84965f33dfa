"""`docgen serve`: every deployment from one process, schedules active.

For users without a Prefect server and worker: `serve()` registers the deployments of
prefect.yaml (documentation-job/on-demand and /existing-job, nightly-redocumentation/nightly,
ingest/on-demand, batch-poller/poll every DOCGEN_BATCH_POLLER_SECONDS; same descriptions and
enforced forms) with the Prefect API and runs their
flow runs itself (each in a subprocess, so cancelling one from the UI kills it).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from prefect import serve
from prefect.schedules import Cron, Interval
from ruamel import yaml

from docgen.batch_jobs import BatchSettings
from docgen.config import ServeSettings
from docgen.resources import project_root
from flows.batch_poller import batch_poller
from flows.documentation_job import documentation_job, new_documentation_job
from flows.ingest import ingest as ingest_flow
from flows.nightly import nightly_redocumentation


def deployments(settings: ServeSettings | None = None) -> list[object]:
    """The deployments of prefect.yaml, with its descriptions, for `serve()`."""
    settings = settings or ServeSettings()
    described = {(d["entrypoint"], d["name"]): d for d in _prefect_yaml()["deployments"]}

    def deployment(flow: Any, entrypoint: str, name: str, **extra: Any) -> object:
        spec = described[(entrypoint, name)]
        return flow.to_deployment(
            name=name,
            tags=spec["tags"],
            description=spec["description"],
            enforce_parameter_schema=spec["enforce_parameter_schema"],
            **extra,
        )

    return [
        deployment(
            new_documentation_job, "flows/documentation_job.py:new_documentation_job", "on-demand"
        ),
        deployment(
            nightly_redocumentation,
            "flows/nightly.py:nightly_redocumentation",
            "nightly",
            schedules=[Cron(settings.cron, timezone=settings.timezone)],
            parameters={"organization": settings.organization} if settings.organization else {},
        ),
        deployment(ingest_flow, "flows/ingest.py:ingest", "on-demand"),
        deployment(
            documentation_job, "flows/documentation_job.py:documentation_job", "existing-job"
        ),
        deployment(
            batch_poller,
            "flows/batch_poller.py:batch_poller",
            "poll",
            schedules=[Interval(BatchSettings().poller_seconds)],
        ),
    ]


def _prefect_yaml() -> dict[str, Any]:
    return yaml.YAML(typ="safe").load((project_root() / "prefect.yaml").read_text())


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
