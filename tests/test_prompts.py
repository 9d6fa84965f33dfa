"""Prompts: context first, instruction last, a version that follows the text."""

from __future__ import annotations

import uuid

import pytest

import docgen.prompts as prompts
from docgen.context import ObjectContext, RelatedObject
from docgen.db.objects import Column, DataObject
from docgen.layers import ENVELOPE_KEYS, LAYER_NAMES

CTX = ObjectContext(
    DataObject(
        id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        object_type="dbt_model",
        name="fct_orders",
        unique_key="model.shop.fct_orders",
        code="select * from {{ ref('stg_orders') }}",
        compiled_code="select * from analytics.stg_orders",
        content_hash="h",
        description="Orders owned by finance.",
        columns=[Column(name="order_id", data_type="int")],
    ),
    upstream=(RelatedObject(uuid.uuid4(), "stg_orders", "dbt_model", "Cleaned orders."),),
    downstream=(RelatedObject(uuid.uuid4(), "finance_dashboard", "view"),),
)


def test_context_first_instruction_last() -> None:
    for layer in LAYER_NAMES:
        system, context, instruction = prompts.build_messages(CTX, layer)
        assert system["role"] == "system" and context["role"] == "user"
        assert "select * from analytics.stg_orders" in context["content"]  # compiled code
        assert "Orders owned by finance." in context["content"]
        assert "stg_orders (dbt model): Cleaned orders." in context["content"]
        assert "finance_dashboard" in context["content"]
        assert instruction["content"].startswith(f"Fill {ENVELOPE_KEYS[layer]} only")
    firsts = {str(prompts.build_messages(CTX, layer)[:2]) for layer in LAYER_NAMES}
    assert len(firsts) == 1


def test_business_first_rules_are_stated() -> None:
    text = prompts.SYSTEM_PROMPT
    for rule in (
        "No technical jargon",
        "Focus on WHY",
        "Never invent figures",
        "no code fences",
        "never copy them",
    ):
        assert rule in text


def test_prompt_version_follows_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    before = prompts._fingerprint()
    assert prompts.PROMPT_VERSION.endswith(before)
    monkeypatch.setattr(
        prompts.business_rules, "INSTRUCTION", prompts.business_rules.INSTRUCTION + " Be brief."
    )
    assert prompts._fingerprint() != before


def test_context_hash_covers_code_upstream_and_model() -> None:
    base = prompts.context_hash(CTX, "gpt-4o")
    assert base == prompts.context_hash(CTX, "gpt-4o")
    assert base != prompts.context_hash(CTX, "gpt-4o-mini")
    changed_code = ObjectContext(
        CTX.object.model_copy(update={"compiled_code": "select 1"}), CTX.upstream, CTX.downstream
    )
    assert base != prompts.context_hash(changed_code, "gpt-4o")
    changed_upstream = ObjectContext(
        CTX.object,
        (RelatedObject(CTX.upstream[0].id, "stg_orders", "dbt_model", "New."),),
        CTX.downstream,
    )
    assert base != prompts.context_hash(changed_upstream, "gpt-4o")
