"""OfflineProvider: the Provider protocol over the offline writer."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from docgen.context import ObjectContext
from docgen.layers import LAYERS
from docgen.pricing import Usage
from docgen.providers.base import LayerRequest, LayerResult
from docgen.providers.offline.writer import Writer

OFFLINE_MODEL = "offline-static-analysis-1"
_CACHED = 64


def _context_key(ctx: ObjectContext) -> tuple[Any, ...]:
    obj = ctx.object
    return (
        obj.id,
        obj.content_hash,
        obj.effective_code,
        obj.description,
        tuple((u.id, u.summary, u.code) for u in ctx.upstream),
        tuple((d.id, d.name) for d in ctx.downstream),
    )


class OfflineProvider:
    """No key, no network: layers derived from the code by static analysis."""

    name = "offline"
    model = OFFLINE_MODEL

    def __init__(self) -> None:
        # one analysis per object version, shared by its six layer calls (owned by this
        # provider, not a module global)
        self._writers: OrderedDict[tuple[Any, ...], Writer] = OrderedDict()
        self._lock = threading.Lock()

    def writer(self, ctx: ObjectContext) -> Writer:
        key = _context_key(ctx)
        with self._lock:
            writer = self._writers.get(key)
            if writer is not None:
                self._writers.move_to_end(key)
                return writer
        writer = Writer(ctx)
        with self._lock:
            self._writers[key] = writer
            while len(self._writers) > _CACHED:
                self._writers.popitem(last=False)
        return writer

    def generate(self, request: LayerRequest) -> LayerResult:
        started = time.perf_counter()
        value = self.writer(request.context).layer(request.layer)
        spec = LAYERS[request.layer]
        # the same validation an LLM answer gets: the offline analyser keeps the contract too
        parsed = spec.validate_stored(value)
        return LayerResult(
            layer=request.layer,
            value=spec.stored_value(parsed),
            usage=Usage(),
            finish_reason="stop",
            model=self.model,
            duration_ms=int((time.perf_counter() - started) * 1000),
        )

    def close(self) -> None:
        self._writers.clear()
