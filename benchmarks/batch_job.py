"""One batch-mode job, killed while it waits for its batch and resumed (issue 18).

    python -m benchmarks.batch_job --fake-url URL --objects 1000 --batch-delay 20

1. Seed OBJECTS objects and create a job with mode batch.
2. `docgen jobs run JOB` in a child process; once the batch is submitted and polled, the
   child is killed (SIGKILL) while it waits.
3. The batch finishes on the fake server (its delay passes); the same job runs again in this
   process: it must reattach to the batch (no second one), answer every layer from it
   (0 synchronous chat completions) and store every object exactly once.
Prints one JSON line with the figures. "Reattached, never submitted twice" is measured on
the fake's batch endpoints: the first batch the resumed run polls is the killed run's batch
(`resumed_run_first_polled_batch` = `killed_runs_batch_id`), and no JSONL line (custom_id
"OBJECT_ID:layer") was in more than one created batch (`batch_lines_submitted_twice` = 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal

import sqlalchemy as sa

from benchmarks.job import fake_admin
from benchmarks.seed import seed_objects
from docgen import batch_jobs, crypto, jobs
from docgen.db import jobs as jobs_repo
from docgen.db import orgs
from docgen.db.engine import get_engine, transaction
from docgen.jobs import JobOptions
from docgen.pricing import Usage, load_pricing


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fake-url", required=True)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-delay", type=float, default=20.0)
    args = parser.parse_args()

    from flows.documentation_job import documentation_job

    engine = get_engine()
    with transaction(engine) as conn:
        organization = orgs.create_organization(conn, f"bench-batch-{uuid.uuid4().hex[:8]}")
        admin = orgs.add_user(conn, organization.id, f"b-{uuid.uuid4().hex[:8]}@x.io", "admin")
        orgs.set_provider(conn, organization.id, "openai", base_url=args.fake_url)
        orgs.set_api_key(conn, organization.id, "sk-bench-000000000000", crypto.load_master_key())
    ids = seed_objects(engine, organization.id, args.objects)
    fake_admin(args.fake_url, "config", {"reset": True, "batch_delay": 3600})
    options = JobOptions(mode="batch", concurrency=args.concurrency)
    job = jobs.create_job(engine, organization.id, ids, options, triggered_by_user_id=admin.id)
    with transaction(engine) as conn:
        sync_estimate = sum(
            (e.cost_usd for e in jobs.estimate_objects(conn, organization.id, ids)), Decimal(0)
        )

    # 2. the first run submits the batch and is killed while it polls
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "docgen", "jobs", "run", str(job.id)],
        env={**os.environ, "DOCGEN_BATCH_POLL_SECONDS": "0.5"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    batch = None
    while time.perf_counter() - started < 600:
        with transaction(engine) as conn:
            batch = batch_jobs.get_job_batch(conn, job.id)
        if batch is not None and batch.batch_id:
            break
        time.sleep(0.2)
    submitted_seconds = time.perf_counter() - started
    time.sleep(2.0)  # a few polls
    child.send_signal(signal.SIGKILL)
    child.wait(60)
    assert batch is not None and batch.batch_id, "the batch was never submitted"

    # 3. the batch finishes; the job runs again and reattaches
    polls_before_resume = len(
        fake_admin(args.fake_url, "config", {"batch_delay": args.batch_delay})["batch_polls"]
    )
    resumed = time.perf_counter()
    os.environ["DOCGEN_BATCH_POLL_SECONDS"] = "1"
    asyncio.run(documentation_job(job_id=job.id, return_state=True))
    finished = time.perf_counter()
    stats = fake_admin(args.fake_url, "stats")
    resumed_polls = stats["batch_polls"][polls_before_resume:]
    with transaction(engine) as conn:
        row = jobs_repo.get_job(conn, job.id)
        final = batch_jobs.get_job_batch(conn, job.id)
        versions = conn.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT object_id) FROM metadata.object_documentation"
                " WHERE job_id = :j"
            ),
            {"j": job.id},
        ).one()
        logs = conn.execute(
            sa.text(
                "SELECT count(*) FROM metadata.documentation_generation_logs WHERE job_id = :j"
            ),
            {"j": job.id},
        ).scalar_one()
    usage = stats["usage"]
    full_price = load_pricing().cost(
        "gpt-4o",
        Usage(usage["prompt_tokens"], usage["completion_tokens"], usage["cached_tokens"]),
    )
    print(
        json.dumps(
            {
                "objects": args.objects,
                "batch_delay_seconds": args.batch_delay,
                "seconds_to_submit": round(submitted_seconds, 1),
                "seconds_after_resume": round(finished - resumed, 1),
                "status": row.status,
                "processed": row.processed_objects,
                "failed": row.failed_objects,
                "synchronous_chat_completions": stats["requests"],
                "batches_created": stats["batches_created"],
                "batch_lines_answered": stats["batch_lines_answered"],
                # measured at the fake's batch endpoints: the resumed run's first poll is
                # the killed run's batch, and no line went into two batches (batches_created
                # = waves, 2 for staging -> marts)
                "killed_runs_batch_id": batch.batch_id,
                "resumed_run_first_polled_batch": resumed_polls[0] if resumed_polls else None,
                "resumed_run_polled_the_killed_runs_batch": bool(resumed_polls)
                and resumed_polls[0] == batch.batch_id,
                "batch_lines_submitted": stats["batch_lines_submitted"],
                "batch_lines_submitted_twice": stats["batch_lines_submitted_twice"],
                "killed_runs_batch_kept_on_the_job": final is not None
                and batch.batch_id in [final.batch_id, *final.previous_batch_ids],
                "versions_stored": versions[0],
                "objects_with_a_version": versions[1],
                "log_rows": logs,
                "cost_usd": str(row.actual_cost),
                "same_tokens_at_list_price_usd": str(full_price.quantize(Decimal("0.000001"))),
                "estimated_cost_usd": str(row.estimated_cost),
                "sync_estimated_cost_usd": str(sync_estimate.quantize(Decimal("0.000001"))),
            }
        )
    )


if __name__ == "__main__":
    main()
