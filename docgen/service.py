"""DocumentationGenerationService: the six layers for one object (the brief's Phase 2).

    service = DocumentationGenerationService(engine, organization_id)
    service.initialize()                       # org settings; API key decrypted here, once
    generated = service.generate_documentation_for_object(object_id)
    service.store_documentation(object_id, generated)

The order of the layers, what a failed one does and the cost are docgen.pipeline's (the
same loop the per-object flow runs): critical layers first, a failed one raises
DocumentationGenerationError and nothing is stored; the other four degrade to empty and are
reported in `failed_layers`, sequentially by default or together with
`concurrent_layers=True`.

This class tries each layer once. Retries with backoff are Prefect's (tasks/layers.py): the
flow passes the layer task to the pipeline, and the task calls `generate_layer`, keeping
the usage of failed attempts in the run's `ledger`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from uuid import UUID

import anyio
from sqlalchemy.engine import Connection, Engine

from docgen import crypto
from docgen.config import LLMSettings
from docgen.context import ObjectContext, load_context
from docgen.db import documentation, orgs
from docgen.db.engine import transaction
from docgen.db.logs import insert_layer_logs
from docgen.errors import (
    DocumentationGenerationError,
    JobInterrupted,
    PermissionDenied,
    ProviderError,
)
from docgen.grounding import GroundedProvider
from docgen.layers import LAYERS, LayerName, envelope_schema
from docgen.outcomes import GeneratedDocumentation, LayerOutcome, UsageLedger
from docgen.pipeline import PipelineResult, Plan, banned_in_layers, run_pipeline
from docgen.pricing import PricingTable, estimate_tokens, load_pricing, org_pricing
from docgen.prompts import build_messages, context_hash
from docgen.providers.azure import AzureOpenAIProvider
from docgen.providers.base import LayerRequest, LayerResult, Provider, Repair
from docgen.providers.offline import OfflineProvider
from docgen.providers.openai_compat import OpenAICompatibleProvider
from docgen.ratelimit import RateLimiter

#: re-exported for callers that import the result types from here
__all__ = [
    "DocumentationGenerationService",
    "GeneratedDocumentation",
    "LayerOutcome",
    "banned_in_layers",
    "build_provider",
    "cache_scope",
    "request_tokens",
]

#: called before each LLM call with the layer request (the client-side rate limiter hooks here)
BeforeCall = Callable[[LayerRequest], None]


class DocumentationGenerationService:
    """Generates and stores documentation for the objects of one organization."""

    def __init__(
        self,
        engine: Engine,
        organization_id: UUID,
        *,
        provider: Provider | None = None,
        concurrent_layers: bool = False,
        pricing: PricingTable | None = None,
        before_call: BeforeCall | None = None,
        rate_limiter: RateLimiter | None = None,
        stop: threading.Event | None = None,
        max_retry_after: float | None = None,
    ) -> None:
        self.engine = engine
        self.organization_id = organization_id
        self.concurrent_layers = concurrent_layers
        self.pricing = pricing or load_pricing()
        self.before_call = before_call
        #: the organization's limiter; with one, every call waits for room in RPM/TPM first
        self.rate_limiter = rate_limiter
        #: set when the run stops (cancel, SIGTERM): waits end at once, no new call starts
        self.stop = stop
        #: the longest Retry-After waited out; a longer one raises WaitTooLong
        self.max_retry_after = (
            LLMSettings().max_retry_after_seconds if max_retry_after is None else max_retry_after
        )
        self._provider = provider
        self.settings: orgs.OrgLLMSettings | None = None
        #: usage and rejected answers of failed attempts, between a layer's retries (the
        #: run's own: tasks/layers.py adds to it, the final attempt pops the entry)
        self.ledger = UsageLedger()

    # -- setup ---------------------------------------------------------------------------

    def initialize(self) -> None:
        """Load the organization's LLM settings and build its provider (decrypting the key)."""
        if self._provider is not None:
            return
        with transaction(self.engine) as conn:
            self.settings = orgs.get_llm_settings(conn, self.organization_id)
        self.pricing = org_pricing(self.settings, self.pricing)
        self._provider = build_provider(self.settings, engine=self.engine)

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            self.initialize()
        assert self._provider is not None
        return self._provider

    def close(self) -> None:
        if self._provider is not None:
            self._provider.close()

    def use_provider(self, provider: Provider) -> None:
        """Answer through `provider` from now on (a job in batch mode wraps the
        organization's provider so layer requests are answered from the batch)."""
        self._provider = provider

    # -- one object ----------------------------------------------------------------------

    def fetch_object_metadata(
        self, object_id: UUID, conn: Connection | None = None
    ) -> ObjectContext:
        """The object's context; refuses objects of another organization."""
        if conn is None:
            with transaction(self.engine) as own:
                return self.fetch_object_metadata(object_id, own)
        ctx = load_context(conn, object_id)
        if ctx.object.organization_id != self.organization_id:
            raise PermissionDenied(
                f"object {object_id} does not belong to organization {self.organization_id}"
            )
        return ctx

    def input_hash(self, ctx: ObjectContext) -> str:
        return context_hash(ctx, self.provider.model)

    def cache_scope(self) -> str:
        """Who a cached layer result belongs to: this organization and its provider
        (kind, base URL, model). Results cached under one scope are never read under
        another, so two organizations with the same code never share an answer."""
        return cache_scope(self.organization_id, self.provider)

    def layer_request(
        self,
        ctx: ObjectContext,
        layer: LayerName,
        repair: Repair | None = None,
        input_hash: str | None = None,
    ) -> LayerRequest:
        """The layer's request; `input_hash` is `self.input_hash(ctx)` when the caller has
        it already (it renders the whole context)."""
        return LayerRequest(
            layer=layer,
            context=ctx,
            messages=build_messages(ctx, layer),
            cache_key=input_hash or self.input_hash(ctx),
            repair=repair,
        )

    def generate_layer(
        self,
        ctx: ObjectContext,
        layer: LayerName,
        repair: Repair | None = None,
        input_hash: str | None = None,
    ) -> LayerResult:
        """One try at one layer (raises a ProviderError subclass on failure); `repair`
        shows the model its last rejected answer and what was wrong with it."""
        request = self.layer_request(ctx, layer, repair, input_hash)
        limiter = self.rate_limiter
        if limiter is not None and limiter.enabled and self.provider.name != "offline":
            limiter.acquire(request_tokens(request), stop=self.stop, max_wait=self.max_retry_after)
        if self.stop is not None and self.stop.is_set():
            raise JobInterrupted(f"{layer}: the job stopped before this call")
        if self.before_call is not None:
            self.before_call(request)
        return self.provider.generate(request)

    def _outcome(self, ctx: ObjectContext, layer: LayerName, input_hash: str) -> LayerOutcome:
        """One try at one layer as an outcome (never raises a ProviderError)."""
        started = time.perf_counter()
        try:
            return LayerOutcome.from_result(self.generate_layer(ctx, layer, None, input_hash))
        except ProviderError as exc:
            return LayerOutcome.from_error(
                layer,
                exc,
                model=self.provider.model,
                duration_ms=int((time.perf_counter() - started) * 1000),
            )

    def plan(self, ctx: ObjectContext, **options: Any) -> Plan:
        """What docgen.pipeline needs for `ctx` besides the layer calls (`options` override
        `concurrent_layers` and `halted`)."""
        settings: dict[str, Any] = {"concurrent_layers": self.concurrent_layers, **options}
        provider = self.provider
        return Plan(provider.name, provider.model, self.pricing, self.input_hash(ctx), **settings)

    async def document(self, ctx: ObjectContext) -> PipelineResult:
        """The pipeline over this service's provider, each call in a worker thread."""

        plan = self.plan(ctx)

        async def call_layer(layer: LayerName) -> LayerOutcome:
            return await anyio.to_thread.run_sync(self._outcome, ctx, layer, plan.input_hash)

        return await run_pipeline(ctx, call_layer, plan)

    def generate_documentation_for_object(
        self, object_id: UUID | ObjectContext
    ) -> GeneratedDocumentation:
        """All six layers, critical ones first; raises DocumentationGenerationError if a
        critical layer fails. For synchronous callers (it runs its own event loop); async
        code awaits `document`."""
        ctx = (
            object_id
            if isinstance(object_id, ObjectContext)
            else self.fetch_object_metadata(object_id)
        )
        result = anyio.run(self.document, ctx)
        if result.generated is None:
            raise DocumentationGenerationError(
                f"{ctx.object.name}: {result.error}",
                layer=result.failed_layer or "",
                outcomes=result.outcomes,
            )
        return result.generated

    def store_documentation(
        self,
        object_id: UUID,
        generated: GeneratedDocumentation,
        *,
        job_id: UUID | None = None,
        conn: Connection | None = None,
    ) -> documentation.Documentation:
        """A new current version plus one log row per layer, in one transaction. When the
        result equals the current version (same input, model, layers and complexity), no
        new version: the current one is returned and the logs point at it. When the
        current version holds layers a person edited or approved, the new version is stored
        beside it as a proposal instead (docgen.review)."""
        if conn is None:
            with transaction(self.engine) as own:
                return self.store_documentation(object_id, generated, job_id=job_id, conn=own)
        layers, score, model = generated.layers, generated.complexity.score, generated.model
        # identical to the current version: no new version, the logs point at the current one
        stored = documentation.unchanged_current(
            conn,
            object_id,
            layers=layers,
            complexity_score=score,
            generated_by_model=model,
            input_hash=generated.input_hash,
        ) or documentation.insert_version(
            conn,
            self.organization_id,
            object_id,
            layers=layers,
            complexity_score=score,
            generated_by_model=model,
            generation_metadata=generated.metadata(),
            job_id=job_id,
            input_hash=generated.input_hash,
            protect=True,
            review={"source_code": generated.source_code},
        )
        insert_layer_logs(
            conn,
            job_id,
            object_id,
            list(generated.outcomes.values()),
            documentation_id=stored.id,
            privacy_masked=generated.privacy_masked,
        )
        return stored


def cache_scope(organization_id: UUID, provider: Provider) -> str:
    """`<organization id>-<sha256 of provider kind, base URL and model>`."""
    identity = "\x00".join(
        (provider.name, str(getattr(provider, "base_url", None) or ""), provider.model)
    )
    return f"{organization_id}-{hashlib.sha256(identity.encode()).hexdigest()}"


@lru_cache(maxsize=1)
def _schema_tokens() -> int:
    # the response_format object (name, strict, schema), as the server reads it
    return estimate_tokens(json.dumps(envelope_schema())) + 8


def request_tokens(request: LayerRequest) -> int:
    """What a request counts against a TPM limit: prompt tokens (schema, messages and ~4
    tokens of framing per message) plus its max completion tokens."""
    messages = sum(estimate_tokens(m["content"]) + 4 for m in request.messages)
    return _schema_tokens() + messages + LAYERS[request.layer].max_completion_tokens


def build_provider(
    settings: orgs.OrgLLMSettings,
    llm: LLMSettings | None = None,
    *,
    engine: Engine | None = None,
    notify: Callable[[str], None] | None = None,
) -> Provider:
    """The organization's provider; decrypts the API key (raises APIKeyError if none).

    With `engine`, an endpoint that refuses structured outputs is remembered in the
    organization's settings (json_object from then on)."""
    llm = llm or LLMSettings()
    if settings.provider == "offline":
        return GroundedProvider(OfflineProvider())
    api_key = orgs.decrypt_api_key(settings, crypto.load_master_key())
    remember = None
    if engine is not None:

        def remember(reason: str) -> None:
            with transaction(engine) as conn:
                orgs.remember_structured_outputs_refused(conn, settings.organization_id, reason)

    if settings.provider == "azure":
        return GroundedProvider(
            AzureOpenAIProvider(
                api_key=api_key,
                endpoint=settings.base_url or "",
                deployment=settings.azure_deployment or "",
                api_version=settings.azure_api_version or "",
                model=settings.model or llm.default_model,
                structured_outputs=settings.structured_outputs,
                timeout=llm.request_timeout,
                max_concurrent_requests=settings.max_concurrent_requests,
                on_structured_outputs_refused=remember,
                notify=notify,
            )
        )
    compatible = OpenAICompatibleProvider(
        api_key=api_key,
        model=settings.model or llm.default_model,
        base_url=settings.base_url,
        structured_outputs=settings.structured_outputs,
        timeout=llm.request_timeout,
        max_concurrent_requests=settings.max_concurrent_requests,
        on_structured_outputs_refused=remember,
        notify=notify,
    )
    return GroundedProvider(compatible)
