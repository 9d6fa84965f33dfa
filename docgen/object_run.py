"""One object of a job in the database: started in one transaction, finished in another.

    start = start_object(engine, service, job_id, object_id, runner, skip_existing=...)
    result = await run_pipeline(start.ctx, call_layer, plan)   # no transaction open
    docgen.jobs.record_documented(...) / record_failed(...)  # or release_object(...)

Starting claims the object for this runner (pending -> processing, made the job's current
object) and reads, in the same transaction, everything the run needs from the database: the
object's context, its lineage (for the Prefect artifact) and, with skip_existing, whether
its current documentation was made from the same inputs. One round trip of the pool instead
of four; if reading fails the claim is rolled back with it (the object stays pending).

Finishing is docgen.jobs' record_documented / record_failed / record_skipped (a version and
its log rows and the job's counters in one transaction; nothing if the claim was lost), or
`release_object` when the run stopped before the object was done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Engine

from docgen.context import ObjectContext
from docgen.db import documentation
from docgen.db import jobs as jobs_repo
from docgen.db.engine import transaction
from docgen.render.data import Link, object_lineage


@dataclass(frozen=True)
class ObjectStart:
    """A claimed object with what its run reads from the database."""

    ctx: ObjectContext
    input_hash: str
    #: its current documentation was made from the same inputs (only with skip_existing)
    up_to_date: bool
    #: upstream and downstream neighbours, for the object's artifact
    lineage: tuple[list[Link], list[Link]]


def start_object(
    engine: Engine,
    service: Any,
    job_id: UUID,
    object_id: UUID,
    runner: str,
    *,
    skip_existing: bool = False,
    claimed: bool = False,
) -> ObjectStart | None:
    """Claim the object and read its context, lineage and freshness in one transaction;
    None when it is not pending any more (another runner has it, or it is finished).
    `claimed`: the job's scheduler claimed it already for this runner (before starting the
    subflow); then the claim is only checked."""
    with transaction(engine) as conn:
        if claimed:
            if not jobs_repo.holds_claim(conn, job_id, object_id, runner):
                return None
        elif not jobs_repo.claim_object(conn, job_id, object_id, runner):
            return None
        ctx: ObjectContext = service.fetch_object_metadata(object_id, conn)
        input_hash: str = service.input_hash(ctx)
        current = documentation.current(conn, object_id) if skip_existing else None
        lineage = object_lineage(conn, ctx.object)
    up_to_date = current is not None and current.input_hash == input_hash
    return ObjectStart(ctx, input_hash, up_to_date, lineage)


def release_object(engine: Engine, job_id: UUID, object_id: UUID, runner: str) -> None:
    """Give a claimed object back (processing -> pending) when its run stopped unfinished."""
    with transaction(engine) as conn:
        jobs_repo.release_object(conn, job_id, object_id, runner)
