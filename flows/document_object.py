"""document-object: the six layers of one object of a job, stored exactly once."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from functools import partial
from typing import Any, Literal
from uuid import UUID

import anyio
from prefect import flow
from prefect.states import Failed, State
from prefect.utilities.annotations import quote
from pydantic import BaseModel

from docgen.context import ObjectContext
from docgen.db import documentation
from docgen.db import jobs as jobs_repo
from docgen.db.engine import transaction
from docgen.errors import ProviderError
from docgen.layers import CRITICAL_LAYERS, LAYER_NAMES, LayerName
from docgen.pricing import Usage
from docgen.render.data import object_lineage
from docgen.service import LayerOutcome
from flows.hooks import release_claim
from flows.runtime import JobRuntime, runtime_for
from flows.secrets import load_secret_blocks
from tasks.artifacts import apublish_object_artifact
from tasks.layers import LEDGER, layer_task, ledger_key
from tasks.storage import record_failed, run_db, store_documentation


class ObjectResult(BaseModel):
    object_id: UUID
    status: Literal["documented", "failed", "skipped", "released", "not_claimed"]
    documentation_id: UUID | None = None
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    failed_layers: list[str] = []
    error: str | None = None


@flow(
    name="document-object",
    flow_run_name="{object_name}",
    persist_result=False,
    on_crashed=[release_claim],
    on_cancellation=[release_claim],
)
async def document_object(job_id: UUID, object_id: UUID, object_name: str = "") -> Any:
    """Document one object of a job.

    Steps:
    1. Claim the object for this runner (pending -> processing) and make it the job's
       current object; an object someone else claimed or finished is left alone.
    2. Load its context; with skip_existing, stop here when its current documentation was
       made from the same inputs (counted as skipped).
    3. Run the six layer tasks, critical ones first (a failed critical layer fails the
       object); the other four one after another, or together with concurrent_layers.
    4. Compute complexity and cost, then store the version, one log row per layer and the
       job's counters in one transaction (or count the object as failed).
    An error no object can avoid (bad API key) releases the object and stops the job.
    """
    await load_secret_blocks()  # a no-op unless this process has not loaded them yet
    runtime = runtime_for(job_id)
    claimed = await run_db(_claim, runtime, object_id)
    if not claimed:
        return ObjectResult(object_id=object_id, status="not_claimed")
    finished = False
    try:
        result = await _document(runtime, object_id)
        finished = result.status != "released"
        if result.status == "failed":
            return Failed(message=result.error or "object failed", data=result)
        return result
    finally:
        if not finished:
            await run_db(_release, runtime, object_id)


async def _document(runtime: JobRuntime, object_id: UUID) -> ObjectResult:
    service, options = runtime.service, runtime.options
    started = time.perf_counter()
    ctx: ObjectContext = await run_db(service.fetch_object_metadata, object_id)
    input_hash = service.input_hash(ctx)
    if options.skip_existing and await run_db(_up_to_date, runtime, object_id, input_hash):
        from docgen.jobs import record_skipped

        await run_db(record_skipped, runtime.engine, runtime.job_id, object_id, runtime.runner)
        return ObjectResult(object_id=object_id, status="skipped")

    run_key = uuid.uuid4().hex
    outcomes: dict[LayerName, LayerOutcome] = {}
    for layer in LAYER_NAMES:
        if layer in CRITICAL_LAYERS:
            outcomes[layer] = await _layer(runtime, ctx, layer, input_hash, run_key)
            if stop := _stop(runtime, outcomes, layer, ctx):
                return await stop
    rest = [layer for layer in LAYER_NAMES if layer not in CRITICAL_LAYERS]
    if options.concurrent_layers:
        async with anyio.create_task_group() as group:
            for layer in rest:
                group.start_soon(_into, outcomes, runtime, ctx, layer, input_hash, run_key)
    else:
        for layer in rest:
            outcomes[layer] = await _layer(runtime, ctx, layer, input_hash, run_key)
    if halted := runtime.halted:
        return ObjectResult(object_id=object_id, status="released", error=halted)
    generated = await run_db(  # complexity parses the code: keep it off the event loop
        partial(service.assemble, duration_ms=int((time.perf_counter() - started) * 1000)),
        ctx,
        outcomes,
    )
    stored = await store_documentation(
        quote(runtime.engine), quote(service), runtime.job_id, runtime.runner, quote(generated)
    )
    if stored is None:  # another runner took the object over: nothing was stored
        return ObjectResult(object_id=object_id, status="not_claimed")
    lineage = await run_db(_lineage, runtime, ctx.object)
    await apublish_object_artifact(ctx.object, stored, lineage)
    return ObjectResult(
        object_id=object_id,
        status="documented",
        documentation_id=stored.id,
        tokens=generated.usage.total_tokens,
        cost_usd=generated.cost_usd,
        failed_layers=list(generated.failed_layers),
    )


def _stop(
    runtime: JobRuntime,
    outcomes: dict[LayerName, LayerOutcome],
    layer: LayerName,
    ctx: ObjectContext,
) -> Any:
    """A coroutine that ends the object after a failed critical layer, or None."""
    outcome = outcomes[layer]
    if outcome.status == "completed":
        return None
    if halted := runtime.halted:
        return _released(ctx.object.id, halted)
    return _fail(
        runtime, ctx, list(outcomes.values()), f"critical layer {layer} failed: {outcome.error}"
    )


async def _released(object_id: UUID, error: str) -> ObjectResult:
    return ObjectResult(object_id=object_id, status="released", error=error)


async def _fail(
    runtime: JobRuntime, ctx: ObjectContext, outcomes: list[LayerOutcome], error: str
) -> ObjectResult:
    cost = sum(
        (
            runtime.service.pricing.cost(o.model or runtime.service.provider.model, o.usage)
            for o in outcomes
        ),
        Decimal(0),
    )
    counted = await record_failed(
        quote(runtime.engine),
        runtime.job_id,
        ctx.object.id,
        runtime.runner,
        quote(outcomes),
        error,
        cost,
    )
    return ObjectResult(
        object_id=ctx.object.id,
        status="failed" if counted else "not_claimed",
        tokens=sum(o.usage.total_tokens for o in outcomes),
        cost_usd=cost,
        error=error,
    )


async def _into(outcomes: dict[LayerName, LayerOutcome], *args: Any) -> None:
    layer = args[2]
    outcomes[layer] = await _layer(*args)


async def _layer(
    runtime: JobRuntime, ctx: ObjectContext, layer: LayerName, input_hash: str, run_key: str
) -> LayerOutcome:
    """Run one layer task and turn its final state into an outcome (never raises)."""
    options = runtime.options
    task = layer_task(
        layer,
        retries=options.max_retries,
        backoff_seconds=runtime.retry_backoff_seconds,
        refresh_cache=options.regenerate_all,
    )
    started = time.perf_counter()
    # quote(): Prefect would otherwise walk the whole context and service looking for futures
    state: State[Any] = await task(
        quote(runtime.service), quote(ctx), layer, input_hash, run_key, return_state=True
    )
    elapsed = int((time.perf_counter() - started) * 1000)
    if state.is_completed():
        result = await state.aresult()
        outcome = LayerOutcome.from_result(result)
        if state.name == "Cached":  # no call was made for this job: nothing was spent
            outcome.usage, outcome.attempts, outcome.duration_ms = Usage(), 0, elapsed
        return outcome
    failed_usage, attempts = LEDGER.pop(ledger_key(run_key, layer))
    try:
        await state.aresult()
        error: BaseException = RuntimeError(state.message or "layer task did not complete")
    except BaseException as exc:  # noqa: BLE001 - the state's exception, re-raised for us
        error = exc
    if isinstance(error, ProviderError) and error.fails_job:
        runtime.set_fatal(error)
    elif isinstance(error, ProviderError) and error.pauses_job:
        runtime.request_pause(str(error))
    return LayerOutcome.from_error(
        layer,
        error,
        model=runtime.service.provider.model,
        duration_ms=elapsed,
        attempts=max(attempts, 1),
        usage=failed_usage,
    )


def _claim(runtime: JobRuntime, object_id: UUID) -> bool:
    with transaction(runtime.engine) as conn:
        return jobs_repo.claim_object(conn, runtime.job_id, object_id, runtime.runner)


def _release(runtime: JobRuntime, object_id: UUID) -> None:
    with transaction(runtime.engine) as conn:
        jobs_repo.release_object(conn, runtime.job_id, object_id, runtime.runner)


def _lineage(runtime: JobRuntime, obj: Any) -> Any:
    with transaction(runtime.engine) as conn:
        return object_lineage(conn, obj)


def _up_to_date(runtime: JobRuntime, object_id: UUID, input_hash: str) -> bool:
    with transaction(runtime.engine) as conn:
        current = documentation.current(conn, object_id)
    return current is not None and current.input_hash == input_hash


__all__ = ["ObjectResult", "document_object"]
