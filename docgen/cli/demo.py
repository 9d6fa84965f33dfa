"""`docgen demo`: the whole product on a fresh machine with nothing configured.

Embedded PostgreSQL under DOCGEN_HOME (unless DOCGEN_DATABASE_URL is set), an organization
`demo` with the offline provider (no API key, no network), the example dbt project
ingested, one job through the real Prefect flows, and the HTML export. Run it again and it
reuses the organization: unchanged objects are skipped, so the second run is quick.
"""

from __future__ import annotations

import atexit
import sys
from pathlib import Path

import typer

from docgen.cli._common import engine, err, prepare_prefect
from docgen.db import embedded, orgs
from docgen.db.engine import transaction
from docgen.errors import NotFound

DEMO_ORG = "demo"
DEMO_USER = "demo@docgen.local"

OUT = typer.Option(None, "--out", help="Where to write the HTML (default DOCGEN_HOME/demo-docs).")
CONCURRENCY = typer.Option(4, "--concurrency", help="Objects documented at the same time.")
FRESH = typer.Option(False, "--regenerate-all", help="Document everything again.")


def demo_command(
    out: Path | None = OUT,
    concurrency: int = CONCURRENCY,
    regenerate_all: bool = FRESH,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Ingest the example dbt project, document it offline through the real flows, export HTML."""
    from docgen.config import DatabaseSettings
    from docgen.ingest import ingest_source
    from docgen.jobs import JobOptions, create_job
    from docgen.model import Selection
    from docgen.render.data import load_catalog
    from docgen.render.html import write_html
    from docgen.resources import examples_dir

    database = DatabaseSettings()
    stop_after = database.embedded and not embedded.is_running(database.home)
    if stop_after:
        # started for the demo, stopped when it exits (after Prefect's server, whose own
        # exit handler is registered later and so runs first)
        atexit.register(_stop_embedded, database.home)
    eng = engine()
    with transaction(eng) as conn:
        try:
            organization = orgs.get_organization(conn, DEMO_ORG)
        except NotFound:
            organization = orgs.create_organization(conn, DEMO_ORG)
        user = orgs.add_user(conn, organization.id, DEMO_USER, "admin")
        orgs.set_provider(conn, organization.id, "offline")
    project = examples_dir() / "jaffle_shop"
    report = ingest_source(eng, organization.id, "dbt", project)
    err.print(
        f"ingested {project}: {report.added} added, {report.changed} changed,"
        f" {report.unchanged} unchanged ({len(report.warnings)} warnings)",
        markup=False,
        soft_wrap=True,
    )
    options = JobOptions(
        concurrency=concurrency, skip_existing=not regenerate_all, regenerate_all=regenerate_all
    )
    job = create_job(
        eng, organization.id, Selection(all=True), options, triggered_by_user_id=user.id
    )
    err.print(f"job {job.id}: {job.total_objects} objects with the offline provider")

    prepare_prefect(verbose)
    from docgen.cli.job_run import print_job_summary, report_outcome
    from flows.orchestrator import DocumentationJobOrchestrator

    done = DocumentationJobOrchestrator(organization.id, eng).process_job(job.id)
    print_job_summary(done)
    target = out or database.home / "demo-docs"
    with transaction(eng) as conn:
        catalog = load_catalog(conn, DEMO_ORG, None)
    written = write_html(catalog, target, force=out is None)  # demo-docs is docgen's own
    err.print(
        f"documentation of {len(catalog.documented)} objects: open {written[0]} in a browser;"
        f" `docgen export --org {DEMO_ORG} --format markdown --out DIR` for Markdown",
        markup=False,
        soft_wrap=True,
    )
    if stop_after:
        err.print(
            f"the embedded PostgreSQL under {database.home} stops when the demo exits; the"
            " next docgen command starts it again"
        )
    elif database.embedded:
        err.print(
            f"the embedded PostgreSQL under {database.home} was running before the demo and"
            " keeps running; `docgen db stop` stops it"
        )
    sys.stdout.write(f"{written[0]}\n")
    raise typer.Exit(report_outcome(done))


def _stop_embedded(home: Path) -> None:
    from docgen.db.engine import dispose_engines

    dispose_engines()
    try:
        embedded.stop(home)
    except Exception:  # noqa: BLE001 - exiting anyway; `docgen db stop` stops it later
        sys.stderr.write(
            f"docgen: the embedded PostgreSQL under {home} may still run;"
            " `docgen db stop` stops it\n"
        )
