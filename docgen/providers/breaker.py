"""A circuit breaker for one endpoint: a few connection failures in a row (confirmed with
plain TCP connects) and every later call of the run fails at once with ProviderDown."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

from docgen.errors import ProviderDown
from docgen.redact import one_line

#: consecutive connection failures after which the endpoint counts as down
BREAKER_THRESHOLD = 3
#: seconds to wait for a TCP connection (an unreachable host fails fast, a slow model not)
CONNECT_TIMEOUT = 5.0
#: seconds between the TCP connects that confirm a connection failure
CONFIRM_SECONDS = 0.25


class ConnectionBreaker:
    """Counts connection failures in a row across every call of one run; at `threshold`
    the endpoint counts as down and every later call fails at once with ProviderDown."""

    def __init__(self, url: str, threshold: int = BREAKER_THRESHOLD) -> None:
        self.url = url
        self.threshold = threshold
        self.failures = 0
        self.last_error = ""
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        return self.failures >= self.threshold

    def down(self, layer: str | None) -> ProviderDown:
        return ProviderDown(
            f"the endpoint {self.url} is unreachable ({self.failures} connection attempts failed "
            f"in a row: {self.last_error}); the job stops here and can run again "
            "(`docgen jobs run JOB`) once the endpoint is back",
            layer=layer,
        )

    def check(self, layer: str | None) -> None:
        if self.open:
            raise self.down(layer)

    def record(self, exc: Exception | None) -> bool:
        """Count a failure (exc) or reset on any answer (None); True once open.

        A failure is confirmed at once with plain TCP connects to the endpoint (no request,
        no tokens), a quarter second apart, up to the threshold: a server that is down
        stops the job in a second instead of after the task retries' backoff."""
        if exc is None:
            with self._lock:
                self.failures = 0
            return False
        cause = exc.__cause__
        with self._lock:
            self.last_error = one_line(str(cause) if cause else type(exc).__name__, 200)
            self.failures += 1
        while not self.open:
            time.sleep(CONFIRM_SECONDS)
            if self._reachable():
                return False
            with self._lock:
                self.failures += 1
        return True

    def _reachable(self) -> bool:
        parsed = urlsplit(self.url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            with socket.create_connection((parsed.hostname or "", port), CONNECT_TIMEOUT):
                return True
        except OSError:
            return False
