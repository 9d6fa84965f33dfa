"""How a job walks its objects: the ready set (upstream objects first), concurrency, the
pause/cancel/budget gate, and handing objects back, over an injected `run_object`.

    scheduler = Scheduler(engine, job_id, runner, control, run_object, concurrency=8)
    async with scheduler.watching():
        stopped = await scheduler.run()      # None, or why the job stopped starting objects

Steps of `run` (one call per job; batch mode calls it once per wave with that wave's ids):
1. Read the job's pending objects and their upstream objects that are pending too, and
   order them with `graphlib.TopologicalSorter`: an object starts only once its upstream
   objects of this pass are finished, so its context holds their fresh documentation. A
   cycle is broken at its object that comes first in the job's order.
2. Start ready objects, `concurrency` at a time, in the job's order. Before each start the
   gate asks: a fatal provider error, a stop of this run (cancel, SIGTERM), a pause the
   run found itself (a Retry-After over the cap), the job's status (paused, cancelled...)
   and the budget (`max_cost_usd`: spent + in flight + this object's estimate). The gate
   reads no database: the watcher refreshes the job row once a second, and the cost of
   objects finished since that read is added from what `run_object` returned.
3. `run_object(item)` documents one object and records it (through the repositories); it
   returns the cost it recorded, or None. If it raises (a crashed subflow), the object is
   given back (pending) and tried again in the next pass, at most MAX_PASSES passes.
4. When nothing is pending but other runners hold objects of the job, wait for them, and
   take over any they give back.

The watcher (`watching()`), every 0.2 s: a stop of the run or of the process
(`RunControl.process_stop`, set by the CLI's SIGTERM handler) interrupts the objects in
flight; once a second it reads the job row (a cancel from `docgen jobs cancel` interrupts
them too, and `on_progress(job)` hears of every change); every two seconds it asks
`cancelled_elsewhere()` (the flow: "was this flow run cancelled in Prefect?").

Nothing here imports Prefect; the flow passes the subflow as `run_object`.
"""

from __future__ import annotations

import asyncio
import graphlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Engine

from docgen.db import jobs as jobs_repo
from docgen.db.engine import transaction
from docgen.errors import ProviderError

#: the stop reason of a run whose process received SIGTERM (or SIGINT)
SIGNAL_REASON = "signal"
#: passes over pending objects (objects given back by a crashed run are tried again)
MAX_PASSES = 3
#: seconds between reads of the job row (status, cost, progress) while the job runs
REFRESH_SECONDS = 1.0
#: seconds between asks whether the run was cancelled elsewhere (the Prefect UI)
CANCEL_CHECK_SECONDS = 2.0
#: seconds between looks at the run's and the process's stop events
TICK_SECONDS = 0.2
#: stop waiting for other runners after this long without any object finishing
OTHERS_STALL_SECONDS = 900.0
#: job statuses in which no object may start
STOPPED_STATUSES = ("paused", "cancelled", "failed", "completed")

logger = logging.getLogger("docgen.scheduler")


class RunControl:
    """What one run of a job knows about itself and every object of it acts on: an error
    no object can avoid, a pause it found, and the stop event every wait of its LLM calls
    watches (the service and the rate limiter wait on `stop`)."""

    stop: threading.Event
    stop_reason: str | None
    fatal: ProviderError | None
    pause_reason: str | None
    #: the process's stop (SIGTERM); the watcher turns it into a stop of this run
    process_stop: threading.Event | None

    def __init__(
        self, stop: threading.Event | None = None, process_stop: threading.Event | None = None
    ) -> None:
        self.stop = stop or threading.Event()
        self.process_stop = process_stop
        self.stop_reason = None
        self.fatal = None
        self.pause_reason = None
        self.lock = threading.Lock()
        self.observe_process_stop()

    def set_fatal(self, error: ProviderError) -> None:
        with self.lock:
            if self.fatal is None:
                self.fatal = error

    def request_pause(self, reason: str) -> None:
        with self.lock:
            if self.pause_reason is None:
                self.pause_reason = reason

    def request_stop(self, reason: str) -> None:
        with self.lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        self.stop.set()

    def observe_process_stop(self) -> bool:
        """Stop this run if its process was told to stop; True if it is stopping."""
        if self.process_stop is not None and self.process_stop.is_set():
            self.request_stop(SIGNAL_REASON)
        return self.stop.is_set()

    @property
    def halted(self) -> str | None:
        """Why objects of this run must be given back unfinished, or None to go on."""
        if self.fatal is not None:
            return str(self.fatal)
        if self.stop.is_set():
            return self.stop_reason or "stopped"
        return self.pause_reason


@dataclass(frozen=True)
class Item:
    """One pending object of the job, as `run_object` gets it."""

    object_id: UUID
    name: str
    position: int
    estimated_cost: Decimal


@dataclass
class _Pass:
    items: dict[UUID, Item]
    #: upstream objects of each item that are items of this pass too
    upstream: dict[UUID, set[UUID]]


@dataclass
class _Snapshot:
    """The job row as the watcher last read it."""

    job: jobs_repo.Job
    #: monotonic time the read started: objects finished after it may not be counted in it
    read_at: float
    #: (finished at, cost) of objects of this run finished since a read that may miss them
    unseen: list[tuple[float, Decimal]] = field(default_factory=list)

    @property
    def spent(self) -> Decimal:
        return self.job.actual_cost + sum((c for _, c in self.unseen), Decimal(0))


RunObject = Callable[[Item], Awaitable[Decimal | None]]


class Scheduler:
    """Runs the pending objects of one job in this process (see the module doc)."""

    def __init__(
        self,
        engine: Engine,
        job_id: UUID,
        runner: str,
        control: RunControl,
        run_object: RunObject,
        *,
        concurrency: int = 1,
        max_cost_usd: Decimal | None = None,
        cancelled_elsewhere: Callable[[], Awaitable[bool]] | None = None,
        on_progress: Callable[[jobs_repo.Job], Awaitable[None]] | None = None,
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        claim: Callable[[UUID], Any] | None = None,
    ) -> None:
        """Each object is claimed (pending -> processing) before `run_object` starts, and
        skipped when another runner has it. `claim(object_id)` (run in a worker thread)
        replaces the plain claim: the flow claims and reads the object's context in one
        transaction there; a falsy result means the object was not claimed."""
        self.engine, self.job_id, self.runner = engine, job_id, runner
        self.claim = claim or self._claim
        self.control = control
        self.run_object = run_object
        self.concurrency = concurrency
        self.max_cost_usd = max_cost_usd
        self.cancelled_elsewhere = cancelled_elsewhere
        self.on_progress = on_progress
        self.log = log or logger
        self.snapshot: _Snapshot | None = None
        self.in_flight_estimate = Decimal(0)
        self.running: set[asyncio.Task[Any]] = set()
        self.others_stall_seconds = OTHERS_STALL_SECONDS

    # --- the job row, read by the watcher ---------------------------------------------------

    async def refresh(self) -> jobs_repo.Job:
        """Read the job row into the snapshot the gate decides from."""
        read_at = time.monotonic()
        job = await asyncio.to_thread(self._read_job)
        previous = self.snapshot
        unseen = [(t, c) for t, c in previous.unseen if t >= read_at] if previous else []
        self.snapshot = _Snapshot(job, read_at, unseen)
        if self.on_progress is not None and (
            previous is None
            or (previous.job.processed_objects, previous.job.status)
            != (job.processed_objects, job.status)
        ):
            await self.on_progress(job)
        return job

    @asynccontextmanager
    async def watching(self) -> AsyncIterator[Scheduler]:
        """Run the watcher (module doc) for the duration of the block."""
        await self.refresh()
        watcher = asyncio.create_task(self._watch())
        try:
            yield self
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await self.refresh()

    async def _watch(self) -> None:
        control = self.control
        last_read = last_cancel_check = time.monotonic()
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if control.observe_process_stop():
                self.interrupt(control.stop_reason or "stopped")
                self.log.info("job %s: runner stopping (%s)", self.job_id, control.stop_reason)
                return
            now = time.monotonic()
            if now - last_read >= REFRESH_SECONDS:
                last_read = now
                try:
                    job = await self.refresh()
                except Exception as exc:  # noqa: BLE001 - the next read may work
                    self.log.warning("job %s: cannot read the job: %s", self.job_id, exc)
                    continue
                if job.status == "cancelled":
                    self.interrupt("cancelled")
                    self.log.info("job %s cancelled: in-flight objects interrupted", self.job_id)
                    return
            if self.cancelled_elsewhere and now - last_cancel_check >= CANCEL_CHECK_SECONDS:
                last_cancel_check = now
                if await self.cancelled_elsewhere():
                    await asyncio.to_thread(self._cancel, "flow run cancelled in Prefect")
                    self.interrupt("cancelled")
                    self.log.info("job %s cancelled in Prefect", self.job_id)
                    return

    def interrupt(self, reason: str) -> None:
        """Stop every wait of this run and cancel the objects in flight."""
        self.control.request_stop(reason)
        for task in list(self.running):
            task.cancel()

    # --- the gate -----------------------------------------------------------------------------

    async def reason_to_stop(self, estimated_cost: Decimal = Decimal(0)) -> str | None:
        """Why no object may start now (None: go on). Reads nothing but the snapshot; a
        budget stop pauses the job."""
        control = self.control
        if control.fatal is not None:
            return "provider error"
        if control.stop.is_set():
            return control.stop_reason or "stopped"
        if control.pause_reason is not None:
            return "paused: " + control.pause_reason
        if self.snapshot is None:
            await self.refresh()
        assert self.snapshot is not None
        if self.snapshot.job.status in STOPPED_STATUSES:
            return self.snapshot.job.status
        budget = self.max_cost_usd
        spent = self.snapshot.spent
        if budget is not None and spent + self.in_flight_estimate + estimated_cost > budget:
            reason = (
                f"budget: ${spent} spent, next object estimated ${estimated_cost}, "
                f"max_cost_usd ${budget}"
            )
            await asyncio.to_thread(self._pause, reason)
            return "budget"
        return None

    # --- passes -------------------------------------------------------------------------------

    async def run(self, only: set[UUID] | None = None) -> str | None:
        """Steps 1-4 of the module doc over the pending objects (`only`: those of them).
        Returns why objects stopped being started, or None."""
        for _ in range(MAX_PASSES):
            work = await asyncio.to_thread(self._pending, only)
            if not work.items:
                if not await self._wait_for_other_runners():
                    return None
                continue
            stopped = await self._run_pass(work)
            if stopped:
                self.log.info("job %s stops starting objects: %s", self.job_id, stopped)
                return stopped
            if self.control.halted:
                return await self.reason_to_stop()
        return None

    async def _run_pass(self, work: _Pass) -> str | None:
        sorter = ready_order(work)
        ready: deque[Item] = deque()
        running: dict[asyncio.Task[Decimal | None], Item] = {}
        stopped: str | None = None
        while sorter.is_active() and stopped is None:
            ready.extend(sorted((work.items[i] for i in sorter.get_ready()), key=_position))
            while ready and len(running) < self.concurrency:
                stopped = await self.reason_to_stop(ready[0].estimated_cost)
                if stopped:
                    break
                item = ready.popleft()
                self.in_flight_estimate += item.estimated_cost
                task = asyncio.create_task(self._one(item))
                running[task] = item
                self.running.add(task)
            if stopped or not running:
                break
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                sorter.done(self._finished(task, running.pop(task)).object_id)
        if running:
            await asyncio.wait(running)
            for task, item in running.items():
                self._finished(task, item)
        return stopped

    async def _one(self, item: Item) -> Decimal | None:
        if not await asyncio.to_thread(self.claim, item.object_id):
            return Decimal(0)
        try:
            return await self.run_object(item)
        except asyncio.CancelledError:
            self.log.info("object %s interrupted: %s", item.name, self.control.halted)
            await asyncio.shield(asyncio.to_thread(self._release, item.object_id))
            raise
        except Exception:
            await asyncio.to_thread(self._release, item.object_id)
            raise

    def _finished(self, task: asyncio.Task[Decimal | None], item: Item) -> Item:
        """Account for a finished object; an object whose run raised was given back."""
        self.running.discard(task)
        self.in_flight_estimate -= item.estimated_cost
        cost: Decimal | None = None
        if not task.cancelled():
            error = task.exception()
            if error is None:
                cost = task.result()
            else:
                self.log.warning(
                    "object %s given back (tried again in the next pass): %s", item.name, error
                )
                cost = Decimal(0)  # nothing was recorded
        if self.snapshot is not None:
            self.snapshot.unseen.append(
                (time.monotonic(), item.estimated_cost if cost is None else cost)
            )
        return item

    async def _wait_for_other_runners(self) -> bool:
        """Wait while other runners document objects of this job; True if objects came
        back to pending (so another pass is needed)."""
        last_progress, last_count = time.monotonic(), -1
        while True:
            held, pending, processed = await asyncio.to_thread(self._others)
            if pending:
                return True
            if not held:
                return False
            if processed != last_count:
                last_progress, last_count = time.monotonic(), processed
            elif time.monotonic() - last_progress > self.others_stall_seconds:
                self.log.warning(
                    "job %s: other runners made no progress for %d s; stopping",
                    self.job_id,
                    self.others_stall_seconds,
                )
                return False
            if self.control.halted:
                return False
            await asyncio.sleep(REFRESH_SECONDS)

    # --- repositories (run in a worker thread) ------------------------------------------------

    def _read_job(self) -> jobs_repo.Job:
        with transaction(self.engine) as conn:
            return jobs_repo.get_job(conn, self.job_id)

    def _pending(self, only: set[UUID] | None) -> _Pass:
        from docgen.db.objects import get_objects

        with transaction(self.engine) as conn:
            pending = jobs_repo.job_objects(conn, self.job_id, status="pending")
            if only is not None:
                pending = [p for p in pending if p.object_id in only]
            found = get_objects(conn, [p.object_id for p in pending])
        items = {
            p.object_id: Item(
                p.object_id,
                found[p.object_id].name if p.object_id in found else str(p.object_id),
                p.position,
                p.estimated_cost,
            )
            for p in pending
        }
        upstream = {
            i: set(found[i].upstream_object_ids) & items.keys() - {i} if i in found else set()
            for i in items
        }
        return _Pass(items, upstream)

    def _others(self) -> tuple[int, int, int]:
        """Objects held by other runners, pending objects, processed objects of the job."""
        with transaction(self.engine) as conn:
            objects = jobs_repo.job_objects(conn, self.job_id)
            processed = jobs_repo.get_job(conn, self.job_id).processed_objects
        held = sum(1 for o in objects if o.status == "processing" and o.claimed_by != self.runner)
        pending = sum(1 for o in objects if o.status == "pending")
        return held, pending, processed

    def _claim(self, object_id: UUID) -> bool:
        with transaction(self.engine) as conn:
            return jobs_repo.claim_object(conn, self.job_id, object_id, self.runner)

    def _release(self, object_id: UUID) -> None:
        with transaction(self.engine) as conn:
            jobs_repo.release_object(conn, self.job_id, object_id, self.runner)

    def _pause(self, reason: str) -> None:
        with transaction(self.engine) as conn:
            job = jobs_repo.get_job(conn, self.job_id)
            if job.status in ("queued", "processing"):
                jobs_repo.update_job_status(conn, self.job_id, "paused", {"reason": reason})

    def _cancel(self, reason: str) -> None:
        with transaction(self.engine) as conn:
            job = jobs_repo.get_job(conn, self.job_id)
            if not job.is_terminal:
                jobs_repo.update_job_status(conn, self.job_id, "cancelled", {"reason": reason})


def _position(item: Item) -> int:
    return item.position


def ready_order(work: _Pass) -> graphlib.TopologicalSorter[UUID]:
    """A prepared sorter over the pass's items: upstream items first. Each cycle is broken
    at its item that comes first in the job's order (it starts without waiting for its
    upstream items in the cycle), so the same job always runs in the same order."""
    upstream = {i: set(work.upstream.get(i, ())) for i in work.items}
    while True:
        sorter = graphlib.TopologicalSorter(upstream)
        try:
            sorter.prepare()
            return sorter
        except graphlib.CycleError as exc:
            cycle: list[UUID] = exc.args[1][:-1]  # each node an upstream of the next one
            first = min(range(len(cycle)), key=lambda k: work.items[cycle[k]].position)
            upstream[cycle[first]].discard(cycle[first - 1])


__all__ = ["MAX_PASSES", "SIGNAL_REASON", "Item", "RunControl", "Scheduler", "ready_order"]
