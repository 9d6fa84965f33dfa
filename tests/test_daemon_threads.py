"""Provider calls run on reused daemon workers (tasks.layers.DaemonThreads): no thread start
per call, and a cancelled await abandons its call at once without blocking later calls."""

from __future__ import annotations

import asyncio
import threading
import time

from tasks.layers import DaemonThreads, in_daemon_thread


def test_sequential_calls_reuse_one_worker() -> None:
    pool = DaemonThreads("test")
    done = threading.Event()
    seen: set[str] = set()

    def call() -> None:
        seen.add(threading.current_thread().name)
        done.set()

    for _ in range(20):
        done.clear()
        pool.submit(call)
        assert done.wait(5)
        time.sleep(0.01)  # the worker is back in the queue before the next call
    assert pool.started == 1
    assert len(seen) == 1


def test_a_cancelled_call_is_abandoned_and_the_next_one_runs() -> None:
    release = threading.Event()

    async def scenario() -> tuple[float, str]:
        stuck = asyncio.create_task(in_daemon_thread(release.wait, 30))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        stuck.cancel()
        try:
            await stuck
        except asyncio.CancelledError:
            pass
        waited = time.monotonic() - started
        answer = await asyncio.wait_for(in_daemon_thread(lambda: "next"), 5)
        return waited, answer

    waited, answer = asyncio.run(scenario())
    release.set()
    assert waited < 1.0
    assert answer == "next"
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("docgen-call"))
