"""What a provider is: something that turns one layer request into one validated layer.

A provider tries once. Failures are typed (docgen.errors.ProviderError subclasses); retries,
backoff and Retry-After are the caller's business (Prefect task retries). Errors raised for
an answer that consumed tokens carry that usage, so failed attempts are still counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from docgen.context import ObjectContext
from docgen.layers import LayerName
from docgen.pricing import Usage


@dataclass(frozen=True)
class Repair:
    """A rejected answer and what was wrong with it: the next try shows both to the model
    (one assistant turn with the answer, one user turn naming the problem)."""

    answer: str
    problem: str

    def messages(self) -> list[dict[str, str]]:
        return [
            {"role": "assistant", "content": self.answer[:4000]},
            {
                "role": "user",
                "content": "Your answer above was rejected: "
                f"{self.problem[:1500]}\nAnswer the same instruction again and fix exactly "
                "that. Reply with one JSON object in the shape asked for, nothing else.",
            },
        ]


@dataclass(frozen=True)
class LayerRequest:
    layer: LayerName
    context: ObjectContext
    #: the chat messages (system, context, instruction); the offline provider ignores them
    messages: list[dict[str, str]] = field(default_factory=list)
    #: identifies the object's shared prompt prefix (its context hash)
    cache_key: str | None = None
    #: set on a retry after a rejected answer: the model sees the answer and the problem
    repair: Repair | None = None

    @property
    def chat(self) -> list[dict[str, str]]:
        """The messages to send: the prompt, plus the repair turn on a retry."""
        return self.messages + (self.repair.messages() if self.repair else [])


@dataclass(frozen=True)
class LayerResult:
    layer: LayerName
    #: the value stored in object_documentation's column (text, object or list)
    value: Any
    usage: Usage
    finish_reason: str
    model: str
    duration_ms: int
    attempts: int = 1
    #: the answer as the model wrote it (secrets removed), for a repair turn
    raw: str = ""
    #: the grounding check's result (docgen.grounding), kept in the per-layer log
    grounding: dict[str, Any] | None = None

    def with_extra_usage(self, usage: Usage, attempts: int) -> LayerResult:
        """This result with the usage of earlier failed attempts added."""
        return replace(self, usage=self.usage + usage, attempts=self.attempts + attempts)


class Provider(Protocol):
    #: provider kind, as stored in jobs.api_provider ("openai", "offline")
    name: str
    #: the model name stored in generated_by_model and used for pricing
    model: str

    def generate(self, request: LayerRequest) -> LayerResult: ...

    def close(self) -> None: ...
