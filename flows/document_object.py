"""document-object: the six layers of one object of a job, stored exactly once.

The loop over the layers is docgen.pipeline's (the service runs the same one); this flow
passes it the Prefect layer task, so the UI shows a subflow per object with six layer task
runs (retries, cache) and the object's Markdown artifact. Database work runs in worker
threads as plain calls, not tasks: claiming and reading is one transaction
(docgen.object_run), storing is one more (docgen.jobs).
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from prefect import flow
from prefect.context import FlowRunContext
from prefect.states import Failed, State
from prefect.utilities.annotations import quote
from pydantic import BaseModel

from docgen import jobs as core_jobs
from docgen.errors import ProviderError
from docgen.layers import LayerName
from docgen.object_run import ObjectStart, release_object
from docgen.outcomes import LayerOutcome, ledger_key
from docgen.pipeline import CallLayer, PipelineResult, run_pipeline
from docgen.pricing import Usage
from flows.hooks import release_claim
from flows.runtime import JobRuntime, runtime_for
from flows.secrets import load_secret_blocks
from tasks.artifacts import apublish_object_artifact
from tasks.layers import layer_tasks
from tasks.storage import run_db


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
async def document_object(
    job_id: UUID, object_id: UUID, object_name: str = "", claimed: bool = False
) -> Any:
    """Document one object of a job.

    Steps:
    1. Claim the object for this runner (pending -> processing) and read its context and
       lineage in the same transaction; an object someone else claimed or finished is left
       alone. `claimed`: the job's scheduler did both before starting this subflow (so no
       subflow is started for an object another runner holds) and hands the reading over.
       With skip_existing, stop here when its current documentation was made from the same
       inputs (counted as skipped).
    2. Run the pipeline over the six layer tasks: critical layers first (a failed one fails
       the object, which is counted with what it spent), the other four one after another,
       or together with concurrent_layers; then complexity and cost.
    3. Store the version, one log row per layer and the job's counters in one transaction,
       and publish the object's documentation as a Markdown artifact (under a job run,
       the run posts it in the background: tasks.artifacts.ObjectArtifacts).
    An error no object can avoid (bad API key), a pause or a cancel releases the object.
    """
    await load_secret_blocks()  # a no-op unless this process has not loaded them yet
    runtime = runtime_for(job_id)
    start: ObjectStart | None = runtime.started.pop(object_id, None) if claimed else None
    if start is None:  # not read by this run's scheduler (another process, a direct call)
        start = await run_db(lambda: runtime.start_object(object_id, claimed=claimed))
    if start is None:
        return ObjectResult(object_id=object_id, status="not_claimed")
    finished = False
    try:
        result = await _document(runtime, start)
        finished = result.status != "released"
        if result.status == "failed":
            return Failed(message=result.error or "object failed", data=result)
        return result
    finally:
        if not finished:
            await run_db(release_object, runtime.engine, job_id, object_id, runtime.runner)


async def _document(runtime: JobRuntime, start: ObjectStart) -> ObjectResult:
    engine, job_id, runner = runtime.engine, runtime.job_id, runtime.runner
    service = runtime.service
    object_id = start.ctx.object.id
    if start.up_to_date:
        await run_db(core_jobs.record_skipped, engine, job_id, object_id, runner)
        return ObjectResult(object_id=object_id, status="skipped")
    plan = service.plan(
        start.ctx,
        concurrent_layers=runtime.options.concurrent_layers,
        halted=lambda: runtime.halted,
    )
    result = await run_pipeline(start.ctx, _layer_caller(runtime, start), plan)
    if result.status == "released":
        return ObjectResult(object_id=object_id, status="released", error=result.error)
    if result.generated is None:  # a critical layer failed
        counted = await run_db(
            core_jobs.record_failed,
            engine,
            job_id,
            object_id,
            runner,
            list(result.outcomes.values()),
            result.error or "object failed",
            result.cost_usd,
        )
        return _object_result(object_id, result, "failed" if counted else "not_claimed")
    stored = await run_db(
        core_jobs.record_documented, engine, service, job_id, runner, result.generated
    )
    if stored is None:  # another runner took the object over: nothing was stored
        return ObjectResult(object_id=object_id, status="not_claimed")
    if runtime.artifacts is not None:  # the job run posts it, off this object's path
        run = FlowRunContext.get()
        flow_run_id = run.flow_run.id if run and run.flow_run else None
        runtime.artifacts.publish(start.ctx.object, stored, start.lineage, flow_run_id)
    else:
        await apublish_object_artifact(start.ctx.object, stored, start.lineage)
    return _object_result(object_id, result, "documented", stored.id)


def _object_result(
    object_id: UUID, result: PipelineResult, status: Any, documentation_id: UUID | None = None
) -> ObjectResult:
    generated = result.generated
    return ObjectResult(
        object_id=object_id,
        status=status,
        documentation_id=documentation_id,
        tokens=result.tokens,
        cost_usd=result.cost_usd,
        failed_layers=list(generated.failed_layers) if generated else [],
        error=result.error,
    )


def _layer_caller(runtime: JobRuntime, start: ObjectStart) -> CallLayer:
    """`call_layer` for the pipeline: the layer's Prefect task, its final state turned into
    an outcome (never raises). An error that concerns the whole run (bad key, a Retry-After
    over the cap) is handed to the runtime, which then halts the run's objects."""
    options, service, ctx = runtime.options, runtime.service, start.ctx
    tasks = layer_tasks(
        retries=options.max_retries,
        backoff_seconds=runtime.retry_backoff_seconds,
        refresh_cache=options.regenerate_all,
    )
    run_key = uuid.uuid4().hex

    async def call_layer(layer: LayerName) -> LayerOutcome:
        started = time.perf_counter()
        # quote(): Prefect would otherwise walk the whole context and service for futures
        state: State[Any] = await tasks[layer](
            quote(service), quote(ctx), layer, start.input_hash, run_key, return_state=True
        )
        elapsed = int((time.perf_counter() - started) * 1000)
        if state.is_completed():
            outcome = LayerOutcome.from_result(await state.aresult())
            if state.name == "Cached":  # no call was made for this job: nothing was spent
                outcome.usage, outcome.attempts, outcome.duration_ms = Usage(), 0, elapsed
            return outcome
        failed_usage, attempts = service.ledger.pop(ledger_key(run_key, layer))
        error = await _exception(state)
        if isinstance(error, ProviderError) and error.fails_job:
            runtime.set_fatal(error)
        elif isinstance(error, ProviderError) and error.pauses_job:
            runtime.request_pause(str(error))
        return LayerOutcome.from_error(
            layer,
            error,
            model=service.provider.model,
            duration_ms=elapsed,
            attempts=max(attempts, 1),
            usage=failed_usage,
        )

    return call_layer


async def _exception(state: State[Any]) -> BaseException:
    try:
        await state.aresult()
    except BaseException as exc:  # noqa: BLE001 - the state's exception, re-raised for us
        return exc
    return RuntimeError(state.message or "layer task did not complete")


__all__ = ["ObjectResult", "document_object"]
