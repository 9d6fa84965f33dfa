"""State hooks: mirror Prefect flow-run states into metadata.documentation_jobs.

    Prefect state     documentation-job (parent)            document-object (subflow)
    Running           job -> processing                     -
    Completed         -> completed if every object counted  -
    Failed            -> failed, error_log gets the message -
    Crashed           -> failed, error_log says crashed     claim released
    Cancelled         -> cancelled                          claim released

The flow body already sets the job's final status itself; hooks cover what the body could
not (a crash, a cancellation from the Prefect UI, an error raised out of the body). They are
idempotent (update_job_status ignores a status the job already has) and never raise.
Messages are redacted before they reach error_log.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from docgen.db import jobs as jobs_repo
from docgen.db.engine import get_engine, transaction
from docgen.redact import one_line, redact

logger = logging.getLogger("docgen.hooks")


def _job_id(flow_run: Any) -> UUID | None:
    """The job of a flow run: its job_id parameter, or the job that recorded its run id."""
    value = (flow_run.parameters or {}).get("job_id")
    if value:
        return UUID(str(value))
    with transaction(get_engine()) as conn:
        found = conn.execute(
            sa.text("SELECT id FROM metadata.documentation_jobs WHERE prefect_flow_run_id = :f"),
            {"f": flow_run.id},
        ).scalar()
    return found  # type: ignore[no-any-return]


def _mirror(
    flow_run: Any, status: str, details: dict[str, Any] | None, *, only_from: tuple[str, ...]
) -> None:
    try:
        job_id = _job_id(flow_run)
        if job_id is None:
            return
        with transaction(get_engine()) as conn:
            job = jobs_repo.get_job(conn, job_id)
            if job.status in only_from:
                jobs_repo.update_job_status(conn, job_id, status, details)
    except Exception as exc:  # noqa: BLE001 - a hook must not fail the run it reports on
        logger.warning("could not mirror state %s into job: %s", status, one_line(str(exc)))


def _message(state: Any) -> str:
    return redact(one_line(str(getattr(state, "message", "") or ""), 1000))


def on_running(flow: Any, flow_run: Any, state: Any) -> None:
    _mirror(flow_run, "processing", None, only_from=("queued",))


def on_completion(flow: Any, flow_run: Any, state: Any) -> None:
    try:
        job_id = _job_id(flow_run)
        if job_id is None:
            return
        with transaction(get_engine()) as conn:
            job = jobs_repo.get_job(conn, job_id)
            if job.status == "processing" and job.processed_objects == job.total_objects:
                jobs_repo.update_job_status(conn, job_id, "completed")
    except Exception as exc:  # noqa: BLE001
        logger.warning("could not mirror completion into job: %s", one_line(str(exc)))


def on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    _mirror(
        flow_run,
        "failed",
        {"prefect_state": "Failed", "error": _message(state), "flow_run_id": str(flow_run.id)},
        only_from=("queued", "processing", "paused"),
    )


def on_crashed(flow: Any, flow_run: Any, state: Any) -> None:
    _mirror(
        flow_run,
        "failed",
        {"prefect_state": "Crashed", "error": _message(state), "flow_run_id": str(flow_run.id)},
        only_from=("queued", "processing", "paused"),
    )


def on_cancellation(flow: Any, flow_run: Any, state: Any) -> None:
    _mirror(
        flow_run,
        "cancelled",
        {"prefect_state": "Cancelled", "reason": _message(state), "flow_run_id": str(flow_run.id)},
        only_from=("queued", "processing", "paused"),
    )


def release_claim(flow: Any, flow_run: Any, state: Any) -> None:
    """document-object crashed or was cancelled: give its object back to the job."""
    from flows.runtime import runtime_if_any

    try:
        params = flow_run.parameters or {}
        job_id, object_id = params.get("job_id"), params.get("object_id")
        runtime = runtime_if_any(UUID(str(job_id))) if job_id else None
        if runtime is None or not object_id:
            return
        with transaction(runtime.engine) as conn:
            jobs_repo.release_object(conn, runtime.job_id, UUID(str(object_id)), runtime.runner)
    except Exception as exc:  # noqa: BLE001
        logger.warning("could not release the object's claim: %s", one_line(str(exc)))
