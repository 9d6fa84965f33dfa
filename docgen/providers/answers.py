"""Reading a completion: the layer out of it, or the docgen error saying why not.

What it accepts beyond the strict envelope, for endpoints that are not api.openai.com: an
answer without the envelope key when it validates against the layer's own shape. What it
refuses, with the tokens the answer cost kept on the error: no choices, a refusal or the
content filter, an answer cut off or longer than its cap, text that is not JSON, a layer that
does not validate, and impossible usage counts.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pydantic
from openai.lib._parsing import parse_chat_completion
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from docgen.errors import ContentFiltered, InvalidLLMResponse, ProviderUnavailable
from docgen.layers import ENVELOPE_KEYS, LAYERS, LayerEnvelope, LayerName
from docgen.layers import parse_layer as parse_envelope
from docgen.pricing import Usage
from docgen.providers.base import LayerRequest, LayerResult
from docgen.redact import brief, one_line, redact


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


def layer_result(
    request: LayerRequest,
    response: Any,
    *,
    duration_ms: int,
    spent: Usage,
    model: str,
    secrets: tuple[str, ...],
) -> LayerResult:
    """The layer out of one completion (the SDK's parsed envelope, or the text decoded and
    validated here), or the docgen error that says why not, with the usage it cost."""
    layer = request.layer
    cap = LAYERS[layer].max_completion_tokens
    usage = checked_usage(response, layer) + spent
    if not response.choices:
        raise InvalidLLMResponse(f"{layer}: the answer has no choices", layer=layer, usage=usage)
    try:
        choice = response.choices[0]
        finish_reason = str(choice.finish_reason or "stop")
        content = choice.message.content or ""
        refusal = getattr(choice.message, "refusal", None)
    except AttributeError:
        raise _not_a_completion(layer, "a completion without a message") from None
    if not isinstance(content, str):
        raise _not_a_completion(layer, "a message whose content is not text")
    raw = redact(content, secrets)
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
            f"{redact(validation_summary(exc), secrets)}",
            raw=raw,
            layer=layer,
            usage=usage,
        ) from None
    except ValueError as exc:
        raise InvalidLLMResponse(
            f"{layer}: the answer does not match the layer's schema: "
            f"{redact(brief(str(exc), 300), secrets)}",
            raw=raw,
            layer=layer,
            usage=usage,
        ) from None
    return LayerResult(
        layer=layer,
        value=LAYERS[layer].stored_value(parsed),
        usage=usage,
        finish_reason=finish_reason,
        model=response.model or model,
        duration_ms=duration_ms,
        raw=raw,
    )


#: the header the SDK's `chat.completions.parse` adds to its requests
PARSE_HEADERS = {"X-Stainless-Helper-Method": "chat.completions.parse"}


def parsed_completion(raw: Any, layer: str) -> Any:
    """The completion out of a raw structured-outputs response, validated against the
    envelope by the SDK's parser (`openai.lib._parsing.parse_chat_completion`, what
    `chat.completions.parse` runs).

    The parser raises when it cannot validate. docgen keeps what such answers cost and says
    why in its own words (`_result`), so they come back as plain completions: a cut-off
    (LengthFinishReasonError) or filtered (ContentFilterFinishReasonError) answer carries
    its completion; one that does not fit the envelope (a bare layer from a local server, a
    missing field), or a body that is no completion at all, is read from the HTTP body
    again, without the SDK's validation."""
    try:
        return parse_chat_completion(
            response_format=LayerEnvelope, input_tools=openai.omit, chat_completion=raw.parse()
        )
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
