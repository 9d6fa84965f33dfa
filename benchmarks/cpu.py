"""CPU seconds of the processes a benchmark run involves (psutil)."""

from __future__ import annotations

import psutil
import psycopg


def tree_cpu(root: psutil.Process) -> float:
    """CPU seconds of a process, its reaped children and its live descendants."""
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            t = process.cpu_times()
        except psutil.Error:  # exited between listing and reading
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def postmaster(url: str) -> psutil.Process:
    """The PostgreSQL server process behind `url` (the parent of our backend)."""
    with psycopg.connect(url) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        return psutil.Process(psutil.Process(backend).ppid())
