"""metadata.documentation_generation_logs: one row per layer per object run."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from docgen.outcomes import LayerOutcome


def insert_layer_logs(
    conn: Connection,
    job_id: UUID | None,
    object_id: UUID,
    outcomes: list[LayerOutcome],
    *,
    documentation_id: UUID | None = None,
    privacy_masked: dict[str, int] | None = None,
) -> None:
    """One row per layer; `privacy_masked` (what was masked in the code, by kind) goes on
    every row, since every layer read the same masked code."""
    if not outcomes:
        return
    conn.execute(
        sa.text(
            "INSERT INTO metadata.documentation_generation_logs (job_id, object_id, layer,"
            " status, tokens_used, prompt_tokens, completion_tokens, cached_tokens,"
            " processing_time_ms, error_message, model_used, finish_reason, attempts,"
            " documentation_id, privacy_masked, grounding) VALUES (:job, :obj, :layer,"
            " :status, :tokens, :prompt, :completion, :cached, :ms, :error, :model, :finish,"
            " :attempts, :doc, CAST(:masked AS jsonb), CAST(:grounding AS jsonb))"
        ),
        [
            {
                "job": job_id,
                "obj": object_id,
                "layer": o.layer,
                "status": o.status,
                "tokens": o.usage.total_tokens,
                "prompt": o.usage.prompt_tokens,
                "completion": o.usage.completion_tokens,
                "cached": o.usage.cached_tokens,
                "ms": o.duration_ms,
                "error": o.error,
                "model": o.model,
                "finish": o.finish_reason,
                "attempts": o.attempts,
                "doc": documentation_id,
                "masked": json.dumps(privacy_masked) if privacy_masked else None,
                "grounding": json.dumps(o.grounding) if o.grounding else None,
            }
            for o in outcomes
        ],
    )


def logs_for(
    conn: Connection, *, job_id: UUID | None = None, object_id: UUID | None = None
) -> list[dict[str, Any]]:
    clauses, params = [], {}
    if job_id is not None:
        clauses.append("job_id = :j")
        params["j"] = job_id
    if object_id is not None:
        clauses.append("object_id = :o")
        params["o"] = object_id
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    rows = conn.execute(
        sa.text(f"SELECT * FROM metadata.documentation_generation_logs{where} ORDER BY created_at"),
        params,
    )
    return [dict(r._mapping) for r in rows]
