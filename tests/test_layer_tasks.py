"""The layer tasks under real Prefect: which faults are retried, usage of failed attempts,
and the cache that makes a rerun with the same inputs free."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from prefect import flow
from sqlalchemy.engine import Engine

from docgen.errors import APIKeyError, ContentFiltered
from docgen.layers import LAYERS, LayerName
from docgen.outcomes import ledger_key
from docgen.pricing import Usage
from docgen.service import DocumentationGenerationService
from tasks.layers import LAYER_TASKS
from tests.conftest import OrgFixture, use_openai
from tests.factories import create_job, make_object, run_job
from tests.fake_openai import FakeOpenAI, Fault

pytestmark = pytest.mark.prefect


def run_layer(
    engine: Engine,
    org: OrgFixture,
    object_id: uuid.UUID,
    layer: LayerName,
    *,
    refresh: bool = False,
    retries: int = 3,
) -> tuple[Any, tuple[Usage, int]]:
    """The layer task's final state, and what the run's ledger holds for it afterwards
    (usage and count of failed attempts: handed over when the layer finally failed)."""
    service = DocumentationGenerationService(engine, org.id)
    service.initialize()
    ctx = service.fetch_object_metadata(object_id)
    run_key = uuid.uuid4().hex

    class Box:  # hides the task state from Prefect, which would fail the flow with it
        def __init__(self, state: Any) -> None:
            self.state = state

    @flow(name="layer-test")
    async def one_layer() -> Box:
        task = LAYER_TASKS[layer].with_options(
            retries=retries, retry_delay_seconds=0, retry_jitter_factor=None, refresh_cache=refresh
        )
        return Box(
            await task(service, ctx, layer, service.input_hash(ctx), run_key, return_state=True)
        )

    state = asyncio.run(one_layer()).state
    return state, service.ledger.pop(ledger_key(run_key, layer))


def layer_key(layer: LayerName) -> str:
    from docgen.layers import ENVELOPE_KEYS

    return ENVELOPE_KEYS[layer]


@pytest.mark.parametrize(
    "fault",
    [
        Fault.broken_json(),
        Fault.length(),
        Fault.schema_violation(),
        Fault.server_error(),
        Fault.rate_limit(retry_after=0),
        Fault.timeout(delay=1.5),
    ],
    ids=lambda f: f.kind,
)
def test_retryable_faults_recover(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
    fault: Fault,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCGEN_LLM_REQUEST_TIMEOUT", "0.5")
    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org)
    fake_openai.enqueue(fault, fault)
    state, _ = run_layer(engine, org, obj.id, "business_rules")
    assert state.is_completed(), state.message
    result = state.result()
    assert result.attempts == 3
    assert len(fake_openai.completions) == 3
    LAYERS["business_rules"].validate_stored(result.value)
    reported = fake_openai.reported_usage()
    # tokens of the failed attempts (broken JSON, length) are counted with the success
    assert result.usage == Usage(
        reported["prompt_tokens"], reported["completion_tokens"], reported["cached_tokens"]
    )


@pytest.mark.parametrize(
    ("fault", "error"),
    [(Fault.auth(), APIKeyError), (Fault.content_filter(), ContentFiltered)],
    ids=["auth", "content_filter"],
)
def test_non_retryable_faults_fail_at_once(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
    fault: Fault,
    error: type[Exception],
) -> None:
    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org)
    fake_openai.add_rule(lambda body: True, fault)
    state, (usage, attempts) = run_layer(engine, org, obj.id, "impact_analysis")
    assert state.is_failed()
    with pytest.raises(error):
        state.result()
    assert len(fake_openai.completions) == 1, "no retry for this fault"
    assert attempts == 1


def test_exhausted_retries_hand_their_usage_to_the_caller(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org)
    fake_openai.add_rule(lambda body: True, Fault.broken_json())
    state, (usage, attempts) = run_layer(engine, org, obj.id, "code_explanations", retries=2)
    assert state.is_failed() and len(fake_openai.completions) == 3
    reported = fake_openai.reported_usage()
    assert attempts == 3 and usage.prompt_tokens == reported["prompt_tokens"] > 0


def test_same_inputs_hit_the_cache_and_refresh_calls_again(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org)
    first, _ = run_layer(engine, org, obj.id, "transformation_cards")
    second, _ = run_layer(engine, org, obj.id, "transformation_cards")
    assert first.is_completed() and second.is_completed()
    assert len(fake_openai.completions) == 1
    assert second.name == "Cached"
    assert json.dumps(second.result().value) == json.dumps(first.result().value)
    third, _ = run_layer(engine, org, obj.id, "transformation_cards", refresh=True)
    assert third.is_completed() and len(fake_openai.completions) == 2


def test_retry_after_a_rejected_answer_tells_the_model_what_was_wrong(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org)
    fake_openai.enqueue(Fault.schema_violation())
    state, _ = run_layer(engine, org, obj.id, "business_rules")
    assert state.is_completed(), state.message
    first, second = (r.body["messages"] for r in fake_openai.completions)
    # the retry is the same prompt plus one repair turn: the rejected answer and the reason
    assert second[: len(first)] == first and len(second) == len(first) + 2
    assert second[-2]["role"] == "assistant" and '"oops"' in second[-2]["content"]
    assert second[-1]["role"] == "user"
    assert "was rejected" in second[-1]["content"] and "BusinessRules" in second[-1]["content"]
    # the token cap of the retry is the layer's own, unchanged
    caps = {r.body["max_completion_tokens"] for r in fake_openai.completions}
    assert caps == {LAYERS["business_rules"].max_completion_tokens}


def test_an_object_subflow_shows_its_six_layer_tasks_and_nothing_else(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> None:
    """What the Prefect UI shows per object: one subflow named after it, with a task run per
    layer (storing it is a plain call, not a task)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org)
    assert run_job(create_job(engine, org, [obj.id])).is_completed()

    async def task_run_names() -> list[str]:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[obj.name]))
            )
            assert len(runs) == 1
            for _ in range(50):  # task runs reach the API through events, a moment later
                tasks = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id={"any_": [runs[0].id]})
                )
                if len(tasks) >= 6:
                    break
                await asyncio.sleep(0.2)
            return sorted(t.name for t in tasks)

    expected = sorted(f"{layer.replace('_', '-')}-{obj.name}" for layer in LAYERS)
    assert asyncio.run(task_run_names()) == expected
