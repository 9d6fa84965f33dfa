"""Jobs against servers that are not api.openai.com: an endpoint that is down stops the job
(the provider is down, not the objects), names the URL, and the job runs again to the end once
the endpoint is back; an endpoint that refuses structured outputs is switched once."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy.engine import Engine

from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import transaction
from tests.conftest import OrgFixture, use_openai
from tests.factories import job_row, new_job, run_job
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.prefect


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def test_unreachable_endpoint_stops_the_job_and_it_resumes_when_back(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCGEN_LLM_RETRY_BACKOFF_SECONDS", "0.05")
    use_openai(engine, org, fake_openai)
    down = closed_port_url()
    with transaction(engine) as conn:
        orgs.set_provider(conn, org.id, "openai", base_url=down)
    job_id, _ = new_job(engine, org, 6, concurrency=2)

    state = run_job(job_id)

    assert state.is_failed()
    row = job_row(engine, job_id)
    with transaction(engine) as conn:
        objects = jobs_repo.job_objects(conn, job_id)
    assert row.status == "failed"
    assert row.failed_objects == 0, "the objects did not fail: the endpoint did"
    assert {o.status for o in objects} == {"pending"}
    last = row.error_log[-1]
    assert last["kind"] == "ProviderDown" and down in last["error"]
    assert "connection attempts failed in a row" in last["error"]
    assert fake_openai.requests == []

    # the endpoint is back: the same job runs again and finishes every object once
    with transaction(engine) as conn:
        orgs.set_provider(conn, org.id, "openai", base_url=fake_openai.base_url)
    state = run_job(job_id)
    assert state.is_completed()
    row = job_row(engine, job_id)
    assert row.status == "completed" and row.processed_objects == 6 and row.failed_objects == 0


def test_a_job_on_a_server_refusing_json_schema_switches_once_and_remembers(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    use_openai(engine, org, fake_openai)
    fake_openai.behave(refuse_json_schema=500)
    job_id, _ = new_job(engine, org, 3, concurrency=1)
    with caplog.at_level("WARNING", logger="prefect.docgen"):
        state = run_job(job_id)
    assert state.is_completed()
    with transaction(engine) as conn:
        row = jobs_repo.get_job(conn, job_id)
        settings = orgs.get_llm_settings(conn, org.id)
    assert row.status == "completed" and row.failed_objects == 0 and row.layers_failed == {}
    refused = [r for r in fake_openai.requests if r.status == 500]
    assert len(refused) == 1, "one refusal, then json_object for every call"
    assert len(fake_openai.completions) == 1 + 3 * 6
    said = [r for r in caplog.records if "does not accept structured outputs" in r.getMessage()]
    assert len(said) == 1
    assert settings.structured_outputs is False and settings.structured_outputs_refused
