"""Any OpenAI-compatible chat completions API, through the official `openai` SDK.

This module is the boundary where openai's exceptions become docgen's (see ERROR_MAP and
`translate`). The SDK's own retries are off (max_retries=0): one call, one typed outcome;
Prefect task retries decide what happens next. Messages are redacted (the API key and
anything key-shaped) and never chained to the SDK exception, whose text may echo the key.

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

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import openai
import pydantic
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from docgen.errors import (
    APIKeyError,
    ContentFiltered,
    InvalidLLMResponse,
    ProviderDown,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
    StructuredOutputsRefused,
)
from docgen.layers import (
    ENVELOPE_KEYS,
    LAYERS,
    LayerEnvelope,
    LayerName,
    envelope_response_format,
)
from docgen.layers import parse_layer as parse_envelope
from docgen.pricing import Usage
from docgen.providers.base import LayerRequest, LayerResult
from docgen.redact import brief, one_line, redact

log = logging.getLogger("docgen.providers")

#: openai exception -> docgen error, most specific first (checked by tests/test_error_map.py)
ERROR_MAP: tuple[tuple[type[Exception], type[ProviderError]], ...] = (
    (openai.AuthenticationError, APIKeyError),
    (openai.PermissionDeniedError, APIKeyError),
    (openai.RateLimitError, RateLimited),
    (openai.InternalServerError, ProviderUnavailable),
    (openai.APITimeoutError, ProviderUnavailable),
    (openai.APIConnectionError, ProviderUnavailable),
    (openai.NotFoundError, ProviderError),
    (openai.BadRequestError, ProviderError),
    (openai.UnprocessableEntityError, ProviderError),
    (openai.ConflictError, ProviderUnavailable),
    (openai.APIResponseValidationError, InvalidLLMResponse),
    (openai.LengthFinishReasonError, InvalidLLMResponse),
    (openai.ContentFilterFinishReasonError, ContentFiltered),
    (openai.APIStatusError, ProviderError),
    (openai.OpenAIError, ProviderError),
)

#: consecutive connection failures after which the endpoint counts as down
BREAKER_THRESHOLD = 3
#: seconds to wait for a TCP connection (an unreachable host fails fast, a slow model not)
CONNECT_TIMEOUT = 5.0
#: seconds between the TCP connects that confirm a connection failure
CONFIRM_SECONDS = 0.25
#: the request timeout is for answers up to this many tokens; bigger caps get more time
TIMEOUT_REFERENCE_TOKENS = 800


def _retry_after(response: Any) -> float | None:
    """Seconds to wait from Retry-After / retry-after-ms / x-ratelimit-reset-* headers."""
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000.0
        if headers.get("retry-after"):
            return float(headers["retry-after"])
    except (TypeError, ValueError):
        return None
    return None


def _detail(exc: Exception, secrets: tuple[str, ...]) -> str:
    """The server's message, redacted, with its first lines kept (the cause is often on the
    second: "1 validation error:" then the field)."""
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(message, str) and message.strip() and message.strip() not in text:
            text = f"{text}\n{message}"
    return redact(brief(text, 400), secrets)


def refuses_structured_outputs(exc: Exception) -> bool:
    """A 400, 422 or 500 whose message names response_format or json_schema: the endpoint
    does not accept structured outputs (llama.cpp answers 500 with a validation error)."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422, 500):
        return False
    text = f"{exc.message} {json.dumps(exc.body, default=str)}".lower()
    return "response_format" in text or "json_schema" in text


def is_connection_failure(exc: Exception) -> bool:
    """No answer at all: connection refused, reset, DNS failure, or a connect timeout
    (a read timeout means the server is there but slow, and does not count)."""
    if isinstance(exc, openai.APITimeoutError):
        return "connect" in type(exc.__cause__).__name__.lower()
    return isinstance(exc, openai.APIConnectionError)


def translate(exc: Exception, *, layer: str, model: str, secrets: tuple[str, ...]) -> ProviderError:
    """The docgen error for one openai exception (message redacted, one line)."""
    status = getattr(exc, "status_code", None)
    detail = _detail(exc, secrets)
    where = f"{layer}: " if layer else ""
    if refuses_structured_outputs(exc):
        refused = StructuredOutputsRefused(
            f"{where}the endpoint rejected structured outputs ({status}: {detail}); "
            "use `docgen org set-provider ... --json-object`",
            layer=layer,
        )
        refused.reason = f"HTTP {status}: {detail}"
        return refused
    for source, target in ERROR_MAP:
        if not isinstance(exc, source):
            continue
        if target is RateLimited:
            body = getattr(exc, "body", None)
            code = body.get("code") if isinstance(body, dict) else None
            if code == "insufficient_quota" or "insufficient_quota" in detail:
                return QuotaExceeded(f"{where}the API account has no quota left (429): {detail}")
            wait = _retry_after(getattr(exc, "response", None))
            return RateLimited(
                f"{where}rate limited (429): {detail}", retry_after=wait, layer=layer
            )
        if target is APIKeyError:
            return APIKeyError(
                f"{where}the provider refused the API key ({status}): {detail}", layer=layer
            )
        if isinstance(exc, openai.NotFoundError):
            return ProviderError(
                f"{where}model {model!r} or endpoint not found (404): {detail}", layer=layer
            )
        label = f" ({status})" if status else ""
        if target is ProviderError and isinstance(status, int) and status >= 500:
            target = ProviderUnavailable
        return target(f"{where}{type(exc).__name__}{label}: {detail}", layer=layer)
    return ProviderError(f"{where}{type(exc).__name__}: {detail}", layer=layer)


def validation_summary(exc: pydantic.ValidationError, limit: int = 400) -> str:
    """ "TransformationCards: cards.0.title: Field required; ..." - the model, then each
    failing field with pydantic's reason, instead of pydantic's multi-line text."""
    parts = []
    errors = exc.errors(include_url=False)
    for error in errors[:4]:
        where = ".".join(str(p) for p in error["loc"]) or "(top)"
        parts.append(f"{where}: {error['msg']}")
    more = f" (+{len(errors) - 4} more)" if len(errors) > 4 else ""
    text = f"{exc.title}: " + "; ".join(parts) + more
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bare_layer(layer: LayerName, data: Any) -> Any:
    """The answer as the layer's own shape when it came without the envelope
    ({"whatItDoes": ...} instead of {"businessNarrative": {...}}), or None."""
    spec = LAYERS[layer]
    if isinstance(data, list) and spec.list_key:
        return {spec.list_key: data}
    if not isinstance(data, dict) or not data:
        return None
    if any(key in data for key in ENVELOPE_KEYS.values()):
        return None  # it is an envelope; its own error message is the right one
    if not spec.is_json:
        texts = [v for v in data.values() if isinstance(v, str) and v.strip()]
        return {"text": texts[0]} if len(data) == 1 and texts else None
    if spec.list_key and spec.list_key not in data and len(data) == 1:
        (value,) = data.values()
        return {spec.list_key: value} if isinstance(value, list) else None
    return data


def parse_answer(layer: LayerName, data: Any) -> BaseModel:
    """The layer out of a decoded answer: the envelope, or the layer's own shape when the
    envelope is missing. Raises ValueError (pydantic's ValidationError is one)."""
    try:
        return parse_envelope(layer, data)
    except ValueError as enveloped:
        bare = _bare_layer(layer, data)
        if bare is None:
            raise
        try:
            return LAYERS[layer].model.model_validate(bare)
        except pydantic.ValidationError:
            raise enveloped from None


class ConnectionBreaker:
    """Counts connection failures in a row across every call of one run; at `threshold`
    the endpoint counts as down and every later call fails at once with ProviderDown."""

    def __init__(self, url: str, threshold: int = BREAKER_THRESHOLD) -> None:
        self.url = url
        self.threshold = threshold
        self.failures = 0
        self.last_error = ""
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        return self.failures >= self.threshold

    def down(self, layer: str | None) -> ProviderDown:
        return ProviderDown(
            f"the endpoint {self.url} is unreachable ({self.failures} connection attempts failed "
            f"in a row: {self.last_error}); the job stops here and can run again "
            "(`docgen jobs run JOB`) once the endpoint is back",
            layer=layer,
        )

    def check(self, layer: str | None) -> None:
        if self.open:
            raise self.down(layer)

    def record(self, exc: Exception | None) -> bool:
        """Count a failure (exc) or reset on any answer (None); True once open.

        A failure is confirmed at once with plain TCP connects to the endpoint (no request,
        no tokens), a quarter second apart, up to the threshold: a server that is down
        stops the job in a second instead of after the task retries' backoff."""
        if exc is None:
            with self._lock:
                self.failures = 0
            return False
        cause = exc.__cause__
        with self._lock:
            self.last_error = one_line(str(cause) if cause else type(exc).__name__, 200)
            self.failures += 1
        while not self.open:
            time.sleep(CONFIRM_SECONDS)
            if self._reachable():
                return False
            with self._lock:
                self.failures += 1
        return True

    def _reachable(self) -> bool:
        parsed = urlsplit(self.url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            with socket.create_connection((parsed.hostname or "", port), CONNECT_TIMEOUT):
                return True
        except OSError:
            return False


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
        """One request: structured outputs through the SDK's `parse` with the envelope model
        (the SDK builds the strict schema and validates the answer), json_object through
        `create` (docgen validates)."""
        cap = LAYERS[request.layer].max_completion_tokens
        body = self.chat_request(request, structured)
        timeout = openai.Timeout(self.timeout_for(cap), connect=CONNECT_TIMEOUT)
        if not structured:
            return self._client.chat.completions.create(**body, timeout=timeout)
        body.pop("response_format")
        raw = self._client.chat.completions.with_raw_response.parse(
            **body, response_format=LayerEnvelope, timeout=timeout
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
        layer = request.layer
        cap = LAYERS[layer].max_completion_tokens
        usage = checked_usage(response, layer) + spent
        if not response.choices:
            raise InvalidLLMResponse(
                f"{layer}: the answer has no choices", layer=layer, usage=usage
            )
        try:
            choice = response.choices[0]
            finish_reason = str(choice.finish_reason or "stop")
            content = choice.message.content or ""
            refusal = getattr(choice.message, "refusal", None)
        except AttributeError:
            raise _not_a_completion(layer, "a completion without a message") from None
        if not isinstance(content, str):
            raise _not_a_completion(layer, "a message whose content is not text")
        raw = redact(content, self._secrets)
        if finish_reason == "content_filter" or refusal:
            why = f"the model refused: {one_line(refusal)}" if refusal else "content filter"
            raise ContentFiltered(
                f"{layer}: the provider stopped the answer ({why}); the same prompt would be "
                "stopped again",
                layer=layer,
                usage=usage,
            )
        if finish_reason == "length" or usage.completion_tokens > cap:
            ran = (
                f"ran to {usage.completion_tokens} tokens past its cap of {cap} (the server "
                "ignored the limit)"
                if usage.completion_tokens > cap
                else f"was cut off at {cap} tokens"
            )
            raise InvalidLLMResponse(
                f"{layer}: the answer {ran} (finish_reason=length)",
                raw=raw,
                layer=layer,
                usage=usage,
            )
        envelope = getattr(choice.message, "parsed", None)
        try:
            # the SDK validated the envelope (structured outputs); else the text is decoded
            # here, and parse_answer validates the layer (or a bare answer) with its messages
            if isinstance(envelope, LayerEnvelope):
                data: Any = envelope.model_dump()
            else:
                data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise InvalidLLMResponse(
                f"{layer}: the answer is not valid JSON ({exc.msg} at char {exc.pos})",
                raw=raw,
                layer=layer,
                usage=usage,
            ) from None
        try:
            parsed = parse_answer(layer, data)
        except pydantic.ValidationError as exc:
            raise InvalidLLMResponse(
                f"{layer}: the answer does not match the layer's schema: "
                f"{redact(validation_summary(exc), self._secrets)}",
                raw=raw,
                layer=layer,
                usage=usage,
            ) from None
        except ValueError as exc:
            raise InvalidLLMResponse(
                f"{layer}: the answer does not match the layer's schema: "
                f"{redact(brief(str(exc), 300), self._secrets)}",
                raw=raw,
                layer=layer,
                usage=usage,
            ) from None
        return LayerResult(
            layer=layer,
            value=LAYERS[layer].stored_value(parsed),
            usage=usage,
            finish_reason=finish_reason,
            model=response.model or self.model,
            duration_ms=duration_ms,
            raw=raw,
        )

    def close(self) -> None:
        self._client.close()

    # -- verify-key ----------------------------------------------------------------------

    def verify(self) -> list[Check]:
        """One cheap round of real requests: the model list (reachability, the key, the
        model's existence) and a 1-token structured-output completion (the model answers,
        json_schema accepted). A refusal of json_schema switches to json_object as a job
        would (and is remembered through `on_structured_outputs_refused`)."""
        checks: list[Check] = []
        started = time.perf_counter()
        try:
            listed = [m.id for m in self._client.models.list(timeout=30.0).data]
        except openai.OpenAIError as exc:
            error = self.translate(exc, "")
            if is_connection_failure(exc):
                checks.append(Check("endpoint", False, f"{self.base_url} unreachable: {error}"))
                return checks
            checks.append(Check("endpoint", True, f"{self.base_url} answered"))
            if isinstance(error, APIKeyError):
                checks.append(Check("API key", False, str(error)))
                return checks
            listed = []  # some servers have no /models; the completion below decides
        else:
            ms = int((time.perf_counter() - started) * 1000)
            checks.append(Check("endpoint", True, f"{self.base_url} answered in {ms} ms"))
            checks.append(Check("API key", True, "accepted"))
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": 'Reply with {"ok": true}'}],
            "timeout": openai.Timeout(60.0, connect=CONNECT_TIMEOUT),
            **self._limits(16),
        }
        structured: Check | None = None
        try:
            try:
                self._client.chat.completions.parse(response_format=VerifyAnswer, **request)
            except (
                openai.LengthFinishReasonError,
                openai.ContentFilterFinishReasonError,
                pydantic.ValidationError,
            ):
                pass  # it answered, under the schema: what this check asks
            structured = Check("structured outputs", True, "json_schema accepted")
        except openai.OpenAIError as exc:
            error = self.translate(exc, "")
            if not isinstance(error, StructuredOutputsRefused):
                return [*checks, _failed_call(error, self.model, listed)]
            self._switch_to_json_object(error)
            structured = Check(
                "structured outputs",
                None,
                f"refused ({error.reason}); json_object with validation is used instead, "
                "and remembered",
            )
            try:
                self._client.chat.completions.create(
                    response_format={"type": "json_object"}, **request
                )
            except openai.OpenAIError as again:
                error = self.translate(again, "")
                return [*checks, _failed_call(error, self.model, listed), structured]
        where = "listed by the endpoint" if self.model in listed else "answered"
        return [*checks, Check("model", True, f"{self.model} {where}"), structured]


class VerifyAnswer(BaseModel):
    """The 1-token structured answer `verify` asks for ({"ok": true})."""

    model_config = pydantic.ConfigDict(extra="forbid")

    ok: bool


@dataclass(frozen=True)
class Check:
    """One line of `docgen org verify-key`: ok True, False (a failure), None (a warning)."""

    name: str
    ok: bool | None
    detail: str


def _failed_call(error: ProviderError, model: str, listed: list[str]) -> Check:
    if isinstance(error, APIKeyError):
        return Check("API key", False, str(error))
    hint = f" (the endpoint lists: {', '.join(listed[:8])})" if listed else ""
    if "not found (404)" in str(error):
        return Check("model", False, f"{model} does not exist here{hint}")
    return Check("model", False, f"{model} did not answer: {error}{hint}")


def parsed_completion(raw: Any, layer: str) -> Any:
    """The completion out of the SDK's raw `parse` response.

    `parse` validates the answer against the envelope and raises when it cannot. docgen
    keeps what such answers cost and says why in its own words (`_result`), so they come
    back as plain completions: a cut-off (LengthFinishReasonError) or filtered
    (ContentFilterFinishReasonError) answer carries its completion; one that does not fit
    the envelope (a bare layer from a local server, a missing field), or a body that is no
    completion at all, is read from the HTTP body again, without the SDK's validation."""
    try:
        return raw.parse()
    except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
        if exc.completion is not None:
            return exc.completion
    except (ValueError, AttributeError, TypeError):  # pydantic's ValidationError included
        pass
    try:
        data = raw.http_response.json()
    except ValueError as exc:  # json.JSONDecodeError: HTTP 200 with a broken JSON body
        raise _not_a_completion(layer, f"a body that is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _not_a_completion(layer, f"{type(data).__name__} instead of a completion")
    return ChatCompletion.construct(**data)


def _not_a_completion(layer: str, what: str) -> ProviderUnavailable:
    """HTTP 200 whose body is no chat completion (a proxy's HTML page, broken JSON): the
    endpoint misbehaved, as with a 5xx, so it is retried the same way."""
    return ProviderUnavailable(
        f"{layer}: the endpoint answered HTTP 200 with {one_line(what, 200)}", layer=layer
    )


#: more tokens than any model reads or writes in one call: a count above it is garbage
MAX_TOKENS_PER_CALL = 10_000_000


def checked_usage(response: Any, layer: str) -> Usage:
    """The answer's token usage, or InvalidLLMResponse when the counts are impossible
    (negative, not whole numbers, above MAX_TOKENS_PER_CALL, more cached than prompt
    tokens): such an answer is not used, and no made-up count reaches the job's totals."""
    usage = getattr(response, "usage", None)
    if usage is None:
        return Usage()
    details = getattr(usage, "prompt_tokens_details", None)
    counts = {
        "prompt_tokens": getattr(usage, "prompt_tokens", None) or 0,
        "completion_tokens": getattr(usage, "completion_tokens", None) or 0,
        "cached_tokens": getattr(details, "cached_tokens", None) or 0,
    }
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int):
            problem = f"{name}={one_line(repr(value), 40)} is not a whole number"
        elif not 0 <= value <= MAX_TOKENS_PER_CALL:
            problem = f"{name}={value:,} is impossible"
        else:
            continue
        raise InvalidLLMResponse(
            f"{layer}: the provider reported impossible token usage ({problem}); the answer "
            "is not used",
            layer=layer,
        )
    if counts["cached_tokens"] > counts["prompt_tokens"]:
        raise InvalidLLMResponse(
            f"{layer}: the provider reported impossible token usage (more cached tokens "
            "than prompt tokens); the answer is not used",
            layer=layer,
        )
    return Usage(**counts)


def _usage(response: Any) -> Usage:
    usage = getattr(response, "usage", None)
    if usage is None:
        return Usage()
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    return Usage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        cached_tokens=cached,
    )
