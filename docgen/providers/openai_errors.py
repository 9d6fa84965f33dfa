"""openai exceptions -> docgen errors: the one boundary for the openai SDK (ERROR_MAP,
`translate`). Messages are redacted (the API key and anything key-shaped) and kept to one
line; the caller raises them `from None`, never chained to the SDK exception, whose text may
echo the key."""

from __future__ import annotations

import json
from typing import Any

import openai

from docgen.errors import (
    APIKeyError,
    ContentFiltered,
    InvalidLLMResponse,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
    StructuredOutputsRefused,
)
from docgen.redact import brief, redact

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
