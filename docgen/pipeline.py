"""One object through the six layers: the loop both the service and the per-object flow run.

    result = await run_pipeline(ctx, call_layer, plan)

`call_layer(layer)` answers one layer and never raises (a failed call is a failed
LayerOutcome). The service passes its provider call, run in a worker thread; the
document-object flow passes the Prefect layer task (retries, caching). Everything else is
decided here, the same way for both:

1. Critical layers first (summary, then narrative). One that fails ends the object: no
   other layer is called, and the object is `failed` with the cost of what it spent, or
   `released` when the run halted meanwhile (a bad API key, a cancel: not the object's fault).
2. The four other layers one after another, or all together with `concurrent_layers` (the
   critical calls have then written the provider's prompt cache for the shared prefix). They
   degrade to empty on failure and are counted in `failed_layers`.
3. If the run halted meanwhile, `released`: nothing is stored, the object goes back.
4. Assembly: complexity (parses the code, so in a worker thread) and cost, into a
   GeneratedDocumentation; the object is `documented`. Storing it is the caller's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import anyio

from docgen.complexity import compute_complexity
from docgen.context import ObjectContext
from docgen.layers import CRITICAL_LAYERS, LAYER_NAMES, LayerName
from docgen.outcomes import GeneratedDocumentation, LayerOutcome
from docgen.pricing import BATCH_SUFFIX, PricingTable
from docgen.style import banned_words_used

#: answers one layer of the object; never raises (a failure is a failed LayerOutcome)
CallLayer = Callable[[LayerName], Awaitable[LayerOutcome]]

#: the critical layers (summary, narrative) and the others, each in the brief's order
FIRST_LAYERS: tuple[LayerName, ...] = tuple(n for n in LAYER_NAMES if n in CRITICAL_LAYERS)
OTHER_LAYERS: tuple[LayerName, ...] = tuple(n for n in LAYER_NAMES if n not in CRITICAL_LAYERS)


def _never_halted() -> str | None:
    return None


@dataclass(frozen=True)
class Plan:
    """What the pipeline needs besides the layer calls: who answers, at what price."""

    #: the provider's kind (`openai`, `azure`, `offline`) and its model
    provider: str
    model: str
    pricing: PricingTable
    #: the hash of everything the layers read (docgen.prompts.context_hash)
    input_hash: str
    concurrent_layers: bool = False
    #: why the run must give its objects back unfinished, or None to go on
    halted: Callable[[], str | None] = _never_halted


@dataclass
class PipelineResult:
    """What happened to one object: documented (with what to store), failed or released."""

    status: Literal["documented", "failed", "released"]
    #: the layers tried, in the brief's order
    outcomes: dict[LayerName, LayerOutcome]
    cost_usd: Decimal = Decimal(0)
    generated: GeneratedDocumentation | None = None
    error: str | None = None
    #: the critical layer that failed the object
    failed_layer: LayerName | None = None
    duration_ms: int = field(default=0)

    @property
    def tokens(self) -> int:
        return sum(o.usage.total_tokens for o in self.outcomes.values())


async def run_pipeline(ctx: ObjectContext, call_layer: CallLayer, plan: Plan) -> PipelineResult:
    """Document one object: critical layers, the others, assembly (see the module doc)."""
    started = time.perf_counter()
    outcomes: dict[LayerName, LayerOutcome] = {}
    for layer in FIRST_LAYERS:
        outcome = outcomes[layer] = await call_layer(layer)
        if outcome.status == "failed":
            if halted := plan.halted():
                return PipelineResult("released", outcomes, error=halted)
            return PipelineResult(
                "failed",
                outcomes,
                cost_usd=cost_of(outcomes.values(), plan),
                error=f"critical layer {layer} failed: {outcome.error}",
                failed_layer=layer,
            )
    if plan.concurrent_layers:
        async with anyio.create_task_group() as group:
            for layer in OTHER_LAYERS:
                group.start_soon(_into, outcomes, call_layer, layer)
    else:
        for layer in OTHER_LAYERS:
            outcomes[layer] = await call_layer(layer)
    if halted := plan.halted():
        return PipelineResult("released", outcomes, error=halted)
    elapsed = int((time.perf_counter() - started) * 1000)
    generated = await anyio.to_thread.run_sync(assemble, ctx, outcomes, plan, elapsed)
    return PipelineResult(
        "documented",
        generated.outcomes,
        cost_usd=generated.cost_usd,
        generated=generated,
        duration_ms=elapsed,
    )


async def _into(
    outcomes: dict[LayerName, LayerOutcome], call_layer: CallLayer, layer: LayerName
) -> None:
    outcomes[layer] = await call_layer(layer)


def cost_of(outcomes: Iterable[LayerOutcome], plan: Plan) -> Decimal:
    """What the calls behind `outcomes` cost, each at its own model's price."""
    return sum((plan.pricing.cost(o.model or plan.model, o.usage) for o in outcomes), Decimal(0))


def assemble(
    ctx: ObjectContext, outcomes: dict[LayerName, LayerOutcome], plan: Plan, duration_ms: int
) -> GeneratedDocumentation:
    """Outcomes + complexity + cost, in the brief's layer order."""
    ordered = {layer: outcomes[layer] for layer in LAYER_NAMES}
    models = [o.model for o in ordered.values() if o.status == "completed" and o.model]
    # a batch answer's model is logged as MODEL@batch (its price); the version names MODEL
    model = models[0].removesuffix(BATCH_SUFFIX) if models else plan.model
    priced = Plan(plan.provider, model, plan.pricing, plan.input_hash)
    _, warning = plan.pricing.price_for(model)
    obj = ctx.object
    return GeneratedDocumentation(
        object_id=obj.id,
        input_hash=plan.input_hash,
        model=model,
        provider=plan.provider,
        outcomes=ordered,
        complexity=compute_complexity(obj.effective_code, obj.language, obj.dialect),
        cost_usd=cost_of(ordered.values(), priced),
        duration_ms=duration_ms,
        pricing_warning=warning,
        privacy_masked=ctx.masked_counts,
        banned_words_used=banned_in_layers(ctx, ordered),
        source_code=obj.effective_code,
    )


def banned_in_layers(
    ctx: ObjectContext, outcomes: dict[LayerName, LayerOutcome]
) -> dict[str, list[str]]:
    """The house style's banned words each generated layer still contains."""
    if ctx.style is None or not ctx.style.banned_words:
        return {}
    found = {
        layer: banned_words_used(ctx.style, json.dumps(o.value, ensure_ascii=False))
        for layer, o in outcomes.items()
        if o.status == "completed"
    }
    return {layer: words for layer, words in found.items() if words}
