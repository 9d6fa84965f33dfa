"""Grounding: code quoted in the docs is in the object's code, names exist, and the prompt's
reference examples do not end up in the documentation."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy.engine import Engine

from docgen.context import ObjectContext, RelatedObject
from docgen.db.engine import transaction
from docgen.db.objects import Column, DataObject, list_objects
from docgen.errors import NotGrounded
from docgen.grounding import GroundedProvider, check_layer, copies_example, remove_unsupported
from docgen.ingest import ingest_source
from docgen.layers import ENVELOPE_KEYS, LAYER_NAMES, LAYERS, LayerName
from docgen.prompts import LAYER_PROMPTS, build_messages
from docgen.providers.base import LayerRequest
from docgen.providers.offline import OfflineProvider
from docgen.providers.openai_compat import OpenAICompatibleProvider
from docgen.resources import examples_dir
from tests.conftest import OrgFixture
from tests.fake_openai import INVENTED_CODE, FakeOpenAI

CODE = """with paid as (
    select order_id, customer_id, amount
    from {{ ref('stg_payments') }}
    where status = 'success'
      and amount > 0
)
select customer_id, sum(amount) as lifetime_value
from paid
group by customer_id"""


def context(code: str = CODE, language: str = "sql") -> ObjectContext:
    obj = DataObject(
        id=uuid4(),
        organization_id=uuid4(),
        object_type="dbt_model",
        name="customer_value",
        unique_key="model.shop.customer_value",
        code=code,
        language=language,  # type: ignore[arg-type]
        dialect="duckdb",
        columns=[Column(name="customer_id"), Column(name="lifetime_value")],
        content_hash="x",
    )
    upstream = (RelatedObject(uuid4(), "stg_payments", "dbt_model"),)
    return ObjectContext(object=obj, upstream=upstream)


def rule(reference: str, text: str = "Only successful payments count") -> dict[str, str]:
    return {"rule": text, "codeReference": reference, "impact": "Totals exclude failures."}


# --- facts: what counts as found --------------------------------------------------------


@pytest.mark.parametrize(
    "fragment",
    [
        "where status = 'success'",
        "WHERE   status='success'\n  AND amount > 0",  # case and whitespace
        "amount>0",  # a parsed-SQL match
        "sum(amount) as lifetime_value",
        "from {{ ref('stg_payments') }}",  # the source, Jinja and all
        "select order_id ... from {{ ref('stg_payments') }}",  # parts around an ellipsis
    ],
)
def test_fragments_found_in_the_code(fragment: str) -> None:
    assert (
        check_layer("business_rules", [rule(fragment), rule("group by customer_id")], context())
        == []
    )


@pytest.mark.parametrize(
    "fragment",
    [INVENTED_CODE, "where amount > 100", "<the condition that applies it, copied exactly>"],
)
def test_fragments_not_in_the_code_are_found(fragment: str) -> None:
    findings = check_layer("business_rules", [rule("amount > 0"), rule(fragment)], context())
    assert {f.item for f in findings} == {1}
    assert findings[0].where.startswith("rules[1]")


def test_names_in_rules_and_cards_must_exist() -> None:
    findings = check_layer(
        "business_rules",
        [
            rule("amount > 0", "Orders with refund_amount above zero are excluded"),
            rule("amount > 0", "Each customer_id gets its lifetime_value from stg_payments"),
        ],
        context(),
    )
    assert len(findings) == 1 and "refund_amount" in findings[0].problem
    card = {
        "stepNumber": 1,
        "title": "Keep paid",
        "input": "`payments_raw`",
        "logic": "x",
        "output": "Paid orders",
        "whyItMatters": "Revenue",
    }
    found = check_layer("transformation_cards", [card, card, card], context())
    assert {f.problem for f in found} == {"names payments_raw, which the code does not have"}


def test_copies_of_the_reference_examples_are_found() -> None:
    summary_example = LAYER_PROMPTS["executive_summary"].EXAMPLE
    assert copies_example(summary_example, "executive_summary")
    assert copies_example(summary_example.replace("Marketing", "Sales"), "executive_summary")
    assert not copies_example(
        "Lists every customer with their lifetime value from successful payments.",
        "executive_summary",
    )
    findings = check_layer("executive_summary", summary_example, context())
    assert findings and findings[0].item is None and findings[0].kind == "example"
    card = dict(LAYER_PROMPTS["transformation_cards"].EXAMPLE)
    assert [f.item for f in check_layer("transformation_cards", [card], context())] == [0]


def test_unsupported_items_are_removed_down_to_the_minimum() -> None:
    good = [rule("amount > 0"), rule("group by customer_id")]
    value = [*good, rule(INVENTED_CODE)]
    findings = check_layer("business_rules", value, context())
    assert remove_unsupported("business_rules", value, findings) == good
    # removing would leave fewer rules than the layer needs: nothing to store
    too_few = [good[0], rule(INVENTED_CODE)]
    assert (
        remove_unsupported(
            "business_rules", too_few, check_layer("business_rules", too_few, context())
        )
        is None
    )


# --- the wrapper against the fake server -------------------------------------------------


def grounded(server: FakeOpenAI) -> GroundedProvider:
    return GroundedProvider(
        OpenAICompatibleProvider(api_key="sk-g-0123456789", model="m", base_url=server.base_url)
    )


def request(layer: LayerName, ctx: ObjectContext) -> LayerRequest:
    return LayerRequest(layer=layer, context=ctx, messages=build_messages(ctx, layer))


def test_grounded_answers_pass_without_a_retry(fake_openai: FakeOpenAI) -> None:
    ctx = context()
    for layer in LAYER_NAMES:
        result = grounded(fake_openai).generate(request(layer, ctx))
        assert result.grounding == {"status": "passed", "retried": False, "removed": 0}
    assert len(fake_openai.completions) == 6


def test_invented_code_is_retried_once_naming_it_then_the_layer_fails(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.behave(invented_code=True)
    with pytest.raises(NotGrounded) as caught:
        grounded(fake_openai).generate(request("code_explanations", context()))
    error = caught.value
    assert not error.retryable and INVENTED_CODE in str(error)
    assert len(fake_openai.completions) == 2
    repair = fake_openai.completions[1].body["messages"][-1]["content"]
    assert f"{INVENTED_CODE!r} is not in the code" in repair
    assert error.grounding and error.grounding["status"] == "failed"
    assert error.grounding["retried"] and error.usage.total_tokens > 0  # both calls counted


def test_a_partly_invented_answer_is_stored_without_the_invented_items(
    fake_openai: FakeOpenAI,
) -> None:
    def answer(key: str | None, body: dict[str, Any]) -> dict[str, Any]:
        rules = [rule("amount > 0"), rule("group by customer_id"), rule(INVENTED_CODE)]
        return {**dict.fromkeys(ENVELOPE_KEYS.values()), "businessRules": rules}

    fake_openai.content_for = answer
    result = grounded(fake_openai).generate(request("business_rules", context()))
    assert [r["codeReference"] for r in result.value] == ["amount > 0", "group by customer_id"]
    assert result.grounding is not None
    assert result.grounding["status"] == "cleaned" and result.grounding["removed"] == 1
    assert result.grounding["retried"] and result.attempts == 2


def test_copied_examples_fail_the_summary_and_the_cards(fake_openai: FakeOpenAI) -> None:
    fake_openai.behave(copy_examples=True)
    for layer in ("executive_summary", "transformation_cards", "business_rules"):
        with pytest.raises(NotGrounded) as caught:
            grounded(fake_openai).generate(request(layer, context()))
        assert caught.value.grounding and caught.value.grounding["example_copies"] >= 1


# --- the offline analyser passes the same checks ------------------------------------------


def test_offline_layers_of_the_example_project_are_grounded(
    engine: Engine, org: OrgFixture
) -> None:
    from docgen.context import load_contexts

    ingest_source(engine, org.id, "dbt", examples_dir() / "jaffle_shop")
    with transaction(engine) as conn:
        ids = [o.id for o in list_objects(conn, org.id)]
        contexts = load_contexts(conn, ids)
    offline = OfflineProvider()
    problems = []
    for ctx in contexts.values():
        for layer in LAYER_NAMES:
            value = offline.generate(LayerRequest(layer=layer, context=ctx)).value
            problems += [f"{ctx.object.name} {layer} {f}" for f in check_layer(layer, value, ctx)]
            LAYERS[layer].validate_stored(value)
    assert len(contexts) == 17
    assert problems == [], "\n".join(problems)


def test_the_check_result_goes_to_the_per_layer_log(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    from docgen.db import logs
    from docgen.service import DocumentationGenerationService
    from tests.conftest import use_openai
    from tests.factories import make_object

    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org)

    def answer(key: str | None, body: dict[str, Any]) -> dict[str, Any] | None:
        if key != "businessRules":
            return None  # the fake's own answers quote the object's code
        from tests.fake_openai import code_lines

        lines = code_lines(str(body["messages"][1]["content"]))
        rules = [rule(lines[0]), rule(lines[1]), rule(INVENTED_CODE)]
        return {**dict.fromkeys(ENVELOPE_KEYS.values()), "businessRules": rules}

    fake_openai.content_for = answer
    service = DocumentationGenerationService(engine, org.id)
    service.initialize()
    generated = service.generate_documentation_for_object(obj.id)
    stored = service.store_documentation(obj.id, generated)
    assert len(stored.business_rules or []) == 2
    with transaction(engine) as conn:
        rows = {r["layer"]: r for r in logs.logs_for(conn, object_id=obj.id)}
    assert rows["business_rules"]["grounding"]["status"] == "cleaned"
    assert rows["business_rules"]["grounding"]["removed"] == 1
    assert rows["executive_summary"]["grounding"]["status"] == "passed"
    layers = stored.generation_metadata["layers"]
    assert layers["business_rules"]["grounding"]["retried"] is True
    assert len(fake_openai.completions) == 7  # six layers and one retry
