"""Database work of the flows, off the event loop.

The flows call core functions (docgen.object_run, docgen.jobs) through `run_db`, in a worker
thread, as plain calls: they are not Prefect tasks, so storing an object adds no task run
(a run record and its state events for the Prefect server) to the six layer tasks.
No retries here: a database error leaves the object claimed and unstored, and the job's
next run picks it up again.
"""

from __future__ import annotations

from typing import Any

import anyio


async def run_db(function: Any, *args: Any) -> Any:
    """Run a synchronous database call in a worker thread (not a task: no run record)."""
    return await anyio.to_thread.run_sync(function, *args)
