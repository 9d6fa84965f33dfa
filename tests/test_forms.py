"""The deployments' forms without a browser: what the parameter types accept, the run names,
and the form flow's one-line errors in the form's words (a real flow on the session's
Prefect server)."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from typing import Any

import pydantic
import pytest
from sqlalchemy.engine import Engine

from docgen import jobs as core_jobs
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import transaction
from docgen.jobs import JobOptions
from flows.documentation_job import _GENERATED_NAME
from flows.forms import (
    NO_PASSWORD_PATTERN,
    AllObjects,
    ObjectsById,
    ObjectsByName,
    describe_selection,
    has_password,
)
from tests.conftest import OrgFixture
from tests.factories import make_object


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        ("postgresql://reader:s3cret@db.example.com:5432/warehouse", True),
        ("postgres://reader:p%40ss@db/warehouse", True),
        ("postgresql://:s3cret@db/warehouse", True),
        ("postgresql://db/warehouse?sslmode=require&password=s3cret", True),
        ("postgresql://db/warehouse?password=s3cret", True),
        ("postgresql://reader@db.example.com:5432/warehouse", False),
        ("postgresql://db.example.com:5432/warehouse?sslmode=require", False),
        ("env:WAREHOUSE_URL", False),
        ("secret:warehouse-url", False),
        ("/srv/projects/shop", False),
        ("/srv/projects/a:b@c/target/manifest.json", False),
    ],
)
def test_ingest_source_refuses_only_urls_with_a_password(source: str, refused: bool) -> None:
    assert has_password(source) is refused
    # the same regex in JSON-schema terms: the Prefect server uses re.search
    assert (re.search(NO_PASSWORD_PATTERN, source) is None) is refused


@pytest.mark.parametrize(
    "data",
    [{}, {"select": []}, {"select": [" "]}, {"object_ids": []}, {"all": False}, {"all": None}],
)
def test_an_empty_selection_is_not_a_selection(data: dict[str, Any]) -> None:
    adapter = pydantic.TypeAdapter(ObjectsByName | ObjectsById | AllObjects)
    with pytest.raises(pydantic.ValidationError):
        adapter.validate_python(data)


def test_selection_shapes_and_their_names() -> None:
    adapter = pydantic.TypeAdapter(ObjectsByName | ObjectsById | AllObjects)
    assert isinstance(adapter.validate_python({"select": ["fct_*"]}), ObjectsByName)
    assert isinstance(adapter.validate_python({"all": True}), AllObjects)
    ids = adapter.validate_python({"object_ids": ["6f1c2b4e-0000-4000-8000-000000000001"] * 2})
    assert isinstance(ids, ObjectsById)
    assert describe_selection(ObjectsByName(select=["fct_*", "dim_*"])) == "fct_*, dim_*"
    assert describe_selection({"select": ["a", "b", "c", "d", "e"]}) == "a, b, c +2"
    assert describe_selection(ids) == "2 objects"
    assert describe_selection({"all": True}) == "all objects"


@pytest.mark.parametrize(
    ("name", "generated"),
    [
        ("lambda6-khwarizmi-anomaly", True),  # the UI's run-name generator
        ("alpha-andromedae", True),
        ("omega42-ceti-nebula", True),
        ("brave-tiger", True),  # Prefect's coolname slugs
        ("Monthly marts refresh", False),
        ("marts_refresh", False),
        ("acme: fct_*", False),
        ("rerun-after-fix-2", False),
    ],
)
def test_only_made_up_run_names_are_replaced(name: str, generated: bool) -> None:
    assert bool(_GENERATED_NAME.match(name)) is generated


def test_budget_is_a_plain_number_and_still_exact() -> None:
    options = JobOptions.model_validate({"max_cost_usd": 2.5})
    assert options.max_cost_usd == Decimal("2.5")
    schema = JobOptions.model_json_schema()
    assert schema["properties"]["max_cost_usd"]["type"] == "number"
    assert "`" not in schema["description"]
    assert all(
        p.get("description") and "`" not in p["description"] for p in schema["properties"].values()
    )


# --- the form flow, run for real ---------------------------------------------------------


def run_form(**params: Any) -> Any:
    from flows.documentation_job import new_documentation_job

    return asyncio.run(new_documentation_job(**params, return_state=True))


def flow_run_logs(flow_run_id: Any) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)

    async def read() -> list[str]:
        async with get_client() as client:
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
        return [log.message for log in logs]

    return asyncio.run(read())


@pytest.mark.prefect
def test_form_errors_name_the_field_in_one_logged_line(
    prefect_harness: str, env: dict[str, str], engine: Engine, org: OrgFixture
) -> None:
    make_object(engine, org, "fct_orders")
    cases = {
        "organization: no organization is named or has the id 'no-such-org'": dict(
            organization="no-such-org", triggered_by=org.admin_email
        ),
        "triggered_by: no user has the email or id 'nobody@example.com'": dict(
            organization=org.name, triggered_by="nobody@example.com"
        ),
        f"triggered_by: user {org.member_email} is a member, not an admin": dict(
            organization=org.name, triggered_by=org.member_email
        ),
    }
    for expected, params in cases.items():
        state = run_form(selection=AllObjects(all=True), **params)
        assert state.is_failed()
        assert state.message.startswith(expected), state.message
        logs = flow_run_logs(state.state_details.flow_run_id)
        logged = [m for m in logs if m.startswith(expected)]
        assert len(logged) == 1 and "\n" not in logged[0], logs
        assert not any("Traceback" in m for m in logs), logs
    state = run_form(
        organization=str(org.id),
        selection=ObjectsByName(select=["dim_*"]),
        triggered_by=str(org.admin_id),
    )
    assert state.is_failed() and state.message.startswith("selection: "), state.message
    with transaction(engine) as conn:
        assert jobs_repo.list_jobs(conn, org.id) == []


@pytest.mark.prefect
def test_runs_are_named_after_what_they_run(
    prefect_harness: str, env: dict[str, str], engine: Engine, org: OrgFixture
) -> None:
    from prefect.client.orchestration import get_client

    from flows.documentation_job import documentation_job

    with transaction(engine) as conn:
        orgs.set_provider(conn, org.id, "offline")
    make_object(engine, org, "fct_orders")
    state = run_form(
        organization=org.name, selection={"select": ["fct_*"]}, triggered_by=org.admin_email
    )
    assert state.is_completed(), state.message
    with transaction(engine) as conn:
        (job,) = jobs_repo.list_jobs(conn, org.id)
    assert job.status == "completed" and job.triggered_by_user_id == org.admin_id
    again = core_jobs.create_job(
        engine,
        org.id,
        [job_object(engine, job.id)],
        JobOptions(),
        triggered_by_user_id=org.admin_id,
    )
    asyncio.run(documentation_job(job_id=again.id, return_state=True))

    async def names() -> list[str]:
        async with get_client() as client:
            return [
                (await client.read_flow_run(state.state_details.flow_run_id)).name,
                (await client.read_flow_run(_flow_run_of(engine, again.id))).name,
            ]

    assert asyncio.run(names()) == [f"{org.name}: fct_*", f"job {again.id}"]


def job_object(engine: Engine, job_id: Any) -> Any:
    with transaction(engine) as conn:
        return jobs_repo.job_objects(conn, job_id)[0].object_id


def _flow_run_of(engine: Engine, job_id: Any) -> Any:
    with transaction(engine) as conn:
        return jobs_repo.get_job(conn, job_id).prefect_flow_run_id
