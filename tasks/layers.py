"""The six layer tasks: one LLM call each, with Prefect retries and caching.

Retries: exponential backoff with jitter, up to the job's max_retries, decided by
`should_retry` (a plain function, as Prefect requires): retryable provider errors (429, 5xx,
timeouts, broken or cut-off JSON) are retried; an API-key, quota or content-filter error
never is. Retry-After is honoured by the organization's rate limiter, which every call
passes through (docgen.ratelimit), so one 429 slows every concurrent caller, not just one.
A Retry-After longer than DOCGEN_LLM_MAX_RETRY_AFTER_SECONDS (default 300) is not slept:
WaitTooLong gives the object back and the job pauses with the reason.

Stopping: each call runs in a daemon thread that a cancelled await abandons, and the
service's stop event ends rate-limit waits at once, so a cancelled job or a runner that
got SIGTERM stops within a second or two whatever the call was waiting on.

Cache: the key is (organization, provider identity, layer, input hash). The provider
identity is its kind, base URL and model; the input hash covers the rendered context (code,
columns, upstream documentation), the prompt version and the model. A rerun with the same
inputs for the same organization and endpoint reads the stored result and makes no LLM call;
`refresh_cache=True` (regenerate_all) calls again and overwrites the entry. Two
organizations with identical code never read each other's entries, whatever one of them
stored (a hostile endpoint's text, a result its own key could not have produced).

Where the entries live: Prefect result storage. By default that is the directory
PREFECT_LOCAL_STORAGE_PATH (~/.prefect/storage) on the disk of the process that ran the
task, one file per key (names start with `docgen-<organization id>-`); with
DOCGEN_RESULT_STORAGE_BLOCK=block-type/block-name (docgen.config.ResultStorageSettings) they
go to that Prefect filesystem block instead (S3, GCS, a shared LocalFileSystem...).

Repair turns: an answer rejected for its content (broken JSON, wrong shape) is kept with
the reason, and the retry shows both to the model ("your answer was rejected: cards.0.input:
Field required"), so a retry is not the identical prompt that failed; the token cap stays.

Tokens of failed attempts: a provider error that consumed tokens (broken JSON, length)
carries its usage; the run's ledger (`service.ledger`, docgen.outcomes.UsageLedger) adds it
to the successful attempt's result, or hands it to the flow when the layer finally fails,
so every token the API billed is counted once.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import queue
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from typing import Any, TypeVar

import anyio
from prefect import Task, task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.tasks import exponential_backoff

from docgen.config import ResultStorageSettings
from docgen.context import ObjectContext
from docgen.errors import InvalidLLMResponse, ProviderError, RateLimited, WaitTooLong
from docgen.layers import LAYER_NAMES, LayerName
from docgen.outcomes import ledger_key
from docgen.providers.base import LayerResult, Repair
from docgen.ratelimit import too_long
from docgen.service import DocumentationGenerationService

_T = TypeVar("_T")

DEFAULT_RETRIES = 3
CACHE_EXPIRATION = timedelta(days=30)
#: worker threads for provider calls across all objects of this process
_THREADS = anyio.CapacityLimiter(64)


def should_retry(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only provider errors that say trying again may help.

    The engine hands over `Failed(data=exception)`; `state.result()` would return a
    coroutine here (the task is async), so the exception is read from the state's data.
    """
    error = state.data if isinstance(state.data, BaseException) else None
    if error is None:
        try:
            state.result(_sync=True)  # type: ignore[call-arg]
        except Exception as exc:  # noqa: BLE001 - classified below
            error = exc
    return isinstance(error, ProviderError) and error.retryable


def layer_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    """`docgen-<organization id>-<provider hash>-<layer>-<input hash>`.

    The service parameter says whose call this is (docgen.service.cache_scope): without it
    two organizations with the same code would read each other's results.
    """
    service: DocumentationGenerationService = parameters["service"]
    layer, input_hash = parameters["layer"], parameters["input_hash"]
    digest = hashlib.sha256(f"{service.cache_scope()}\x00{input_hash}".encode()).hexdigest()
    return f"docgen-{service.organization_id}-{layer}-{digest}"


def result_storage() -> str | None:
    """The Prefect block that holds cached layer results (DOCGEN_RESULT_STORAGE_BLOCK), or
    None for Prefect's default storage (PREFECT_LOCAL_STORAGE_PATH on this machine)."""
    return ResultStorageSettings().result_storage_block


def layer_task(
    layer: LayerName, *, retries: int, backoff_seconds: float, refresh_cache: bool
) -> Task[Any, LayerResult]:
    """The layer's task with a job's retry options and the configured result storage."""
    return _configured(layer, retries, backoff_seconds, refresh_cache, result_storage())


def layer_tasks(
    *, retries: int, backoff_seconds: float, refresh_cache: bool
) -> dict[LayerName, Task[Any, LayerResult]]:
    """The six layer tasks with a job's options (reads the storage setting once)."""
    storage = result_storage()
    return {
        layer: _configured(layer, retries, backoff_seconds, refresh_cache, storage)
        for layer in LAYER_NAMES
    }


@lru_cache(maxsize=256)
def _configured(
    layer: LayerName,
    retries: int,
    backoff_seconds: float,
    refresh_cache: bool,
    storage: str | None,
) -> Task[Any, LayerResult]:
    # built once per set of options, not per object: with_options copies the whole task
    options: dict[str, Any] = {
        "retries": retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=backoff_seconds),
        "refresh_cache": refresh_cache or None,
    }
    if storage is not None:
        options["result_storage"] = storage
    return LAYER_TASKS[layer].with_options(**options)


def _generate(
    service: DocumentationGenerationService,
    ctx: ObjectContext,
    layer: LayerName,
    input_hash: str,
    run_key: str,
) -> LayerResult:
    key, ledger = ledger_key(run_key, layer), service.ledger
    try:
        result = service.generate_layer(ctx, layer, ledger.repair(key), input_hash)
    except ProviderError as exc:
        ledger.add(key, exc.usage, repair_for(exc))
        if isinstance(exc, RateLimited) and not isinstance(exc, WaitTooLong):
            if service.rate_limiter is not None:
                service.rate_limiter.penalize(exc.retry_after)
            if exc.retry_after is not None and exc.retry_after > service.max_retry_after:
                # the job pauses instead of sleeping; the limiter keeps the pause, so the
                # other objects in flight pause too instead of calling again
                raise too_long(exc.retry_after, service.max_retry_after, exc) from None
        raise
    failed_usage, failed_attempts = ledger.pop(key)
    return result.with_extra_usage(failed_usage, failed_attempts)


class DaemonThreads:
    """Long-lived daemon worker threads fed by a queue, started only when none is idle.

    Unlike a ThreadPoolExecutor (joined at interpreter exit) a daemon worker never keeps a
    stopping process alive, and unlike a thread per call (six per object, measured in
    benchmarks/calls.py) a worker is reused: an abandoned call keeps its worker until the
    call returns, then the worker serves the next one.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._work: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self.started = 0

    def submit(self, work: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1
            else:
                self.started += 1
                threading.Thread(
                    target=self._serve, name=f"{self._name}-{self.started}", daemon=True
                ).start()
        self._work.put(work)

    def _serve(self) -> None:
        while True:
            self._work.get()()
            with self._lock:
                self._idle += 1


#: the workers that run provider calls (the synchronous openai SDK client, the analyser)
DAEMON_THREADS = DaemonThreads("docgen-call")


async def in_daemon_thread(fn: Callable[..., _T], *args: Any) -> _T:
    """`fn(*args)` in a daemon worker thread, awaited without blocking the event loop.

    Cancelling the await abandons the call instead of waiting for it: a job that is
    cancelled, or a runner that gets SIGTERM, does not wait for an HTTP call or a rate-limit
    sleep to end (anyio's worker threads would be joined, and keep the process alive up to
    the request timeout). The abandoned call's result is dropped; nothing is stored from it.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        try:
            outcome: tuple[bool, Any] = (True, context.run(fn, *args))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            outcome = (False, exc)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:
            pass  # the loop is closed: nobody waits for this result any more

    DAEMON_THREADS.submit(work)
    return await future


def repair_for(error: ProviderError) -> Repair | None:
    """A repair turn for an answer that came back but was wrong (broken JSON, schema);
    None when there is nothing to show (cut off, timeouts, 5xx: the same prompt again)."""
    raw = getattr(error, "raw", "")
    if not isinstance(error, InvalidLLMResponse) or not raw or "finish_reason=length" in str(error):
        return None
    return Repair(answer=raw, problem=str(error).split(": ", 1)[-1])


def _layer_task(layer: LayerName) -> Task[Any, LayerResult]:
    async def generate(
        service: DocumentationGenerationService,
        ctx: ObjectContext,
        layer: LayerName,
        input_hash: str,
        run_key: str,
    ) -> LayerResult:
        # the provider is synchronous (the openai SDK client, the offline analyser): run it
        # in a worker thread so the flow's event loop keeps other objects moving
        async with _THREADS:
            return await in_daemon_thread(_generate, service, ctx, layer, input_hash, run_key)

    generate.__name__ = f"generate_{layer}"
    generate.__doc__ = f"Generate the {layer.replace('_', ' ')} layer for one object."
    return task(
        generate,
        name=layer.replace("_", "-"),
        task_run_name=f"{layer.replace('_', '-')}" + "-{ctx.object.name}",
        retries=DEFAULT_RETRIES,
        retry_delay_seconds=exponential_backoff(backoff_factor=1),
        retry_jitter_factor=0.5,
        retry_condition_fn=should_retry,
        cache_key_fn=layer_cache_key,
        cache_expiration=CACHE_EXPIRATION,
        persist_result=True,
        log_prints=False,
    )


#: layer name -> its Prefect task
LAYER_TASKS: dict[LayerName, Task[Any, LayerResult]] = {
    layer: _layer_task(layer) for layer in LAYER_NAMES
}
