"""A client-side limiter that keeps an organization's calls within its RPM and TPM.

Both limits are token buckets refilled continuously (a full minute's allowance at most), the
way OpenAI meters them; a request costs 1 request and its estimated prompt tokens plus its
max completion tokens (what OpenAI counts against TPM when the request arrives). A 429's
Retry-After pauses every caller of the organization until it has passed (`penalize`), so
concurrent tasks back off together instead of each finding the limit on its own.

A wait is never blind: `acquire` takes the run's stop event (set on cancel or SIGTERM) and
raises JobInterrupted as soon as it is set, and a Retry-After pause longer than the caller's
`max_wait` (DOCGEN_LLM_MAX_RETRY_AFTER_SECONDS) raises WaitTooLong at once instead of
sleeping: the job pauses with that reason.

It aims at 95% of the configured limits (HEADROOM). A job's run owns one limiter, shared by
every object of the run (flows/runtime.py builds it with the run's service); there is no
process-wide registry. Runs that overlap (two jobs of one organization at once, or several
worker processes) each apply the whole limit; give each a share with `--rpm/--tpm` if they
run at the same time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from docgen.errors import JobInterrupted, RateLimited, WaitTooLong

#: share of the configured limits the limiter aims for: requests reach the server a few
#: milliseconds after they leave the bucket, unevenly, so a limiter running at exactly the
#: server's rate would see an occasional 429 from that jitter alone
HEADROOM = 0.95


class RateLimiter:
    def __init__(
        self,
        requests_per_minute: int | None,
        tokens_per_minute: int | None,
        *,
        headroom: float = HEADROOM,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = (requests_per_minute, tokens_per_minute)
        self.rpm = requests_per_minute * headroom if requests_per_minute else None
        self.tpm = tokens_per_minute * headroom if tokens_per_minute else None
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        now = clock()
        self._requests = float(requests_per_minute or 0)
        self._tokens = float(tokens_per_minute or 0)
        self._updated = now
        self._paused_until = 0.0
        self.waited = 0.0  # total seconds callers spent waiting (for benchmarks)

    @property
    def enabled(self) -> bool:
        """True when there is a limit to keep, or a Retry-After pause to honour."""
        return bool(self.rpm or self.tpm or self._paused_until)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        if self.rpm:
            self._requests = min(float(self.rpm), self._requests + elapsed * self.rpm / 60.0)
        if self.tpm:
            self._tokens = min(float(self.tpm), self._tokens + elapsed * self.tpm / 60.0)

    def acquire(
        self,
        tokens: int,
        *,
        stop: threading.Event | None = None,
        max_wait: float | None = None,
    ) -> float:
        """Block until one request of `tokens` fits; return the seconds waited.

        Raises JobInterrupted when `stop` is set while waiting, and WaitTooLong when a
        Retry-After pause still has more than `max_wait` seconds to run.
        """
        if not self.enabled and self._paused_until == 0.0:
            return 0.0
        # a request bigger than the bucket waits for a full one
        need = float(min(tokens, self.tpm)) if self.tpm else float(tokens)
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                wait = max(0.0, self._paused_until - now)
                if max_wait is not None and wait > max_wait:
                    raise too_long(wait, max_wait)
                if wait == 0.0:
                    short_requests = (1 - self._requests) if self.rpm else 0.0
                    short_tokens = (need - self._tokens) if self.tpm else 0.0
                    if short_requests <= 0 and short_tokens <= 0:
                        if self.rpm:
                            self._requests -= 1
                        if self.tpm:
                            self._tokens -= need
                        self.waited += waited
                        return waited
                    wait = max(
                        short_requests * 60.0 / self.rpm if self.rpm and short_requests > 0 else 0,
                        short_tokens * 60.0 / self.tpm if self.tpm and short_tokens > 0 else 0,
                    )
            wait = min(max(wait, 0.005), 5.0)
            if stop is not None:
                if stop.wait(wait):
                    raise JobInterrupted("the job stopped while waiting for the rate limit")
            else:
                self._sleep(wait)
            waited += wait

    def penalize(self, retry_after: float | None) -> None:
        """Pause every caller for `retry_after` seconds (the server's Retry-After)."""
        if not retry_after or retry_after <= 0:
            return
        with self._lock:
            until = self._clock() + retry_after
            self._paused_until = max(self._paused_until, until)
            # the server says we are over: spend the buckets so we ramp up again gently
            self._requests = min(self._requests, 0.0)
            self._tokens = min(self._tokens, 0.0)


def too_long(wait: float, max_wait: float, error: RateLimited | None = None) -> WaitTooLong:
    """The error that pauses a job instead of sleeping `wait` seconds."""
    detail = f" ({error})" if error is not None else ""
    return WaitTooLong(
        f"the provider asks to wait {wait:,.0f} s before the next call, more than "
        f"DOCGEN_LLM_MAX_RETRY_AFTER_SECONDS={max_wait:g}; the job pauses (resume it later "
        f"with `docgen jobs resume`){detail}",
        retry_after=wait,
        layer=error.layer if error is not None else None,
    )
