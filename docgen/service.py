"""DocumentationGenerationService: the six layers for one object (the brief's Phase 2).

    service = DocumentationGenerationService(engine, organization_id)
    service.initialize()                       # org settings; API key decrypted here, once
    generated = service.generate_documentation_for_object(object_id)
    service.store_documentation(object_id, generated)

Layers run in the brief's order, sequentially by default; `concurrent_layers=True` runs the
four non-critical JSON layers at the same time once the two critical ones succeeded (the
first call has then written OpenAI's prompt cache for the shared prefix). Summary and
narrative are critical: if one fails, DocumentationGenerationError and nothing is stored.
The other layers degrade to empty and are reported in `failed_layers`.

This class tries each layer once. Retries with backoff are Prefect's (tasks/layers.py), and
the flows call `generate_layer`, `assemble` and `store_documentation` one by one.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal
from uuid import UUID

from sqlalchemy.engine import Connection, Engine

from docgen import crypto
from docgen.complexity import Complexity, compute_complexity
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
from docgen.layers import CRITICAL_LAYERS, LAYER_NAMES, LAYERS, LayerName, envelope_schema
from docgen.pricing import (
    BATCH_SUFFIX,
    PricingTable,
    Usage,
    estimate_tokens,
    load_pricing,
    org_pricing,
)
from docgen.prompts import PROMPT_VERSION, build_messages, context_hash
from docgen.providers.azure import AzureOpenAIProvider
from docgen.providers.base import LayerRequest, LayerResult, Provider, Repair
from docgen.providers.offline import OfflineProvider
from docgen.providers.openai_compat import OpenAICompatibleProvider
from docgen.ratelimit import RateLimiter
from docgen.redact import one_line
from docgen.style import banned_words_used

#: called before each LLM call with the layer request (the client-side rate limiter hooks here)
BeforeCall = Callable[[LayerRequest], None]


@dataclass
class LayerOutcome:
    """What happened to one layer of one object (one log row)."""

    layer: LayerName
    status: Literal["completed", "failed"]
    value: Any = None
    usage: Usage = field(default_factory=Usage)
    duration_ms: int = 0
    finish_reason: str | None = None
    model: str | None = None
    attempts: int = 1
    error: str | None = None
    #: the grounding check's result (docgen.grounding), None when no check ran
    grounding: dict[str, Any] | None = None

    @classmethod
    def from_result(cls, result: LayerResult) -> LayerOutcome:
        return cls(
            grounding=result.grounding,
            layer=result.layer,
            status="completed",
            value=result.value,
            usage=result.usage,
            duration_ms=result.duration_ms,
            finish_reason=result.finish_reason,
            model=result.model,
            attempts=result.attempts,
        )

    @classmethod
    def from_error(
        cls,
        layer: LayerName,
        error: BaseException,
        *,
        model: str,
        duration_ms: int = 0,
        attempts: int = 1,
        usage: Usage | None = None,
    ) -> LayerOutcome:
        """A failed layer; `error` text is already redacted by the provider."""
        finish = {"InvalidLLMResponse": "length", "ContentFiltered": "content_filter"}.get(
            type(error).__name__
        )
        if finish == "length" and "finish_reason=length" not in str(error):
            finish = None
        carried = getattr(error, "usage", None)
        return cls(
            layer=layer,
            status="failed",
            value=LAYERS[layer].empty_value(),
            usage=usage if usage is not None else (carried or Usage()),
            duration_ms=duration_ms,
            finish_reason=finish,
            model=model,
            attempts=attempts,
            error=one_line(f"{type(error).__name__}: {error}", 1000),
            grounding=getattr(error, "grounding", None),
        )


@dataclass
class GeneratedDocumentation:
    """Six layer outcomes for one object, with everything needed to store them."""

    object_id: UUID
    input_hash: str
    model: str
    provider: str
    outcomes: dict[LayerName, LayerOutcome]
    complexity: Complexity
    cost_usd: Decimal
    duration_ms: int
    pricing_warning: str | None = None
    #: what privacy masking replaced in the code the layers read, by kind (issue 19)
    privacy_masked: dict[str, int] = field(default_factory=dict)
    #: banned words of the house style the answer still used, by layer (docgen.style)
    banned_words_used: dict[str, list[str]] = field(default_factory=dict)
    #: the code the layers read (kept with the version, for code diffs between versions)
    source_code: str | None = None

    @property
    def usage(self) -> Usage:
        total = Usage()
        for outcome in self.outcomes.values():
            total = total + outcome.usage
        return total

    @property
    def failed_layers(self) -> list[LayerName]:
        return [n for n, o in self.outcomes.items() if o.status == "failed"]

    @property
    def layers(self) -> dict[str, Any]:
        return {name: outcome.value for name, outcome in self.outcomes.items()}

    def metadata(self) -> dict[str, Any]:
        usage = self.usage
        return {
            "model": self.model,
            "provider": self.provider,
            "prompt_version": PROMPT_VERSION,
            "tokens": {
                "prompt": usage.prompt_tokens,
                "completion": usage.completion_tokens,
                "cached": usage.cached_tokens,
                "total": usage.total_tokens,
            },
            "cost_usd": str(self.cost_usd),
            "duration_ms": self.duration_ms,
            "failed_layers": self.failed_layers,
            "layers": {
                name: {
                    "status": o.status,
                    "tokens": o.usage.total_tokens,
                    "ms": o.duration_ms,
                    "finish_reason": o.finish_reason,
                    "attempts": o.attempts,
                    "error": o.error,
                    **({"grounding": o.grounding} if o.grounding else {}),
                }
                for name, o in self.outcomes.items()
            },
            "complexity": {
                "score": self.complexity.score,
                "points": self.complexity.points,
                "method": self.complexity.method,
                "features": self.complexity.features,
            },
            **({"pricing_warning": self.pricing_warning} if self.pricing_warning else {}),
            **({"privacy_masked": self.privacy_masked} if self.privacy_masked else {}),
            **({"banned_words_used": self.banned_words_used} if self.banned_words_used else {}),
        }


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
        self, ctx: ObjectContext, layer: LayerName, repair: Repair | None = None
    ) -> LayerRequest:
        return LayerRequest(
            layer=layer,
            context=ctx,
            messages=build_messages(ctx, layer),
            cache_key=self.input_hash(ctx),
            repair=repair,
        )

    def generate_layer(
        self, ctx: ObjectContext, layer: LayerName, repair: Repair | None = None
    ) -> LayerResult:
        """One try at one layer (raises a ProviderError subclass on failure); `repair`
        shows the model its last rejected answer and what was wrong with it."""
        request = self.layer_request(ctx, layer, repair)
        limiter = self.rate_limiter
        if limiter is not None and limiter.enabled and self.provider.name != "offline":
            limiter.acquire(request_tokens(request), stop=self.stop, max_wait=self.max_retry_after)
        if self.stop is not None and self.stop.is_set():
            raise JobInterrupted(f"{layer}: the job stopped before this call")
        if self.before_call is not None:
            self.before_call(request)
        return self.provider.generate(request)

    def _outcome(self, ctx: ObjectContext, layer: LayerName) -> LayerOutcome:
        started = time.perf_counter()
        try:
            return LayerOutcome.from_result(self.generate_layer(ctx, layer))
        except ProviderError as exc:
            return LayerOutcome.from_error(
                layer,
                exc,
                model=self.provider.model,
                duration_ms=int((time.perf_counter() - started) * 1000),
            )

    def generate_documentation_for_object(
        self, object_id: UUID | ObjectContext
    ) -> GeneratedDocumentation:
        """All six layers, critical ones first; raises if a critical layer fails."""
        ctx = (
            object_id
            if isinstance(object_id, ObjectContext)
            else self.fetch_object_metadata(object_id)
        )
        started = time.perf_counter()
        outcomes: dict[LayerName, LayerOutcome] = {}
        for layer in LAYER_NAMES:
            if layer in CRITICAL_LAYERS:
                outcomes[layer] = self._outcome(ctx, layer)
                check_critical(outcomes, layer, ctx.object.name)
        rest = [layer for layer in LAYER_NAMES if layer not in CRITICAL_LAYERS]
        if self.concurrent_layers:
            with ThreadPoolExecutor(max_workers=len(rest)) as pool:
                for layer, outcome in zip(
                    rest, pool.map(lambda n: self._outcome(ctx, n), rest), strict=True
                ):
                    outcomes[layer] = outcome
        else:
            for layer in rest:
                outcomes[layer] = self._outcome(ctx, layer)
        return self.assemble(ctx, outcomes, duration_ms=int((time.perf_counter() - started) * 1000))

    def assemble(
        self, ctx: ObjectContext, outcomes: dict[LayerName, LayerOutcome], *, duration_ms: int
    ) -> GeneratedDocumentation:
        """Outcomes + complexity + cost, in the brief's layer order."""
        ordered = {layer: outcomes[layer] for layer in LAYER_NAMES}
        models = [o.model for o in ordered.values() if o.status == "completed" and o.model]
        # a batch answer's model is logged as MODEL@batch (its price); the version names MODEL
        model = models[0].removesuffix(BATCH_SUFFIX) if models else self.provider.model
        cost = sum(
            (self.pricing.cost(o.model or model, o.usage) for o in ordered.values()), Decimal(0)
        )
        _, warning = self.pricing.price_for(model)
        obj = ctx.object
        return GeneratedDocumentation(
            object_id=obj.id,
            input_hash=self.input_hash(ctx),
            model=model,
            provider=self.provider.name,
            outcomes=ordered,
            complexity=compute_complexity(obj.effective_code, obj.language, obj.dialect),
            cost_usd=cost,
            duration_ms=duration_ms,
            pricing_warning=warning,
            privacy_masked=ctx.masked_counts,
            banned_words_used=banned_in_layers(ctx, ordered),
            source_code=obj.effective_code,
        )

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


def check_critical(
    outcomes: dict[LayerName, LayerOutcome], layer: LayerName, object_name: str
) -> None:
    """Raise DocumentationGenerationError when critical `layer` failed."""
    outcome = outcomes[layer]
    if outcome.status == "failed" and layer in CRITICAL_LAYERS:
        raise DocumentationGenerationError(
            f"{object_name}: critical layer {layer} failed: {outcome.error}",
            layer=layer,
            outcomes=dict(outcomes),
        )


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
