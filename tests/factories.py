"""What many tests build: objects without a whole ingested project, jobs over them, a job's
flow run in this process, and the docgen CLI as a process of its own."""

from __future__ import annotations

import asyncio
import contextvars
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import IO, Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen import jobs as core_jobs
from docgen.db import jobs as jobs_repo
from docgen.db import objects
from docgen.db.engine import transaction
from docgen.jobs import JobOptions
from tests.conftest import REPO_ROOT, OrgFixture

ORDERS_SQL = """\
with orders as (
    select * from raw.orders where status = 'completed' and amount > 0
),
payments as (
    select order_id, sum(amount) as amount_paid from raw.payments group by order_id
),
final as (
    select
        o.order_id,
        o.customer_id,
        p.amount_paid,
        case when p.amount_paid >= 100 then 'large' else 'small' end as order_size,
        row_number() over (partition by o.customer_id order by o.ordered_at) as order_number
    from orders o
    left join payments p on o.order_id = p.order_id
)
select * from final
"""


def make_object(
    engine: Engine,
    org: OrgFixture,
    name: str | None = None,
    code: str = ORDERS_SQL,
    *,
    upstream: list[UUID] | None = None,
    object_type: str = "dbt_model",
    language: str = "sql",
    columns: list[dict[str, str]] | None = None,
    description: str | None = None,
) -> objects.DataObject:
    name = name or f"fct_orders_{uuid.uuid4().hex[:6]}"
    with transaction(engine) as conn:
        return objects.insert_object(
            conn,
            org.id,
            name=name,
            unique_key=f"model.test.{name}",
            object_type=object_type,
            code=code,
            language=language,
            dialect="postgres" if language == "sql" else None,
            columns=columns or [],
            upstream_object_ids=upstream or [],
            description=description,
            content_hash=uuid.uuid4().hex,
            materialization="table",
            source_kind="manual",
        )


def make_chain(engine: Engine, org: OrgFixture, count: int) -> list[objects.DataObject]:
    """`count` objects, each reading the previous one (a staging -> mart chain)."""
    made: list[objects.DataObject] = []
    for index in range(count):
        upstream = [made[-1].id] if made else []
        source = made[-1].name if made else "raw.orders"
        code = (
            ORDERS_SQL
            if index % 3 == 0
            else f"select order_id, customer_id, amount from {source} where amount > {index}"
        )
        made.append(
            make_object(
                engine, org, f"model_{index:03d}_{uuid.uuid4().hex[:4]}", code, upstream=upstream
            )
        )
    return made


def independent_objects(engine: Engine, org: OrgFixture, count: int) -> list[UUID]:
    """`count` objects reading nothing of each other; their ids."""
    return [make_object(engine, org).id for _ in range(count)]


def create_job(engine: Engine, org: OrgFixture, ids: list[UUID], **options: Any) -> UUID:
    """A queued job over `ids`, created by the organization's admin; `options` are JobOptions."""
    return core_jobs.create_job(
        engine, org.id, ids, JobOptions(**options), triggered_by_user_id=org.admin_id
    ).id


def new_job(
    engine: Engine, org: OrgFixture, count: int, *, chain: bool = False, **options: Any
) -> tuple[UUID, list[UUID]]:
    """`count` new objects (independent, or a chain: each reads the previous one) and a job
    over them; the job's id and the objects' ids."""
    ids = (
        [o.id for o in make_chain(engine, org, count)]
        if chain
        else independent_objects(engine, org, count)
    )
    return create_job(engine, org, ids, **options), ids


def job_row(engine: Engine, job_id: UUID) -> jobs_repo.Job:
    with transaction(engine) as conn:
        return jobs_repo.get_job(conn, job_id)


def run_job(job_id: UUID) -> Any:
    """The documentation-job flow for the job, in this process; its final state."""
    from flows.documentation_job import documentation_job

    return asyncio.run(documentation_job(job_id=job_id, return_state=True))


def start_in_thread(job_id: UUID) -> tuple[threading.Thread, dict[str, Any]]:
    """run_job in another thread, in this context (so it reports to the session's Prefect
    server); the box gets its final state under "state"."""
    box: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        box["state"] = run_job(job_id)

    thread = threading.Thread(target=lambda: context.run(target), daemon=True)
    thread.start()
    return thread, box


def wait_for(predicate: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def assert_exactly_once(engine: Engine, job_id: UUID, ids: list[UUID]) -> None:
    """Every object of the job documented exactly once by it, counters equal to the rows."""
    with transaction(engine) as conn:
        per_object = dict(
            conn.execute(
                sa.text(
                    "SELECT object_id, count(*) FROM metadata.object_documentation"
                    " WHERE job_id = :j GROUP BY object_id"
                ),
                {"j": job_id},
            ).all()
        )
        log_rows = conn.execute(
            sa.text(
                "SELECT count(*) FROM metadata.documentation_generation_logs WHERE job_id = :j"
            ),
            {"j": job_id},
        ).scalar_one()
        states = {o.object_id: o.status for o in jobs_repo.job_objects(conn, job_id)}
    job = job_row(engine, job_id)
    assert per_object == {i: 1 for i in ids}
    assert log_rows == 6 * len(ids)
    assert set(states.values()) == {"documented"}
    assert (job.status, job.processed_objects, job.failed_objects) == ("completed", len(ids), 0)
    assert job.progress_percentage == Decimal("100.00")


# --- the docgen CLI as a process of its own ---------------------------------------------------


def cli_env(env: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The environment of a docgen subprocess: this process's, then the test's docgen
    variables (the `env` fixture), then `extra`."""
    return {**os.environ, **(env or {}), **extra}


def start_cli(
    *args: str,
    env: Mapping[str, str],
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    stderr: int | IO[Any] | None = subprocess.PIPE,
    text: bool = False,
) -> subprocess.Popen[Any]:
    """`python -m docgen ARGS` started in the checkout (stdin closed); `env` is complete
    (see cli_env)."""
    return subprocess.Popen(
        [sys.executable, "-m", "docgen", *args],
        cwd=REPO_ROOT,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        text=text,
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The CLI's failure as scripts see it: exit `code`, one stderr line starting
    'docgen: error: ' and no traceback; that line."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("docgen: error: "), lines[0]
    return lines[0]
