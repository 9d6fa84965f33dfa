"""A documentation job's batches: submitted once, reattached after a crash, cancelled on pause.

A job is sent in waves: the objects whose upstream objects in the job are documented go
into one batch; once they are documented, the next wave (their downstream objects, whose
prompts now hold the fresh upstream summaries) goes into the next batch. A dbt project of
depth 3 takes 3 batches; every prompt is the one the synchronous path would send.

The job's row in `metadata.job_batches` (sql/081) is claimed ('submitting') in its own
transaction before the file is uploaded, and the batch carries the job id in its metadata.
So a run that dies at any point finds, on resume:
- a batch id: it reattaches and polls that batch;
- a claim without a batch id (it died between the upload and writing the id): it looks the
  batch up among the provider's batches by the job id in their metadata, and submits only
  if there is none.
Pause and cancel cancel the batch at the provider (`cancel_job_batch`); a resumed job
submits a new batch for the objects still pending (the given-up batch id is kept).

Under a deployment no flow run waits for the batch: the job becomes 'waiting_for_batch'
(`mark_waiting`) and its run ends; the batch-poller flow lists the live batches
(`live_batches`), polls them, cancels those of paused or cancelled jobs, and hands a job whose
batch is done back to a runner (`hand_back`: waiting_for_batch -> queued, once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import openai
import sqlalchemy as sa
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import Connection, Engine

from docgen.batch import (
    BatchAnswers,
    BatchClient,
    BatchStatus,
    batch_file,
    batch_line,
    body_digest,
    compatible_provider,
    custom_id,
)
from docgen.db import jobs as jobs_repo
from docgen.db.engine import transaction
from docgen.layers import LAYER_NAMES
from docgen.providers.openai_compat import OpenAICompatibleProvider


class BatchSettings(BaseSettings):
    """How often a job in batch mode asks the provider about its batch."""

    model_config = SettingsConfigDict(env_prefix="DOCGEN_BATCH_", extra="ignore")

    poll_seconds: float = Field(
        default=30.0, gt=0, description="First wait between two status checks of a batch."
    )
    poll_max_seconds: float = Field(
        default=600.0, gt=0, description="Longest wait between two checks (the wait doubles)."
    )
    poller_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often `docgen serve` runs the batch-poller deployment (seconds).",
    )


@dataclass
class JobBatch:
    """One row of metadata.job_batches."""

    job_id: UUID
    phase: str
    batch_id: str | None = None
    provider_status: str | None = None
    request_counts: dict[str, int] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    previous_batch_ids: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "batch_id": self.batch_id,
            "provider_status": self.provider_status,
            "request_counts": self.request_counts,
            "previous_batch_ids": self.previous_batch_ids,
        }


#: phases in which the row's batch is the one to use
LIVE = ("waiting_for_batch", "answered")


def _finish_wave(engine: Engine, job_id: UUID) -> None:
    with transaction(engine) as conn:
        _update(conn, job_id, phase="done")


def supports_batch(provider: Any) -> bool:
    """OpenAI and Azure OpenAI have the Batch API; the offline analyser has nothing to batch."""
    return compatible_provider(provider) is not None


def get_job_batch(conn: Connection, job_id: UUID, *, lock: bool = False) -> JobBatch | None:
    row = conn.execute(
        sa.text(
            "SELECT job_id, phase, batch_id, provider_status, request_counts, digests,"
            " previous_batch_ids FROM metadata.job_batches WHERE job_id = :j"
            + (" FOR UPDATE" if lock else "")
        ),
        {"j": job_id},
    ).first()
    if row is None:
        return None
    data = dict(row._mapping)
    data["previous_batch_ids"] = list(data["previous_batch_ids"] or [])
    return JobBatch(**data)


def _update(conn: Connection, job_id: UUID, **values: Any) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    params = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in values.items()}
    conn.execute(
        sa.text(
            f"UPDATE metadata.job_batches SET {sets}, updated_at = now() WHERE job_id = :job_id"
        ),
        {**params, "job_id": job_id},
    )


def _claim(engine: Engine, job_id: UUID, digests: dict[str, str]) -> JobBatch | None:
    """Claim the job's batch slot; returns the existing row instead when one is live."""
    with transaction(engine) as conn:
        conn.execute(
            sa.text(
                "INSERT INTO metadata.job_batches (job_id, phase) VALUES (:j, 'cancelled')"
                " ON CONFLICT (job_id) DO NOTHING"
            ),
            {"j": job_id},
        )
        current = get_job_batch(conn, job_id, lock=True)
        assert current is not None
        if current.phase == "submitting" or current.phase in LIVE:
            return current
        previous = current.previous_batch_ids + ([current.batch_id] if current.batch_id else [])
        conn.execute(
            sa.text(
                "UPDATE metadata.job_batches SET phase = 'submitting', batch_id = NULL,"
                " provider_status = NULL, request_counts = '{}', digests = CAST(:d AS jsonb),"
                " previous_batch_ids = :p, submitted_at = NULL, finished_at = NULL,"
                " updated_at = now() WHERE job_id = :j"
            ),
            {"d": json.dumps(digests), "p": previous, "j": job_id},
        )
    return None


def submit_or_reattach(
    engine: Engine, job_id: UUID, service: Any, object_ids: list[UUID]
) -> tuple[JobBatch, bool]:
    """The job's live batch, submitting one for `object_ids` only when there is none.
    Returns the batch and whether this call submitted it."""
    current = _read_if_any(engine, job_id)
    if current is not None and current.batch_id and current.phase in (*LIVE, "failed"):
        wanted = {str(i) for i in object_ids}
        if any(key.split(":", 1)[0] in wanted for key in current.digests):
            return current, False  # reattach: never a second batch for the same objects
        _finish_wave(engine, job_id)  # its objects are documented: the next wave starts
    provider = compatible_provider(service.provider)
    assert provider is not None, "batch mode needs an OpenAI-compatible provider"
    client = BatchClient(provider)
    lines: list[str] = []
    digests: dict[str, str] = {}
    for object_id in object_ids:
        ctx = service.fetch_object_metadata(object_id)
        for layer in LAYER_NAMES:
            request = service.layer_request(ctx, layer)
            lines.append(batch_line(provider, object_id, request))
            digests[custom_id(object_id, layer)] = body_digest(provider.chat_request(request))
    existing = _claim(engine, job_id, digests)
    if existing is not None and existing.batch_id:
        return existing, False
    if existing is not None:  # claimed by a run that died before writing the batch id
        found = _find_submitted(client, job_id)
        if found is not None:
            _record(engine, job_id, found)
            return _read(engine, job_id), False
    status = client.submit(batch_file(lines), metadata={"docgen_job_id": str(job_id)})
    _record(engine, job_id, status)
    return _read(engine, job_id), True


def _find_submitted(client: BatchClient, job_id: UUID) -> BatchStatus | None:
    try:
        listed = client._client.batches.list(limit=100)
    except openai.OpenAIError as exc:
        raise client.provider.translate(exc, "batch") from None
    for batch in listed.data:
        if (batch.metadata or {}).get("docgen_job_id") == str(job_id):
            return client.poll(batch.id)
    return None


def _record(engine: Engine, job_id: UUID, status: BatchStatus) -> None:
    with transaction(engine) as conn:
        _update(
            conn,
            job_id,
            batch_id=status.id,
            phase="waiting_for_batch",
            provider_status=status.status,
            request_counts=status.as_json()["request_counts"],
        )
        conn.execute(
            sa.text(
                "UPDATE metadata.job_batches SET submitted_at = coalesce(submitted_at, now())"
                " WHERE job_id = :j"
            ),
            {"j": job_id},
        )


def _read_if_any(engine: Engine, job_id: UUID) -> JobBatch | None:
    with transaction(engine) as conn:
        return get_job_batch(conn, job_id)


def _read(engine: Engine, job_id: UUID) -> JobBatch:
    batch = _read_if_any(engine, job_id)
    assert batch is not None
    return batch


def poll(engine: Engine, job_id: UUID, provider: OpenAICompatibleProvider) -> BatchStatus:
    """Ask the provider about the job's batch and keep its status and counts on the job."""
    batch = _read(engine, job_id)
    assert batch.batch_id is not None
    status = BatchClient(provider).poll(batch.batch_id)
    with transaction(engine) as conn:
        _update(
            conn,
            job_id,
            provider_status=status.status,
            request_counts=status.as_json()["request_counts"],
            phase=("answered" if status.status != "failed" else "failed")
            if status.final
            else "waiting_for_batch",
        )
    return status


def answers(engine: Engine, job_id: UUID, provider: OpenAICompatibleProvider) -> BatchAnswers:
    """The finished batch's answers (empty for a failed batch: everything goes synchronous)."""
    batch = _read(engine, job_id)
    if batch.batch_id is None or batch.phase != "answered":
        return BatchAnswers(bodies={}, digests={})
    client = BatchClient(provider)
    return BatchAnswers(bodies=client.answers(client.poll(batch.batch_id)), digests=batch.digests)


def cancel_job_batch(engine: Engine, job_id: UUID, provider: OpenAICompatibleProvider) -> bool:
    """Cancel the job's batch at the provider if it is still running; True if it was."""
    with transaction(engine) as conn:
        return _cancel_locked(conn, job_id, provider)


def _cancel_locked(conn: Connection, job_id: UUID, provider: OpenAICompatibleProvider) -> bool:
    batch = get_job_batch(conn, job_id, lock=True)
    if batch is None or batch.phase != "waiting_for_batch" or batch.batch_id is None:
        return False
    status = BatchClient(provider).cancel(batch.batch_id)
    _update(
        conn,
        job_id,
        phase="cancelled",
        provider_status=status.status,
        request_counts=status.as_json()["request_counts"],
    )
    return True


# --- waiting without a flow run (the batch-poller deployment) --------------------------------


def mark_waiting(engine: Engine, job_id: UUID) -> bool:
    """processing -> waiting_for_batch, with the batch id in the job's notes. True as well
    when another runner of the job already handed it over; False when the job is no longer
    processing (paused or cancelled meanwhile: the caller waits, and cancels the batch)."""
    with transaction(engine) as conn:
        status = _locked_status(conn, job_id)
        batch = get_job_batch(conn, job_id)
        if status == "waiting_for_batch":
            return True
        if status != "processing" or batch is None or batch.batch_id is None:
            return False
        jobs_repo.update_job_status(
            conn,
            job_id,
            "waiting_for_batch",
            {"reason": f"batch {batch.batch_id} submitted; the batch-poller resumes the job"},
        )
    return True


@dataclass(frozen=True)
class LiveBatch:
    """A job's batch that the provider may still be working on (or that is done and whose
    job waits to be handed back)."""

    job_id: UUID
    organization_id: UUID
    job_status: str
    batch: JobBatch


def live_batches(engine: Engine) -> list[LiveBatch]:
    """Batches the poller looks after: those of waiting jobs, and those still running at the
    provider whose job was paused or cancelled (to cancel them). A job being processed
    polls its own batch; a failed job keeps its batch, so running it again reattaches."""
    with transaction(engine) as conn:
        rows = conn.execute(
            sa.text(
                "SELECT j.id, j.organization_id, j.status FROM metadata.documentation_jobs j"
                " JOIN metadata.job_batches b ON b.job_id = j.id"
                " WHERE b.batch_id IS NOT NULL AND ("
                "   (j.status = 'waiting_for_batch' AND b.phase IN ('waiting_for_batch',"
                "    'answered', 'failed'))"
                "   OR (j.status IN ('paused', 'cancelled')"
                "    AND b.phase = 'waiting_for_batch'))"
                " ORDER BY b.submitted_at"
            )
        ).all()
        return [
            LiveBatch(row.id, row.organization_id, row.status, _required(conn, row.id))
            for row in rows
        ]


def _required(conn: Connection, job_id: UUID) -> JobBatch:
    batch = get_job_batch(conn, job_id)
    assert batch is not None
    return batch


def organization_provider(engine: Engine, organization_id: UUID) -> OpenAICompatibleProvider:
    """The organization's OpenAI-compatible provider (its key decrypted), to poll or cancel
    its batches; raises ConfigError when the organization has no Batch API any more."""
    from docgen.db import orgs
    from docgen.errors import ConfigError
    from docgen.service import build_provider

    with transaction(engine) as conn:
        settings = orgs.get_llm_settings(conn, organization_id)
    provider = compatible_provider(build_provider(settings, engine=engine))
    if provider is None:
        raise ConfigError(
            f"organization {organization_id} uses provider {settings.provider}: no Batch API"
        )
    return provider


def cancel_if_stopped(engine: Engine, job_id: UUID, provider: OpenAICompatibleProvider) -> bool:
    """Cancel the job's running batch if the job is paused or cancelled (checked under the
    job's row lock, so a job resumed meanwhile keeps its batch)."""
    with transaction(engine) as conn:
        if _locked_status(conn, job_id) not in ("paused", "cancelled"):
            return False
        return _cancel_locked(conn, job_id, provider)


def hand_back(engine: Engine, job_id: UUID) -> bool:
    """waiting_for_batch -> queued, for the runner the poller starts; False when another
    poller run (or a user's `docgen jobs run`) took the job first, or it was paused."""
    with transaction(engine) as conn:
        status = _locked_status(conn, job_id)
        if status != "waiting_for_batch":
            return False
        jobs_repo.update_job_status(conn, job_id, "queued", {"reason": "its batch is done"})
    return True


def back_to_waiting(engine: Engine, job_id: UUID, reason: str) -> None:
    """queued -> waiting_for_batch again, when no runner could be started (the next poller
    run tries again)."""
    with transaction(engine) as conn:
        status = _locked_status(conn, job_id)
        if status == "queued":
            jobs_repo.update_job_status(conn, job_id, "waiting_for_batch", {"error": reason})


def _locked_status(conn: Connection, job_id: UUID) -> str:
    """The job's status, its row locked until the transaction ends."""
    return str(
        conn.execute(
            sa.text("SELECT status FROM metadata.documentation_jobs WHERE id = :j FOR UPDATE"),
            {"j": job_id},
        ).scalar_one()
    )
