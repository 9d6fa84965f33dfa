"""docgen.pipeline without Prefect: a fake `call_layer` stands in for the provider or the
layer task; objects, contexts and storage are real (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import anyio
import pytest
from sqlalchemy.engine import Engine

from docgen import jobs as core_jobs
from docgen.context import ObjectContext
from docgen.db import jobs as jobs_repo
from docgen.db import logs
from docgen.db.engine import transaction
from docgen.layers import LAYER_NAMES, LAYERS, LayerName
from docgen.object_run import release_object, start_object
from docgen.outcomes import LayerOutcome
from docgen.pipeline import CallLayer, PipelineResult, Plan, run_pipeline
from docgen.pricing import Usage, load_pricing
from docgen.providers.offline import OfflineProvider
from docgen.service import DocumentationGenerationService
from tests.conftest import OrgFixture
from tests.factories import make_object

MODEL = "gpt-4o"
#: what every fake call reports, priced at gpt-4o
USAGE = Usage(prompt_tokens=1000, completion_tokens=200)


class FakeLayers:
    """`call_layer` answering from a script: `failing` layers fail, each call takes `delay`
    seconds; records the order of calls and the most calls in flight at once."""

    def __init__(self, failing: tuple[str, ...] = (), delay: float = 0.0) -> None:
        self.failing, self.delay = failing, delay
        self.calls: list[LayerName] = []
        self.in_flight = self.most_in_flight = 0

    async def __call__(self, layer: LayerName) -> LayerOutcome:
        self.calls.append(layer)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await anyio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if layer in self.failing:
            return LayerOutcome.from_error(
                layer, RuntimeError("boom"), model=MODEL, duration_ms=5, usage=USAGE
            )
        value = LAYERS[layer].empty_value()
        return LayerOutcome(layer, "completed", value, usage=USAGE, model=MODEL, duration_ms=5)


def plan(concurrent: bool = False, halted: Callable[[], str | None] | None = None) -> Plan:
    extra = {"halted": halted} if halted else {}
    return Plan("openai", MODEL, load_pricing(), "hash", concurrent_layers=concurrent, **extra)


def context(engine: Engine, org: OrgFixture) -> ObjectContext:
    service = DocumentationGenerationService(engine, org.id, provider=OfflineProvider())
    return service.fetch_object_metadata(make_object(engine, org).id)


def run(ctx: ObjectContext, call_layer: CallLayer, the_plan: Plan) -> PipelineResult:
    return anyio.run(run_pipeline, ctx, call_layer, the_plan)


def per_call() -> Decimal:
    return load_pricing().cost(MODEL, USAGE)


def test_six_layers_critical_first_cost_and_complexity(engine: Engine, org: OrgFixture) -> None:
    ctx = context(engine, org)
    layers = FakeLayers(failing=("business_rules",))
    result = run(ctx, layers, plan())
    assert result.status == "documented" and result.generated is not None
    assert layers.calls == list(LAYER_NAMES) and layers.most_in_flight == 1
    assert result.generated.failed_layers == ["business_rules"]
    assert result.cost_usd == result.generated.cost_usd == 6 * per_call() > 0
    assert result.tokens == 6 * USAGE.total_tokens
    assert 1 <= result.generated.complexity.score <= 5
    assert result.generated.input_hash == "hash" and result.generated.model == MODEL


@pytest.mark.parametrize(
    ("critical", "calls"), [("executive_summary", 1), ("business_narrative", 2)]
)
def test_a_failed_critical_layer_stops_the_object_with_what_it_spent(
    engine: Engine, org: OrgFixture, critical: str, calls: int
) -> None:
    layers = FakeLayers(failing=(critical,))
    result = run(context(engine, org), layers, plan(concurrent=True))
    assert result.status == "failed" and result.generated is None
    assert result.failed_layer == critical
    assert layers.calls == list(LAYER_NAMES[:calls]), "no call after the failed critical layer"
    assert list(result.outcomes) == list(LAYER_NAMES[:calls])
    assert result.cost_usd == calls * per_call() > 0
    assert result.error is not None and f"critical layer {critical} failed" in result.error


def test_concurrent_layers_run_the_other_four_together(engine: Engine, org: OrgFixture) -> None:
    ctx = context(engine, org)
    sequential, together = FakeLayers(delay=0.05), FakeLayers(delay=0.05)
    one = run(ctx, sequential, plan())
    four = run(ctx, together, plan(concurrent=True))
    assert sequential.most_in_flight == 1 and together.most_in_flight == 4
    assert together.calls[:2] == ["executive_summary", "business_narrative"]
    assert one.generated is not None and four.generated is not None
    # the same result in the brief's order, whatever order the calls ended in
    assert list(four.generated.outcomes) == list(LAYER_NAMES)
    assert four.generated.layers == one.generated.layers


def test_a_halted_run_releases_the_object(engine: Engine, org: OrgFixture) -> None:
    ctx = context(engine, org)
    # a critical layer failed because the run stopped (bad key, cancel): not the object's fault
    stopped = run(ctx, FakeLayers(failing=("executive_summary",)), plan(halted=lambda: "bad key"))
    assert stopped.status == "released" and stopped.error == "bad key"
    assert stopped.generated is None and stopped.cost_usd == 0
    # halted while the other layers ran: nothing to store either
    late = run(ctx, FakeLayers(), plan(halted=lambda: "cancelled"))
    assert late.status == "released" and late.generated is None and len(late.outcomes) == 6


def test_a_failed_object_is_stored_with_its_cost_and_logs(engine: Engine, org: OrgFixture) -> None:
    service = DocumentationGenerationService(engine, org.id, provider=OfflineProvider())
    obj = make_object(engine, org)
    job = core_jobs.create_job(engine, org.id, [obj.id], triggered_by_user_id=org.admin_id)
    start = start_object(engine, service, job.id, obj.id, "runner-a")
    assert start is not None and start.ctx.object.id == obj.id
    assert start_object(engine, service, job.id, obj.id, "runner-b") is None, "claimed once"
    result = run(start.ctx, FakeLayers(failing=("business_narrative",)), plan())
    assert result.status == "failed"
    counted = core_jobs.record_failed(
        engine,
        job.id,
        obj.id,
        "runner-a",
        list(result.outcomes.values()),
        result.error or "",
        result.cost_usd,
    )
    with transaction(engine) as conn:
        stored = jobs_repo.get_job(conn, job.id)
        rows = logs.logs_for(conn, job_id=job.id)
    assert counted and stored.failed_objects == 1
    assert stored.actual_cost == 2 * per_call()
    assert sorted(r["layer"] for r in rows) == ["business_narrative", "executive_summary"]
    assert sum(r["tokens_used"] for r in rows) == 2 * USAGE.total_tokens


def test_a_released_object_can_be_claimed_again(engine: Engine, org: OrgFixture) -> None:
    service = DocumentationGenerationService(engine, org.id, provider=OfflineProvider())
    upstream = make_object(engine, org)
    obj = make_object(engine, org, upstream=[upstream.id])
    job = core_jobs.create_job(engine, org.id, [obj.id], triggered_by_user_id=org.admin_id)
    start = start_object(engine, service, job.id, obj.id, "runner-a")
    assert start is not None
    assert [link.object_id for link in start.lineage[0]] == [upstream.id]  # read with the claim
    release_object(engine, job.id, obj.id, "runner-a")
    assert start_object(engine, service, job.id, obj.id, "runner-b") is not None
