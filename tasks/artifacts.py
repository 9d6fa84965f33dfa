"""Prefect artifacts: a Markdown page per documented object (with its lineage), and two
tables per job run: per layer and per object.

Plain functions (not tasks) for the flows to call; the content comes from docgen.render,
so what a reader sees in the Prefect UI is the same Markdown as `docgen export --format
markdown`. Each has a sync form and an async one (`a...`) for the async flows.

Keys: Prefect allows lowercase letters, digits and dashes. An object's key is
`doc-<name>-<first 8 hex of its id>` (the id keeps two objects named alike, in two
projects or organizations, from sharing a history); a job's per-layer table is
`docgen-job-<job id>`, its per-object table `docgen-job-<job id>-objects`.
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
from docgen.render.data import Link
from docgen.render.markdown import render_object_markdown
from docgen.render.summary import (
    LayerSummaryRow,
    ObjectSummaryRow,
    object_summary_frame,
    summary_frame,
)

SummaryRows = Iterable[LayerSummaryRow | Mapping[str, Any]]
#: an object's upstream and downstream neighbours
Lineage = tuple[list[Link], list[Link]]
NO_LINEAGE: Lineage = ([], [])


def object_artifact_key(obj: DataObject) -> str:
    """`doc-<name>-<id8>`, in the characters Prefect accepts."""
    name = re.sub(r"[^a-z0-9]+", "-", obj.name.lower()).strip("-")[:60].strip("-") or "object"
    return f"doc-{name}-{obj.id.hex[:8]}"


def job_artifact_key(job_id: UUID) -> str:
    return f"docgen-job-{job_id}"


def objects_artifact_key(job_id: UUID) -> str:
    return f"docgen-job-{job_id}-objects"


def _object_markdown(obj: DataObject, doc: Documentation, lineage: Lineage) -> dict[str, Any]:
    upstream, downstream = lineage
    return {
        "key": object_artifact_key(obj),
        "markdown": render_object_markdown(
            obj, doc, upstream=upstream, downstream=downstream, links=False
        ),
        "description": f"Documentation of {obj.name}, version {doc.version}",
    }


def _job_table(job_id: UUID, rows: SummaryRows) -> dict[str, Any]:
    frame = summary_frame(rows)
    return {
        "key": job_artifact_key(job_id),
        "table": frame.to_dict(orient="records"),
        "description": f"Per-layer tokens and cost of documentation job {job_id}",
    }


def publish_object_artifact(
    obj: DataObject, doc: Documentation, lineage: Lineage = NO_LINEAGE
) -> UUID:
    """A Markdown artifact with the object's documentation and its lineage (upstream and
    downstream links from docgen.render.data.object_lineage); returns the artifact id."""
    return create_markdown_artifact(**_object_markdown(obj, doc, lineage), _sync=True)  # type: ignore[call-arg]


async def apublish_object_artifact(
    obj: DataObject, doc: Documentation, lineage: Lineage = NO_LINEAGE
) -> UUID:
    return await acreate_markdown_artifact(**_object_markdown(obj, doc, lineage))


def publish_job_summary_artifact(job_id: UUID, rows: SummaryRows) -> UUID:
    """A table artifact: per layer, completed, failed, prompt/completion/total tokens, cost
    (rows from docgen.render.summary.job_layer_summary, or mappings with those keys)."""
    return create_table_artifact(**_job_table(job_id, rows), _sync=True)  # type: ignore[call-arg]


async def apublish_job_summary_artifact(job_id: UUID, rows: SummaryRows) -> UUID:
    return await acreate_table_artifact(**_job_table(job_id, rows))


def _objects_table(job_id: UUID, rows: Iterable[ObjectSummaryRow]) -> dict[str, Any]:
    frame = object_summary_frame(rows)
    return {
        "key": objects_artifact_key(job_id),
        "table": frame.to_dict(orient="records"),
        "description": f"Per-object status, tokens, cost and duration of documentation job "
        f"{job_id}",
    }


def publish_object_summary_artifact(job_id: UUID, rows: Iterable[ObjectSummaryRow]) -> UUID:
    """A table artifact: per object of the job, its status, tokens, cost, duration and
    error, plus a total row (rows from docgen.render.summary.job_object_summary)."""
    return create_table_artifact(**_objects_table(job_id, rows), _sync=True)  # type: ignore[call-arg]


async def apublish_object_summary_artifact(job_id: UUID, rows: Iterable[ObjectSummaryRow]) -> UUID:
    return await acreate_table_artifact(**_objects_table(job_id, rows))
