"""`python -m benchmarks [SCENARIO ...]`: measure docgen and write benchmarks/results.json
and benchmarks/RESULTS.md (figures, not pass/fail tests).

Each measured job runs in its own process (benchmarks/job.py) against the fake OpenAI server
(its own process too, so it does not share our GIL) and PostgreSQL: the embedded server in a
temporary DOCGEN_HOME, or the server at DOCGEN_BENCH_ADMIN_URL (a URL with rights to create
databases). Scenarios: see SCENARIOS below; with none named, all run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg

from benchmarks.cpu import postmaster as _postmaster
from benchmarks.cpu import tree_cpu as _tree_cpu
from benchmarks.job import RUN_END, RUN_START
from docgen.crypto import generate_master_key
from docgen.database_url import async_url
from docgen.db import embedded, migrate
from docgen.db.engine import create_engine, with_database

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results.json"
REPORT = HERE / "RESULTS.md"

MODES = {
    "server-pg": "local `prefect server` on PostgreSQL",
    "ephemeral-pg": "ephemeral Prefect server on the embedded PostgreSQL (docgen's default)",
    "ephemeral-sqlite": "ephemeral Prefect server on SQLite (Prefect's default)",
}


class Bench:
    """Databases, the fake OpenAI server and Prefect servers shared by the scenarios."""

    def __init__(self, work: Path) -> None:
        self.work = work
        admin = os.environ.get("DOCGEN_BENCH_ADMIN_URL")
        self.home = work / "home"
        if admin:
            self.admin_url = admin
        else:
            embedded.start(self.home)
            self.admin_url = embedded.server_uri(self.home, "postgres")
        self.master_key = generate_master_key()
        self.fake: subprocess.Popen[str] | None = None
        self.fake_url = ""
        self.servers: dict[str, Any] = {}
        #: objects per run for the scenarios that take a size (--objects); 0: their default
        self.objects = 0

    def database(self, name: str, *, docgen: bool) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = with_database(self.admin_url, name)
        if docgen:
            engine = create_engine(url)
            migrate.upgrade(engine)
            engine.dispose()
        else:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        return url

    def start(self) -> None:
        self.docgen_url = self.database("docgen_bench", docgen=True)
        self.fake = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_openai"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.fake.stdout is not None
        self.fake_url = self.fake.stdout.readline().strip()

    def prefect_env(self, mode: str) -> dict[str, str]:
        env: dict[str, str] = {"PREFECT_HOME": str(self.work / f"prefect-{mode}")}
        if mode == "server-pg":
            if "server-pg" not in self.servers:
                from deployments.local_server import LocalPrefectServer

                server = LocalPrefectServer(
                    self.database("prefect_bench_server", docgen=False),
                    self.work / "prefect-server",
                )
                server.start()
                self.servers["server-pg"] = server
            env["PREFECT_API_URL"] = self.servers["server-pg"].api_url
        elif mode == "ephemeral-pg":
            url = self.database("prefect_bench_ephemeral", docgen=False)
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = async_url(url)
        return env

    def run_job(
        self,
        mode: str,
        cpu: CpuSplit | None = None,
        module: str = "benchmarks.job",
        **options: Any,
    ) -> dict[str, Any]:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
            "DOCGEN_DATABASE_URL": self.docgen_url,
            "DOCGEN_MASTER_KEY": self.master_key,
            "DOCGEN_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "ERROR",
            **self.prefect_env(mode),
        }
        args = [sys.executable, "-m", module, "--fake-url", self.fake_url]
        for key, value in options.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                args.append(flag)
            elif value not in (None, False):
                args += [flag, str(value)]
        started = time.perf_counter()
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        stderr: list[str] = []

        def read_stderr() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                if cpu is not None:
                    cpu.marker(line.strip())
                stderr.append(line)

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        assert process.stdout is not None
        stdout = process.stdout.read()  # not communicate(): it would read stderr too
        process.wait(timeout=3600)
        reader.join()
        if process.returncode != 0:
            tail = "".join(stderr)[-3000:]
            raise RuntimeError(f"benchmark job failed ({mode} {options}):\n{tail}")
        result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        result["process_seconds"] = round(time.perf_counter() - started, 2)
        result["mode"] = mode
        return result

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        if self.fake is not None:
            self.fake.terminate()
        if not os.environ.get("DOCGEN_BENCH_ADMIN_URL"):
            embedded.stop(self.home)


class CpuSplit:
    """Where a run's CPU went: the job process (docgen and the Prefect client), the Prefect
    server, PostgreSQL (docgen's and Prefect's databases) and the fake OpenAI server,
    sampled between the job's run markers (so process start-up is left out)."""

    def __init__(self, bench: Bench) -> None:
        bench.prefect_env("server-pg")  # the local server starts now, not inside the run
        self.roots: dict[str, list[psutil.Process]] = {
            "prefect_server": [
                psutil.Process(server.process.pid)
                for server in bench.servers.values()
                if server.process is not None
            ],
            "postgresql": [_postmaster(bench.admin_url)],
            "fake_openai": [psutil.Process(bench.fake.pid)] if bench.fake else [],
        }
        self.before: dict[str, float] | None = None
        self.seconds: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        return {name: sum(_tree_cpu(p) for p in roots) for name, roots in self.roots.items()}

    def marker(self, line: str) -> None:
        """Called with each stderr line of the job process; the first run is sampled."""
        if line == RUN_START and self.before is None:
            self.before = self._read()
        elif line == RUN_END and self.before is not None and not self.seconds:
            after = self._read()
            self.seconds = {name: after[name] - self.before[name] for name in after}

    def per_object_ms(self, run: dict[str, Any], objects: int) -> dict[str, Any]:
        seconds = {**self.seconds, "job_process": run["cpu_seconds"]}
        split = {name: round(v / objects * 1000, 1) for name, v in seconds.items()}
        total = sum(seconds.values())
        cores = os.cpu_count() or 1
        return {
            "cpu_ms_per_object": split,
            "cpu_ms_per_object_total": round(total / objects * 1000, 1),
            "cpu_utilisation": round(total / (run["run_seconds"] * cores), 2),
        }


# --- scenarios ------------------------------------------------------------------------------


def per_object_ms(run: dict[str, Any], objects: int) -> float:
    return round(run["run_seconds"] / objects * 1000, 1)


def scenario_overhead(bench: Bench) -> dict[str, Any]:
    """Per-object cost of the orchestration itself: zero-latency LLM, six layer tasks and a
    subflow per object, stored with its logs and counters, at concurrency 1 and 8."""
    rows = []
    for mode in ("server-pg", "ephemeral-pg", "ephemeral-sqlite"):
        for concurrency, objects in ((1, 24), (8, 64 if mode != "ephemeral-sqlite" else 32)):
            # elsewhere the Prefect server runs inside the job process: no split to take
            cpu = CpuSplit(bench) if mode == "server-pg" else None
            result = bench.run_job(mode, cpu=cpu, objects=objects, concurrency=concurrency)
            run = result["runs"][0]
            row = {
                "mode": mode,
                "concurrency": concurrency,
                "objects": objects,
                "ms_per_object": per_object_ms(run, objects),
                "objects_per_minute": round(objects / run["run_seconds"] * 60, 1),
                "failed": run["failed"],
                "status": run["status"],
            }
            if cpu is not None:
                row.update(cpu.per_object_ms(run, objects))
            rows.append(row)
    return {"rows": rows, "target": "<= 150 ms per object at concurrency 8 (2 cores)"}


def scenario_concurrency_speedup(bench: Bench) -> dict[str, Any]:
    """Issue 4: with a 0.2 s server delay, concurrency 8 against 1 (wall time per object)."""
    one = bench.run_job("server-pg", objects=8, concurrency=1, latency=0.2)["runs"][0]
    eight = bench.run_job("server-pg", objects=48, concurrency=8, latency=0.2)["runs"][0]
    speedup = (one["run_seconds"] / 8) / (eight["run_seconds"] / 48)
    return {
        "latency_seconds": 0.2,
        "concurrency_1": {
            "objects": 8,
            "seconds": one["run_seconds"],
            "ms_per_object": per_object_ms(one, 8),
        },
        "concurrency_8": {
            "objects": 48,
            "seconds": eight["run_seconds"],
            "ms_per_object": per_object_ms(eight, 48),
        },
        "speedup": round(speedup, 2),
        "target": ">= 4x",
    }


def scenario_latency_hiding(bench: Bench) -> dict[str, Any]:
    """0.5 s per LLM call: achieved against ideal throughput at concurrency 1, 4 and 16.
    Ideal: `concurrency` objects every 6 x 0.5 s (six sequential calls per object)."""
    rows = []
    for concurrency in (1, 4, 16):
        objects = 4 * concurrency
        cpu = CpuSplit(bench)
        run = bench.run_job(
            "server-pg", cpu=cpu, objects=objects, concurrency=concurrency, latency=0.5
        )["runs"][0]
        achieved = objects / run["run_seconds"]
        ideal = concurrency / (6 * 0.5)
        rows.append(
            {
                "concurrency": concurrency,
                "objects": objects,
                "seconds": run["run_seconds"],
                "objects_per_minute": round(achieved * 60, 1),
                "ideal_objects_per_minute": round(ideal * 60, 1),
                "share_of_ideal": round(achieved / ideal, 3),
                **cpu.per_object_ms(run, objects),
            }
        )
    return {"rows": rows, "target": ">= 85% of ideal at concurrency 16"}


def scenario_rate_limits(bench: Bench) -> dict[str, Any]:
    """A server enforcing RPM and TPM (OpenAI-style buckets, a minute's allowance), the org
    configured with the same limits, concurrency 8, no latency: how much of the binding
    limit is used, how many 429s, how many objects fail. The most the server can accept in
    T seconds is one minute's allowance plus T/60 of it."""
    rpm, tpm = 120, 300_000
    result = bench.run_job(
        "server-pg", objects=30, concurrency=8, rpm=rpm, tpm=tpm, server_rpm=rpm, server_tpm=tpm
    )
    run = result["runs"][0]
    seconds = run["server_busy_seconds"]
    requests = run["statuses"].get("200", 0)
    tokens = run["server_accepted_tokens"]
    request_share = requests / (rpm * (1 + seconds / 60))
    token_share = tokens / (tpm * (1 + seconds / 60))
    binding = "tokens" if token_share >= request_share else "requests"
    return {
        "rpm": rpm,
        "tpm": tpm,
        "objects": 30,
        "seconds": round(seconds, 1),
        "requests_accepted": requests,
        "tokens_accepted": tokens,
        "binding_limit": binding,
        "share_of_binding_limit": round(max(request_share, token_share), 3),
        "responses_429": run["statuses"].get("429", 0),
        "objects_failed": run["failed"],
        "status": run["status"],
        "target": ">= 90% of the binding limit, 0 failed objects",
    }


def scenario_incremental(bench: Bench) -> dict[str, Any]:
    """1,000 objects documented once, then run again unchanged: with skip_existing (a job
    over all of them) and with nightly-redocumentation (which creates no job)."""
    result = bench.run_job(
        "server-pg", objects=1000, concurrency=8, runs=2, skip_existing=True, nightly_after=True
    )
    first, second = result["runs"]
    return {
        "objects": 1000,
        "first_run_seconds": first["run_seconds"],
        "rerun_skip_existing": {
            "llm_requests": second["llm_requests"],
            "seconds": round(second["create_seconds"] + second["run_seconds"], 2),
            "skipped": second["skipped"],
        },
        "nightly": result["nightly"],
        "target": "0 LLM calls and <= 30 s for 1,000 unchanged objects",
    }


def scenario_tokens(bench: Bench) -> dict[str, Any]:
    """Prompt and completion tokens per object, and the share of input tokens in the prefix
    the six calls of an object share (what OpenAI's prompt cache can reuse)."""
    result = bench.run_job("server-pg", example=True, concurrency=4, prefix_stats=True)
    run = result["runs"][0]
    usage = run["server_usage"]
    count = result["objects"]
    return {
        "project": "examples/jaffle_shop",
        "objects": count,
        "prompt_tokens_per_object": round(run["prompt_tokens"] / count),
        "completion_tokens_per_object": round(run["completion_tokens"] / count),
        "cached_share_reported_by_server": round(
            usage["cached_tokens"] / max(1, usage["prompt_tokens"]), 3
        ),
        "shared_prefix_share": result["prefix"]["shared_prefix_share"],
        "cost_per_object_usd": round(float(run["cost_usd"]) / count, 5),
        "estimated_cost_per_object_usd": round(float(run["estimated_cost_usd"]) / count, 5),
        "target": "shared prefix >= 70% of input tokens",
    }


def scenario_memory(bench: Bench) -> dict[str, Any]:
    """Peak RSS of the process running a 10,000-object job (zero latency, concurrency 8)."""
    objects = int(os.environ.get("DOCGEN_BENCH_MEMORY_OBJECTS", "10000"))
    result = bench.run_job("server-pg", objects=objects, concurrency=8)
    run = result["runs"][0]
    return {
        "objects": objects,
        "peak_rss_mb": result["peak_rss_mb"],
        "seconds": run["run_seconds"],
        "status": run["status"],
        "processed": run["processed"],
        "target": "<= 500 MB",
    }


def scenario_unreachable_endpoint(bench: Bench) -> dict[str, Any]:
    """Issue 14: a 17-object job whose endpoint refuses connections stops within seconds
    (target < 15 s from the flow's start), naming the URL; once the endpoint is back the same
    job runs again to the end."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    run = bench.run_job(
        "server-pg",
        objects=17,
        concurrency=4,
        base_url=down,
        resume_with_fake=True,
        regenerate_all=True,
    )
    first = run["runs"][0]
    return {
        "objects": 17,
        "stopped_after_seconds": first["run_seconds"],
        "status": first["status"],
        "failed_objects": first["failed"],
        "error": (first["error_log"] or [{}])[-1].get("error"),
        "names_the_url": down in str(first["error_log"]),
        "resumed": run["resumed"],
    }


def scenario_local_model(bench: Bench) -> dict[str, Any]:
    """Issue 15: a single-slot local server writing 8 tokens/s (llama.cpp-like), the
    organization at max_concurrent_requests=1; the job runs 2 objects at a time. Reported:
    seconds per object and tokens the server computed for requests docgen had abandoned,
    with the default timeout and with a 10 s one (timeouts, then a wait for the drain)."""
    behaviour = json.dumps({"slots": 1, "tokens_per_second": 8})
    figures: dict[str, Any] = {}
    for label, timeout in (("default_timeout", None), ("timeout_10s", "10")):
        saved = os.environ.get("DOCGEN_LLM_REQUEST_TIMEOUT")
        if timeout:
            os.environ["DOCGEN_LLM_REQUEST_TIMEOUT"] = timeout
        try:
            run = bench.run_job(
                "server-pg",
                objects=2,
                concurrency=2,
                max_concurrent_requests=1,
                behaviour=behaviour,
                max_retries=2,
                grounding_stats=True,
                regenerate_all=True,
            )
        finally:
            if saved is None:
                os.environ.pop("DOCGEN_LLM_REQUEST_TIMEOUT", None)
            else:
                os.environ["DOCGEN_LLM_REQUEST_TIMEOUT"] = saved
        first = run["runs"][0]
        figures[label] = {
            "seconds_per_object": round(first["run_seconds"] / 2, 1),
            "status": first["status"],
            "failed_objects": first["failed"],
            "llm_requests": first["llm_requests"],
            "abandoned_requests": first["abandoned_requests"],
            "abandoned_tokens": first["abandoned_tokens"],
            "completion_tokens": first["completion_tokens"],
            "grounding": run.get("grounding", [{}])[0],
        }
    return {"tokens_per_second": 8, "slots": 1, **figures}


def scenario_grounding(bench: Bench) -> dict[str, Any]:
    """Grounding per job on the example project: a server that answers well, one that
    cites code the objects do not have, and one that copies the prompt's examples."""
    figures: dict[str, Any] = {}
    for label, behaviour in (
        ("grounded_answers", {}),
        ("invented_code", {"invented_code": True}),
        ("copied_examples", {"copy_examples": True}),
    ):
        run = bench.run_job(
            "server-pg",
            example=True,
            concurrency=4,
            behaviour=json.dumps(behaviour) if behaviour else None,
            grounding_stats=True,
            regenerate_all=True,
        )
        first = run["runs"][0]
        figures[label] = {
            "objects": run["objects"],
            "status": first["status"],
            "failed_objects": first["failed"],
            **run["grounding"][0],
        }
    return figures


def scenario_lean(bench: Bench) -> dict[str, Any]:
    """Issue 18: tokens per object on the example project, the default (six calls sharing a
    cached prefix) against the lean option (one_call: one call per object), same fake server,
    same schema checks (failed layers counted)."""
    figures: dict[str, Any] = {}
    for label, one_call in (("default", False), ("one_call", True)):
        result = bench.run_job("server-pg", example=True, concurrency=4, one_call=one_call)
        run = result["runs"][0]
        count = result["objects"]
        figures[label] = {
            "prompt_tokens_per_object": round(run["prompt_tokens"] / count),
            "completion_tokens_per_object": round(run["completion_tokens"] / count),
            "tokens_per_object": round((run["prompt_tokens"] + run["completion_tokens"]) / count),
            "llm_requests": run["llm_requests"],
            "cost_per_object_usd": round(float(run["cost_usd"]) / count, 5),
            "failed_objects": run["failed"],
            "layers_failed": run.get("layers_failed", {}),
        }
    return {
        "project": "examples/jaffle_shop",
        **figures,
        "target": "lean option <= 6,500 tokens/object with schema-valid output",
    }


def scenario_batch(bench: Bench) -> dict[str, Any]:
    """Issue 18: a 1,000-object job in batch mode against the fake server's Batch API (a
    simulated batch delay), its first run killed while polling and the job run again:
    synchronous calls, batches created, exactly-once storage and cost at the batch price."""
    objects = int(os.environ.get("DOCGEN_BENCH_BATCH_OBJECTS", "1000"))
    result = bench.run_job(
        "server-pg", module="benchmarks.batch_job", objects=objects, batch_delay=20, concurrency=8
    )
    result.pop("process_seconds", None)
    result["target"] = (
        "0 synchronous calls, one batch per lineage wave (2 here), one version per object"
        " after a kill, cost = 50% of list"
    )
    return result


def scenario_side_by_side(bench: Bench) -> dict[str, Any]:
    """Issue 21: the bare card shape and a docgen job on one Prefect server, alternating
    (benchmarks/side_by_side.py)."""
    from benchmarks.side_by_side import scenario_side_by_side as run

    return run(bench, CpuSplit, bench.objects or 64)


def scenario_scale_out(bench: Bench) -> dict[str, Any]:
    """Issue 21: 1 vs 2 runners sharing a job, 1 vs 2 Prefect API workers, on PostgreSQL and
    Redis (benchmarks/scale_out.py, docs/scale-out.md)."""
    from benchmarks.scale_out import scenario_scale_out as run

    return run(bench, bench.objects or 64)


SCENARIOS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "overhead": scenario_overhead,
    "concurrency_speedup": scenario_concurrency_speedup,
    "latency_hiding": scenario_latency_hiding,
    "rate_limits": scenario_rate_limits,
    "tokens": scenario_tokens,
    "incremental": scenario_incremental,
    "memory": scenario_memory,
    "unreachable_endpoint": scenario_unreachable_endpoint,
    "local_model": scenario_local_model,
    "grounding": scenario_grounding,
    "batch": scenario_batch,
    "lean": scenario_lean,
    "side_by_side": scenario_side_by_side,
    "scale_out": scenario_scale_out,
}


def write_report(results: dict[str, Any]) -> None:
    lines = [
        "# docgen benchmark results",
        "",
        f"Measured {results.get('updated')} on {results.get('machine', {}).get('cpus')} "
        f"CPUs (`sum(range(10**8))` in "
        f"{results.get('machine', {}).get('python_loop_seconds', '?')} s), Python "
        f"{results.get('machine', {}).get('python')}. Regenerate with `python -m benchmarks`.",
        "",
    ]
    scenarios = results.get("scenarios", {})
    lines += summary_table(scenarios)
    if "overhead" in scenarios:
        lines += [
            "## Orchestration overhead (zero-latency LLM)",
            "",
            "| Prefect API | concurrency | objects | ms/object | objects/min |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in scenarios["overhead"]["rows"]:
            lines.append(
                f"| {MODES[row['mode']]} | {row['concurrency']} | {row['objects']} | "
                f"{row['ms_per_object']} | {row['objects_per_minute']} |"
            )
        lines.append("")
    split_rows = [
        (f"overhead, concurrency {r['concurrency']}", r)
        for r in scenarios.get("overhead", {}).get("rows", [])
        if "cpu_ms_per_object" in r
    ] + [
        (f"0.5 s latency, concurrency {r['concurrency']}", r)
        for r in scenarios.get("latency_hiding", {}).get("rows", [])
        if "cpu_ms_per_object" in r
    ]
    if split_rows:
        lines += [
            "## Where the time goes (local Prefect server on PostgreSQL)",
            "",
            "CPU milliseconds per object by process; utilisation is CPU used over the run's"
            " wall time on all cores (1.0 = both cores busy throughout).",
            "",
            "| run | job process (docgen + Prefect client) | Prefect server | PostgreSQL |"
            " fake OpenAI | total | utilisation |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for label, r in split_rows:
            c = r["cpu_ms_per_object"]
            lines.append(
                f"| {label} | {c['job_process']} | {c['prefect_server']} | {c['postgresql']} |"
                f" {c['fake_openai']} | {r['cpu_ms_per_object_total']} | {r['cpu_utilisation']} |"
            )
        lines.append("")
    if "local_model" in scenarios:
        lm = scenarios["local_model"]
        lines += [
            f"## Local model: one slot, {lm['tokens_per_second']} tokens/s",
            "",
            "Two objects, job concurrency 2, the organization at `max_concurrent_requests=1`.",
            "Abandoned tokens: what the server computed for requests docgen had timed out on.",
            "",
            "| request timeout | s/object | status | failed | requests | abandoned requests |"
            " abandoned tokens | completion tokens recorded |",
            "|---|---:|---|---:|---:|---:|---:|---:|",
        ]
        for label in ("default_timeout", "timeout_10s"):
            if row := lm.get(label):
                lines.append(
                    f"| {label.replace('_', ' ')} | {row['seconds_per_object']} |"
                    f" {row['status']} | {row['failed_objects']} | {row['llm_requests']} |"
                    f" {row['abandoned_requests']} | {row['abandoned_tokens']} |"
                    f" {row['completion_tokens']} |"
                )
        lines.append("")
    if "grounding" in scenarios:
        lines += [
            "## Grounding per job (example project)",
            "",
            "| server answers | objects | status | failed objects | layers checked |"
            " layers retried | items removed | layers failing the check | example copies |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        for label, row in scenarios["grounding"].items():
            if not isinstance(row, dict):
                continue
            lines.append(
                f"| {label.replace('_', ' ')} | {row['objects']} | {row['status']} |"
                f" {row['failed_objects']} | {row['layers_checked']} | {row['layers_retried']} |"
                f" {row['items_removed']} | {row['layers_failed_check']} |"
                f" {row['example_copies']} |"
            )
        lines.append("")
    if "concurrency_speedup" in scenarios:
        s = scenarios["concurrency_speedup"]
        lines += [
            "## Concurrency 8 against 1 (0.2 s per LLM call)",
            "",
            f"- concurrency 1: {s['concurrency_1']['ms_per_object']} ms/object",
            f"- concurrency 8: {s['concurrency_8']['ms_per_object']} ms/object",
            f"- speedup: **{s['speedup']}x** (target {s['target']})",
            "",
        ]
    if "latency_hiding" in scenarios:
        lines += [
            "## Latency hiding (0.5 s per LLM call, six calls per object)",
            "",
            "| concurrency | objects | seconds | objects/min | ideal | share of ideal |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for row in scenarios["latency_hiding"]["rows"]:
            lines.append(
                f"| {row['concurrency']} | {row['objects']} | {row['seconds']} | "
                f"{row['objects_per_minute']} | {row['ideal_objects_per_minute']} | "
                f"{row['share_of_ideal']:.0%} |"
            )
        lines.append("")
    if "side_by_side" in scenarios:
        from benchmarks.side_by_side import report

        lines += report(scenarios["side_by_side"])
    if "scale_out" in scenarios:
        from benchmarks.scale_out import report as scale_report

        lines += scale_report(scenarios["scale_out"])
    for name, data in scenarios.items():
        if name in (
            "overhead",
            "concurrency_speedup",
            "latency_hiding",
            "side_by_side",
            "scale_out",
        ):
            continue
        lines += [f"## {name}", ""]
        lines += [f"- {key}: {json.dumps(value)}" for key, value in data.items()]
        lines.append("")
    lines += ingest_report(results.get("ingest", {}))
    lines += render_cost_report(results.get("ingest_render_cost", {}))
    # sections other benchmarks keep between markers (benchmarks.fidelity) stay
    marked = re.compile(r"<!-- (\w+):begin -->.*?<!-- \1:end -->\n?", re.S)
    old = REPORT.read_text() if REPORT.exists() else ""
    kept = "".join(m.group(0) for m in marked.finditer(old))
    REPORT.write_text("\n".join(lines) + ("\n" + kept if kept else ""))


def summary_table(scenarios: dict[str, Any]) -> list[str]:
    """One line per scenario: the figure, the issue's target, and whether it is met."""
    rows: list[tuple[str, str, str, bool]] = []
    if o := scenarios.get("overhead"):
        best = min(
            (r for r in o["rows"] if r["concurrency"] == 8), key=lambda r: r["ms_per_object"]
        )
        rows.append(
            (
                "overhead per object, concurrency 8",
                f"{best['ms_per_object']} ms ({MODES[best['mode']]})",
                "<= 150 ms",
                best["ms_per_object"] <= 150,
            )
        )
    if c := scenarios.get("concurrency_speedup"):
        rows.append(
            ("speedup 8 vs 1 at 0.2 s latency", f"{c['speedup']}x", ">= 4x", c["speedup"] >= 4)
        )
    if lh := scenarios.get("latency_hiding"):
        top = max(lh["rows"], key=lambda r: r["concurrency"])
        rows.append(
            (
                f"throughput at concurrency {top['concurrency']}, 0.5 s latency",
                f"{top['share_of_ideal']:.0%} of ideal",
                ">= 85%",
                top["share_of_ideal"] >= 0.85,
            )
        )
    if r := scenarios.get("rate_limits"):
        rows.append(
            (
                f"rate limits ({r['binding_limit']} binding)",
                f"{r['share_of_binding_limit']:.1%} used, {r['responses_429']} 429s,"
                f" {r['objects_failed']} failed",
                ">= 90%, 0 failed",
                r["share_of_binding_limit"] >= 0.9 and r["objects_failed"] == 0,
            )
        )
    if i := scenarios.get("incremental"):
        rerun = i["rerun_skip_existing"]
        rows.append(
            (
                f"rerun over {i['objects']:,} unchanged objects",
                f"{rerun['llm_requests']} LLM calls, {rerun['seconds']} s"
                f" (nightly: {i['nightly']['seconds']} s, no job)",
                "0 calls, <= 30 s",
                rerun["llm_requests"] == 0 and rerun["seconds"] <= 30,
            )
        )
    if t := scenarios.get("tokens"):
        rows.append(
            (
                "input tokens in the prefix shared by the six calls",
                f"{t['shared_prefix_share']:.1%} ({t['prompt_tokens_per_object']:,} prompt +"
                f" {t['completion_tokens_per_object']:,} completion tokens/object)",
                ">= 70%",
                t["shared_prefix_share"] >= 0.7,
            )
        )
    if m := scenarios.get("memory"):
        rows.append(
            (
                f"peak RSS, {m['objects']:,}-object job",
                f"{m['peak_rss_mb']} MB ({m['status']}, {m['processed']:,} processed)",
                "<= 500 MB",
                m["peak_rss_mb"] <= 500 and m["processed"] == m["objects"],
            )
        )
    if u := scenarios.get("unreachable_endpoint"):
        rows.append(
            (
                f"unreachable endpoint, {u['objects']}-object job",
                f"stopped after {u['stopped_after_seconds']} s ({u['status']}, "
                f"{u['failed_objects']} objects failed, URL named: {u['names_the_url']}); "
                f"resumed: {u['resumed']['status']}",
                "< 15 s, URL named, resumable",
                u["stopped_after_seconds"] < 15
                and u["names_the_url"]
                and u["resumed"]["status"] == "completed",
            )
        )
    if lm := scenarios.get("local_model"):
        d = lm["default_timeout"]
        rows.append(
            (
                f"single-slot server at {lm['tokens_per_second']} tokens/s",
                f"{d['seconds_per_object']} s/object, {d['abandoned_tokens']} tokens abandoned "
                f"({d['status']}, {d['failed_objects']} failed)",
                "no tokens abandoned, job completes",
                d["abandoned_tokens"] == 0 and d["status"] == "completed",
            )
        )
    if sbs := scenarios.get("side_by_side"):
        rows.append(
            (
                "docgen / bare card shape wall time per object, zero latency, concurrency 8",
                f"{sbs['ms_ratio_zero_latency']}x",
                "<= 1.25",
                sbs["ms_ratio_zero_latency"] <= 1.25,
            )
        )
        cpu = sbs["settings"][0]["shapes"]
        cpu_ratio = round(
            cpu["docgen"]["cpu_ms_per_object_total"] / cpu["bare"]["cpu_ms_per_object_total"], 3
        )
        rows.append(
            (
                "docgen / bare card shape CPU per object (all processes), zero latency",
                f"{cpu_ratio}x",
                "<= 1.25",
                cpu_ratio <= 1.25,
            )
        )
        rows.append(
            (
                "docgen / bare card shape throughput, 0.5 s latency, concurrency 16",
                f"{sbs['throughput_ratio_half_second']:.0%}",
                ">= 90%",
                sbs["throughput_ratio_half_second"] >= 0.9,
            )
        )
    if not rows:
        return []
    lines = ["| measure | figure | target | met |", "|---|---|---|:---:|"]
    lines += [f"| {a} | {b} | {c} | {'yes' if ok else '**no**'} |" for a, b, c, ok in rows]
    return [*lines, ""]


def ingest_report(ingest: dict[str, Any]) -> list[str]:
    """The table of `python -m benchmarks.ingest` (synthetic and real dbt projects)."""
    if not ingest:
        return []
    lines = [
        "## Ingestion of dbt project folders (`python -m benchmarks.ingest`)",
        "",
        "| project | objects | models | SQL rendered | sqlglot-parsed | read s | store s"
        " | unchanged re-ingest s | edges expected | missing | extra | warnings | crashes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    reasons = []
    for name, f in ingest.items():
        lineage = f.get("lineage", {})
        models = (
            f"{lineage.get('models_registered')}/{lineage.get('models_expected')}"
            if lineage
            else "-"
        )
        total = f.get("sql_models")
        rendered = f"{f.get('rendered')}/{total} ({f.get('rendered_pct')}%)" if total else "-"
        parsed = f"{f.get('parsed')}/{total} ({f.get('parsed_pct')}%)" if total else "-"
        lines.append(
            f"| {name} | {f.get('objects')} | {models} | {rendered} | {parsed} | "
            f"{f.get('read_seconds')} | {f.get('store_seconds')} | "
            f"{f.get('unchanged_restore_seconds')} | {lineage.get('edges_expected', '-')} | "
            f"{lineage.get('edges_missing', '-')} | {lineage.get('edges_extra', '-')} | "
            f"{f.get('warnings')} | {f.get('crashes')} |"
        )
        if f.get("not_rendered_by_reason"):
            why = "; ".join(f"{n} {r}" for r, n in f["not_rendered_by_reason"].items())
            reasons.append(f"- {name}: {why}")
    if reasons:
        lines += ["", "Models not rendered, by reason:", "", *reasons]
    return [*lines, ""]


def render_cost_report(costs: dict[str, Any]) -> list[str]:
    """`python -m benchmarks.ingest --render-cost`: what bounded rendering costs."""
    if not costs:
        return []
    lines = [
        "## Cost of rendering dbt Jinja in bounded child processes"
        " (`python -m benchmarks.ingest --render-cost`)",
        "",
        "Seconds to read each project folder: rendering in docgen's own process (unbounded,"
        " measured only) against the sandboxed child processes with rlimits and a per-file"
        " timeout (docgen's way), with 1 and 2 workers.",
        "",
        "| project | in process s | 1 child s | 2 children s |",
        "|---|---:|---:|---:|",
    ]
    for name, f in costs.items():
        lines.append(
            f"| {name} | {f.get('in_process_s')} | {f.get('children_1_s')} | "
            f"{f.get('children_2_s')} |"
        )
    return [*lines, ""]


def python_loop_seconds() -> float:
    """Seconds for `sum(range(10**8))` here: the machine's speed, to compare results files
    measured on different machines (figures scale roughly with it)."""
    started = time.perf_counter()
    sum(range(10**8))
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure docgen (see benchmarks/README.md).")
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], default=[])
    parser.add_argument(
        "--objects", type=int, default=0, help="objects per run (side_by_side, scale_out)"
    )
    args = parser.parse_args()
    chosen = args.scenarios or list(SCENARIOS)
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault("scenarios", {})
    calibration = python_loop_seconds()
    with tempfile.TemporaryDirectory(prefix="docgen-bench-") as work:
        bench = Bench(Path(work))
        bench.objects = args.objects
        try:
            bench.start()
            for name in chosen:
                print(f"== {name}", flush=True)
                started = time.perf_counter()
                data = SCENARIOS[name](bench)
                data["measured_seconds"] = round(time.perf_counter() - started, 1)
                print(json.dumps(data, indent=2), flush=True)
                # re-read: another benchmark (benchmarks.ingest) may have written meanwhile
                if RESULTS.exists():
                    results = {**results, **json.loads(RESULTS.read_text())}
                    results.setdefault("scenarios", {})
                results["scenarios"][name] = data
                results["updated"] = datetime.now(UTC).isoformat(timespec="seconds")
                results["machine"] = {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "python_loop_seconds": calibration,
                }
                RESULTS.write_text(json.dumps(results, indent=2) + "\n")
                write_report(results)
        finally:
            bench.stop()


if __name__ == "__main__":
    main()
