"""Recording what happened to one object of a job, each in one transaction: documented
(the new version, its six log rows and the job's counters), failed, skipped; and
skip_existing in bulk. A runner that lost its claim on the object records nothing, so no
object is counted twice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from docgen.context import load_contexts
from docgen.db import jobs as jobs_repo
from docgen.db.engine import transaction


class _ClaimLost(Exception):
    """Raised inside a transaction to roll it back when the runner lost its claim."""


def _layer_counts(outcomes: list[Any]) -> tuple[dict[str, int], dict[str, int]]:
    done = {o.layer: 1 for o in outcomes if o.status == "completed"}
    failed = {o.layer: 1 for o in outcomes if o.status == "failed"}
    return done, failed


def all_failed(job: jobs_repo.Job) -> dict[str, Any] | None:
    """The error_log entry that fails a finished job in which no object was documented
    (every object failed), or None. Such a job is not 'completed'."""
    failed, total = job.failed_objects, job.total_objects - job.skipped_objects
    if failed == 0 or failed < total:
        return None
    first = next(
        (e.get("error") for e in job.error_log if e.get("status") == "object_failed"), None
    )
    return {
        "kind": "AllObjectsFailed",
        "error": f"every object failed ({failed} of {job.total_objects})"
        + (f"; first error: {first}" if first else ""),
    }


def failure_entry(
    object_id: UUID, outcomes: list[Any], error: str | None = None
) -> dict[str, Any] | None:
    """The job's error_log entry for an object that failed or lost layers (redacted), or
    None when everything worked."""
    from docgen.redact import redact

    layers = {o.layer: redact(o.error or "failed") for o in outcomes if o.status == "failed"}
    if error is None and not layers:
        return None
    entry: dict[str, Any] = {
        "status": "object_failed" if error is not None else "layers_failed",
        "object_id": str(object_id),
        "layers": layers,
    }
    if error is not None:
        entry["error"] = redact(error)
    else:
        entry["error"] = (
            f"{len(layers)} layer(s) failed: "
            + "; ".join(f"{name}: {text}" for name, text in layers.items())[:1000]
        )
    return entry


def _progress(conn: Connection, job_id: UUID) -> None:
    """The job's average processing time and estimated completion, in the transaction that
    counted an object (one commit per object, not two)."""
    jobs_repo.update_average_processing_time(conn, job_id)
    jobs_repo.update_estimated_completion(conn, job_id)


def record_documented(
    engine: Engine,
    service: Any,
    job_id: UUID,
    runner: str,
    generated: Any,
) -> Any:
    """Store the new version, its six log rows and the job's counters in one transaction.

    Returns the stored Documentation, or None when the claim was lost (nothing stored).
    """
    usage = generated.usage
    done, failed = _layer_counts(list(generated.outcomes.values()))
    try:
        with transaction(engine) as conn:
            stored = service.store_documentation(
                generated.object_id, generated, job_id=job_id, conn=conn
            )
            if not jobs_repo.finish_object(
                conn,
                job_id,
                generated.object_id,
                runner,
                status="documented",
                documentation_id=stored.id,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost=generated.cost_usd,
                layers_completed=done,
                layers_failed=failed,
                log_entry=failure_entry(generated.object_id, list(generated.outcomes.values())),
            ):
                raise _ClaimLost
            _progress(conn, job_id)
    except _ClaimLost:
        return None
    return stored


def record_failed(
    engine: Engine,
    job_id: UUID,
    object_id: UUID,
    runner: str,
    outcomes: list[Any],
    error: str,
    cost: Decimal,
) -> bool:
    """Count a failed object: a log row per layer tried, its tokens and cost, the error."""
    from docgen.db.logs import insert_layer_logs

    done, failed = _layer_counts(outcomes)
    prompt = sum(o.usage.prompt_tokens for o in outcomes)
    completion = sum(o.usage.completion_tokens for o in outcomes)
    try:
        with transaction(engine) as conn:
            insert_layer_logs(conn, job_id, object_id, outcomes)
            if not jobs_repo.finish_object(
                conn,
                job_id,
                object_id,
                runner,
                status="failed",
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost=cost,
                layers_completed=done,
                layers_failed=failed,
                error=error,
                log_entry=failure_entry(object_id, outcomes, error),
            ):
                raise _ClaimLost
            _progress(conn, job_id)
    except _ClaimLost:
        return False
    return True


def record_skipped(engine: Engine, job_id: UUID, object_id: UUID, runner: str) -> bool:
    """Count an object skip_existing found up to date."""
    try:
        with transaction(engine) as conn:
            if not jobs_repo.finish_object(conn, job_id, object_id, runner, status="skipped"):
                raise _ClaimLost
            _progress(conn, job_id)
    except _ClaimLost:
        return False
    return True


def skip_up_to_date(engine: Engine, job_id: UUID, model: str) -> int:
    """skip_existing in bulk: count as skipped every pending object whose current
    documentation was made from exactly its present inputs, and whose upstream objects are
    not going to be re-documented by this job. Returns how many.

    Each object moves pending -> skipped in the same transaction that counts it, so a
    concurrent runner can neither claim it nor count it again.
    """
    from docgen.db.documentation import current_for_objects
    from docgen.prompts import context_hash
    from docgen.review import latest_hashes

    with transaction(engine) as conn:
        pending = [o.object_id for o in jobs_repo.job_objects(conn, job_id, status="pending")]
        if not pending:
            return 0
        contexts = load_contexts(conn, pending)
        current = current_for_objects(conn, pending)
        made_from = latest_hashes(conn, pending)  # current versions and pending proposals
    fresh = {
        object_id
        for object_id in pending
        if object_id in current
        and context_hash(contexts[object_id], model) in made_from.get(object_id, set())
    }
    # an object whose upstream is still to be documented in this job may get new inputs
    # (that upstream's new summary): leave it to its own turn
    changing = set(pending) - fresh
    while True:
        waiting = {
            object_id
            for object_id in fresh
            if changing.intersection(contexts[object_id].object.upstream_object_ids)
        }
        if not waiting:
            break
        fresh -= waiting
        changing |= waiting
    up_to_date = [object_id for object_id in pending if object_id in fresh]
    if not up_to_date:
        return 0
    with transaction(engine) as conn:
        settled = (
            conn.execute(
                sa.text(
                    "UPDATE metadata.documentation_job_objects SET status = 'skipped',"
                    " started_at = now(), finished_at = now()"
                    " WHERE job_id = :j AND object_id = ANY(:ids) AND status = 'pending'"
                    " RETURNING object_id"
                ),
                {"j": job_id, "ids": up_to_date},
            )
            .scalars()
            .all()
        )
        for _ in settled:
            jobs_repo.increment_processed_objects(conn, job_id)
        conn.execute(
            sa.text(
                "UPDATE metadata.documentation_jobs SET skipped_objects = skipped_objects + :n,"
                " updated_at = now() WHERE id = :j"
            ),
            {"n": len(settled), "j": job_id},
        )
        _progress(conn, job_id)
    return len(settled)
