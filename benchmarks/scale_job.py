"""One job shared by several runners, each in its own process (benchmarks.scale_out).

    python -m benchmarks.scale_job create --fake-url URL --objects 64 --concurrency 8
    python -m benchmarks.scale_job run --job-id ID

`create` makes an organization on the fake endpoint, seeds the objects and creates the job
through docgen.jobs, printing {"job_id": ...}. `run` runs the `documentation-job` flow on
that job (what a documentation-job/existing-job run does; a second one joins the first and
shares its objects) and prints one JSON line: wall-clock start and end of the flow run, its
CPU seconds, and the job's counts once it returned. The environment says where docgen's
database and Prefect's API are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from uuid import UUID

from benchmarks.job import create_org, fake_admin
from benchmarks.seed import seed_objects
from docgen import jobs
from docgen.db.engine import get_engine, transaction
from docgen.jobs import JobOptions


def create(fake_url: str, objects: int, concurrency: int, latency: float) -> None:
    engine = get_engine()
    organization, admin = create_org(engine, fake_url)
    ids = seed_objects(engine, organization.id, objects)
    fake_admin(fake_url, "config", {"reset": True, "latency": latency})
    job = jobs.create_job(
        engine,
        organization.id,
        ids,
        JobOptions(concurrency=concurrency),
        triggered_by_user_id=admin.id,
    )
    print(json.dumps({"job_id": str(job.id)}))


def run(job_id: UUID) -> None:
    from flows.documentation_job import documentation_job

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.time()
    asyncio.run(documentation_job(job_id=job_id, return_state=True))  # type: ignore[arg-type]
    finished = time.time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    from docgen.db import jobs as jobs_repo

    with transaction(get_engine()) as conn:
        row = jobs_repo.get_job(conn, job_id)
    print(
        json.dumps(
            {
                "started": started,
                "finished": finished,
                "cpu_seconds": round(usage.ru_utime + usage.ru_stime - cpu_before, 3),
                "status": row.status,
                "processed": row.processed_objects,
                "failed": row.failed_objects,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["create", "run"])
    parser.add_argument("--fake-url")
    parser.add_argument("--objects", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--job-id", type=UUID)
    args = parser.parse_args()
    if args.action == "create":
        if not args.fake_url:
            parser.error("create needs --fake-url")
        create(args.fake_url, args.objects, args.concurrency, args.latency)
    else:
        if args.job_id is None:
            parser.error("run needs --job-id")
        run(args.job_id)


if __name__ == "__main__":
    main()
