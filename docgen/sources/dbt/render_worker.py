"""Rendering a dbt project's Jinja in child processes, bounded in time and memory.

A project's templates are untrusted code. They run in `python -m
docgen.sources.dbt.render_worker`, started with an environment that holds no secret (only
PYTHONPATH; the `DBT_*` values `env_var()` may read travel in the request) and that limits
itself before reading anything: address space (`RLIMIT_AS`), no file writes
(`RLIMIT_FSIZE` 0), no new processes (`RLIMIT_NPROC` 0), no new file descriptors
(`RLIMIT_NOFILE`). The parent speaks JSON lines with it (never pickle: a child's answer is
data), gives each macro file and each model a deadline, kills a child that misses one or
dies, names the file in a warning and starts a fresh child for the rest. After
`max_failures` such files the remaining models are left unrendered with one warning.

    parent -> {"op": "init", "spec": {...}, "macro_files": [{"package", "path", "text"}]}
    child  -> {"op": "progress", "index": i} ... {"op": "ready", "errors": [[i, message]]}
    parent -> {"op": "render", "request": {...}}      child -> {"op": "result", ...}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

from docgen.sources.dbt.sandbox import MAX_RENDERED

#: the most a child may print for one answer before it is treated as broken
_MAX_LINE = 4 * MAX_RENDERED + 1_000_000


@dataclass(frozen=True)
class RenderLimits:
    """Bounds on rendering one project (docgen.config.DbtRenderSettings gives the defaults)."""

    timeout_seconds: float = 10.0
    memory_mb: int = 1024
    workers: int = 2
    max_failures: int = 5


# --- the child ------------------------------------------------------------------------------


def _limit_self(memory_mb: int) -> None:
    import resource

    def cap(kind: int, value: int) -> None:
        try:
            soft, hard = resource.getrlimit(kind)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):  # not permitted here: the other limits still hold
            pass

    cap(resource.RLIMIT_AS, memory_mb * 1024 * 1024)
    cap(resource.RLIMIT_FSIZE, 0)
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_NPROC, 0)
    cap(resource.RLIMIT_NOFILE, 3)


_WARM_UP = (
    "{% macro m(a) %}{{ return(a) }}{% endmacro %}{{ m(1) }}{% do [].append(1) %}"
    "{% for i in range(2) %}{{ loop.index }}{% break %}{% endfor %}{{ '%s' | format(1) }}"
    "{{ 'a' | upper }}{{ modules.datetime.datetime.now().strftime('%Y') }}"
    "{{ modules.datetime.datetime.strptime('2024', '%Y') }}{{ modules.re.sub('a', 'b', 'a') }}"
    "{{ tojson([1]) }}{{ fromjson('[1]') }}{{ fromyaml('a: 1') }}{{ toyaml({'a': 1}) }}"
    "{{ local_md5('x') }}{{ ref('x') }}{{ source('a', 'b') }}{{ config(x=1) }}{{ nope() }}"
    "{{ '{}'.format(1) }}{{ adapter.quote('x') }}{{ 'é' | lower | title }}"
)


def _preload() -> None:
    """Import now what templates may need later, before file descriptors are capped."""
    import _strptime  # noqa: F401 - datetime.strptime imports it lazily
    import unicodedata  # noqa: F401

    from docgen.sources.dbt.sandbox import ModelRequest, Renderer

    spec = {"project": "warm_up", "run_started_at": "2024-01-01T00:00:00+00:00"}
    renderer = Renderer(spec)
    renderer.load_macro_file("warm_up", "{% macro w() %}{{ return(1) }}{% endmacro %}")
    renderer.finish_macros()
    renderer.render(
        ModelRequest(name="w", text=_WARM_UP + "{{ w() }}", package="warm_up", config={})
    )
    renderer.render(ModelRequest(name="w", text="{% if %}", package="warm_up", config={}))

    try:
        import pytz
    except ImportError:  # pragma: no cover
        return
    for name in ("UTC", "US/Eastern", "US/Pacific", "US/Central", "Europe/London"):
        pytz.timezone(name)
    for name in pytz.common_timezones:
        pytz.timezone(name)


def main() -> None:
    """The child's loop: init, then one answer per render request, until stdin closes."""
    from docgen.sources.dbt.sandbox import ModelRequest, Renderer

    memory_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    _preload()
    _limit_self(memory_mb)
    out = sys.stdout

    def send(message: dict[str, Any]) -> None:
        out.write(json.dumps(message, default=str) + "\n")
        out.flush()

    renderer: Renderer | None = None
    for line in sys.stdin:
        message = json.loads(line)
        if message["op"] == "init":
            renderer = Renderer(message["spec"])
            errors = []
            for index, item in enumerate(message["macro_files"]):
                send({"op": "progress", "index": index})
                try:
                    renderer.load_macro_file(item["package"], item["text"], item.get("path", ""))
                except MemoryError:
                    errors.append([index, "needs more memory than allowed"])
                except Exception as exc:  # noqa: BLE001 - the file's macros stay unknown
                    line_no = getattr(exc, "lineno", None)
                    where = f" at line {line_no}" if line_no else ""
                    text = " ".join(str(exc).split())[:200]
                    errors.append([index, f"{type(exc).__name__}{where}: {text}"])
            renderer.finish_macros()
            send({"op": "ready", "errors": errors})
        elif message["op"] == "render" and renderer is not None:
            try:
                result = renderer.render(ModelRequest(**message["request"]))
            except MemoryError:
                result = {"sql": None, "error": "rendering needs more memory than allowed"}
            send({"op": "result", **result})


# --- the parent -----------------------------------------------------------------------------


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    phase: str = "loading"  # loading | idle | busy
    loading: int = -1
    key: str | None = None
    deadline: float = 0.0
    buffer: bytearray = field(default_factory=bytearray)
    reason: str | None = None

    def fileno(self) -> int:
        assert self.process.stdout is not None
        return self.process.stdout.fileno()

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message, default=str).encode() + b"\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class RenderPool:
    """Renders a project's models in bounded child processes.

    `warn(path, message)` receives one line per macro file or model that failed for a reason
    of its own (a syntax error, a time or memory limit)."""

    def __init__(
        self,
        spec: dict[str, Any],
        macro_files: list[dict[str, str]],
        limits: RenderLimits,
        warn: Callable[[str, str], None],
    ) -> None:
        self.spec = spec
        self.macro_files = macro_files
        self.limits = limits
        self.warn = warn
        self.bad_macros: set[int] = set()
        self.failures = 0
        self.start_failures = 0
        self.reported_macro_errors = False

    def _start(self) -> _Child:
        # where docgen and its libraries are; never the current folder (it may be the
        # untrusted project, holding a `jinja2.py` of its own)
        here = os.path.abspath(os.getcwd())
        home = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
        paths = [home] + [
            p for p in sys.path if p and os.path.isdir(p) and os.path.abspath(p) != here
        ]
        env = {
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)),
            "PATH": os.defpath,
            "LC_ALL": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", __name__, str(self.limits.memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
        child = _Child(process)
        files = [
            {**f, "text": ""} if i in self.bad_macros else f for i, f in enumerate(self.macro_files)
        ]
        child.deadline = time.monotonic() + self.limits.timeout_seconds + 5  # start-up
        try:
            child.send({"op": "init", "spec": self.spec, "macro_files": files})
        except OSError:
            pass  # it died at once: seen as end of output below
        return child

    def render_all(self, requests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Results by key; a request that failed has `sql` None and an `error`."""
        results: dict[str, dict[str, Any]] = {}
        queue = deque(requests)
        if not queue:
            return results
        # one child per 500 models at most: each compiles the macros it uses again
        count = max(1, min(self.limits.workers, 1 + len(queue) // 500))
        children = [self._start() for _ in range(count)]
        try:
            while queue or any(c.phase == "busy" for c in children):
                if self.failures >= self.limits.max_failures:
                    break
                for child in children:
                    if child.phase == "idle" and queue:
                        key = queue.popleft()
                        child.key, child.phase = key, "busy"
                        child.deadline = time.monotonic() + self.limits.timeout_seconds
                        try:
                            child.send({"op": "render", "request": requests[key]})
                        except OSError:
                            child.deadline = 0.0  # handled as a failure below
                active = [c for c in children if c.phase in ("loading", "busy")]
                if not active:
                    break
                timeout = max(0.0, min(c.deadline for c in active) - time.monotonic())
                by_fd = {c.fileno(): c for c in active}
                for fd in wait(list(by_fd), timeout):
                    self._read(by_fd[fd], results)  # type: ignore[index]
                now = time.monotonic()
                for index, child in enumerate(children):
                    if child.phase in ("loading", "busy") and now >= child.deadline:
                        children[index] = self._fail(
                            child, results, f"took longer than {self.limits.timeout_seconds:g} s"
                        )
        finally:
            for child in children:
                child.stop()
        if queue or self.failures >= self.limits.max_failures:
            left = [k for k in requests if k not in results]
            for key in left:
                results[key] = {"sql": None, "error": "not rendered: rendering stopped early"}
            if left:
                self.warn(
                    self.spec.get("project", "?"),
                    f"rendering stopped after {self.failures} files hit the time or memory "
                    f"limit; {len(left)} models kept as raw code",
                )
        return results

    def _read(self, child: _Child, results: dict[str, dict[str, Any]]) -> None:
        try:
            data = os.read(child.fileno(), 1 << 20)
        except OSError:
            data = b""
        if not data:
            self._replace(child, results, "the renderer stopped (memory limit or crash)")
            return
        child.buffer += data
        if len(child.buffer) > _MAX_LINE:
            self._replace(child, results, "printed more than the size limit")
            return
        while b"\n" in child.buffer:
            line, _, rest = child.buffer.partition(b"\n")
            child.buffer = bytearray(rest)
            try:
                message = json.loads(line)
            except ValueError:
                self._replace(child, results, "answered something that is not JSON")
                return
            self._handle(child, message, results)

    def _handle(
        self, child: _Child, message: dict[str, Any], results: dict[str, dict[str, Any]]
    ) -> None:
        op = message.get("op")
        if op == "progress" and child.phase == "loading":
            child.loading = int(message.get("index", -1))
            child.deadline = time.monotonic() + self.limits.timeout_seconds
        elif op == "ready" and child.phase == "loading":
            child.phase = "idle"
            if not self.reported_macro_errors:
                self.reported_macro_errors = True
                for index, text in message.get("errors") or []:
                    path = self.macro_files[int(index)]["path"]
                    self.warn(path, f"macros not loaded ({text})")
        elif op == "result" and child.phase == "busy" and child.key is not None:
            results[child.key] = message
            child.phase, child.key = "idle", None

    def _replace(self, child: _Child, results: dict[str, dict[str, Any]], reason: str) -> None:
        """Stand-in used while reading: the failed child is swapped at the next deadline."""
        child.deadline = 0.0
        child.buffer.clear()
        child.process.kill()
        child.reason = reason

    def _fail(self, child: _Child, results: dict[str, dict[str, Any]], reason: str) -> _Child:
        reason = child.reason or reason
        if child.phase == "loading" and child.loading < 0:
            self.start_failures += 1
            if self.start_failures >= 2:  # it cannot even start: no model gets rendered
                self.failures = self.limits.max_failures
                self.warn(self.spec.get("project", "?"), f"the renderer cannot start ({reason})")
        elif child.phase == "loading" and child.loading < len(self.macro_files):
            self.bad_macros.add(child.loading)
            self.warn(self.macro_files[child.loading]["path"], f"macros not loaded ({reason})")
        elif child.phase == "busy" and child.key is not None:
            self.failures += 1
            results[child.key] = {"sql": None, "error": reason, "limit": True}
        child.stop()
        return self._start()


if __name__ == "__main__":
    main()
