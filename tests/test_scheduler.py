"""docgen.scheduler without Prefect: real PostgreSQL, a fake `run_object` that records what
the scheduler asked of it and finishes objects through the repository, as the subflow does."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from sqlalchemy.engine import Engine

from docgen import jobs as core_jobs
from docgen.db import jobs as jobs_repo
from docgen.db.engine import transaction
from docgen.scheduler import SIGNAL_REASON, Item, RunControl, Scheduler, _Pass, ready_order
from tests.conftest import OrgFixture
from tests.factories import make_object

RUNNER = "test-runner"


def new_job(engine: Engine, org: OrgFixture, ids: list[UUID], cost: Decimal = Decimal(0)) -> UUID:
    """A processing job over `ids` (in that order), each object estimated at `cost`."""
    with transaction(engine) as conn:
        job = jobs_repo.insert_job(
            conn, org.id, ids, model_name="fake", estimated_costs={i: cost for i in ids}
        )
        jobs_repo.update_job_status(conn, job.id, "processing")
    return job.id


def job_row(engine: Engine, job_id: UUID) -> jobs_repo.Job:
    with transaction(engine) as conn:
        return jobs_repo.get_job(conn, job_id)


def statuses(engine: Engine, job_id: UUID) -> dict[UUID, jobs_repo.JobObject]:
    with transaction(engine) as conn:
        return {o.object_id: o for o in jobs_repo.job_objects(conn, job_id)}


@dataclass
class FakeObjects:
    """`run_object` for the scheduler: waits `seconds`, then records the object documented
    at its estimated cost (in a worker thread, as the subflow records it)."""

    engine: Engine
    job_id: UUID
    seconds: float = 0.0
    runner: str = RUNNER
    started: list[UUID] = field(default_factory=list)
    finished: list[UUID] = field(default_factory=list)
    running: int = 0
    most_running: int = 0
    #: called (in the event loop) when an object starts, before it waits
    on_start: Callable[[Item], Awaitable[None]] | None = None

    async def __call__(self, item: Item) -> Decimal | None:
        self.started.append(item.object_id)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.on_start is not None:
                await self.on_start(item)
            await asyncio.sleep(self.seconds)
            await asyncio.to_thread(self.record, item)
        finally:
            self.running -= 1
        self.finished.append(item.object_id)
        return item.estimated_cost

    def record(self, item: Item) -> None:
        with transaction(self.engine) as conn:
            assert jobs_repo.finish_object(
                conn,
                self.job_id,
                item.object_id,
                self.runner,
                status="documented",
                cost=item.estimated_cost,
            )


def scheduler(
    engine: Engine,
    job_id: UUID,
    fake: FakeObjects,
    control: RunControl | None = None,
    **options: object,
) -> Scheduler:
    return Scheduler(engine, job_id, RUNNER, control or RunControl(), fake, **options)  # type: ignore[arg-type]


async def run(s: Scheduler) -> str | None:
    async with s.watching():
        return await s.run()


def test_upstream_objects_run_first(engine: Engine, org: OrgFixture) -> None:
    # the job lists the mart before its staging model; the scheduler still starts the
    # staging model first, and the mart only once it is finished
    staging = make_object(engine, org, "stg_orders")
    mart = make_object(engine, org, "fct_orders", upstream=[staging.id])
    loners = [make_object(engine, org).id for _ in range(3)]
    job_id = new_job(engine, org, [mart.id, *loners, staging.id])
    fake = FakeObjects(engine, job_id, seconds=0.05)
    assert asyncio.run(run(scheduler(engine, job_id, fake, concurrency=4))) is None
    assert fake.finished.index(staging.id) < fake.started.index(mart.id)
    assert set(fake.started) == {mart.id, staging.id, *loners}
    job = job_row(engine, job_id)
    assert (job.processed_objects, job.total_objects) == (5, 5)


def test_concurrency_limit_is_kept_and_used(engine: Engine, org: OrgFixture) -> None:
    ids = [make_object(engine, org).id for _ in range(9)]
    job_id = new_job(engine, org, ids)
    fake = FakeObjects(engine, job_id, seconds=0.1)
    asyncio.run(run(scheduler(engine, job_id, fake, concurrency=3)))
    assert fake.most_running == 3
    assert sorted(fake.finished) == sorted(ids)


def test_a_cycle_is_broken_at_its_first_object_in_job_order() -> None:
    a, b, c = (UUID(int=n) for n in (1, 2, 3))
    items = {i: Item(i, str(i), pos, Decimal(0)) for pos, i in enumerate((b, a, c))}
    # a <- b <- c <- a: b comes first in the job, so b starts without waiting for a
    sorter = ready_order(_Pass(items, {a: {c}, b: {a}, c: {b}}))
    assert sorter.get_ready() == (b,)
    sorter.done(b)
    assert sorter.get_ready() == (c,)


def test_pause_stops_starting_objects(engine: Engine, org: OrgFixture) -> None:
    ids = [make_object(engine, org).id for _ in range(10)]
    job_id = new_job(engine, org, ids)

    async def pause_at_second(item: Item) -> None:
        if len(fake.started) == 2:
            await asyncio.to_thread(core_jobs.pause_job, engine, job_id)

    fake = FakeObjects(engine, job_id, seconds=0.3, on_start=pause_at_second)
    stopped = asyncio.run(run(scheduler(engine, job_id, fake)))
    assert stopped == "paused"
    job = job_row(engine, job_id)
    # the gate sees the pause at the watcher's next read of the job (once a second);
    # objects in flight then finish, none is left claimed
    assert job.status == "paused" and 2 <= job.processed_objects <= 6
    assert {o.status for o in statuses(engine, job_id).values()} == {"documented", "pending"}


def test_cancel_interrupts_objects_in_flight_and_gives_them_back(
    engine: Engine, org: OrgFixture
) -> None:
    ids = [make_object(engine, org).id for _ in range(6)]
    job_id = new_job(engine, org, ids)

    async def cancel_at_third(item: Item) -> None:
        if len(fake.started) == 3:
            await asyncio.to_thread(core_jobs.cancel_job, engine, job_id)

    fake = FakeObjects(engine, job_id, seconds=30.0, on_start=cancel_at_third)
    control = RunControl()
    started = time.monotonic()
    stopped = asyncio.run(run(scheduler(engine, job_id, fake, control, concurrency=3)))
    assert time.monotonic() - started < 10  # not the 30 s the objects would take
    assert stopped == "cancelled" and control.stop.is_set()
    assert fake.finished == []
    assert {o.status for o in statuses(engine, job_id).values()} == {"pending"}
    assert job_row(engine, job_id).status == "cancelled"


def test_cancel_elsewhere_cancels_the_job(engine: Engine, org: OrgFixture) -> None:
    ids = [make_object(engine, org).id for _ in range(4)]
    job_id = new_job(engine, org, ids)
    asked: list[float] = []

    async def cancelled_elsewhere() -> bool:
        asked.append(time.monotonic())
        return True

    fake = FakeObjects(engine, job_id, seconds=30.0)
    s = scheduler(engine, job_id, fake, cancelled_elsewhere=cancelled_elsewhere)
    assert asyncio.run(run(s)) == "cancelled"
    job = job_row(engine, job_id)
    assert job.status == "cancelled" and len(asked) == 1
    assert job.error_log[-1]["reason"] == "flow run cancelled in Prefect"


def test_budget_pauses_before_going_over(engine: Engine, org: OrgFixture) -> None:
    ids = [make_object(engine, org).id for _ in range(6)]
    per_object = Decimal("0.01")
    job_id = new_job(engine, org, ids, cost=per_object)
    fake = FakeObjects(engine, job_id)  # no wait: the job row lags behind, the gate must not
    stopped = asyncio.run(run(scheduler(engine, job_id, fake, max_cost_usd=per_object * 5 / 2)))
    assert stopped == "budget"
    job = job_row(engine, job_id)
    assert job.status == "paused" and "budget" in job.error_log[-1]["reason"]
    assert job.processed_objects == 2 and job.actual_cost == per_object * 2


def test_budget_counts_objects_in_flight(engine: Engine, org: OrgFixture) -> None:
    ids = [make_object(engine, org).id for _ in range(6)]
    per_object = Decimal("0.01")
    job_id = new_job(engine, org, ids, cost=per_object)
    fake = FakeObjects(engine, job_id, seconds=0.2)
    budget = per_object * 3
    s = scheduler(engine, job_id, fake, max_cost_usd=budget, concurrency=4)
    assert asyncio.run(run(s)) == "budget"
    assert fake.most_running == 3 and job_row(engine, job_id).processed_objects == 3


def test_crashed_object_is_given_back_and_tried_in_the_next_pass(
    engine: Engine, org: OrgFixture
) -> None:
    ids = [make_object(engine, org).id for _ in range(3)]
    job_id = new_job(engine, org, ids)
    crashed: list[UUID] = []

    async def crash_once(item: Item) -> None:
        if item.object_id == ids[1] and not crashed:
            crashed.append(item.object_id)
            raise RuntimeError("subflow crashed")

    fake = FakeObjects(engine, job_id, on_start=crash_once)
    assert asyncio.run(run(scheduler(engine, job_id, fake))) is None
    objects = statuses(engine, job_id)
    assert {o.status for o in objects.values()} == {"documented"}
    assert objects[ids[1]].attempts == 2 and objects[ids[0]].attempts == 1
    assert fake.started.count(ids[1]) == 2 and fake.started[-1] == ids[1]


def test_objects_held_by_another_runner_are_waited_for(engine: Engine, org: OrgFixture) -> None:
    ids = [make_object(engine, org).id for _ in range(3)]
    job_id = new_job(engine, org, ids)
    with transaction(engine) as conn:
        assert jobs_repo.claim_object(conn, job_id, ids[0], "other-runner")
        assert jobs_repo.claim_object(conn, job_id, ids[1], "other-runner")

    def other_runner() -> None:
        # finishes one object, then dies and its other object is given back
        time.sleep(1.5)
        with transaction(engine) as conn:
            jobs_repo.finish_object(conn, job_id, ids[0], "other-runner", status="documented")
        time.sleep(1.0)
        with transaction(engine) as conn:
            jobs_repo.release_object(conn, job_id, ids[1], "other-runner")

    other = threading.Thread(target=other_runner)
    other.start()
    fake = FakeObjects(engine, job_id)
    started = time.monotonic()
    assert asyncio.run(run(scheduler(engine, job_id, fake))) is None
    other.join()
    assert time.monotonic() - started >= 2.5  # it waited for the other runner
    assert fake.started == [ids[2], ids[1]]  # and took over the object given back
    objects = statuses(engine, job_id)
    assert {o.status for o in objects.values()} == {"documented"}
    assert job_row(engine, job_id).processed_objects == 3


def test_process_stop_stops_the_run(engine: Engine, org: OrgFixture) -> None:
    ids = [make_object(engine, org).id for _ in range(4)]
    job_id = new_job(engine, org, ids)
    process_stop = threading.Event()
    control = RunControl(process_stop=process_stop)

    async def signal_at_first(item: Item) -> None:
        process_stop.set()  # what stop_all() does in the CLI's SIGTERM handler

    fake = FakeObjects(engine, job_id, seconds=30.0, on_start=signal_at_first)
    started = time.monotonic()
    assert asyncio.run(run(scheduler(engine, job_id, fake, control))) == SIGNAL_REASON
    assert time.monotonic() - started < 5
    assert control.stop_reason == SIGNAL_REASON
    assert {o.status for o in statuses(engine, job_id).values()} == {"pending"}
    # a run built after the signal starts stopped
    assert RunControl(process_stop=process_stop).halted == SIGNAL_REASON


def test_the_gate_reads_no_database(engine: Engine, org: OrgFixture) -> None:
    ids = [make_object(engine, org).id for _ in range(20)]
    job_id = new_job(engine, org, ids)
    fake = FakeObjects(engine, job_id)
    s = scheduler(engine, job_id, fake, concurrency=4)
    reads: list[float] = []
    read_job = s._read_job

    def counted() -> jobs_repo.Job:
        reads.append(time.monotonic())
        return read_job()

    s._read_job = counted  # type: ignore[method-assign]
    started = time.monotonic()
    asyncio.run(run(s))
    seconds = time.monotonic() - started
    # one read to start, one at the end, and the watcher's once a second
    assert len(reads) <= 2 + int(seconds)
    assert job_row(engine, job_id).processed_objects == 20
