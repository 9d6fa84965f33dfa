"""A provider that makes docgen wait: Retry-After is capped, and cancel or SIGTERM end the
runner within seconds whatever it is waiting on (issue 13, item 4).

The runner is `docgen jobs run JOB` as a real process, like a user's; the fake server scripts
the wait. Upper bounds on how long the process lives are generous (an outcome, not a
benchmark): before the fix the runner was alive 13 minutes after SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from uuid import UUID

import pytest
from sqlalchemy.engine import Engine

from docgen.db import documentation
from docgen.db import jobs as jobs_repo
from docgen.db.engine import transaction
from tests.conftest import OrgFixture, run_cli, use_openai
from tests.factories import cli_env, job_row, new_job, start_cli
from tests.fake_openai import FakeOpenAI, Fault

pytestmark = pytest.mark.prefect

#: how long a stopped runner may take to exit (start-up of Prefect in the child included)
EXIT_WITHIN = 20.0


def start_runner(job_id: UUID, env: dict[str, str], **extra: str) -> subprocess.Popen[str]:
    return start_cli(
        "jobs", "run", str(job_id), env=cli_env(env, **extra), stdout=subprocess.PIPE, text=True
    )


def wait_for(condition: Callable[[], bool], child: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if child.poll() is not None:
            out, err = child.communicate()
            pytest.fail(f"runner ended before {what}: {err[-2000:]}")
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.1)


def nothing_stored(engine: Engine, ids: list[UUID]) -> bool:
    with transaction(engine) as conn:
        return all(documentation.current(conn, i) is None for i in ids)


def test_retry_after_over_the_cap_pauses_the_job_with_the_reason(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: str,
) -> None:
    use_openai(engine, org, fake_openai)
    job_id, ids = new_job(engine, org, 2)
    fake_openai.add_rule(lambda body: True, Fault.rate_limit(retry_after=100000))
    started = time.monotonic()
    run = run_cli("jobs", "run", str(job_id), env={**env, "PREFECT_API_URL": prefect_harness})
    took = time.monotonic() - started
    job = job_row(engine, job_id)
    assert job.status == "paused", run.stderr[-2000:]
    assert run.returncode == 4  # the CLI's exit code for paused
    reason = job.error_log[-1].get("reason", "")
    assert "100,000 s" in reason and "DOCGEN_LLM_MAX_RETRY_AFTER_SECONDS=300" in reason
    assert "paused" in run.stdout and "100,000 s" in run.stdout
    assert len(fake_openai.completions) == 1, "no second call into a 27-hour wait"
    assert job.processed_objects == 0 and nothing_stored(engine, ids)
    assert took < 60


def test_a_paused_job_resumes_once_the_wait_is_over(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: str,
) -> None:
    child_env = {**env, "PREFECT_API_URL": prefect_harness}
    use_openai(engine, org, fake_openai)
    job_id, ids = new_job(engine, org, 1)
    fake_openai.enqueue(Fault.rate_limit(retry_after=3))
    run = run_cli(
        "jobs", "run", str(job_id), env={**child_env, "DOCGEN_LLM_MAX_RETRY_AFTER_SECONDS": "1"}
    )
    assert job_row(engine, job_id).status == "paused", run.stderr[-2000:]
    time.sleep(3)
    resumed = run_cli("jobs", "resume", str(job_id), env=child_env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    job = job_row(engine, job_id)
    assert job.status == "completed" and job.processed_objects == 1
    assert not nothing_stored(engine, ids)


WAITS = {
    # a Retry-After under the cap: the runner sleeps in the organization's rate limiter
    "rate limiter": (Fault.rate_limit(retry_after=250), {}),
    # an answer that takes a minute: the runner waits inside the HTTP call
    "http call": (Fault.timeout(delay=90), {"DOCGEN_LLM_REQUEST_TIMEOUT": "120"}),
    # a 500, then a long backoff before the retry
    "retry backoff": (Fault.server_error(), {"DOCGEN_LLM_RETRY_BACKOFF_SECONDS": "200"}),
}


@pytest.mark.parametrize("waiting_on", list(WAITS))
@pytest.mark.parametrize("stop_with", ["docgen jobs cancel", "SIGTERM"])
def test_cancel_and_sigterm_end_the_runner_whatever_it_waits_on(
    engine: Engine,
    org: OrgFixture,
    env: dict[str, str],
    fake_openai: FakeOpenAI,
    prefect_harness: str,
    waiting_on: str,
    stop_with: str,
) -> None:
    fault, settings = WAITS[waiting_on]
    use_openai(engine, org, fake_openai)
    job_id, ids = new_job(engine, org, 2)
    fake_openai.add_rule(lambda body: True, fault)
    child = start_runner(job_id, env, PREFECT_API_URL=prefect_harness, **settings)
    try:
        wait_for(lambda: len(fake_openai.completions) >= 1, child, "the first call")
        time.sleep(1.0)  # the runner is now waiting
        asked = time.monotonic()
        if stop_with == "SIGTERM":
            child.send_signal(signal.SIGTERM)
        else:
            cancel = run_cli("jobs", "cancel", str(job_id), env=env)
            assert cancel.returncode == 0, cancel.stderr
            asked = time.monotonic()
        out, err = child.communicate(timeout=EXIT_WITHIN + 40)
        lived = time.monotonic() - asked
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert lived < EXIT_WITHIN, f"the runner lived {lived:.0f} s after {stop_with}"
    job = job_row(engine, job_id)
    assert nothing_stored(engine, ids), "nothing half-done was stored"
    assert job.processed_objects == 0
    with transaction(engine) as conn:
        states = {o.status for o in jobs_repo.job_objects(conn, job_id)}
    assert states == {"pending"}, "interrupted objects were given back"
    if stop_with == "SIGTERM":
        assert child.returncode != 0
        assert job.status == "paused", (job.error_log, err[-3000:])  # resumable
        assert "SIGTERM" in job.error_log[-1].get("reason", "")
        assert child.returncode == 143 and "docgen jobs resume" in err
        assert "Traceback" not in err, err[-3000:]
    else:
        assert job.status == "cancelled"
        assert child.returncode == 5, err[-2000:]  # the CLI's exit code for cancelled
