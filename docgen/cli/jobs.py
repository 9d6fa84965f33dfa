"""`docgen jobs ...`, `docgen run` and `docgen estimate`: create, run and watch jobs."""

from __future__ import annotations

import json
import sys
from decimal import Decimal

import typer
from rich.table import Table

from docgen.cli._common import (
    EXIT_CODES_HELP,
    engine,
    err,
    id_column,
    out,
    parse_uuid,
    print_created,
)
from docgen.cli.estimate import print_pricing_note
from docgen.cli.job_run import (
    job_json,
    print_job_summary,
    require_ready_provider,
    run_and_report,
)
from docgen.cli.options import (
    ALL,
    AS_JSON,
    CONCURRENCY,
    CONCURRENT_LAYERS,
    MAX_COST,
    MODE,
    OBJECTS,
    ORG,
    REGENERATE,
    RETRIES,
    SELECT,
    SKIP,
    options_from,
    selection_from,
)
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import transaction

app = typer.Typer(
    help="Documentation jobs: create, run, status, list, pause, resume, cancel.",
    no_args_is_help=True,
)


@app.command("create")
def create(
    org: str = ORG,
    user: str = typer.Option(..., "--user", help="The admin who triggers it (email or id)."),
    objects: list[str] | None = OBJECTS,
    select: list[str] | None = SELECT,
    all_: bool = ALL,
    skip_existing: bool = SKIP,
    regenerate_all: bool = REGENERATE,
    max_retries: int = RETRIES,
    concurrency: int = CONCURRENCY,
    max_cost: float | None = MAX_COST,
    concurrent_layers: bool = CONCURRENT_LAYERS,
    mode: str = MODE,
) -> None:
    """Create a queued job (validated and estimated); prints its id."""
    job = _create(
        org,
        user,
        objects,
        select,
        all_,
        skip_existing,
        regenerate_all,
        max_retries,
        concurrency,
        max_cost,
        concurrent_layers,
        mode=mode,
    )
    err.print(
        f"{job.total_objects} objects, estimated {job.estimated_tokens:,} tokens, "
        f"${job.estimated_cost:.4f} with {job.model_name}"
    )
    print_created("job", job.id)


def _create(
    org: str,
    user: str,
    objects: list[str] | None,
    select: list[str] | None,
    all_: bool,
    skip_existing: bool,
    regenerate_all: bool,
    max_retries: int,
    concurrency: int,
    max_cost: float | None,
    concurrent_layers: bool,
    *,
    mode: str = "sync",
) -> jobs_repo.Job:
    from docgen.jobs import create_job

    options = options_from(
        mode=mode,
        skip_existing=skip_existing,
        regenerate_all=regenerate_all,
        max_retries=max_retries,
        concurrency=concurrency,
        max_cost_usd=Decimal(str(max_cost)) if max_cost is not None else None,
        concurrent_layers=concurrent_layers,
    )
    selection = selection_from(objects, select, all_)
    organization = require_ready_provider(org, user)
    return create_job(engine(), organization.id, selection, options, triggered_by_user_id=user)


@app.command("run", epilog=EXIT_CODES_HELP)
def run(
    job_id: str = typer.Argument(..., help="Job id."),
    as_json: bool = AS_JSON,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Run (or continue) a job in this process, with a progress bar; returns when it is
    completed, failed, cancelled or paused."""
    run_and_report(parse_uuid(job_id, "job id"), as_json, verbose)


@app.command("resume", epilog=EXIT_CODES_HELP)
def resume(
    job_id: str = typer.Argument(..., help="Job id."),
    as_json: bool = AS_JSON,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Continue a paused job in this process (the process that paused may be long gone)."""
    from docgen.jobs import reopen_for_run

    job = reopen_for_run(engine(), parse_uuid(job_id, "job id"))
    err.print(f"job {job.id} resumes at {job.processed_objects}/{job.total_objects} objects")
    run_and_report(job.id, as_json, verbose)


@app.command("status")
def status(job_id: str = typer.Argument(..., help="Job id."), as_json: bool = AS_JSON) -> None:
    """Print the job row (brief's column names with --json)."""
    from docgen.batch_jobs import get_job_batch

    with transaction(engine()) as conn:
        job = jobs_repo.get_job(conn, parse_uuid(job_id, "job id"))
        batch = get_job_batch(conn, job.id)
    if as_json:
        data = json.loads(job_json(job))
        if batch is not None:
            data["batch"] = batch.as_json()
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    print_job_summary(job)
    if batch is not None:
        counts = batch.request_counts
        out.print(
            f"  batch     {batch.phase} {batch.batch_id or '(submitting)'}: "
            f"{batch.provider_status or '-'}, {counts.get('completed', 0)}/"
            f"{counts.get('total', 0)} requests done, {counts.get('failed', 0)} failed",
            markup=False,
        )


@app.command("pause")
def pause(job_id: str = typer.Argument(..., help="Job id.")) -> None:
    """Stop starting new objects; in-flight objects finish. Resume with `docgen jobs resume`."""
    from docgen.jobs import pause_job

    job = pause_job(engine(), parse_uuid(job_id, "job id"))
    err.print(f"job {job.id} {job.status} at {job.processed_objects}/{job.total_objects} objects")


@app.command("cancel")
def cancel(job_id: str = typer.Argument(..., help="Job id.")) -> None:
    """Stop the job for good; its runner stops within seconds, objects in flight are given
    back, nothing is half-stored."""
    from docgen.jobs import cancel_job

    job = cancel_job(engine(), parse_uuid(job_id, "job id"))
    err.print(f"job {job.id} {job.status} at {job.processed_objects}/{job.total_objects} objects")


@app.command("list")
def list_(org: str = ORG, as_json: bool = AS_JSON) -> None:
    """The organization's latest jobs."""
    with transaction(engine()) as conn:
        organization = orgs.get_organization(conn, org)
        found = jobs_repo.list_jobs(conn, organization.id)
    if as_json:
        sys.stdout.write(json.dumps([json.loads(j.model_dump_json()) for j in found]) + "\n")
        return
    table = Table(id_column(), "status", "progress", "failed", "tokens", "cost", "created")
    for job in found:
        table.add_row(
            str(job.id),
            job.status,
            f"{job.processed_objects}/{job.total_objects}",
            str(job.failed_objects),
            f"{job.total_tokens_used:,}",
            f"${job.actual_cost:.4f}",
            f"{job.created_at:%Y-%m-%d %H:%M}",
        )
    out.print(table)


# --- the top-level `docgen run` --------------------------------------------------------------


def run_command(
    org: str = ORG,
    user: str = typer.Option(..., "--user", help="The admin who triggers it (email or id)."),
    objects: list[str] | None = OBJECTS,
    select: list[str] | None = SELECT,
    all_: bool = ALL,
    skip_existing: bool = SKIP,
    regenerate_all: bool = REGENERATE,
    max_retries: int = RETRIES,
    concurrency: int = CONCURRENCY,
    max_cost: float | None = MAX_COST,
    concurrent_layers: bool = CONCURRENT_LAYERS,
    mode: str = MODE,
    as_json: bool = AS_JSON,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Create a job and run it here with a live progress bar."""
    job = _create(
        org,
        user,
        objects,
        select,
        all_,
        skip_existing,
        regenerate_all,
        max_retries,
        concurrency,
        max_cost,
        concurrent_layers,
        mode=mode,
    )
    err.print(f"job {job.id}: {job.total_objects} objects, estimated ${job.estimated_cost:.4f}")
    with transaction(engine()) as conn:
        print_pricing_note(orgs.get_llm_settings(conn, job.organization_id))
    run_and_report(job.id, as_json, verbose)
