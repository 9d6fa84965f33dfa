"""Prefect artifacts: a Markdown page per documented object, a table per finished job.

Plain functions (not tasks) for the flows to call; the content comes from docgen.render,
so what a reader sees in the Prefect UI is the same Markdown as `docgen export --format
markdown`. Each has a sync form and an async one (`a...`) for the async flows.

Keys: Prefect allows lowercase letters, digits and dashes. An object's key is
`doc-<name>-<first 8 hex of its id>` (the id keeps two objects named alike, in two
projects or organizations, from sharing a history); a job's is `docgen-job-<job id>`.
Artifacts with the same key form that key's version history in the UI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_table_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

from docgen.db.documentation import Documentation
from docgen.db.objects import DataObject
from docgen.render.markdown import render_object_markdown
from docgen.render.summary import LayerSummaryRow, summary_frame

SummaryRows = Iterable[LayerSummaryRow | Mapping[str, Any]]


def object_artifact_key(obj: DataObject) -> str:
    """`doc-<name>-<id8>`, in the characters Prefect accepts."""
    name = re.sub(r"[^a-z0-9]+", "-", obj.name.lower()).strip("-")[:60].strip("-") or "object"
    return f"doc-{name}-{obj.id.hex[:8]}"


def job_artifact_key(job_id: UUID) -> str:
    return f"docgen-job-{job_id}"


def _object_markdown(obj: DataObject, doc: Documentation) -> dict[str, Any]:
    return {
        "key": object_artifact_key(obj),
        "markdown": render_object_markdown(obj, doc, links=False),
        "description": f"Documentation of {obj.name}, version {doc.version}",
    }


def _job_table(job_id: UUID, rows: SummaryRows) -> dict[str, Any]:
    frame = summary_frame(rows)
    return {
        "key": job_artifact_key(job_id),
        "table": frame.to_dict(orient="records"),
        "description": f"Per-layer tokens and cost of documentation job {job_id}",
    }


def publish_object_artifact(obj: DataObject, doc: Documentation) -> UUID:
    """A Markdown artifact with the object's documentation; returns the artifact id."""
    return create_markdown_artifact(**_object_markdown(obj, doc), _sync=True)  # type: ignore[call-arg]


async def apublish_object_artifact(obj: DataObject, doc: Documentation) -> UUID:
    return await acreate_markdown_artifact(**_object_markdown(obj, doc))


def publish_job_summary_artifact(job_id: UUID, rows: SummaryRows) -> UUID:
    """A table artifact: per layer, completed, failed, prompt/completion/total tokens, cost
    (rows from docgen.render.summary.job_layer_summary, or mappings with those keys)."""
    return create_table_artifact(**_job_table(job_id, rows), _sync=True)  # type: ignore[call-arg]


async def apublish_job_summary_artifact(job_id: UUID, rows: SummaryRows) -> UUID:
    return await acreate_table_artifact(**_job_table(job_id, rows))
