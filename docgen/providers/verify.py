"""`docgen org verify-key`: one cheap round of real requests against an endpoint.

The model list (reachability, the key, the model's existence) and a 1-token structured-output
completion (the model answers, json_schema accepted). A refusal of json_schema switches the
provider to json_object as a job would (and is remembered through its
`on_structured_outputs_refused`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import openai
import pydantic
from pydantic import BaseModel

from docgen.errors import APIKeyError, ProviderError, StructuredOutputsRefused
from docgen.providers.breaker import CONNECT_TIMEOUT
from docgen.providers.openai_errors import is_connection_failure


class Endpoint(Protocol):
    """What verify needs of a provider (OpenAICompatibleProvider and its Azure subclass)."""

    model: str
    base_url: str
    _client: openai.OpenAI

    def translate(self, exc: Exception, layer: str) -> ProviderError: ...

    def _limits(self, cap: int) -> dict[str, Any]: ...

    def _switch_to_json_object(self, refusal: StructuredOutputsRefused) -> None: ...


def verify_endpoint(provider: Endpoint) -> list[Check]:
    """One cheap round of real requests: the model list (reachability, the key, the
    model's existence) and a 1-token structured-output completion (the model answers,
    json_schema accepted). A refusal of json_schema switches to json_object as a job
    would (and is remembered through `on_structured_outputs_refused`)."""
    checks: list[Check] = []
    started = time.perf_counter()
    try:
        listed = [m.id for m in provider._client.models.list(timeout=30.0).data]
    except openai.OpenAIError as exc:
        error = provider.translate(exc, "")
        if is_connection_failure(exc):
            checks.append(Check("endpoint", False, f"{provider.base_url} unreachable: {error}"))
            return checks
        checks.append(Check("endpoint", True, f"{provider.base_url} answered"))
        if isinstance(error, APIKeyError):
            checks.append(Check("API key", False, str(error)))
            return checks
        listed = []  # some servers have no /models; the completion below decides
    else:
        ms = int((time.perf_counter() - started) * 1000)
        checks.append(Check("endpoint", True, f"{provider.base_url} answered in {ms} ms"))
        checks.append(Check("API key", True, "accepted"))
    request: dict[str, Any] = {
        "model": provider.model,
        "messages": [{"role": "user", "content": 'Reply with {"ok": true}'}],
        "timeout": openai.Timeout(60.0, connect=CONNECT_TIMEOUT),
        **provider._limits(16),
    }
    structured: Check | None = None
    try:
        try:
            provider._client.chat.completions.parse(response_format=VerifyAnswer, **request)
        except (
            openai.LengthFinishReasonError,
            openai.ContentFilterFinishReasonError,
            pydantic.ValidationError,
        ):
            pass  # it answered, under the schema: what this check asks
        structured = Check("structured outputs", True, "json_schema accepted")
    except openai.OpenAIError as exc:
        error = provider.translate(exc, "")
        if not isinstance(error, StructuredOutputsRefused):
            return [*checks, _failed_call(error, provider.model, listed)]
        provider._switch_to_json_object(error)
        structured = Check(
            "structured outputs",
            None,
            f"refused ({error.reason}); json_object with validation is used instead, "
            "and remembered",
        )
        try:
            provider._client.chat.completions.create(
                response_format={"type": "json_object"}, **request
            )
        except openai.OpenAIError as again:
            error = provider.translate(again, "")
            return [*checks, _failed_call(error, provider.model, listed), structured]
    where = "listed by the endpoint" if provider.model in listed else "answered"
    return [*checks, Check("model", True, f"{provider.model} {where}"), structured]


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
