"""Structured outputs through the openai SDK's `chat.completions.parse` with the envelope model,
against the fake server over HTTP: the schema is the SDK's, and the answers the SDK refuses
(cut off, filtered, not fitting the envelope) still cost what they cost and read docgen's way."""

from __future__ import annotations

import pytest
from openai.lib._parsing import type_to_response_format_param

from docgen.errors import ContentFiltered, InvalidLLMResponse, ProviderUnavailable
from docgen.layers import ENVELOPE_KEYS, LAYERS, LayerEnvelope, envelope_response_format
from tests.fake_openai import FakeOpenAI, Fault
from tests.test_local_servers import provider, request


def test_the_request_carries_the_sdks_strict_schema_of_the_envelope(
    fake_openai: FakeOpenAI,
) -> None:
    result = provider(fake_openai).generate(request("business_narrative"))
    sent = fake_openai.completions[0].body["response_format"]
    assert sent == type_to_response_format_param(LayerEnvelope) == envelope_response_format()
    assert sent["json_schema"]["strict"] is True and sent["json_schema"]["name"] == "LayerEnvelope"
    assert '"title"' not in str(sent)  # titles cost prompt tokens and are dropped
    assert set(result.value) == {"whatItDoes", "dataJourney", "businessImpact"}
    assert result.usage.completion_tokens > 0


def test_json_object_mode_does_not_send_a_schema(fake_openai: FakeOpenAI) -> None:
    result = provider(fake_openai, structured_outputs=False).generate(request("business_rules"))
    assert fake_openai.completions[0].body["response_format"] == {"type": "json_object"}
    LAYERS["business_rules"].validate_stored(result.value)


def test_a_cut_off_answer_keeps_its_usage(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue(Fault.length())
    with pytest.raises(InvalidLLMResponse) as caught:
        provider(fake_openai).generate(request("impact_analysis"))
    assert "finish_reason=length" in str(caught.value)
    assert caught.value.usage.completion_tokens == fake_openai.reported_usage()["completion_tokens"]
    assert caught.value.usage.completion_tokens > 0


def test_a_filtered_answer_is_content_filtered_with_its_usage(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue(Fault.content_filter())
    with pytest.raises(ContentFiltered) as caught:
        provider(fake_openai).generate(request("executive_summary"))
    assert "content filter" in str(caught.value)
    assert caught.value.usage.prompt_tokens == fake_openai.reported_usage()["prompt_tokens"]


def test_an_answer_outside_the_envelope_keeps_the_raw_text_and_usage(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.content_for = lambda key, body: {
        **dict.fromkeys(ENVELOPE_KEYS.values()),
        "businessRules": [{"rule": "paid only"}],
    }
    with pytest.raises(InvalidLLMResponse) as caught:
        provider(fake_openai).generate(request("business_rules"))
    error = caught.value
    assert "BusinessRules" in str(error) and "rules.0.codeReference: Field required" in str(error)
    assert error.raw is not None and "paid only" in error.raw
    assert error.usage.completion_tokens == fake_openai.reported_usage()["completion_tokens"]


def test_a_body_that_is_not_json_is_not_a_completion(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue(Fault.non_json())
    with pytest.raises(ProviderUnavailable, match="answered HTTP 200 with"):
        provider(fake_openai).generate(request("executive_summary"))
