"""docgen against servers that are not api.openai.com: the fake server behaving like a small
local model server (llama.cpp, Ollama, vLLM, LM Studio), through the real openai SDK."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from docgen.db import orgs
from docgen.db.engine import transaction
from docgen.errors import InvalidLLMResponse, ProviderDown, ProviderUnavailable
from docgen.layers import ENVELOPE_KEYS, LAYER_NAMES, LAYERS, LayerName
from docgen.providers.base import LayerRequest, Repair
from docgen.providers.openai_compat import OpenAICompatibleProvider
from docgen.service import build_provider
from tests.conftest import OrgFixture, use_openai
from tests.fake_openai import FakeOpenAI

CODE = "select order_id, amount\nfrom orders\nwhere status = 'paid'"


def request(layer: LayerName, repair: Repair | None = None) -> LayerRequest:
    messages = [
        {"role": "system", "content": "You document data models."},
        {"role": "user", "content": f"Code:\n<code>\n{CODE}\n</code>"},
        {"role": "user", "content": f"Fill {ENVELOPE_KEYS[layer]} only."},
    ]
    return LayerRequest(layer=layer, context=None, messages=messages, repair=repair)  # type: ignore[arg-type]


def provider(server: FakeOpenAI, **options: Any) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        api_key="sk-local-0123456789",
        model="qwen2.5-coder:1.5b",
        base_url=server.base_url,
        **options,
    )


def formats(server: FakeOpenAI) -> list[tuple[int, str]]:
    return [(r.status, (r.body.get("response_format") or {}).get("type")) for r in server.requests]


# --- 15.1 structured outputs refused -------------------------------------------------------


@pytest.mark.parametrize("status", [500, 400])
def test_refused_json_schema_switches_to_json_object_once(
    fake_openai: FakeOpenAI, status: int
) -> None:
    fake_openai.behave(refuse_json_schema=status)
    said: list[str] = []
    remembered: list[str] = []
    local = provider(
        fake_openai, notify=said.append, on_structured_outputs_refused=remembered.append
    )
    for layer in LAYER_NAMES:
        assert local.generate(request(layer)).layer == layer
    # one refusal, then json_object at once (no retries of the refused form) and for good
    assert formats(fake_openai) == [(status, "json_schema")] + [(200, "json_object")] * 6
    assert len(said) == 1 and "does not accept structured outputs" in said[0]
    assert fake_openai.base_url in said[0]
    assert len(remembered) == 1
    # the cause is kept, not cut at "1 validation error:"
    assert "response_format.json_schema" in remembered[0] and f"HTTP {status}" in remembered[0]


def test_refusal_is_remembered_in_the_organization_settings(
    engine: Engine, org: OrgFixture, env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    use_openai(engine, org, fake_openai)
    fake_openai.behave(refuse_json_schema=500)
    with transaction(engine) as conn:
        settings = orgs.get_llm_settings(conn, org.id)
    built = build_provider(settings, engine=engine)
    built.generate(request("executive_summary"))
    with transaction(engine) as conn:
        after = orgs.get_llm_settings(conn, org.id)
    assert after.structured_outputs is False
    assert (
        after.structured_outputs_refused and "response_format" in after.structured_outputs_refused
    )
    # the next job's provider starts with json_object: no refused request at all
    fake_openai.reset()
    build_provider(after, engine=engine).generate(request("executive_summary"))
    assert formats(fake_openai) == [(200, "json_object")]
    # choosing a mode by hand forgets the refusal
    with transaction(engine) as conn:
        chosen = orgs.set_provider(conn, org.id, "openai", structured_outputs=True)
    assert chosen.structured_outputs and chosen.structured_outputs_refused is None


# --- 15.2 max_tokens and runaway answers ---------------------------------------------------


def test_max_tokens_sent_to_other_endpoints_so_a_server_ignoring_the_other_stops(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.behave(ignore_max_completion_tokens=True)
    result = provider(fake_openai).generate(request("business_rules"))
    body = fake_openai.requests[0].body
    cap = LAYERS["business_rules"].max_completion_tokens
    assert body["max_tokens"] == body["max_completion_tokens"] == cap
    assert result.usage.completion_tokens <= cap


def test_openai_itself_gets_only_max_completion_tokens() -> None:
    official = OpenAICompatibleProvider(api_key="sk-x-0123456789", model="gpt-4o")
    assert official._limits(400) == {"max_completion_tokens": 400}


def test_runaway_answer_counts_as_length(fake_openai: FakeOpenAI) -> None:
    fake_openai.behave(ignore_max_completion_tokens=True, ignore_max_tokens=True)
    with pytest.raises(InvalidLLMResponse) as caught:
        provider(fake_openai).generate(request("executive_summary"))
    cap = LAYERS["executive_summary"].max_completion_tokens
    assert "finish_reason=length" in str(caught.value)
    assert f"past its cap of {cap}" in str(caught.value)
    # the tokens the server billed are still counted
    assert caught.value.usage.completion_tokens == 4 * cap
    assert caught.value.retryable


# --- 14.4 an unreachable endpoint ----------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_failures_in_a_row_open_the_breaker_naming_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    down = OpenAICompatibleProvider(api_key="sk-x-0123456789", model="m", base_url=url)
    started = time.perf_counter()
    with pytest.raises(ProviderDown) as caught:
        down.generate(request("executive_summary"))
    # the failed request, then two TCP connects a quarter second apart: down in ~0.5 s
    assert time.perf_counter() - started < 3
    error = caught.value
    assert url in str(error) and "3 connection attempts failed in a row" in str(error)
    assert "Connection refused" in str(error)
    assert error.fails_job and not error.retryable
    assert "\n" not in str(error) and "jobs run" in str(error)
    started = time.perf_counter()
    with pytest.raises(ProviderDown):  # open: fails at once, without a request
        down.generate(request("business_rules"))
    assert time.perf_counter() - started < 0.05


def test_a_reachable_endpoint_does_not_open_the_breaker(fake_openai: FakeOpenAI) -> None:
    local = provider(fake_openai)
    failure = ConnectionError("reset by peer")
    assert local.breaker.record(failure) is False  # type: ignore[arg-type]
    assert local.breaker.failures == 1 and not local.breaker.open
    local.generate(request("executive_summary"))  # any answer resets the count
    assert local.breaker.failures == 0


# --- 15.4 answers without the envelope -----------------------------------------------------


def test_answers_without_the_envelope_are_accepted_when_they_fit_the_layer(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.behave(no_envelope=True)
    local = provider(fake_openai)
    for layer in LAYER_NAMES:
        value = local.generate(request(layer)).value
        assert value  # and it is the layer's own value, validated
        LAYERS[layer].validate_stored(value)
    assert all(r.status == 200 for r in fake_openai.requests)


def test_a_bare_answer_that_does_not_fit_keeps_the_envelope_error(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.content_for = lambda key, body: {"whatItDoes": "only this"}
    with pytest.raises(InvalidLLMResponse) as caught:
        provider(fake_openai).generate(request("business_narrative"))
    assert "has no 'businessNarrative'" in str(caught.value)


# --- 15.5 / 15.6 repair turn and useful messages -------------------------------------------


def test_schema_errors_name_the_model_and_fields(fake_openai: FakeOpenAI) -> None:
    fake_openai.content_for = lambda key, body: {
        **dict.fromkeys(ENVELOPE_KEYS.values()),
        "transformationCards": [{"stepNumber": 1, "title": "x"}],
    }
    with pytest.raises(InvalidLLMResponse) as caught:
        provider(fake_openai).generate(request("transformation_cards"))
    message = str(caught.value)
    assert "TransformationCards" in message and "cards.0.input: Field required" in message
    assert "\n" not in message


def test_a_repair_turn_shows_the_answer_and_the_problem(fake_openai: FakeOpenAI) -> None:
    repair = Repair(answer='{"transformationCards": []}', problem="cards: too short")
    provider(fake_openai).generate(request("transformation_cards", repair))
    sent = fake_openai.requests[0].body["messages"]
    assert sent[-2] == {"role": "assistant", "content": '{"transformationCards": []}'}
    assert sent[-1]["role"] == "user" and "cards: too short" in sent[-1]["content"]
    assert sent[:3] == request("transformation_cards").messages  # the prompt itself unchanged


# --- 15.3 a single-slot server -------------------------------------------------------------


def test_one_request_at_a_time_and_a_drain_after_an_abandoned_request(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.behave(slots=1, tokens_per_second=400)
    calls = {"n": 0}

    def long_first_answer(key: str | None, body: dict[str, Any]) -> dict[str, Any] | None:
        if key is None:
            return None  # the drain probe: the default answer, cut at its 1 token
        calls["n"] += 1
        if calls["n"] == 1:  # its 800-token cap at 400/s: 2 s, past the 1 s timeout
            return {"businessRules": "word " * 3000}
        return None

    fake_openai.content_for = long_first_answer
    local = provider(fake_openai, timeout=1.0, max_concurrent_requests=1)
    with pytest.raises(ProviderUnavailable) as caught:
        local.generate(request("business_rules"))
    assert "APITimeoutError" in str(caught.value)

    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(local.generate, [request("business_rules")] * 2))
    assert all(r.layer == "business_rules" for r in results)

    abandoned, probe, *rest = fake_openai.requests
    assert abandoned.status == 499  # computed to the end for a client that had left
    assert probe.body["max_tokens"] == 1 and probe.requested_key is None
    assert probe.started < abandoned.finished  # it queued behind the abandoned request
    assert len(rest) == 2
    # with one slot in docgen, the server never saw two requests at once after the drain
    first, second = sorted(rest, key=lambda r: r.started)
    assert second.started >= first.finished - 0.01
    assert fake_openai.stats()["abandoned_tokens"] > 800
    # the probe's tokens are counted with the request that waited for it
    assert sum(r.usage.completion_tokens for r in results) >= 1


def test_bigger_layers_get_longer_timeouts(fake_openai: FakeOpenAI) -> None:
    local = provider(fake_openai, timeout=120.0)
    assert local.timeout_for(400) == 120.0
    assert local.timeout_for(1500) == pytest.approx(225.0)
