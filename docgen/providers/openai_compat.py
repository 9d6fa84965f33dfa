"""Any OpenAI-compatible chat completions API, through the official `openai` SDK.

This module is the boundary where openai's exceptions become docgen's (see ERROR_MAP and
`translate`). The SDK's own retries are off (max_retries=0): one call, one typed outcome;
Prefect task retries decide what happens next. Messages are redacted (the API key and
anything key-shaped) and never chained to the SDK exception, whose text may echo the key.
"""

from __future__ import annotations

import json
import time
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from docgen.errors import (
    APIKeyError,
    ContentFiltered,
    InvalidLLMResponse,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
)
from docgen.layers import ENVELOPE_SCHEMA_NAME, LAYERS, envelope_schema, parse_layer
from docgen.pricing import Usage
from docgen.providers.base import LayerRequest, LayerResult
from docgen.redact import one_line, redact

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


def translate(exc: Exception, *, layer: str, model: str, secrets: tuple[str, ...]) -> ProviderError:
    """The docgen error for one openai exception (message redacted, one line)."""
    status = getattr(exc, "status_code", None)
    detail = redact(
        one_line(getattr(exc, "message", None) or str(exc) or type(exc).__name__), secrets
    )
    where = f"{layer}: " if layer else ""
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
        if isinstance(exc, openai.BadRequestError) and "response_format" in detail:
            return ProviderError(
                f"{where}the endpoint rejected structured outputs ({detail}); "
                "use `docgen org set-provider ... --json-object`",
                layer=layer,
            )
        label = f" ({status})" if status else ""
        if target is ProviderError and isinstance(status, int) and status >= 500:
            target = ProviderUnavailable
        return target(f"{where}{type(exc).__name__}{label}: {detail}", layer=layer)
    return ProviderError(f"{where}{type(exc).__name__}: {detail}", layer=layer)


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
    ) -> None:
        self.model = model
        self.structured_outputs = structured_outputs
        self.temperature = temperature
        self._secrets = (api_key,)
        #: prompt_cache_key is an api.openai.com parameter; other servers may reject it
        self.prompt_cache_key = base_url is None or "api.openai.com" in base_url
        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout
        )
        #: the endpoint actually called (the SDK's default when none is set): part of the
        #: provider's identity, so cached layers never cross endpoints
        self.base_url = str(self._client.base_url)

    def _response_format(self) -> dict[str, Any]:
        if self.structured_outputs:
            return {
                "type": "json_schema",
                "json_schema": {
                    "name": ENVELOPE_SCHEMA_NAME,
                    "strict": True,
                    "schema": envelope_schema(),
                },
            }
        return {"type": "json_object"}

    def generate(self, request: LayerRequest) -> LayerResult:
        layer = request.layer
        started = time.perf_counter()
        extra: dict[str, Any] = {}
        if self.prompt_cache_key and request.cache_key:
            # routes the six calls of one object to the same cache (api.openai.com only)
            extra["prompt_cache_key"] = request.cache_key[:64]
        try:
            response = self._client.chat.completions.create(  # type: ignore[call-overload]
                model=self.model,
                messages=request.messages,
                response_format=self._response_format(),
                max_completion_tokens=LAYERS[layer].max_completion_tokens,
                temperature=self.temperature,
                **extra,
            )
        except openai.OpenAIError as exc:
            raise translate(exc, layer=layer, model=self.model, secrets=self._secrets) from None
        except ValueError as exc:  # json.JSONDecodeError: HTTP 200 with a broken JSON body
            raise _not_a_completion(layer, f"a body that is not JSON ({exc})") from None
        duration_ms = int((time.perf_counter() - started) * 1000)
        if not isinstance(response, ChatCompletion) or not isinstance(response.choices, list):
            raise _not_a_completion(layer, f"{type(response).__name__} instead of a completion")
        usage = checked_usage(response, layer)
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
        if finish_reason == "content_filter" or refusal:
            why = f"the model refused: {one_line(refusal)}" if refusal else "content filter"
            raise ContentFiltered(
                f"{layer}: the provider stopped the answer ({why}); the same prompt would be "
                "stopped again",
                layer=layer,
                usage=usage,
            )
        if finish_reason == "length":
            raise InvalidLLMResponse(
                f"{layer}: the answer was cut off at {LAYERS[layer].max_completion_tokens} tokens "
                "(finish_reason=length)",
                raw=redact(content, self._secrets),
                layer=layer,
                usage=usage,
            )
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise InvalidLLMResponse(
                f"{layer}: the answer is not valid JSON ({exc.msg} at char {exc.pos})",
                raw=redact(content, self._secrets),
                layer=layer,
                usage=usage,
            ) from None
        try:
            parsed = parse_layer(layer, data)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            raise InvalidLLMResponse(
                f"{layer}: the answer does not match the layer's schema: "
                f"{one_line(redact(str(exc), self._secrets), 300)}",
                raw=redact(content, self._secrets),
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
        )

    def close(self) -> None:
        self._client.close()


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
            f"than prompt tokens); the answer is not used",
            layer=layer,
        )
    return Usage(**counts)
