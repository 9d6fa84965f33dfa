"""Documentation jobs in core terms (no Prefect): options, estimates, creation, and the
status changes users ask for (pause, resume, cancel).

Creating a job validates the organization, that the triggering user is one of its admins,
and that every selected object exists and belongs to it (duplicates removed); it estimates
each object's tokens and cost from its own context before any LLM call, and inserts the job
with one pending row per object, all in one transaction. Recording finished objects is
docgen/job_records.py (its functions are importable from here too).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel, Field, WithJsonSchema, model_validator
from sqlalchemy.engine import Connection, Engine

from docgen.context import ObjectContext, load_contexts
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import transaction, translate_errors
from docgen.db.objects import Selection, resolve_selection
from docgen.errors import InvalidInput, InvalidJobState
from docgen.job_records import all_failed as all_failed
from docgen.job_records import failure_entry as failure_entry
from docgen.job_records import record_documented as record_documented
from docgen.job_records import record_failed as record_failed
from docgen.job_records import record_skipped as record_skipped
from docgen.job_records import skip_up_to_date as skip_up_to_date
from docgen.layers import ENVELOPE_OVERHEAD_TOKENS, LAYER_NAMES, LAYERS, envelope_schema
from docgen.pricing import BATCH_SUFFIX, PricingTable, Usage, estimate_tokens, org_pricing
from docgen.prompts import layer_instruction, render_context, system_message
from docgen.providers.offline import OFFLINE_MODEL

#: OpenAI caches prompt prefixes of at least this many tokens, in steps of CACHE_STEP
CACHE_MINIMUM_TOKENS = 1024
CACHE_STEP_TOKENS = 128


def _no_default_in_schema(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class JobOptions(BaseModel):
    """How the job runs. Every option has a default; change only what you need."""

    skip_existing: bool = Field(
        default=False,
        title="Skip up-to-date objects",
        description="Leave out objects whose current documentation was made from the same "
        "code, upstream documentation, prompt version and model.",
    )
    regenerate_all: bool = Field(
        default=False,
        title="Regenerate everything",
        description="Ask the model again for every part of every object, even where a saved "
        "result for the same input exists (costs more).",
    )
    max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        title="Retries per call",
        description="How often a failed call to the model is tried again (0 to 10).",
    )
    concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        title="Objects at a time",
        description="How many objects are documented at the same time (1 = one after another).",
    )
    max_cost_usd: Annotated[
        Decimal | None,
        WithJsonSchema({"type": "number", "exclusiveMinimum": 0}),
    ] = Field(
        default=None,
        gt=0,
        title="Budget (USD)",
        description="Pause the job before its spending would go over this many US dollars. "
        "Empty: no budget.",
        json_schema_extra=_no_default_in_schema,
    )
    concurrent_layers: bool = Field(
        default=False,
        title="Parts in parallel",
        description="Write the four optional parts of an object's documentation at the same "
        "time (faster; more calls at once).",
    )
    mode: Literal["sync", "batch"] = Field(
        default="sync",
        title="Mode",
        description="sync: one call per part, answers at once. batch: every part of every "
        "object in one OpenAI Batch API request (half the price, answers within 24 hours; "
        "for nightly and large jobs).",
    )
    one_call: bool = Field(
        default=False,
        title="One call per object",
        description="Ask all six parts of an object in one call instead of six (about a third "
        "of the tokens; each part is still checked on its own). Sync mode only.",
    )
    extra_runners: int = Field(
        default=0,
        ge=0,
        le=32,
        title="Extra runners",
        description="Start this many more runs of the job on the same work pool, so workers "
        "on other machines share its objects (0 = this run alone).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> JobOptions:
        if self.skip_existing and self.regenerate_all:
            raise ValueError("skip_existing and regenerate_all contradict each other; pick one")
        return self

    def as_json(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json())


@dataclass(frozen=True)
class ObjectEstimate:
    object_id: UUID
    name: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: Decimal

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def estimate_context(ctx: ObjectContext, model: str, pricing: PricingTable) -> ObjectEstimate:
    """Tokens and cost of the six calls for one object, from its own rendered prompt.

    Prompt tokens: schema + system + context + each instruction. Calls 2-6 reuse the shared
    prefix from OpenAI's prompt cache when it is long enough (>= 1024 tokens, 128-token
    steps). Completion: the brief's budget per layer plus the envelope's null keys.
    """
    if model.startswith("offline"):
        return ObjectEstimate(ctx.object.id, ctx.object.name, 0, 0, 0, Decimal(0))
    prefix = (
        estimate_tokens(json.dumps(envelope_schema()))
        + estimate_tokens(system_message(ctx))
        + estimate_tokens(render_context(ctx))
    )
    cacheable = 0 if prefix < CACHE_MINIMUM_TOKENS else prefix - prefix % CACHE_STEP_TOKENS
    prompt = completion = cached = 0
    for index, layer in enumerate(LAYER_NAMES):
        prompt += prefix + estimate_tokens(layer_instruction(layer))
        completion += LAYERS[layer].typical_completion_tokens + ENVELOPE_OVERHEAD_TOKENS
        if index > 0:
            cached += cacheable
    cost = pricing.cost(model, Usage(prompt, completion, cached))
    return ObjectEstimate(ctx.object.id, ctx.object.name, prompt, completion, cached, cost)


def estimate_objects(
    conn: Connection,
    organization_id: UUID,
    object_ids: list[UUID],
    *,
    pricing: PricingTable | None = None,
) -> list[ObjectEstimate]:
    """Per-object estimates with the organization's current provider and model."""
    settings = orgs.get_llm_settings(conn, organization_id)
    model = OFFLINE_MODEL if settings.provider == "offline" else settings.model
    pricing = org_pricing(settings, pricing)
    contexts = load_contexts(conn, object_ids)
    return [estimate_context(contexts[i], model, pricing) for i in object_ids]


def create_job(
    engine: Engine,
    organization_id: UUID | str,
    selection: Selection | list[UUID],
    options: JobOptions | None = None,
    *,
    triggered_by_user_id: UUID | str,
) -> jobs_repo.Job:
    """Validate, estimate and insert a queued job (see module doc)."""
    options = options or JobOptions()
    if isinstance(selection, list):
        if not selection:
            raise InvalidInput("a job needs at least one object")
        selection = Selection(object_ids=selection)
    with transaction(engine) as conn:
        organization = orgs.get_organization(conn, organization_id)
        user = orgs.get_user(conn, triggered_by_user_id)
        orgs.require_admin(conn, organization, user)
        object_ids = resolve_selection(conn, organization.id, selection)
        settings = orgs.get_llm_settings(conn, organization.id)
        contexts = load_contexts(conn, object_ids)
        object_ids = upstream_first(
            object_ids, {i: c.object.upstream_object_ids for i, c in contexts.items()}
        )
        model = OFFLINE_MODEL if settings.provider == "offline" else settings.model
        if options.mode == "batch" and settings.provider == "offline":
            raise InvalidInput(
                "--mode batch needs provider openai or azure (the Batch API); the offline"
                " analyser has no batches"
            )
        pricing = org_pricing(settings)
        priced_as = f"{model}{BATCH_SUFFIX}" if options.mode == "batch" else model
        estimates = [estimate_context(contexts[i], priced_as, pricing) for i in object_ids]
        return jobs_repo.insert_job(
            conn,
            organization.id,
            object_ids,
            model_name=model,
            api_provider=settings.provider,
            triggered_by_user_id=user.id,
            options=options.as_json(),
            estimated_tokens={e.object_id: e.total_tokens for e in estimates},
            estimated_costs={e.object_id: e.cost_usd for e in estimates},
        )


def upstream_first(object_ids: list[UUID], upstream: dict[UUID, list[UUID]]) -> list[UUID]:
    """`object_ids` reordered so every object comes after its upstream objects in the list
    (stable otherwise; a cycle is broken where it is met), so a mart's documentation can
    build on its staging models' fresh summaries."""
    wanted = set(object_ids)
    placed: set[UUID] = set()
    ordered: list[UUID] = []
    for root in object_ids:
        if root in placed:
            continue
        visiting = {root}
        stack = [(root, iter(upstream.get(root, [])))]
        while stack:  # depth-first without recursion: chains can be thousands deep
            node, parents = stack[-1]
            for parent in parents:
                if parent in wanted and parent not in placed and parent not in visiting:
                    visiting.add(parent)
                    stack.append((parent, iter(upstream.get(parent, []))))
                    break
            else:
                stack.pop()
                visiting.discard(node)
                placed.add(node)
                ordered.append(node)
    return ordered


def job_options(job: jobs_repo.Job) -> JobOptions:
    return JobOptions.model_validate(job.options)


# --- what users ask of a job ----------------------------------------------------------------


def pause_job(engine: Engine, job_id: UUID, reason: str = "paused by user") -> jobs_repo.Job:
    """Stop starting new objects; in-flight ones finish. The job keeps its state."""
    with transaction(engine) as conn:
        job = jobs_repo.get_job(conn, job_id)
        if job.status == "paused":
            return job
        if job.status not in ("queued", "processing", "waiting_for_batch"):
            raise InvalidJobState(f"job {job_id} is {job.status}; only a running job can pause")
        return jobs_repo.update_job_status(conn, job_id, "paused", {"reason": reason})


def cancel_job(engine: Engine, job_id: UUID, reason: str = "cancelled by user") -> jobs_repo.Job:
    """Stop the job for good; its runners interrupt objects in flight within seconds and
    give them back (flows/documentation_job.py), nothing is half-stored."""
    with transaction(engine) as conn:
        job = jobs_repo.get_job(conn, job_id)
        if job.status == "cancelled":
            return job
        if job.is_terminal:
            raise InvalidJobState(f"job {job_id} is already {job.status}")
        return jobs_repo.update_job_status(conn, job_id, "cancelled", {"reason": reason})


def reopen_for_run(engine: Engine, job_id: UUID) -> jobs_repo.Job:
    """Make a job runnable again: paused -> queued (resume), failed or stuck -> queued.

    A job already 'processing' is left as it is (a second runner joins it), and so is one
    'waiting_for_batch' (this run reattaches to its batch). Completed and cancelled jobs
    cannot run again.
    """
    with transaction(engine) as conn:
        job = jobs_repo.get_job(conn, job_id)
        if job.status in ("queued", "processing", "waiting_for_batch"):
            return job
        if job.status == "paused":
            return jobs_repo.update_job_status(conn, job_id, "queued", {"reason": "resumed"})
        if job.status == "failed":
            return jobs_repo.reopen_job(conn, job_id, "run again")
        raise InvalidJobState(
            f"job {job_id} is {job.status} and cannot run again; create a new job"
        )


@contextmanager
def runner_lock(engine: Engine, job_id: UUID) -> Iterator[bool]:
    """Mark this process as a live runner of the job for the duration of the block.

    Every runner holds a shared advisory lock on the job. Before taking it, a runner tries
    the exclusive lock: if it gets it, no other runner is alive, so objects left
    'processing' belong to a dead one and are reset to 'pending' (yields True). Locks live
    on a dedicated connection: if the process dies, PostgreSQL releases them.
    """
    keys = {"ns": jobs_repo.RUNNER_LOCK_NAMESPACE, "job": str(job_id)}
    with translate_errors(engine):
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        with translate_errors(engine):
            sole = conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:ns, hashtext(:job))"), keys
            ).scalar_one()
            if sole:
                with transaction(engine) as work:
                    jobs_repo.reset_stale_claims(work, job_id)
                conn.execute(sa.text("SELECT pg_advisory_unlock(:ns, hashtext(:job))"), keys)
            conn.execute(sa.text("SELECT pg_advisory_lock_shared(:ns, hashtext(:job))"), keys)
        yield bool(sole)
    finally:
        try:
            conn.execute(sa.text("SELECT pg_advisory_unlock_shared(:ns, hashtext(:job))"), keys)
        except sa.exc.DBAPIError:
            pass  # the connection is gone, and its locks with it
        conn.close()
