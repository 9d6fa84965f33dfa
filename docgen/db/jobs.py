"""metadata.documentation_jobs and the brief's helper functions, called from Python.

The counters and status live in plpgsql (sql/001_foundation.sql) so they stay atomic under
concurrent callers; these wrappers only name them.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from docgen.errors import NotFound

JobStatus = Literal[
    "queued", "processing", "waiting_for_batch", "completed", "failed", "cancelled", "paused"
]
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


class Job(BaseModel):
    """One row of metadata.documentation_jobs, with the brief's column names."""

    id: UUID
    organization_id: UUID
    connection_id: UUID | None = None
    object_ids: list[UUID]
    total_objects: int
    processed_objects: int
    failed_objects: int
    skipped_objects: int
    status: JobStatus
    current_object_id: UUID | None = None
    progress_percentage: Decimal
    estimated_completion_time: datetime | None = None
    average_processing_time_ms: int | None = None
    api_provider: str
    model_name: str
    total_tokens_used: int
    prompt_tokens_used: int
    completion_tokens_used: int
    estimated_cost: Decimal
    estimated_tokens: int
    actual_cost: Decimal
    layers_completed: dict[str, int] = Field(default_factory=dict)
    layers_failed: dict[str, int] = Field(default_factory=dict)
    triggered_by_user_id: UUID | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    prefect_flow_run_id: UUID | None = None
    error_log: list[dict[str, Any]] = Field(default_factory=list)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    paused_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


def _job(row: sa.Row[Any]) -> Job:
    return Job.model_validate(row._mapping)


def insert_job(
    conn: Connection,
    organization_id: UUID,
    object_ids: list[UUID],
    *,
    model_name: str,
    api_provider: str = "openai",
    triggered_by_user_id: UUID | None = None,
    options: dict[str, Any] | None = None,
    estimated_tokens: dict[UUID, int] | None = None,
    estimated_costs: dict[UUID, Decimal] | None = None,
) -> Job:
    """Insert a queued job and one pending per-object row per object, in the given order."""
    estimated_tokens = estimated_tokens or {}
    estimated_costs = estimated_costs or {}
    row = conn.execute(
        sa.text(
            "INSERT INTO metadata.documentation_jobs (organization_id, object_ids, total_objects,"
            " api_provider, model_name, triggered_by_user_id, options, estimated_tokens,"
            " estimated_cost) VALUES (:o, :ids, :n, :p, :m, :u, CAST(:opt AS jsonb), :et, :ec)"
            " RETURNING *"
        ),
        {
            "o": organization_id,
            "ids": list(object_ids),
            "n": len(object_ids),
            "p": api_provider,
            "m": model_name,
            "u": triggered_by_user_id,
            "opt": json.dumps(options or {}),
            "et": sum(estimated_tokens.values()),
            "ec": sum(estimated_costs.values(), Decimal(0)),
        },
    ).one()
    if object_ids:
        conn.execute(
            sa.text(
                "INSERT INTO metadata.documentation_job_objects"
                " (job_id, object_id, position, estimated_tokens, estimated_cost)"
                " VALUES (:j, :o, :p, :t, :c)"
            ),
            [
                {
                    "j": row.id,
                    "o": object_id,
                    "p": position,
                    "t": estimated_tokens.get(object_id, 0),
                    "c": estimated_costs.get(object_id, Decimal(0)),
                }
                for position, object_id in enumerate(object_ids)
            ],
        )
    return _job(row)


def get_job(conn: Connection, job_id: UUID) -> Job:
    row = conn.execute(
        sa.text("SELECT * FROM metadata.documentation_jobs WHERE id = :j"), {"j": job_id}
    ).first()
    if row is None:
        raise NotFound(f"unknown job {job_id}")
    return _job(row)


def list_jobs(conn: Connection, organization_id: UUID, limit: int = 50) -> list[Job]:
    rows = conn.execute(
        sa.text(
            "SELECT * FROM metadata.documentation_jobs WHERE organization_id = :o"
            " ORDER BY created_at DESC LIMIT :l"
        ),
        {"o": organization_id, "l": limit},
    )
    return [_job(r) for r in rows]


# --- the brief's helper functions ---------------------------------------------------------


def increment_processed_objects(conn: Connection, job_id: UUID) -> int:
    return int(
        conn.execute(
            sa.text("SELECT metadata.increment_processed_objects(:j)"), {"j": job_id}
        ).scalar_one()
    )


def increment_failed_objects(conn: Connection, job_id: UUID) -> int:
    return int(
        conn.execute(
            sa.text("SELECT metadata.increment_failed_objects(:j)"), {"j": job_id}
        ).scalar_one()
    )


def update_job_status(
    conn: Connection, job_id: UUID, status: str, error_details: dict[str, Any] | None = None
) -> Job:
    row = conn.execute(
        sa.text("SELECT * FROM metadata.update_job_status(:j, :s, CAST(:e AS jsonb))"),
        {"j": job_id, "s": status, "e": json.dumps(error_details) if error_details else None},
    ).one()
    return _job(row)


def reopen_job(conn: Connection, job_id: UUID, reason: str = "rerun") -> Job:
    row = conn.execute(
        sa.text("SELECT * FROM metadata.reopen_job(:j, :r)"), {"j": job_id, "r": reason}
    ).one()
    return _job(row)


def update_average_processing_time(conn: Connection, job_id: UUID) -> int | None:
    return conn.execute(
        sa.text("SELECT metadata.update_average_processing_time(:j)"), {"j": job_id}
    ).scalar_one()


def update_estimated_completion(conn: Connection, job_id: UUID) -> datetime | None:
    return conn.execute(
        sa.text("SELECT metadata.update_estimated_completion(:j)"), {"j": job_id}
    ).scalar_one()


def get_documentation_summary(conn: Connection, object_id: UUID) -> dict[str, Any] | None:
    return conn.execute(
        sa.text("SELECT metadata.get_documentation_summary(:o)"), {"o": object_id}
    ).scalar_one()


# --- per-object state: claims and results --------------------------------------------------

#: first key of the two-int advisory locks that mark a job's live runners ("dgjb")
RUNNER_LOCK_NAMESPACE = 0x64676A62 - 2**31


class JobObject(BaseModel):
    job_id: UUID
    object_id: UUID
    position: int
    status: str
    attempts: int
    claimed_by: str | None = None
    estimated_tokens: int
    estimated_cost: Decimal
    tokens_used: int
    cost: Decimal
    documentation_id: UUID | None = None
    error_message: str | None = None


def job_objects(conn: Connection, job_id: UUID, status: str | None = None) -> list[JobObject]:
    where = " AND status = :s" if status else ""
    rows = conn.execute(
        sa.text(
            "SELECT * FROM metadata.documentation_job_objects WHERE job_id = :j"
            f"{where} ORDER BY position"
        ),
        {"j": job_id, "s": status},
    )
    return [JobObject.model_validate(r._mapping) for r in rows]


def reset_stale_claims(conn: Connection, job_id: UUID) -> int:
    """Put objects a dead runner left 'processing' back to 'pending' (nothing of them was
    stored: storing and finishing happen in one transaction). Call only as the job's sole
    runner (see docgen.jobs.runner_lock)."""
    result = conn.execute(
        sa.text(
            "UPDATE metadata.documentation_job_objects SET status = 'pending', claimed_by = NULL"
            " WHERE job_id = :j AND status = 'processing'"
        ),
        {"j": job_id},
    )
    return result.rowcount or 0


def claim_object(conn: Connection, job_id: UUID, object_id: UUID, runner: str) -> bool:
    """pending -> processing for this runner; False if it is not pending any more."""
    claimed = conn.execute(
        sa.text(
            "UPDATE metadata.documentation_job_objects SET status = 'processing',"
            " claimed_by = :r, attempts = attempts + 1, started_at = now(), finished_at = NULL"
            " WHERE job_id = :j AND object_id = :o AND status = 'pending' RETURNING 1"
        ),
        {"j": job_id, "o": object_id, "r": runner},
    ).first()
    if claimed:
        conn.execute(
            sa.text(
                "UPDATE metadata.documentation_jobs SET current_object_id = :o, updated_at = now()"
                " WHERE id = :j AND status = 'processing'"
            ),
            {"j": job_id, "o": object_id},
        )
    return claimed is not None


#: object and layer failures kept in a job's error_log (job-level entries are always added)
ERROR_LOG_OBJECT_ENTRIES = 200


def finish_object(
    conn: Connection,
    job_id: UUID,
    object_id: UUID,
    runner: str,
    *,
    status: Literal["documented", "failed", "skipped"],
    documentation_id: UUID | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cost: Decimal = Decimal(0),
    layers_completed: dict[str, int] | None = None,
    layers_failed: dict[str, int] | None = None,
    error: str | None = None,
    log_entry: dict[str, Any] | None = None,
) -> bool:
    """Record one finished object and count it on the job, in the caller's transaction.

    `log_entry` (a failed object, or failed layers) is appended to the job's error_log,
    which keeps at most ERROR_LOG_OBJECT_ENTRIES such entries (the counters keep the rest).

    Returns False (and changes nothing) when this runner no longer holds the claim, so the
    caller rolls back whatever it stored with it: no object is ever counted twice.
    """
    owned = conn.execute(
        sa.text(
            "UPDATE metadata.documentation_job_objects SET status = :s, finished_at = now(),"
            " documentation_id = :d, tokens_used = :t, cost = :c, error_message = :e"
            " WHERE job_id = :j AND object_id = :o AND status = 'processing'"
            " AND claimed_by = :r RETURNING 1"
        ),
        {
            "s": status,
            "d": documentation_id,
            "t": prompt_tokens + completion_tokens,
            "c": cost,
            "e": error,
            "j": job_id,
            "o": object_id,
            "r": runner,
        },
    ).first()
    if owned is None:
        return False
    increment_processed_objects(conn, job_id)
    if status == "failed":
        increment_failed_objects(conn, job_id)
    conn.execute(
        sa.text(
            "UPDATE metadata.documentation_jobs AS j SET"
            " skipped_objects = j.skipped_objects + :skipped,"
            " total_tokens_used = j.total_tokens_used + :total,"
            " prompt_tokens_used = j.prompt_tokens_used + :prompt,"
            " completion_tokens_used = j.completion_tokens_used + :completion,"
            " actual_cost = j.actual_cost + :cost,"
            " layers_completed = j.layers_completed || (SELECT coalesce(jsonb_object_agg("
            "   e.key, coalesce((j.layers_completed ->> e.key)::int, 0) + e.value::int), '{}')"
            "   FROM jsonb_each_text(CAST(:done AS jsonb)) AS e),"
            " layers_failed = j.layers_failed || (SELECT coalesce(jsonb_object_agg("
            "   e.key, coalesce((j.layers_failed ->> e.key)::int, 0) + e.value::int), '{}')"
            "   FROM jsonb_each_text(CAST(:failed AS jsonb)) AS e),"
            " error_log = CASE WHEN CAST(:entry AS jsonb) IS NULL"
            "   OR jsonb_array_length(j.error_log) >= :cap THEN j.error_log"
            "   ELSE j.error_log || jsonb_build_array(CAST(:entry AS jsonb)"
            "   || jsonb_build_object('at', now())) END,"
            " updated_at = now()"
            " WHERE j.id = :j"
        ),
        {
            "entry": json.dumps(log_entry) if log_entry else None,
            "cap": ERROR_LOG_OBJECT_ENTRIES,
            "skipped": 1 if status == "skipped" else 0,
            "total": prompt_tokens + completion_tokens,
            "prompt": prompt_tokens,
            "completion": completion_tokens,
            "cost": cost,
            "done": json.dumps(layers_completed or {}),
            "failed": json.dumps(layers_failed or {}),
            "j": job_id,
        },
    )
    return True


def holds_claim(conn: Connection, job_id: UUID, object_id: UUID, runner: str) -> bool:
    """True while `runner` holds the object (processing, claimed by it); the row is locked
    for the rest of the transaction so a concurrent release cannot slip in between."""
    held = conn.execute(
        sa.text(
            "SELECT 1 FROM metadata.documentation_job_objects WHERE job_id = :j"
            " AND object_id = :o AND status = 'processing' AND claimed_by = :r FOR UPDATE"
        ),
        {"j": job_id, "o": object_id, "r": runner},
    ).first()
    return held is not None


def release_object(conn: Connection, job_id: UUID, object_id: UUID, runner: str) -> None:
    """Give an object back (processing -> pending) when this runner stops before storing it
    (pause, cancel, or an error outside the object's own failure)."""
    conn.execute(
        sa.text(
            "UPDATE metadata.documentation_job_objects SET status = 'pending', claimed_by = NULL"
            " WHERE job_id = :j AND object_id = :o AND status = 'processing' AND claimed_by = :r"
        ),
        {"j": job_id, "o": object_id, "r": runner},
    )


def set_flow_run(conn: Connection, job_id: UUID, flow_run_id: UUID | None) -> None:
    conn.execute(
        sa.text(
            "UPDATE metadata.documentation_jobs SET prefect_flow_run_id = :f, updated_at = now()"
            " WHERE id = :j"
        ),
        {"j": job_id, "f": flow_run_id},
    )
