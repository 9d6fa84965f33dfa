"""Count what a measured job does per object, whatever the machine's load: Prefect API
requests by route, SQL statements by kind, threads started (by target).

    python -m benchmarks.calls --calls-out OUT.json --calls-module benchmarks.job \
        --fake-url URL --objects 24 ...

Runs the named job module's `main()` (benchmarks.job or benchmarks.bare) with counting hooks
on httpx, SQLAlchemy and threading, then writes the counts to OUT.json. The hooks only
observe (each wraps and calls the original).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import threading
from collections import Counter
from typing import Any

import httpx
import sqlalchemy as sa

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
requests: Counter[str] = Counter()
statements: Counter[str] = Counter()
threads: Counter[str] = Counter()
_lock = threading.Lock()


def _route(request: httpx.Request) -> str:
    path = _ID.sub("{id}", request.url.path)
    return f"{request.method} {request.url.host}:{request.url.port} {path}"


def _hooks() -> None:
    send_async = httpx.AsyncClient.send
    send_sync = httpx.Client.send

    async def counted_async(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> Any:
        with _lock:
            requests[_route(request)] += 1
        return await send_async(self, request, **kw)

    def counted_sync(self: httpx.Client, request: httpx.Request, **kw: Any) -> Any:
        with _lock:
            requests[_route(request)] += 1
        return send_sync(self, request, **kw)

    httpx.AsyncClient.send = counted_async  # type: ignore[method-assign]
    httpx.Client.send = counted_sync  # type: ignore[method-assign]

    @sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
    def count_sql(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        words = " ".join(statement.split()[:4])
        table = re.search(r"(?:FROM|INTO|UPDATE)\s+([\w.\"]+)", statement, re.I)
        key = f"{words.split()[0].upper() if words else '?'} {table.group(1) if table else ''}"
        with _lock:
            statements[key.strip()] += 1

    start = threading.Thread.start

    def counted_start(self: threading.Thread) -> None:
        target = getattr(self, "_target", None)
        name = getattr(target, "__qualname__", type(self).__name__)
        with _lock:
            threads[f"{getattr(target, '__module__', '')}.{name}"] += 1
        start(self)

    threading.Thread.start = counted_start  # type: ignore[method-assign]


def _snapshot() -> dict[str, Any]:
    with _lock:
        return {
            "requests": dict(requests.most_common()),
            "sql": dict(statements.most_common()),
            "threads": dict(threads.most_common()),
        }


class _Markers:
    """stderr, resetting the counts at the job's RUN_START line and keeping them at RUN_END
    (so set-up and seeding are left out)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.counted: dict[str, Any] | None = None

    def write(self, text: str) -> int:
        from benchmarks.job import RUN_END, RUN_START

        if RUN_START in text and self.counted is None:
            with _lock:
                for counter in (requests, statements, threads):
                    counter.clear()
        elif RUN_END in text and self.counted is None:
            self.counted = _snapshot()
        return int(self.stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def main() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--calls-out", required=True)
    parser.add_argument("--calls-module", default="benchmarks.job")
    ours, rest = parser.parse_known_args()
    out, module = ours.calls_out, ours.calls_module
    sys.argv = [module, *rest]
    _hooks()
    markers = _Markers(sys.stderr)
    sys.stderr = markers
    try:
        importlib.import_module(module).main()
    finally:
        with open(out, "w") as f:
            json.dump(markers.counted or _snapshot(), f, indent=2)


if __name__ == "__main__":
    main()
