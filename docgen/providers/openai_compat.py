"""Any OpenAI-compatible chat completions API, through the official `openai` SDK.

The SDK's own retries are off (max_retries=0): one call, one typed outcome; Prefect task
retries decide what happens next. Structured outputs go through the SDK's
`chat.completions.parse` with the envelope model (`docgen.layers.LayerEnvelope`); json_object
through `create`. The pieces around the provider live beside it:

    openai_errors   openai exceptions -> docgen errors (ERROR_MAP, translate): the boundary
    answers         a completion -> the layer, or the error saying why (usage kept)
    breaker         connection failures in a row -> ProviderDown
    verify          `docgen org verify-key`

What it does for endpoints that are not api.openai.com (llama.cpp, Ollama, vLLM, LM Studio):
- structured outputs refused (400/422/500 naming response_format or json_schema): switch to
  json_object + validation for the rest of the run, say so once (`notify`) and let the caller
  remember it (`on_structured_outputs_refused`), then ask again at once;
- `max_tokens` is sent beside `max_completion_tokens` (many servers only know the former),
  and an answer longer than the cap counts as cut off (finish_reason=length);
- an answer without the envelope key is accepted when it validates against the layer's own
  shape;
- `max_concurrent_requests` bounds the requests in flight; timeouts grow with the answer's
  size; after a timeout on a single-slot server the next request first waits for the server
  to finish the abandoned one (a 1-token probe queues behind it);
- a few connection failures in a row open a breaker: ProviderDown names the URL and stops
  the job instead of spending a minute per object.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from docgen.errors import ProviderError, ProviderUnavailable, StructuredOutputsRefused
from docgen.layers import LAYERS, LayerName, envelope_response_format
from docgen.pricing import Usage
from docgen.providers.answers import (
    PARSE_HEADERS,
    _not_a_completion,
    _usage,
    layer_result,
    parsed_completion,
)
from docgen.providers.base import LayerRequest, LayerResult
from docgen.providers.breaker import BREAKER_THRESHOLD, CONNECT_TIMEOUT, ConnectionBreaker
from docgen.providers.openai_errors import ERROR_MAP, is_connection_failure, translate
from docgen.providers.verify import Check, verify_endpoint

#: names other modules import from here (the provider's neighbours re-exported)
__all__ = [
    "BREAKER_THRESHOLD",
    "CONNECT_TIMEOUT",
    "ERROR_MAP",
    "Check",
    "ConnectionBreaker",
    "OpenAICompatibleProvider",
    "_usage",
    "is_connection_failure",
    "translate",
]

log = logging.getLogger("docgen.providers")

#: the request timeout is for answers up to this many tokens; bigger caps get more time
TIMEOUT_REFERENCE_TOKENS = 800


class OpenAICompatibleProvider:
    """Structured outputs (json_schema, strict) or json_object + validation."""

    name = "openai"

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        structured_outputs: bool = True,
        timeout: float = 120.0,
        temperature: float = 0.2,
        max_concurrent_requests: int | None = None,
        breaker_threshold: int = BREAKER_THRESHOLD,
        on_structured_outputs_refused: Callable[[str], None] | None = None,
        notify: Callable[[str], None] | None = None,
        client: openai.OpenAI | None = None,
    ) -> None:
        """`client`: an SDK client built elsewhere (AzureOpenAI for provider azure), used
        instead of one for `base_url`; it must have max_retries=0."""
        self.model = model
        self.structured_outputs = structured_outputs
        self.temperature = temperature
        self.timeout = timeout
        self.base_url = base_url or "https://api.openai.com/v1"
        #: api.openai.com itself: prompt_cache_key is accepted, max_tokens is not needed
        self.official = base_url is None or "api.openai.com" in base_url
        self.prompt_cache_key = self.official
        self.max_concurrent_requests = max_concurrent_requests
        self.breaker = ConnectionBreaker(self.base_url, breaker_threshold)
        self.notices: list[str] = []
        self._secrets = (api_key,)
        self._slots = (
            threading.BoundedSemaphore(max_concurrent_requests) if max_concurrent_requests else None
        )
        self._drain_first = False
        self._state_lock = threading.Lock()
        self._on_refused = on_structured_outputs_refused
        self._notify = notify or log.warning
        self._client = client or openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=openai.Timeout(timeout, connect=CONNECT_TIMEOUT),
        )
        #: the endpoint actually called (the SDK's default when none is set): part of the
        #: provider's identity, so cached layers never cross endpoints
        self.base_url = str(self._client.base_url).rstrip("/")

    def translate(self, exc: Exception, layer: str) -> ProviderError:
        """This endpoint's docgen error for one openai exception (a subclass adds its own
        mapping first, e.g. Azure's DeploymentNotFound)."""
        return translate(exc, layer=layer, model=self.model, secrets=self._secrets)

    # -- request shape -------------------------------------------------------------------

    def _response_format(self, structured: bool) -> dict[str, Any]:
        # json_schema: what the SDK's parse(response_format=LayerEnvelope) sends
        return envelope_response_format() if structured else {"type": "json_object"}

    def timeout_for(self, max_tokens: int) -> float:
        """Seconds to wait for an answer of up to `max_tokens`: the configured timeout for
        answers up to TIMEOUT_REFERENCE_TOKENS, proportionally more for bigger caps (a slow
        server writing 1,500 tokens needs nearly twice as long as for 800)."""
        return self.timeout * max(1.0, max_tokens / TIMEOUT_REFERENCE_TOKENS)

    def _limits(self, cap: int) -> dict[str, Any]:
        limits: dict[str, Any] = {"max_completion_tokens": cap}
        if not self.official:
            # llama.cpp, Ollama, vLLM and LM Studio honour max_tokens; some ignore the other
            limits["max_tokens"] = cap
        return limits

    # -- one layer -----------------------------------------------------------------------

    @contextmanager
    def _slot(self) -> Iterator[None]:
        if self._slots is None:
            yield
            return
        with self._slots:
            yield

    def chat_request(self, request: LayerRequest, structured: bool | None = None) -> dict[str, Any]:
        """The chat.completions body for one layer (what `generate` sends, and what a batch
        file line carries)."""
        structured = self.structured_outputs if structured is None else structured
        cap = LAYERS[request.layer].max_completion_tokens
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.chat,
            "response_format": self._response_format(structured),
            "temperature": self.temperature,
            **self._limits(cap),
        }
        if self.prompt_cache_key and request.cache_key:
            # routes the six calls of one object to the same cache (api.openai.com only)
            body["prompt_cache_key"] = request.cache_key[:64]
        return body

    def _send(self, request: LayerRequest, structured: bool) -> Any:
        """One request: structured outputs with the strict schema the SDK built from the
        envelope model, the answer validated by the SDK's parser (what
        `chat.completions.parse(response_format=LayerEnvelope)` does, without rebuilding
        the schema on every call: measured at 4% of a job process's CPU); json_object
        through `create` (docgen validates)."""
        cap = LAYERS[request.layer].max_completion_tokens
        body = self.chat_request(request, structured)
        timeout = openai.Timeout(self.timeout_for(cap), connect=CONNECT_TIMEOUT)
        if not structured:
            return self._client.chat.completions.create(**body, timeout=timeout)
        raw = self._client.chat.completions.with_raw_response.create(
            **body, timeout=timeout, extra_headers=PARSE_HEADERS
        )
        return parsed_completion(raw, request.layer)

    def _create(self, request: LayerRequest, structured: bool) -> Any:
        layer = request.layer
        try:
            response = self._send(request, structured)
        except openai.OpenAIError as exc:
            if is_connection_failure(exc):
                if self.breaker.record(exc):
                    raise self.breaker.down(layer) from None
            elif isinstance(exc, openai.APIStatusError):
                self.breaker.record(None)
            if isinstance(exc, openai.APITimeoutError) and self.max_concurrent_requests == 1:
                # the server keeps computing what we abandoned: the next request waits
                with self._state_lock:
                    self._drain_first = True
            raise self.translate(exc, layer) from None
        except ValueError as exc:  # json.JSONDecodeError: HTTP 200 with a broken JSON body
            raise _not_a_completion(layer, f"a body that is not JSON ({exc})") from None
        self.breaker.record(None)
        if not isinstance(response, ChatCompletion) or not isinstance(response.choices, list):
            raise _not_a_completion(layer, f"{type(response).__name__} instead of a completion")
        return response

    def _drain(self, layer: LayerName) -> Usage:
        """Wait for a single-slot server to finish a request we abandoned: a 1-token request
        queues behind it and returns when the slot is free."""
        with self._state_lock:
            if not self._drain_first:
                return Usage()
            self._drain_first = False
        # the abandoned request may have been any layer, started up to a timeout ago
        biggest = max(spec.max_completion_tokens for spec in LAYERS.values())
        wait = 2 * self.timeout_for(biggest)
        started = time.perf_counter()
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": "Reply with: ok"}],
                timeout=openai.Timeout(wait, connect=CONNECT_TIMEOUT),
                **self._limits(1),
            )
        except openai.OpenAIError as exc:
            if isinstance(exc, openai.APITimeoutError):
                with self._state_lock:
                    self._drain_first = True  # the probe itself is queued now
            error = self.translate(exc, layer)
            raise ProviderUnavailable(
                f"{layer}: the endpoint is still busy with an abandoned request ({error})",
                layer=layer,
            ) from None
        log.info(
            "waited %.1f s for the endpoint to finish an abandoned request",
            time.perf_counter() - started,
        )
        return _usage(response)

    def _switch_to_json_object(self, refusal: StructuredOutputsRefused) -> None:
        with self._state_lock:
            if not self.structured_outputs:
                return
            self.structured_outputs = False
        reason = refusal.reason or str(refusal)
        message = (
            f"{self.base_url} does not accept structured outputs (json_schema); docgen uses "
            "json_object with validation for this organization from now on "
            "(`docgen org set-provider ORG openai --structured-outputs` to try again)"
        )
        self.notices.append(message)
        self._notify(message)
        if self._on_refused is not None:
            self._on_refused(reason)

    def generate(self, request: LayerRequest) -> LayerResult:
        layer = request.layer
        self.breaker.check(layer)
        with self._slot():
            started = time.perf_counter()
            spent = self._drain(layer)
            structured = self.structured_outputs
            try:
                response = self._create(request, structured)
            except StructuredOutputsRefused as refusal:
                if not structured:
                    raise
                self._switch_to_json_object(refusal)
                response = self._create(request, False)
            duration_ms = int((time.perf_counter() - started) * 1000)
        return self._result(request, response, duration_ms, spent)

    def _result(
        self, request: LayerRequest, response: Any, duration_ms: int, spent: Usage
    ) -> LayerResult:
        return layer_result(
            request,
            response,
            duration_ms=duration_ms,
            spent=spent,
            model=self.model,
            secrets=self._secrets,
        )

    def close(self) -> None:
        self._client.close()

    # -- verify-key ----------------------------------------------------------------------

    def verify(self) -> list[Check]:
        """One cheap round of real requests (see `docgen.providers.verify`)."""
        return verify_endpoint(self)
