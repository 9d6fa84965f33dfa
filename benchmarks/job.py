"""One measured job, in its own process (Prefect reads its settings at import).

    python -m benchmarks.job --fake-url URL --objects 64 --concurrency 8 [--runs 2]

The environment says where docgen's database and Prefect's API are. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
import urllib.request
import uuid
from typing import Any

from benchmarks.seed import seed_objects
from docgen import crypto, jobs
from docgen.db import orgs
from docgen.db.engine import get_engine, transaction
from docgen.jobs import JobOptions

#: lines on stderr around each job run, for the parent's CPU sampling
RUN_START = "@@docgen-bench-run-start"
RUN_END = "@@docgen-bench-run-end"


def fake_admin(fake_url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    base = fake_url.removesuffix("/v1")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{base}/_admin/{path}",
        data=data,
        method="POST" if data else "GET",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def create_org(engine: Any, base_url: str, **limits: Any) -> tuple[Any, Any]:
    """A new organization on the OpenAI provider at `base_url` (limits: requests_per_minute,
    tokens_per_minute, max_concurrent_requests), with an admin: (organization, admin)."""
    with transaction(engine) as conn:
        organization = orgs.create_organization(conn, f"bench-{uuid.uuid4().hex[:8]}")
        admin = orgs.add_user(conn, organization.id, f"bench-{uuid.uuid4().hex[:8]}@x.io", "admin")
        orgs.set_provider(conn, organization.id, "openai", base_url=base_url, **limits)
        orgs.set_api_key(conn, organization.id, "sk-bench-000000000000", crypto.load_master_key())
    return organization, admin


def warm_imports() -> None:
    """Load the modules a job run loads on first use (the openai SDK, sqlglot, pandas for
    the summary tables) before the clock starts, as benchmarks.bare loads the SDK at import:
    both shapes are timed with their code loaded (about 1 s of imports otherwise counted in
    docgen's first run only)."""
    import sqlglot.dialects

    import docgen.grounding
    import docgen.providers.openai_compat
    import docgen.render.summary

    del docgen, sqlglot


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fake-url", required=True)
    parser.add_argument("--objects", type=int, default=0)
    parser.add_argument(
        "--example", action="store_true", help="document examples/jaffle_shop, not seeded objects"
    )
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rpm", type=int)
    parser.add_argument("--tpm", type=int)
    parser.add_argument("--server-rpm", type=int)
    parser.add_argument("--server-tpm", type=int)
    parser.add_argument("--runs", type=int, default=1, help="run the same objects again")
    parser.add_argument("--skip-existing", action="store_true", help="for runs after the first")
    parser.add_argument("--max-retries", type=int, default=5)
    parser.add_argument("--profile", help="write a cProfile of the job runs to this file")
    parser.add_argument(
        "--base-url", help="the organization's endpoint (default: the fake server), e.g. down"
    )
    parser.add_argument(
        "--resume-with-fake",
        action="store_true",
        help="after the runs, point the organization at the fake server and run the last job "
        "again (an endpoint that came back)",
    )
    parser.add_argument("--max-concurrent-requests", type=int)
    parser.add_argument(
        "--regenerate-all",
        action="store_true",
        help="call the LLM for every layer (no cached layer results from earlier scenarios)",
    )
    parser.add_argument(
        "--one-call", action="store_true", help="the lean option: one call per object"
    )
    parser.add_argument("--behaviour", help="JSON of the fake server's Behaviour fields")
    parser.add_argument(
        "--grounding-stats",
        action="store_true",
        help="report the grounding check's figures per job (from the per-layer logs)",
    )
    parser.add_argument(
        "--nightly-after",
        action="store_true",
        help="after the runs, run nightly-redocumentation and measure it",
    )
    parser.add_argument(
        "--prefix-stats",
        action="store_true",
        help="report the prompt prefix the six calls of each object share",
    )
    args = parser.parse_args()

    from flows.documentation_job import documentation_job

    warm_imports()
    engine = get_engine()
    organization, admin = create_org(
        engine,
        args.base_url or args.fake_url,
        requests_per_minute=args.rpm,
        tokens_per_minute=args.tpm,
        max_concurrent_requests=args.max_concurrent_requests,
    )
    started = time.perf_counter()
    if args.example:
        from docgen.db.objects import list_objects
        from docgen.ingest import ingest_source
        from docgen.resources import examples_dir

        ingest_source(engine, organization.id, "dbt", examples_dir() / "jaffle_shop")
        with transaction(engine) as conn:
            ids = [o.id for o in list_objects(conn, organization.id)]
        args.objects = len(ids)
    else:
        ids = seed_objects(engine, organization.id, args.objects)
    seed_seconds = time.perf_counter() - started

    runs = []
    extra: dict[str, Any] = {}
    for run in range(args.runs):
        fake_admin(
            args.fake_url,
            "config",
            {
                "reset": True,
                "latency": args.latency,
                "rpm": args.server_rpm,
                "tpm": args.server_tpm,
                "behaviour": json.loads(args.behaviour) if args.behaviour else None,
            },
        )
        options = JobOptions(
            concurrency=args.concurrency,
            one_call=args.one_call,
            max_retries=args.max_retries,
            skip_existing=args.skip_existing and run > 0,
            regenerate_all=args.regenerate_all,
        )
        created = time.perf_counter()
        job = jobs.create_job(engine, organization.id, ids, options, triggered_by_user_id=admin.id)
        print(RUN_START, file=sys.stderr, flush=True)  # the parent samples other processes' CPU
        cpu_before = _cpu_seconds()
        flow_started = time.perf_counter()
        if args.profile:
            import cProfile

            with cProfile.Profile() as profile:
                asyncio.run(documentation_job(job_id=job.id, return_state=True))
            profile.dump_stats(args.profile)
        else:
            asyncio.run(documentation_job(job_id=job.id, return_state=True))
        finished = time.perf_counter()
        cpu_seconds = _cpu_seconds() - cpu_before
        print(RUN_END, file=sys.stderr, flush=True)
        with transaction(engine) as conn:
            from docgen.db import jobs as jobs_repo

            row = jobs_repo.get_job(conn, job.id)
        stats = fake_admin(args.fake_url, "stats")
        if args.grounding_stats:
            extra.setdefault("grounding", []).append(grounding_stats(engine, job.id))
        runs.append(
            {
                "create_seconds": round(flow_started - created, 3),
                "run_seconds": round(finished - flow_started, 3),
                "cpu_seconds": round(cpu_seconds, 3),
                "status": row.status,
                "processed": row.processed_objects,
                "failed": row.failed_objects,
                "layers_failed": row.layers_failed,
                "skipped": row.skipped_objects,
                "prompt_tokens": row.prompt_tokens_used,
                "completion_tokens": row.completion_tokens_used,
                "cost_usd": str(row.actual_cost),
                "estimated_cost_usd": str(row.estimated_cost),
                "llm_requests": stats["requests"],
                "statuses": stats["statuses"],
                "rejected_by_limits": stats["rejected_by_limits"],
                "server_usage": stats["usage"],
                "server_accepted_tokens": stats["accepted_tokens"],
                "server_busy_seconds": (stats["last_finished"] - stats["first_started"])
                if stats["first_started"] is not None
                else 0.0,
                "abandoned_requests": stats.get("abandoned_requests", 0),
                "abandoned_tokens": stats.get("abandoned_tokens", 0),
                "error_log": row.error_log[-1:] if row.error_log else [],
            }
        )
    if args.resume_with_fake:
        with transaction(engine) as conn:
            orgs.set_provider(conn, organization.id, "openai", base_url=args.fake_url)
        fake_admin(args.fake_url, "config", {"reset": True})
        started = time.perf_counter()
        asyncio.run(documentation_job(job_id=job.id, return_state=True))
        with transaction(engine) as conn:
            from docgen.db import jobs as jobs_repo

            row = jobs_repo.get_job(conn, job.id)
        extra["resumed"] = {
            "seconds": round(time.perf_counter() - started, 3),
            "status": row.status,
            "processed": row.processed_objects,
            "failed": row.failed_objects,
        }
    if args.nightly_after:
        from flows.nightly import nightly_redocumentation

        fake_admin(args.fake_url, "config", {"reset": True})
        started = time.perf_counter()
        results = asyncio.run(nightly_redocumentation(organization=str(organization.id)))
        extra["nightly"] = {
            "seconds": round(time.perf_counter() - started, 3),
            "stale_objects": results[0].stale_objects,
            "job_created": results[0].job_id is not None,
            "llm_requests": fake_admin(args.fake_url, "stats")["requests"],
        }
    if args.prefix_stats:
        extra["prefix"] = prefix_stats(engine, ids)
    print(
        json.dumps(
            {
                **extra,
                "objects": args.objects,
                "concurrency": args.concurrency,
                "latency": args.latency,
                "seed_seconds": round(seed_seconds, 3),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "runs": runs,
            }
        )
    )


def grounding_stats(engine: Any, job_id: Any) -> dict[str, Any]:
    """The grounding check over one job: layers checked, retried, items removed, layers
    that failed it (from metadata.documentation_generation_logs.grounding)."""
    import sqlalchemy as sa

    with transaction(engine) as conn:
        rows = conn.execute(
            sa.text(
                "SELECT grounding FROM metadata.documentation_generation_logs"
                " WHERE job_id = :j AND grounding IS NOT NULL"
            ),
            {"j": job_id},
        ).scalars()
        checks = list(rows)
    return {
        "layers_checked": len(checks),
        "layers_retried": sum(1 for c in checks if c.get("retried")),
        "items_removed": sum(int(c.get("removed", 0)) for c in checks),
        "layers_failed_check": sum(1 for c in checks if c.get("status") == "failed"),
        "example_copies": sum(int(c.get("example_copies", 0)) for c in checks),
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def prefix_stats(engine: Any, ids: list[Any]) -> dict[str, Any]:
    """Input tokens of the six calls per object, and the share in the prefix they all share
    (response schema + system message + object context: everything but the instruction)."""
    from docgen.context import load_contexts
    from docgen.layers import LAYER_NAMES, envelope_schema
    from docgen.pricing import estimate_tokens
    from docgen.prompts import build_messages

    schema = estimate_tokens(json.dumps(envelope_schema()))
    with transaction(engine) as conn:
        contexts = load_contexts(conn, ids)
    shared_total = input_total = 0
    for ctx in contexts.values():
        calls = [build_messages(ctx, layer) for layer in LAYER_NAMES]
        shared = schema + sum(estimate_tokens(m["content"]) for m in calls[0][:2])
        for messages in calls:
            input_total += schema + sum(estimate_tokens(m["content"]) for m in messages)
            shared_total += shared
    return {
        "objects": len(contexts),
        "input_tokens_per_object": round(input_total / max(1, len(contexts))),
        "shared_prefix_share": round(shared_total / max(1, input_total), 4),
    }


if __name__ == "__main__":
    main()
