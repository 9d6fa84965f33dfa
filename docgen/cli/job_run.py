"""Running a job from the command line and watching it: the flow run in this process, progress
on stderr (a live bar on a terminal, else a line every DOCGEN_CLI_PROGRESS_SECONDS), the
summary, and the exit code with one line for a job that did not fully succeed."""

from __future__ import annotations

import sys
import threading
import time
from uuid import UUID

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from docgen.cli._common import (
    ExitCode,
    engine,
    err,
    job_exit_code,
    out,
    prepare_prefect,
    printable,
)
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import transaction


def job_json(job: jobs_repo.Job) -> str:
    return job.model_dump_json(indent=2)


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


def run_and_report(job_id: UUID, as_json: bool, verbose: bool) -> None:
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
        sys.stdout.write(job_json(job) + "\n")
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
