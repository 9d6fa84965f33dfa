"""What a person at a terminal sees of a run started by the CLI (default verbosity).

Prefect's engine reports every failed task and subflow at ERROR, often with a traceback,
while the job flow already says what failed in one line per object ("object X failed:
...", a warning) and the job row keeps the errors. `quiet_engine_logs()` drops the engine's
copies from the console only: the Prefect API (the UI's logs) still gets everything, and
`--verbose` shows it all.
"""

from __future__ import annotations

import logging

#: loggers whose records at or above the level are the engine's, not docgen's
_ENGINE_ONLY = {"prefect.task_runs": logging.DEBUG, "prefect.flow_runs": logging.ERROR}


class _EngineNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        level = _ENGINE_ONLY.get(record.name)
        return level is None or record.levelno < level


def quiet_engine_logs() -> None:
    """Keep Prefect's task/subflow failure reports (and their tracebacks) off the console:
    the root logger's handlers (the CLI's stderr) and Prefect's own console handlers; the
    API handler that feeds the Prefect UI is left alone."""
    from prefect.logging.handlers import PrefectConsoleHandler

    handlers = list(logging.getLogger().handlers)
    for name in ("prefect", *_ENGINE_ONLY):
        handlers += [
            h for h in logging.getLogger(name).handlers if isinstance(h, PrefectConsoleHandler)
        ]
    for handler in handlers:
        if not any(isinstance(f, _EngineNoise) for f in handler.filters):
            handler.addFilter(_EngineNoise())
