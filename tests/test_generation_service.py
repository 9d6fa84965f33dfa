"""DocumentationGenerationService against the fake OpenAI server, through the real SDK."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine

from docgen.db import documentation, logs
from docgen.db.engine import transaction
from docgen.errors import DocumentationGenerationError
from docgen.layers import LAYER_NAMES, LAYERS, envelope_schema
from docgen.pricing import Usage, load_pricing
from docgen.service import DocumentationGenerationService
from tests.conftest import OrgFixture, use_openai
from tests.crypto_probe import find_in_database
from tests.factories import make_object
from tests.fake_openai import FakeOpenAI, Fault


def service_for(engine: Engine, org: OrgFixture, **options) -> DocumentationGenerationService:  # type: ignore[no-untyped-def]
    service = DocumentationGenerationService(engine, org.id, **options)
    service.initialize()
    return service


def test_six_layers_stored_with_exact_tokens_and_cost(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org)
    service = service_for(engine, org)
    generated = service.generate_documentation_for_object(obj.id)
    stored = service.store_documentation(obj.id, generated)

    assert len(fake_openai.completions) == 6
    for layer in LAYER_NAMES:
        LAYERS[layer].validate_stored(getattr(stored, layer))  # each valid against its model
    reported = fake_openai.reported_usage()
    tokens = stored.generation_metadata["tokens"]
    assert tokens["prompt"] == reported["prompt_tokens"]
    assert tokens["completion"] == reported["completion_tokens"]
    assert tokens["cached"] == reported["cached_tokens"] > 0
    expected_cost = load_pricing().cost(
        "gpt-4o",
        Usage(reported["prompt_tokens"], reported["completion_tokens"], reported["cached_tokens"]),
    )
    assert Decimal(stored.generation_metadata["cost_usd"]) == expected_cost
    assert stored.generated_by_model == "gpt-4o" and stored.is_current
    assert stored.generation_metadata["prompt_version"]
    assert 1 <= (stored.complexity_score or 0) <= 5
    with transaction(engine) as conn:
        rows = logs.logs_for(conn, object_id=obj.id)
    assert sorted(r["layer"] for r in rows) == sorted(LAYER_NAMES)
    assert (
        sum(r["tokens_used"] for r in rows)
        == reported["prompt_tokens"] + reported["completion_tokens"]
    )
    assert {r["finish_reason"] for r in rows} == {"stop"}


def test_an_unchanged_result_stores_no_new_version(
    engine: Engine, org: OrgFixture, fake_openai: FakeOpenAI
) -> None:
    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org)
    service = service_for(engine, org)
    first = service.store_documentation(obj.id, service.generate_documentation_for_object(obj.id))
    again = service.store_documentation(obj.id, service.generate_documentation_for_object(obj.id))
    assert again.id == first.id and again.version == 1  # same input, same answer: kept
    with transaction(engine) as conn:
        assert [v.version for v in documentation.history(conn, obj.id)] == [1]
        rows = logs.logs_for(conn, object_id=obj.id)
    assert len(rows) == 12 and {r["documentation_id"] for r in rows} == {first.id}
    # a different answer is a new version
    fake_openai.text_for = lambda label, index: f"{label}: another sentence {index}."
    changed = service.store_documentation(obj.id, service.generate_documentation_for_object(obj.id))
    assert (changed.version, changed.is_current) == (2, True)


def test_requests_share_schema_system_and_context(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org)
    service_for(engine, org).generate_documentation_for_object(obj.id)
    bodies = [r.body for r in fake_openai.completions]
    formats = {json.dumps(b["response_format"], sort_keys=True) for b in bodies}
    assert len(formats) == 1, "one response schema for all six calls"
    (only,) = [b["response_format"] for b in bodies[:1]]
    assert only["type"] == "json_schema" and only["json_schema"]["strict"] is True
    assert only["json_schema"]["schema"] == envelope_schema()
    prefixes = {json.dumps(b["messages"][:2]) for b in bodies}
    assert len(prefixes) == 1, "system message and object context identical in every call"
    assert all(obj.name in b["messages"][1]["content"] for b in bodies)
    assert [r.requested_key for r in fake_openai.completions] == [
        "executiveSummary",
        "businessNarrative",
        "transformationCards",
        "codeExplanations",
        "businessRules",
        "impactAnalysis",
    ]


def test_json_object_mode_validates_too(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    use_openai(engine, org, fake_openai, structured_outputs=False)
    obj = make_object(engine, org)
    generated = service_for(engine, org).generate_documentation_for_object(obj.id)
    assert generated.failed_layers == []
    assert {r.body["response_format"]["type"] for r in fake_openai.completions} == {"json_object"}


def test_non_critical_failure_leaves_the_other_five(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org)
    fake_openai.add_rule(
        lambda b: "Fill businessRules only" in json.dumps(b), Fault.content_filter()
    )
    service = service_for(engine, org)
    generated = service.generate_documentation_for_object(obj.id)
    stored = service.store_documentation(obj.id, generated)
    assert generated.failed_layers == ["business_rules"]
    assert stored.business_rules == []
    assert stored.executive_summary and stored.business_narrative and stored.impact_analysis
    assert len(stored.transformation_cards) >= 3 and len(stored.code_explanations) >= 3
    with transaction(engine) as conn:
        rows = {r["layer"]: r for r in logs.logs_for(conn, object_id=obj.id)}
    assert rows["business_rules"]["status"] == "failed"
    assert rows["business_rules"]["finish_reason"] == "content_filter"
    assert "content filter" in rows["business_rules"]["error_message"]
    assert stored.generation_metadata["failed_layers"] == ["business_rules"]


@pytest.mark.parametrize("critical", ["executiveSummary", "businessNarrative"])
def test_critical_failure_stores_nothing(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI, critical: str
) -> None:
    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org)
    fake_openai.add_rule(lambda b: f"Fill {critical} only" in json.dumps(b), Fault.server_error())
    with pytest.raises(DocumentationGenerationError, match="critical layer"):
        service_for(engine, org).generate_documentation_for_object(obj.id)
    # it stops early: no tokens spent on the layers after the critical one
    assert len(fake_openai.completions) == (1 if critical == "executiveSummary" else 2)
    with transaction(engine) as conn:
        assert documentation.current(conn, obj.id) is None


def test_concurrent_layers_give_the_same_layers(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org)
    sequential = service_for(engine, org).generate_documentation_for_object(obj.id)
    concurrent = service_for(engine, org, concurrent_layers=True).generate_documentation_for_object(
        obj.id
    )
    assert concurrent.layers == sequential.layers
    assert concurrent.failed_layers == []


def test_api_key_never_leaks(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = use_openai(engine, org, fake_openai, api_key="sk-leakcheck-" + "Q7w" * 10)
    obj = make_object(engine, org)
    # a non-critical layer gets the 401 (the server echoes the whole key back) ...
    fake_openai.add_rule(lambda b: "Fill codeExplanations only" in json.dumps(b), Fault.auth())
    caplog.set_level(logging.DEBUG)
    service = service_for(engine, org)
    generated = service.generate_documentation_for_object(obj.id)
    service.store_documentation(obj.id, generated)
    assert generated.failed_layers == ["code_explanations"]
    error = generated.outcomes["code_explanations"].error or ""
    assert "refused the API key" in error and "***" in error and key not in error
    # ... and a critical one too
    fake_openai.add_rule(lambda b: True, Fault.auth())
    with pytest.raises(DocumentationGenerationError) as raised:
        service.generate_documentation_for_object(obj.id)
    assert key not in str(raised.value)
    assert all(key not in r.getMessage() for r in caplog.records)
    assert key not in caplog.text
    assert find_in_database(database_url, key) == []
    # the probe works: the key really was sent, so the server really echoed it
    assert any(
        key in (r.headers.get("Authorization") or r.headers.get("authorization") or "")
        for r in fake_openai.requests
    )
