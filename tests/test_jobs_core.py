"""Job creation rules, estimates, the rate limiter, and the jobs CLI."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy.engine import Engine

from docgen import jobs as core_jobs
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import transaction
from docgen.db.objects import Selection
from docgen.errors import InvalidInput, NotFound, PermissionDenied
from docgen.jobs import JobOptions
from docgen.ratelimit import RateLimiter
from tests.conftest import OrgFixture, make_org, use_openai
from tests.factories import ORDERS_SQL, make_object, one_line_error
from tests.fake_openai import FakeOpenAI


def test_only_admins_create_jobs(engine: Engine, org: OrgFixture) -> None:
    obj = make_object(engine, org)
    with pytest.raises(PermissionDenied, match="a member, not an admin"):
        core_jobs.create_job(engine, org.id, [obj.id], triggered_by_user_id=org.member_id)
    outsider = make_org(engine, "outsider")
    with pytest.raises(PermissionDenied, match="not a member"):
        core_jobs.create_job(engine, org.id, [obj.id], triggered_by_user_id=outsider.admin_id)


def test_objects_must_belong_to_the_organization(engine: Engine, org: OrgFixture) -> None:
    other = make_org(engine, "other")
    theirs = make_object(engine, other)
    mine = make_object(engine, org)
    with pytest.raises(PermissionDenied, match="does not belong"):
        core_jobs.create_job(
            engine, org.id, [mine.id, theirs.id], triggered_by_user_id=org.admin_id
        )
    with pytest.raises(NotFound, match="unknown object"):
        core_jobs.create_job(engine, org.id, [uuid.uuid4()], triggered_by_user_id=org.admin_id)
    with transaction(engine) as conn:
        assert jobs_repo.list_jobs(conn, org.id) == []  # nothing half-created


def test_duplicates_removed_and_upstream_first(engine: Engine, org: OrgFixture) -> None:
    staging = make_object(engine, org, "stg_orders", "select * from raw.orders")
    mart = make_object(engine, org, "fct_orders", ORDERS_SQL, upstream=[staging.id])
    job = core_jobs.create_job(
        engine, org.id, [mart.id, staging.id, mart.id], triggered_by_user_id=org.admin_id
    )
    assert job.object_ids == [staging.id, mart.id] and job.total_objects == 2
    assert job.status == "queued" and job.options["concurrency"] == 1


def test_selection_by_glob(engine: Engine, org: OrgFixture) -> None:
    a = make_object(engine, org, "fct_revenue")
    make_object(engine, org, "stg_revenue")
    job = core_jobs.create_job(
        engine, org.id, Selection(select=["fct_*"]), triggered_by_user_id=org.admin_email
    )
    assert job.object_ids == [a.id]
    with pytest.raises(InvalidInput, match="matches no objects"):
        core_jobs.create_job(
            engine, org.id, Selection(select=["nope_*"]), triggered_by_user_id=org.admin_id
        )


def test_estimates_follow_each_objects_size(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    use_openai(engine, org, fake_openai)
    small = make_object(engine, org, "small", "select 1 as x")
    big = make_object(engine, org, "big", ORDERS_SQL * 12)
    with transaction(engine) as conn:
        estimates = {
            e.name: e for e in core_jobs.estimate_objects(conn, org.id, [small.id, big.id])
        }
    assert estimates["big"].prompt_tokens > estimates["small"].prompt_tokens + 1000
    assert estimates["big"].cost_usd > estimates["small"].cost_usd > 0
    job = core_jobs.create_job(
        engine, org.id, [small.id, big.id], triggered_by_user_id=org.admin_id
    )
    assert job.estimated_cost == estimates["small"].cost_usd + estimates["big"].cost_usd
    assert job.model_name == "gpt-4o" and job.api_provider == "openai"


def test_contradictory_options() -> None:
    with pytest.raises(ValueError, match="contradict"):
        JobOptions(skip_existing=True, regenerate_all=True)
    with pytest.raises(ValueError):
        JobOptions(concurrency=0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_limiter_keeps_requests_and_tokens_per_minute() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, 6000, headroom=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(60):  # a minute's allowance at once
        limiter.acquire(100)
    assert clock.now == 0
    limiter.acquire(100)  # the next one waits for a request to refill (1 s at 60/min)
    assert clock.now == pytest.approx(1.0, abs=0.01)
    clock.now = 1000.0
    limiter = RateLimiter(None, 6000, headroom=1.0, clock=clock, sleep=clock.sleep)
    limiter.acquire(6000)
    limiter.acquire(3000)  # tokens: 3000 / 6000 per minute = 30 s
    assert clock.now - 1000.0 == pytest.approx(30.0, abs=0.05)


def test_headroom_keeps_below_the_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, None, clock=clock, sleep=clock.sleep)
    for _ in range(95 + 95):  # the 95% burst, then 95 more at 95/min
        limiter.acquire(1)
    assert clock.now == pytest.approx(60.0, abs=0.7)


def test_retry_after_pauses_every_caller() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, None, clock=clock, sleep=clock.sleep)
    assert limiter.acquire(10) == 0
    limiter.penalize(2.5)
    assert limiter.acquire(10) == pytest.approx(2.5, abs=0.01)


def test_jobs_cli(cli, engine: Engine, org: OrgFixture) -> None:  # type: ignore[no-untyped-def]
    obj = make_object(engine, org)
    with transaction(engine) as conn:  # `jobs create` refuses an openai org without a key
        orgs.set_provider(conn, org.id, "offline")
    created = cli(
        "jobs",
        "create",
        "--org",
        org.name,
        "--user",
        org.admin_email,
        "--object",
        str(obj.id),
        "--object",
        str(obj.id),
        "--concurrency",
        "2",
    )
    assert created.returncode == 0, created.stderr
    job_id = uuid.UUID(created.stdout.strip().splitlines()[-1])
    status = cli("jobs", "status", str(job_id), "--json")
    row = json.loads(status.stdout)
    assert row["status"] == "queued" and row["total_objects"] == 1
    assert row["object_ids"] == [str(obj.id)] and "progress_percentage" in row
    assert cli("jobs", "pause", str(job_id)).returncode == 0
    assert json.loads(cli("jobs", "status", str(job_id), "--json").stdout)["status"] == "paused"
    assert cli("jobs", "cancel", str(job_id)).returncode == 0
    line = one_line_error(cli("jobs", "resume", str(job_id)))
    assert "cancelled and cannot run again" in line
    estimate = cli("estimate", "--org", org.name, "--all", "--json")
    assert json.loads(estimate.stdout)["objects"][0]["name"] == obj.name


def test_jobs_cli_bad_input(cli, engine: Engine, org: OrgFixture) -> None:  # type: ignore[no-untyped-def]
    obj = make_object(engine, org)
    assert "not an admin" in one_line_error(
        cli("jobs", "create", "--org", org.name, "--user", org.member_email, "--all")
    )
    assert "choose objects" in one_line_error(
        cli("jobs", "create", "--org", org.name, "--user", org.admin_email), 2
    )
    assert "--object must be a UUID" in one_line_error(
        cli("jobs", "create", "--org", org.name, "--user", org.admin_email, "--object", "x"), 2
    )
    assert "concurrency" in one_line_error(
        cli(
            "jobs",
            "create",
            "--org",
            org.name,
            "--user",
            org.admin_email,
            "--object",
            str(obj.id),
            "--concurrency",
            "0",
        ),
        2,
    )
    assert "unknown job" in one_line_error(cli("jobs", "status", str(uuid.uuid4())))
