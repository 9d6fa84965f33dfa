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

import asyncio
import re
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    MarkdownArtifact,
    acreate_markdown_artifact,
    acreate_table_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.client.orchestration import PrefectClient, get_client
from prefect.logging import get_logger

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


class ObjectArtifacts:
    """Object artifacts posted in the background of a job run, off the objects' path.

    Posting an artifact is one more call to the Prefect API at the end of each object; at
    eight objects in flight it took 300-900 ms (benchmarks side_by_side), a quarter of an
    object's subflow, holding a concurrency slot. Here the object's subflow hands the
    page over and returns; the artifact is posted with that subflow's flow run id (it shows
    on the subflow in the UI, as before), at most `limit` at a time, and the job run
    waits for every one of them (`async with`) before it publishes its summary. A page
    that cannot be posted is logged and does not fail the object: its documentation is
    stored already.
    """

    def __init__(self, limit: int = 4) -> None:
        self._gate = asyncio.Semaphore(limit)
        self._pending: set[asyncio.Task[None]] = set()
        self._client: PrefectClient | None = None
        self.posted = 0
        self.failed = 0

    async def __aenter__(self) -> ObjectArtifacts:
        self._client = await get_client().__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.drain()
        finally:
            if self._client is not None:
                await self._client.__aexit__(exc_type, exc, tb)
                self._client = None

    def publish(
        self, obj: DataObject, doc: Documentation, lineage: Lineage, flow_run_id: UUID | None
    ) -> None:
        """Post the object's page soon (returns at once)."""
        post = asyncio.create_task(self._post(obj, doc, lineage, flow_run_id))
        self._pending.add(post)
        post.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait until every page handed over so far is posted (or failed)."""
        while self._pending:
            await asyncio.gather(*self._pending)

    async def _post(
        self, obj: DataObject, doc: Documentation, lineage: Lineage, flow_run_id: UUID | None
    ) -> None:
        async with self._gate:
            try:
                artifact = MarkdownArtifact(
                    **_object_markdown(obj, doc, lineage), flow_run_id=flow_run_id
                )
                await artifact.acreate(self._client)
                self.posted += 1
            except Exception as exc:  # noqa: BLE001 - the documentation is stored already
                self.failed += 1
                get_logger("docgen").warning(
                    "the artifact of %s was not published: %s", obj.name, type(exc).__name__
                )


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
