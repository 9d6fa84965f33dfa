"""Headless Chromium for tests, driven over the DevTools protocol (websockets, no extra
downloads): open file:// pages, evaluate JavaScript in them, take screenshots.

Chromium is Debian's package. `find_chromium()` installs it with scripts/ensure-chromium
when it is missing (CI runs as root on a fresh machine) and fails the test when that is
impossible; only DOCGEN_TEST_BROWSER=skip turns the failure into a skip, on purpose.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

REPO_ROOT = Path(__file__).resolve().parent.parent
ENSURE = REPO_ROOT / "scripts" / "ensure-chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


def _which() -> str | None:
    explicit = os.environ.get("DOCGEN_TEST_CHROMIUM")
    if explicit:
        return explicit
    return next((p for name in ("chromium", "chromium-browser") if (p := shutil.which(name))), None)


def find_chromium() -> str:
    """The Chromium binary, installed through scripts/ensure-chromium if missing."""
    found = _which()
    if found:
        return found
    if os.environ.get("DOCGEN_TEST_BROWSER") == "skip":
        pytest.skip("DOCGEN_TEST_BROWSER=skip: Chromium is not installed and may stay so")
    result = subprocess.run(
        [str(ENSURE)], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900
    )
    found = _which()
    if not found:
        pytest.fail(
            "Chromium is missing and scripts/ensure-chromium could not install it "
            f"(exit {result.returncode}: {result.stderr.strip()[-300:]}); install Debian's "
            "chromium, or set DOCGEN_TEST_BROWSER=skip to skip the browser tests knowingly"
        )
    return found


class Browser:
    """One headless Chromium with one page, controlled through a flattened CDP session."""

    def __init__(self, binary: str) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="docgen-chromium-"))
        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.ws: ClientConnection = connect(self._endpoint(), max_size=None, open_timeout=20)
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.send(domain, session=True)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def _endpoint(self) -> str:
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            if port_file.exists():
                lines = port_file.read_text().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port within 30 s")

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = False
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv(timeout=30))
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _wait_event(self, method: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(index)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.events.append(json.loads(self.ws.recv(timeout=remaining)))

    def open(self, path: Path) -> None:
        """Navigate to a local file and wait for its load event (scripts and images done)."""
        self.events.clear()
        result = self.send("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
        if result.get("errorText"):
            raise RuntimeError(f"cannot open {path}: {result['errorText']}")
        self._wait_event("Page.loadEventFired")

    def eval(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} raised {result['exceptionDetails']}")
        return result["result"].get("value")

    def console_errors(self) -> list[str]:
        """Script errors, console errors and CSP violations reported since the last open()."""
        self.eval("0")  # let pending events arrive
        texts = []
        for event in self.events:
            if event.get("method") == "Log.entryAdded":
                entry = event["params"]["entry"]
                if entry.get("level") == "error" or entry.get("source") == "security":
                    texts.append(f"{entry.get('source')}: {entry.get('text')}"[:300])
            if event.get("method") == "Runtime.exceptionThrown":
                texts.append(json.dumps(event["params"]["exceptionDetails"])[:300])
            if event.get("method") == "Runtime.consoleAPICalled":
                if event["params"].get("type") == "error":
                    texts.append(json.dumps(event["params"]["args"])[:300])
        return texts

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (not just the viewport)."""
        height = int(self.eval("document.documentElement.scrollHeight"))
        shot = self.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": 1280, "height": min(height, 8000), "scale": 1},
            },
            session=True,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def screenshot_element(self, selector: str, path: Path, pad: int = 8) -> Path:
        """A PNG of one element of the page (its bounding box plus `pad` pixels)."""
        box = self.eval(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.left + window.scrollX, r.top + window.scrollY,"
            " r.width, r.height]; })()"
        )
        x, y, width, height = (float(v) for v in box)
        clip = {
            "x": max(0.0, x - pad),
            "y": max(0.0, y - pad),
            "width": width + 2 * pad,
            "height": height + 2 * pad,
            "scale": 1,
        }
        shot = self.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
            session=True,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.ws.close()
        finally:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            shutil.rmtree(self.profile, ignore_errors=True)
