"""The brief's plpgsql helper functions, on real PostgreSQL, including under concurrency."""

from __future__ import annotations

import json
import threading
import uuid
from decimal import Decimal

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen.db import documentation, jobs, objects
from docgen.db.engine import transaction
from docgen.errors import InvalidJobState, NotFound
from tests.conftest import OrgFixture


def make_objects(engine: Engine, org: OrgFixture, count: int) -> list[uuid.UUID]:
    with transaction(engine) as conn:
        return [
            objects.insert_object(
                conn,
                org.id,
                name=f"model_{i}",
                unique_key=f"model.{i}.{uuid.uuid4().hex[:6]}",
                object_type="dbt_model",
                code=f"select {i} as x",
                content_hash=f"h{i}",
            ).id
            for i in range(count)
        ]


def make_job(engine: Engine, org: OrgFixture, total: int) -> jobs.Job:
    """A job over `total` objects (one real object repeated in object_ids is not allowed,
    so this inserts the job row directly with a large total for counter tests)."""
    with transaction(engine) as conn:
        row = conn.execute(
            sa.text(
                "INSERT INTO metadata.documentation_jobs (organization_id, object_ids,"
                " total_objects, model_name, options) VALUES (:o, '{}', :n, 'gpt-4o',"
                " CAST(:opt AS jsonb)) RETURNING id"
            ),
            {"o": org.id, "n": total, "opt": json.dumps({"concurrency": 2})},
        ).one()
        return jobs.get_job(conn, row.id)


def hammer(url: str, sql: str, job_id: uuid.UUID, connections: int, calls: int) -> None:
    """`connections` threads, each with its own connection, each calling `sql` `calls` times."""
    barrier = threading.Barrier(connections)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                barrier.wait()
                for _ in range(calls):
                    conn.execute(sql, (job_id,))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_concurrent_increments_are_exact(engine: Engine, database_url: str, org: OrgFixture):
    job = make_job(engine, org, total=400)
    hammer(database_url, "SELECT metadata.increment_processed_objects(%s)", job.id, 8, 50)
    hammer(database_url, "SELECT metadata.increment_failed_objects(%s)", job.id, 8, 50)
    with transaction(engine) as conn:
        after = jobs.get_job(conn, job.id)
    assert after.processed_objects == 400
    assert after.failed_objects == 400
    assert after.progress_percentage == Decimal("100.00")


def test_progress_is_processed_over_total(engine: Engine, org: OrgFixture) -> None:
    job = make_job(engine, org, total=3)
    with transaction(engine) as conn:
        assert jobs.increment_processed_objects(conn, job.id) == 1
        assert jobs.get_job(conn, job.id).progress_percentage == Decimal("33.33")
        jobs.increment_processed_objects(conn, job.id)
        assert jobs.get_job(conn, job.id).progress_percentage == Decimal("66.67")


def test_counters_cannot_exceed_total(engine: Engine, org: OrgFixture) -> None:
    job = make_job(engine, org, total=1)
    with transaction(engine) as conn:
        jobs.increment_processed_objects(conn, job.id)
    with pytest.raises(InvalidJobState, match="already counts all 1 objects"):
        with transaction(engine) as conn:
            jobs.increment_processed_objects(conn, job.id)
    with pytest.raises(InvalidJobState, match="cannot count more failed objects"):
        with transaction(engine) as conn:
            jobs.increment_failed_objects(conn, job.id)
            jobs.increment_failed_objects(conn, job.id)


def test_unknown_job_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        with transaction(engine) as conn:
            jobs.increment_processed_objects(conn, uuid.uuid4())


def test_status_transitions_set_timestamps(engine: Engine, org: OrgFixture) -> None:
    job = make_job(engine, org, total=2)
    with transaction(engine) as conn:
        running = jobs.update_job_status(conn, job.id, "processing")
        assert running.started_at is not None and running.completed_at is None
        paused = jobs.update_job_status(conn, job.id, "paused")
        assert paused.paused_at is not None
        resumed = jobs.update_job_status(conn, job.id, "processing")
        assert resumed.paused_at is None and resumed.started_at == running.started_at
        failed = jobs.update_job_status(conn, job.id, "failed", {"error": "boom"})
        assert failed.completed_at is not None
        assert failed.error_log[-1]["error"] == "boom"
        assert failed.error_log[-1]["status"] == "failed"


@pytest.mark.parametrize("terminal", ["completed", "failed", "cancelled"])
def test_terminal_states_are_not_left_by_accident(
    engine: Engine, org: OrgFixture, terminal: str
) -> None:
    job = make_job(engine, org, total=1)
    with transaction(engine) as conn:
        jobs.update_job_status(conn, job.id, "processing")
        jobs.update_job_status(conn, job.id, terminal)
        # the same status again is an idempotent no-op (a hook may fire twice)
        assert jobs.update_job_status(conn, job.id, terminal).status == terminal
    for target in ("processing", "queued", "paused"):
        with pytest.raises(InvalidJobState, match=f"is {terminal} and cannot become {target}"):
            with transaction(engine) as conn:
                jobs.update_job_status(conn, job.id, target)


def test_only_failed_jobs_reopen(engine: Engine, org: OrgFixture) -> None:
    failed = make_job(engine, org, total=1)
    done = make_job(engine, org, total=1)
    with transaction(engine) as conn:
        jobs.update_job_status(conn, failed.id, "failed", {"error": "crashed"})
        reopened = jobs.reopen_job(conn, failed.id)
        assert reopened.status == "queued" and reopened.completed_at is None
        assert reopened.error_log[-1]["reopened_from"] == "failed"
        jobs.update_job_status(conn, done.id, "processing")
        jobs.update_job_status(conn, done.id, "completed")
    with pytest.raises(InvalidJobState, match="cannot run again"):
        with transaction(engine) as conn:
            jobs.reopen_job(conn, done.id)


def test_unknown_status_is_refused(engine: Engine, org: OrgFixture) -> None:
    job = make_job(engine, org, total=1)
    with pytest.raises(InvalidJobState, match="unknown job status"):
        with transaction(engine) as conn:
            jobs.update_job_status(conn, job.id, "exploded")


def test_average_time_and_eta(engine: Engine, org: OrgFixture) -> None:
    object_ids = make_objects(engine, org, 2)
    with transaction(engine) as conn:
        job = jobs.insert_job(
            conn, org.id, object_ids, model_name="gpt-4o", options={"concurrency": 1}
        )
        for layer, ms in (("executive_summary", 300), ("business_narrative", 700)):
            conn.execute(
                sa.text(
                    "INSERT INTO metadata.documentation_generation_logs"
                    " (job_id, object_id, layer, status, processing_time_ms)"
                    " VALUES (:j, :o, :l, 'completed', :ms)"
                ),
                {"j": job.id, "o": object_ids[0], "l": layer, "ms": ms},
            )
        assert jobs.update_average_processing_time(conn, job.id) == 1000
        eta = jobs.update_estimated_completion(conn, job.id)
        now = conn.execute(sa.text("SELECT now()")).scalar_one()
        # nothing processed yet: 2 remaining x 1 s / concurrency 1
        assert eta is not None and 1.9 <= (eta - now).total_seconds() <= 2.1
        jobs.increment_processed_objects(conn, job.id)
        jobs.increment_processed_objects(conn, job.id)
        assert jobs.update_estimated_completion(conn, job.id) == now


def test_two_current_versions_are_refused_by_the_database(engine: Engine, org: OrgFixture) -> None:
    (object_id,) = make_objects(engine, org, 1)
    insert = sa.text(
        "INSERT INTO metadata.object_documentation (object_id, organization_id, version,"
        " is_current) VALUES (:o, :org, :v, true)"
    )
    with transaction(engine) as conn:
        conn.execute(insert, {"o": object_id, "org": org.id, "v": 1})
    with pytest.raises(Exception, match="object_documentation_one_current"):
        with transaction(engine) as conn:
            conn.execute(insert, {"o": object_id, "org": org.id, "v": 2})


def test_documentation_for_another_orgs_object_is_refused(engine: Engine, org: OrgFixture) -> None:
    from tests.conftest import make_org

    other = make_org(engine, "other")
    (object_id,) = make_objects(engine, org, 1)
    with pytest.raises(Exception, match="object_documentation_object_fk"):
        with transaction(engine) as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO metadata.object_documentation (object_id, organization_id,"
                    " version) VALUES (:o, :org, 1)"
                ),
                {"o": object_id, "org": other.id},
            )


def test_versions_and_summary(engine: Engine, org: OrgFixture) -> None:
    (object_id,) = make_objects(engine, org, 1)
    with transaction(engine) as conn:
        empty = jobs.get_documentation_summary(conn, object_id)
        assert empty is not None and empty["has_documentation"] is False
        for summary in ("first", "second"):
            documentation.insert_version(
                conn,
                org.id,
                object_id,
                layers={
                    "executive_summary": summary,
                    "business_narrative": {"whatItDoes": "x"},
                    "business_rules": [{"rule": "r", "codeReference": "c", "impact": "i"}],
                },
                complexity_score=2,
                generated_by_model="offline",
                generation_metadata={},
            )
        summary = jobs.get_documentation_summary(conn, object_id)
    assert summary is not None
    assert summary["version"] == 2 and summary["executive_summary"] == "second"
    assert summary["version_count"] == 2
    assert summary["layers_present"] == [
        "executive_summary",
        "business_narrative",
        "business_rules",
    ]
    with transaction(engine) as conn:
        current = conn.execute(
            sa.text(
                "SELECT count(*) FROM metadata.object_documentation"
                " WHERE object_id = :o AND is_current"
            ),
            {"o": object_id},
        ).scalar_one()
    assert current == 1
