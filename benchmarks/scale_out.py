"""Scale-out on Prefect's own machinery (docs/scale-out.md): objects/min of one docgen job
with 1 or 2 runners sharing it, against a Prefect API served by 1 or 2 worker processes.

The topology, per API size: Prefect's database on PostgreSQL (pg_trgm), messaging, the
events' causal ordering and concurrency leases on Redis (prefect-redis, the `bench` extra),
`prefect server start --no-services --workers N` for the API (N uvicorn worker processes on
one port) and `prefect server services start` for the loop services in their own process.
Runners are processes running the `documentation-job` flow on the same job id (what two
`documentation-job/existing-job` runs, or `extra_runners`, do on a work pool).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from benchmarks.cpu import postmaster, tree_cpu
from deployments.local_server import free_port
from docgen.database_url import async_url

ROOT = Path(__file__).resolve().parent.parent
REDIS_HOST = os.environ.get("DOCGEN_BENCH_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("DOCGEN_BENCH_REDIS_PORT", "6379"))
#: a database of the shared Redis that nothing else uses; flushed before each topology
REDIS_DB = int(os.environ.get("DOCGEN_BENCH_REDIS_DB", "9"))


def redis_available() -> bool:
    try:
        import prefect_redis  # noqa: F401
        import redis
    except ImportError:
        return False
    try:
        return bool(redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def server_env(database_url: str, home: Path) -> dict[str, str]:
    """The settings every Prefect server process of the topology shares."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_API_DATABASE_CONNECTION_URL": async_url(database_url),
            "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
            "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
            "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
            "PREFECT_REDIS_MESSAGING_HOST": REDIS_HOST,
            "PREFECT_REDIS_MESSAGING_PORT": str(REDIS_PORT),
            "PREFECT_REDIS_MESSAGING_DB": str(REDIS_DB),
            # background work the API hands to the services (memory:// is single-process)
            "PREFECT_SERVER_DOCKET_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
            # migrated once before the processes start: N API workers migrating at once race
            "PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",
        }
    )
    return env


class Topology:
    """Prefect's API (`api_workers` processes) and its services process, on PG and Redis."""

    def __init__(self, database_url: str, home: Path, api_workers: int) -> None:
        self.database_url = database_url
        self.home = home
        self.api_workers = api_workers
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, args: list[str]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / f"{name}.log", "w") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "prefect", *args],
                env=server_env(self.database_url, self.home),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
            )

    def start(self, timeout: float = 180) -> None:
        import redis

        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB).flushdb()
        subprocess.run(
            [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
            env=server_env(self.database_url, self.home),
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        api = ["server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        self._spawn("api", [*api, "--no-services", "--no-ui", "--workers", str(self.api_workers)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"Prefect API not healthy: {self._log('api')}")
        self._spawn("services", ["server", "services", "start"])
        time.sleep(3)
        self._check_alive()

    def _log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text()[-2000:]

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"prefect {name} exited: {self._log(name)}")

    def cpu_roots(self) -> dict[str, psutil.Process]:
        return {name: psutil.Process(p.pid) for name, p in self.processes.items()}

    def stop(self) -> None:
        # the API's uvicorn worker processes are children: end them too, not only the parent
        tree: list[psutil.Process] = []
        for process in self.processes.values():
            try:
                parent = psutil.Process(process.pid)
                tree += [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        for member in tree:
            try:
                member.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(tree, timeout=20)
        for member in alive:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        for process in self.processes.values():
            process.wait(5)


def _redis_server() -> list[psutil.Process]:
    """The Redis server process, if this machine runs it (for the CPU split)."""
    found = []
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "redis-server":
            found.append(process)
    return found


def object_subflows(prefect_database_url: str, job_id: str) -> int:
    """How many document-object flow runs the job's runs started, read from Prefect's
    database (the parents: the runs whose job_id parameter is the job)."""
    import psycopg

    with psycopg.connect(prefect_database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM flow_run child"
            " JOIN flow ON flow.id = child.flow_id"
            " JOIN task_run link ON link.id = child.parent_task_run_id"
            " JOIN flow_run parent ON parent.id = link.flow_run_id"
            " WHERE flow.name = 'document-object' AND parent.parameters->>'job_id' = %s",
            (job_id,),
        ).fetchone()
    return int(row[0]) if row else 0


def run_shared_job(
    bench: Any, topology: Topology, runners: int, objects: int, concurrency: int, latency: float
) -> dict[str, Any]:
    """Create one job, run it with `runners` processes at once; objects/min over the span
    from the first runner's start to the last one's end, and where the CPU went."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "DOCGEN_DATABASE_URL": bench.docgen_url,
        "DOCGEN_MASTER_KEY": bench.master_key,
        "DOCGEN_HOME": str(bench.home),
        "PREFECT_API_URL": topology.api_url,
        "PREFECT_HOME": str(topology.home / "client"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "ERROR",
    }
    created = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale_job", "create", "--fake-url", bench.fake_url]
        + ["--objects", str(objects), "--concurrency", str(concurrency)]
        + ["--latency", str(latency)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    job_id = json.loads(created.stdout.strip().splitlines()[-1])["job_id"]
    roots: dict[str, list[psutil.Process]] = {
        "prefect_api": [topology.cpu_roots()["api"]],
        "prefect_services": [topology.cpu_roots()["services"]],
        "postgresql": [postmaster(bench.admin_url)],
        "redis": _redis_server(),
        "fake_openai": [psutil.Process(bench.fake.pid)],
    }

    def sample() -> dict[str, float]:
        return {name: sum(tree_cpu(p) for p in procs) for name, procs in roots.items()}

    before = sample()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.scale_job", "run", "--job-id", job_id],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(runners)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=3600)
        if process.returncode != 0:
            raise RuntimeError(
                f"runner failed: {err[-2000:]}\nPrefect API log: {topology._log('api')}"
                f"\nservices log: {topology._log('services')}"
            )
        results.append(json.loads(out.strip().splitlines()[-1]))
    after = sample()
    subflows = object_subflows(topology.database_url, job_id)
    span = max(r["finished"] for r in results) - min(r["started"] for r in results)
    last = max(results, key=lambda r: r["finished"])
    seconds = {name: after[name] - before[name] for name in after}
    seconds["runners"] = sum(r["cpu_seconds"] for r in results)
    return {
        "runners": runners,
        "objects": objects,
        "concurrency_per_runner": concurrency,
        "latency": latency,
        "seconds": round(span, 2),
        "objects_per_minute": round(objects / span * 60, 1),
        "status": last["status"],
        "processed": last["processed"],
        "failed": last["failed"],
        "runner_seconds": [round(r["finished"] - r["started"], 2) for r in results],
        # document-object flow runs Prefect recorded for the job (1 per object is the floor)
        "object_subflows": subflows,
        # runners' CPU excludes their start-up; the servers' is sampled over the whole span
        "cpu_seconds": {name: round(v, 1) for name, v in seconds.items()},
        "cpu_utilisation": round(sum(seconds.values()) / (span * (os.cpu_count() or 1)), 2),
        # the machine is shared: its load over the last minute when the run ended
        "load_average": round(os.getloadavg()[0], 1),
    }


def scenario_scale_out(bench: Any, objects: int) -> dict[str, Any]:
    """1 vs 2 API worker processes x 1 vs 2 runners on one job, zero latency (where the
    machine's CPU is the limit) at concurrency 8 per runner, and 0.5 s latency at 16."""
    if not redis_available():
        return {
            "skipped": "prefect-redis not installed or Redis not reachable"
            " (pip install -e '.[bench]')"
        }
    rows = []
    for api_workers in (1, 2):
        topology = Topology(
            bench.database(f"prefect_scale_{api_workers}", docgen=False),
            bench.work / f"prefect-scale-{api_workers}",
            api_workers,
        )
        topology.start()
        try:
            for latency, concurrency in ((0.0, 8), (0.5, 16)):
                for runners in (1, 2):
                    row = run_shared_job(bench, topology, runners, objects, concurrency, latency)
                    row["api_workers"] = api_workers
                    print(json.dumps(row), flush=True)
                    rows.append(row)
        finally:
            topology.stop()
    return {
        "rows": rows,
        "machine_cpus": os.cpu_count(),
        "shape": "Prefect API --no-services --workers N + `prefect server services start`,"
        " PostgreSQL, Redis messaging (prefect-redis); runners = processes running"
        " documentation-job on one job id",
    }


def report(data: dict[str, Any]) -> list[str]:
    """The RESULTS.md section."""
    if "rows" not in data:
        return ["## Scale-out (Prefect API workers x docgen runners)", "", str(data), ""]
    lines = [
        "## Scale-out: Prefect API workers x docgen runners on one job (docs/scale-out.md)",
        "",
        f"{data['shape']}. {data['machine_cpus']} CPUs. CPU seconds over the run:",
        "",
        "| API workers | runners | latency | concurrency/runner | objects | seconds |"
        " objects/min | object subflows | runners CPU s | API CPU s | services CPU s |"
        " PostgreSQL CPU s | Redis CPU s | utilisation | load average |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["rows"]:
        c = r["cpu_seconds"]
        lines.append(
            f"| {r['api_workers']} | {r['runners']} | {r['latency']} s |"
            f" {r['concurrency_per_runner']} | {r['objects']} | {r['seconds']} |"
            f" {r['objects_per_minute']} | {r.get('object_subflows', '')} | {c['runners']} |"
            f" {c['prefect_api']} |"
            f" {c['prefect_services']} | {c['postgresql']} | {c['redis']} |"
            f" {r['cpu_utilisation']} | {r.get('load_average', '')} |"
        )
    return [*lines, ""]
