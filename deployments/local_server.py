"""A local `prefect server start` on a PostgreSQL database, as a subprocess.

`docgen serve` starts one on the embedded PostgreSQL when no PREFECT_API_URL is set (the
ephemeral server lives only as long as one flow run's process, and runs no scheduler); the
tests and benchmarks start one per session.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg

from docgen.database_url import async_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalPrefectServer:
    """`prefect server start` as a subprocess, its database a PostgreSQL URL (pg_trgm added)."""

    def __init__(self, database_url: str | None, home: Path, port: int | None = None) -> None:
        self.database_url = database_url
        self.home = home
        self.port = port or free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        #: the Prefect UI, served by the same process
        self.ui_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = home / "server.log"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            # the UI (served at / by the same process) calls this API from the browser;
            # Prefect's default is port 4200, not the port this server listens on
            "PREFECT_SERVER_UI_API_URL": self.api_url,
        }
        if self.database_url:  # else Prefect's SQLite database under PREFECT_HOME
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = async_url(self.database_url)
        env.pop("PREFECT_API_URL", None)
        return env

    def start(self, timeout: float = 120) -> None:
        if self.database_url:
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "w")  # noqa: SIM115 - the subprocess owns it
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prefect server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"prefect server not healthy: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if "prefect" in sys.modules:
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=5)  # send buffered logs before the server goes
            EventsWorker.drain_all(timeout=5)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
