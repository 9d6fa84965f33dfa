"""The lean option (`one_call`): all six layers of an object from one chat completion.

The default asks each layer in its own call: the shared prefix (schema, system message,
context) is sent six times, and OpenAI's prompt cache bills most of it at the cached rate.
With `one_call` the first layer request of an object sends the prefix once, with every
layer's instruction under one "fill every key" instruction and a token cap that is the sum
of the layers' caps; the answer's envelope holds all six keys. Each layer is then validated
on its own (the provider's `_result`, the same schema checks), the layer tasks, storage and
per-layer logs stay as they are, and the call's usage is split over the layers (prompt
tokens evenly, completion tokens by the length of each layer's part) so the logs add up to
what the API reported. A layer whose part fails validation is retried on its own (with the
repair turn), as in the default mode.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from docgen.errors import ProviderError
from docgen.layers import ENVELOPE_KEYS, LAYER_NAMES, LAYERS
from docgen.pricing import Usage
from docgen.prompts import layer_instruction
from docgen.providers.base import LayerRequest, LayerResult
from docgen.providers.openai_compat import (
    CONNECT_TIMEOUT,
    OpenAICompatibleProvider,
    _usage,
    is_connection_failure,
)


def combined_instruction() -> str:
    """Every layer's instruction, each under its key, without its "fill only" line."""
    parts = ["Fill every key of the JSON object, each as its section below asks."]
    for layer in LAYER_NAMES:
        lines = layer_instruction(layer).splitlines()
        body = "\n".join(line for line in lines if not line.startswith("Fill ")).strip()
        parts.append(f"## {ENVELOPE_KEYS[layer]}\n{body}")
    return "\n\n".join(parts)


def split_usage(total: Usage, weights: dict[str, int]) -> dict[str, Usage]:
    """`total` over the layers: prompt and cached tokens evenly, completion tokens by weight;
    the parts add up to `total` exactly (remainders go to the first layer)."""
    names = list(weights)
    count = len(names)
    weight_sum = sum(weights.values()) or 1
    shares: dict[str, Usage] = {}
    for name in names:
        shares[name] = Usage(
            total.prompt_tokens // count,
            total.completion_tokens * weights[name] // weight_sum,
            total.cached_tokens // count,
        )
    used = Usage()
    for share in shares.values():
        used = used + share
    first = names[0]
    shares[first] = shares[first] + Usage(
        total.prompt_tokens - used.prompt_tokens,
        total.completion_tokens - used.completion_tokens,
        total.cached_tokens - used.cached_tokens,
    )
    return shares


class OneCallProvider:
    """The organization's provider, asking all layers of an object in one call."""

    def __init__(self, inner: OpenAICompatibleProvider) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self._answers: dict[str, tuple[ChatCompletion, dict[str, Usage], set[str]]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)

    def generate(self, request: LayerRequest) -> LayerResult:
        if request.repair is not None or request.cache_key is None:
            return self.inner.generate(request)
        key = request.cache_key
        with self._lock:
            object_lock = self._locks.setdefault(key, threading.Lock())
        with object_lock:
            if key not in self._answers:
                self._answers[key] = self._ask(request)
            response, usages, served = self._answers[key]
            served.add(request.layer)
            if len(served) == len(LAYER_NAMES):
                self._answers.pop(key, None)
                with self._lock:
                    self._locks.pop(key, None)
        try:
            result = self.inner._result(request, response, 0, Usage())
        except ProviderError as exc:
            exc.usage = usages[request.layer]  # the rejected part's share is still spent
            raise
        return replace(result, usage=usages[request.layer])

    def _ask(self, request: LayerRequest) -> tuple[ChatCompletion, dict[str, Usage], set[str]]:
        """The combined call; the answer (usage removed) and each layer's share of usage."""
        inner = self.inner
        cap = sum(spec.max_completion_tokens for spec in LAYERS.values())
        messages = [*request.messages[:-1], {"role": "user", "content": combined_instruction()}]
        body = inner.chat_request(replace(request, messages=messages))
        for limit in ("max_completion_tokens", "max_tokens"):
            if limit in body:
                body[limit] = cap
        inner.breaker.check(request.layer)
        try:
            response = inner._client.chat.completions.create(
                **body, timeout=openai.Timeout(inner.timeout_for(cap), connect=CONNECT_TIMEOUT)
            )
        except openai.OpenAIError as exc:
            if is_connection_failure(exc) and inner.breaker.record(exc):
                raise inner.breaker.down(request.layer) from None
            raise inner.translate(exc, request.layer) from None
        inner.breaker.record(None)
        total = _usage(response)
        content = (response.choices[0].message.content or "") if response.choices else ""
        try:
            data = json.loads(content)
        except json.JSONDecodeError:
            data = {}
        weights: dict[str, int] = {
            layer: max(1, len(json.dumps(data.get(ENVELOPE_KEYS[layer]))))
            if isinstance(data, dict)
            else 1
            for layer in LAYER_NAMES
        }
        # each layer is validated from the same answer, without the call's usage (the
        # split below carries it) so a layer's own cap is not compared to the whole answer
        return response.model_copy(update={"usage": None}), split_usage(total, weights), set()

    def close(self) -> None:
        self.inner.close()


def with_one_call(provider: Any) -> Any:
    """`provider` asking all layers of an object in one call, grounding kept (the offline
    analyser is returned as it is)."""
    from docgen.batch import compatible_provider
    from docgen.grounding import GroundedProvider

    compatible = compatible_provider(provider)
    if compatible is None:
        return provider
    return GroundedProvider(OneCallProvider(compatible))
