"""What documenting one object produced: one LayerOutcome per layer, GeneratedDocumentation
for the six together (what a version and its log rows are stored from), and the UsageLedger
of failed attempts a run keeps between a layer's retries.

Plain data, no database and no Prefect: `docgen.pipeline` makes them, `docgen.service` and
`docgen.jobs` store them, `docgen.db.logs` writes their rows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from docgen.complexity import Complexity
from docgen.layers import LAYERS, LayerName
from docgen.pricing import Usage
from docgen.prompts import PROMPT_VERSION
from docgen.providers.base import LayerResult, Repair
from docgen.redact import one_line


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


@dataclass
class _Attempts:
    usage: Usage
    count: int
    #: the last rejected answer and why, shown to the model on the next try
    repair: Repair | None = None


class UsageLedger:
    """Usage of failed attempts per (object run, layer), with the last rejected answer so
    the retry can ask the model to fix it (a repair turn). A run owns one (the service's
    `ledger`): a layer's retries add to it, its final success or failure pops the entry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Attempts] = {}

    def add(self, key: str, usage: Usage | None, repair: Repair | None = None) -> None:
        with self._lock:
            entry = self._entries.setdefault(key, _Attempts(Usage(), 0))
            entry.usage = entry.usage + (usage or Usage())
            entry.count += 1
            entry.repair = repair

    def repair(self, key: str) -> Repair | None:
        with self._lock:
            entry = self._entries.get(key)
        return entry.repair if entry else None

    def pop(self, key: str) -> tuple[Usage, int]:
        with self._lock:
            entry = self._entries.pop(key, None)
        return (entry.usage, entry.count) if entry else (Usage(), 0)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def ledger_key(run_key: str, layer: LayerName) -> str:
    """The ledger entry of one layer of one object run (`run_key` is new per run)."""
    return f"{run_key}:{layer}"
