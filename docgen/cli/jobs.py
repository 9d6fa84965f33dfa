"""`docgen jobs ...`, `docgen run` and `docgen estimate`: create, run and watch jobs."""

from __future__ import annotations

import json
import sys
import threading
import time
from decimal import Decimal
from typing import Any
from uuid import UUID

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text

from docgen.cli._common import (
    EXIT_CODES_HELP,
    ExitCode,
    engine,
    err,
    id_column,
    job_exit_code,
    out,
    parse_uuid,
    prepare_prefect,
    print_created,
    printable,
)
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import transaction
from docgen.db.objects import Selection
from docgen.errors import InvalidInput

app = typer.Typer(
    help="Documentation jobs: create, run, status, list, pause, resume, cancel.",
    no_args_is_help=True,
)

# Options shared by the commands that select objects or set job options.
ORG = typer.Option(..., "--org", help="Organization name or id.")
OBJECTS = typer.Option(None, "--object", help="Object id (repeatable).")
SELECT = typer.Option(None, "--select", help="Glob on object names, e.g. 'fct_*' (repeatable).")
ALL = typer.Option(False, "--all", help="Every object of the organization.")
SKIP = typer.Option(
    False,
    "--skip-existing",
    help="Skip objects already documented from the "
    "same code, upstream documentation, prompt version and model.",
)
REGENERATE = typer.Option(False, "--regenerate-all", help="Call the LLM again for every layer.")
RETRIES = typer.Option(3, "--max-retries", help="Retries per layer call.")
CONCURRENCY = typer.Option(1, "--concurrency", help="Objects at the same time (1 = sequential).")
MAX_COST = typer.Option(None, "--max-cost", help="Pause the job before spending more (USD).")
CONCURRENT_LAYERS = typer.Option(
    False, "--concurrent-layers", help="Generate an object's four non-critical layers together."
)
AS_JSON = typer.Option(False, "--json", help="Print JSON.")
MODE = typer.Option(
    "sync",
    "--mode",
    help="sync (answers at once) or batch (OpenAI Batch API: half the price, answers "
    "within 24 h; for nightly and large jobs).",
)


def selection_from(objects: list[str] | None, select: list[str] | None, all_: bool) -> Selection:
    if not (objects or select or all_):
        raise InvalidInput("choose objects with --object ID, --select GLOB or --all")
    return Selection(
        object_ids=[parse_uuid(o, "--object") for o in objects or []],
        select=list(select or []),
        all=all_,
    )


#: JobOptions fields as the flags users type, for error messages
FLAG_OF = {
    "skip_existing": "--skip-existing",
    "regenerate_all": "--regenerate-all",
    "max_retries": "--max-retries",
    "concurrency": "--concurrency",
    "max_cost_usd": "--max-cost",
    "concurrent_layers": "--concurrent-layers",
}


def options_from(**values: Any) -> Any:
    from pydantic import ValidationError

    from docgen.jobs import JobOptions

    try:
        return JobOptions(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(FLAG_OF.get(str(p), str(p)) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        for field, flag in FLAG_OF.items():
            message = message.replace(field, flag)
        raise InvalidInput(f"{where}: {message}" if where else message) from None


def _job_json(job: jobs_repo.Job) -> str:
    return job.model_dump_json(indent=2)


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
    _run_and_report(parse_uuid(job_id, "job id"), as_json, verbose)


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
    _run_and_report(job.id, as_json, verbose)


@app.command("status")
def status(job_id: str = typer.Argument(..., help="Job id."), as_json: bool = AS_JSON) -> None:
    """Print the job row (brief's column names with --json)."""
    from docgen.batch_jobs import get_job_batch

    with transaction(engine()) as conn:
        job = jobs_repo.get_job(conn, parse_uuid(job_id, "job id"))
        batch = get_job_batch(conn, job.id)
    if as_json:
        data = json.loads(_job_json(job))
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


def print_job_summary(job: jobs_repo.Job) -> None:
    out.print(f"job {job.id}: {job.status}")
    out.print(
        f"  objects   {job.processed_objects}/{job.total_objects} processed "
        f"({job.progress_percentage}%), {job.failed_objects} failed, "
        f"{job.skipped_objects} skipped"
    )
    out.print(f"  tokens    {job.total_tokens_used:,} (estimated {job.estimated_tokens:,})")
    out.print(
        f"  cost      ${job.actual_cost:.4f} (estimated ${job.estimated_cost:.4f}) "
        f"with {job.api_provider}/{job.model_name}"
    )
    if job.estimated_completion_time and job.status == "processing":
        out.print(f"  ETA       {job.estimated_completion_time:%Y-%m-%d %H:%M:%S %Z}")
    if job.layers_failed:
        layers = ", ".join(f"{name} {count}" for name, count in sorted(job.layers_failed.items()))
        out.print(f"  layers    {sum(job.layers_failed.values())} failed ({layers})")
    if job.error_log:
        last = job.error_log[-1]
        out.print(
            f"  last note {last.get('status')}: {last.get('error') or last.get('reason') or ''}"
        )


def require_ready_provider(org: str | UUID, user: str | None = None) -> orgs.Organization:
    """The organization, once `user` (when given) is one of its admins and its provider can
    run a job (a one-line error with the fix otherwise), checked before anything is created
    or Prefect starts."""
    with transaction(engine()) as conn:
        organization = orgs.get_organization(conn, org)
        if user is not None:
            orgs.require_admin(conn, organization, orgs.get_user(conn, user))
        settings = orgs.get_llm_settings(conn, organization.id)
    orgs.check_provider_ready(organization, settings)
    return organization


def _run_and_report(job_id: UUID, as_json: bool, verbose: bool) -> None:
    with transaction(engine()) as conn:
        job = jobs_repo.get_job(conn, job_id)
    require_ready_provider(job.organization_id)
    from docgen.config import PrefectEnvironment

    api_url = PrefectEnvironment().api_url
    err.print(
        f"starting the flow run on the Prefect server at {api_url}"
        if api_url
        else "starting Prefect for this run (a local server; its first start on a new"
        " database creates Prefect's tables and can take a minute)"
    )
    prepare_prefect(verbose)
    from flows.orchestrator import DocumentationJobOrchestrator

    if not verbose:
        from flows.console import quiet_engine_logs

        quiet_engine_logs()  # one line per failed object, not Prefect's tracebacks
    orchestrator = DocumentationJobOrchestrator(job.organization_id, engine())
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(job_id, done), daemon=True)
    watcher.start()
    try:
        job = orchestrator.process_job(job_id)
    finally:
        done.set()
        watcher.join(timeout=2)
    if as_json:
        sys.stdout.write(_job_json(job) + "\n")
    else:
        print_job_summary(job)
    raise typer.Exit(report_outcome(job))


def report_outcome(job: jobs_repo.Job) -> int:
    """One line on stderr for a job that did not fully succeed; returns the exit code."""
    code = job_exit_code(job)
    if code is ExitCode.FAILED:
        errors = [e for e in job.error_log if e.get("status") == "failed"]
        detail = (errors[-1].get("error") if errors else None) or "see `docgen jobs status`"
        _stderr_line(f"docgen: error: job {job.id} failed: {detail}")
    elif code is ExitCode.OBJECTS_FAILED:
        _stderr_line(
            f"docgen: job {job.id} completed, but {job.failed_objects} of {job.total_objects}"
            f" objects failed (exit {int(code)}); `docgen jobs status {job.id}` shows why"
        )
    elif code is ExitCode.PAUSED:
        _stderr_line(
            f"docgen: job {job.id} paused at {job.processed_objects}/{job.total_objects}"
            f" (exit {int(code)}); `docgen jobs resume {job.id}` continues it"
        )
    elif code is ExitCode.CANCELLED:
        _stderr_line(f"docgen: job {job.id} cancelled (exit {int(code)})")
    elif code is ExitCode.WAITING_FOR_BATCH:
        _stderr_line(
            f"docgen: job {job.id} waits for its batch (exit {int(code)}); the batch-poller"
            f" deployment goes on when it is done, `docgen jobs status {job.id}` shows it"
        )
    return int(code)


def _stderr_line(message: str) -> None:
    sys.stderr.write(printable(message.splitlines()[0] if message else "") + "\n")
    sys.stderr.flush()


def _watch(job_id: UUID, done: threading.Event) -> None:
    """Progress on stderr from the job row until the run ends: a live bar on a terminal,
    else a line every DOCGEN_CLI_PROGRESS_SECONDS when something changed (and at least
    every sixth time, so a log shows the run is alive)."""
    if err.is_terminal:
        _progress_bar(job_id, done)
        return
    from docgen.config import CLISettings

    interval = CLISettings().progress_seconds
    started = time.monotonic()
    last, quiet = "", 0
    while not done.wait(interval):
        job = _read_job(job_id)
        if job is None:
            continue
        line = progress_line(job, time.monotonic() - started)
        quiet += 1
        if line != last or quiet >= 6:
            err.print(line)
            last, quiet = line, 0


def progress_line(job: jobs_repo.Job, elapsed: float) -> str:
    if job.status == "queued":
        return f"job {job.id}: waiting for Prefect to start the flow run ({elapsed:.0f} s)"
    eta = (
        f", ETA {job.estimated_completion_time:%H:%M:%S}"
        if job.estimated_completion_time and job.status == "processing"
        else ""
    )
    return (
        f"job {job.id}: {job.status}, {job.processed_objects}/{job.total_objects} objects,"
        f" {job.failed_objects} failed, ${job.actual_cost:.4f}{eta}"
    )


def _read_job(job_id: UUID) -> jobs_repo.Job | None:
    try:
        with transaction(engine()) as conn:
            return jobs_repo.get_job(conn, job_id)
    except Exception:  # noqa: BLE001 - a display glitch must not stop the job
        return None


def _progress_bar(job_id: UUID, done: threading.Event) -> None:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}", markup=False),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        bar = progress.add_task("documenting", total=100, detail="")
        while not done.wait(0.5):
            job = _read_job(job_id)
            if job is None:
                continue
            eta = (
                f", ETA {job.estimated_completion_time:%H:%M:%S}"
                if job.estimated_completion_time
                else ""
            )
            progress.update(
                bar,
                completed=float(job.progress_percentage),
                detail=f"{job.processed_objects}/{job.total_objects}, {job.failed_objects} "
                f"failed, ${job.actual_cost:.4f}{eta}",
            )


# --- top-level commands: `docgen run`, `docgen estimate` -------------------------------------


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
        _pricing_note(orgs.get_llm_settings(conn, job.organization_id))
    _run_and_report(job.id, as_json, verbose)


def _pricing_note(settings: orgs.OrgLLMSettings) -> None:
    """Say so when the organization's model has no price (estimated at gpt-4o prices)."""
    from docgen.pricing import pricing_note

    if note := pricing_note(settings):
        err.print(f"note: {note}", markup=False)


def estimate_command(
    org: str = ORG,
    objects: list[str] | None = OBJECTS,
    select: list[str] | None = SELECT,
    all_: bool = ALL,
    as_json: bool = AS_JSON,
) -> None:
    """Tokens and USD per object and in total, before anything runs."""
    from docgen.db.objects import resolve_selection
    from docgen.jobs import estimate_objects

    selection = selection_from(objects, select, all_)
    with transaction(engine()) as conn:
        organization = orgs.get_organization(conn, org)
        settings = orgs.get_llm_settings(conn, organization.id)
        ids = resolve_selection(conn, organization.id, selection)
        estimates = estimate_objects(conn, organization.id, ids)
    model = "offline" if settings.provider == "offline" else settings.model
    _pricing_note(settings)
    total_tokens = sum(e.total_tokens for e in estimates)
    total_cost = sum((e.cost_usd for e in estimates), Decimal(0))
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "model": model,
                    "objects": [
                        {
                            "object_id": str(e.object_id),
                            "name": e.name,
                            "prompt_tokens": e.prompt_tokens,
                            "completion_tokens": e.completion_tokens,
                            "cached_tokens": e.cached_tokens,
                            "cost_usd": str(e.cost_usd),
                        }
                        for e in estimates
                    ],
                    "total_tokens": total_tokens,
                    "total_cost_usd": str(total_cost),
                }
            )
            + "\n"
        )
        return
    table = Table(
        "object",
        "prompt tokens",
        "of which cached",
        "completion tokens",
        "USD",
        title=f"Estimate with {model}",
        caption=f"{total_tokens:,} tokens in total",
    )
    for e in estimates:
        table.add_row(
            e.name,
            f"{e.prompt_tokens:,}",
            f"{e.cached_tokens:,}",
            f"{e.completion_tokens:,}",
            f"{e.cost_usd:.4f}",
        )
    bold = "bold"
    table.add_section()
    table.add_row(
        Text("total", style=bold),
        Text(f"{sum(e.prompt_tokens for e in estimates):,}", style=bold),
        Text(f"{sum(e.cached_tokens for e in estimates):,}", style=bold),
        Text(f"{sum(e.completion_tokens for e in estimates):,}", style=bold),
        Text(f"{total_cost:.4f}", style=bold),
    )
    out.print(table)
