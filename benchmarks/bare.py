"""The bare card shape, in its own process: the floor docgen's job is measured against.

    python -m benchmarks.bare --fake-url URL --objects 64 --concurrency 8 [--latency 0.5]

A parent flow maps one subflow per object (`concurrency` at a time); each subflow runs six
tasks one after another, each task one chat-completions call through the real `openai` SDK to
the same fake endpoint docgen's job uses. The tasks use the Prefect features docgen's layer
tasks keep (retries, a cache key, a persisted result), and nothing of docgen: no database, no
artifacts, no progress. The environment says where Prefect's API is (as for benchmarks.job).
Prints one JSON line in the shape of benchmarks.job's ("runs": [{run_seconds, cpu_seconds}]).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
import uuid
from typing import Any

import openai
from prefect import flow, task

from benchmarks.job import RUN_END, RUN_START, fake_admin
from docgen.layers import ENVELOPE_KEYS

#: the six layers, in docgen's order (the envelope keys the fake server fills)
LAYERS = tuple(ENVELOPE_KEYS.values())

_client: openai.AsyncOpenAI | None = None


def client(base_url: str) -> openai.AsyncOpenAI:
    global _client
    if _client is None:
        _client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench-000000000000")
    return _client


def _cache_key(context: Any, parameters: dict[str, Any]) -> str:
    return f"bare-{parameters['run']}-{parameters['name']}-{parameters['layer']}"


@task(
    name="bare-layer",
    task_run_name="{layer}-{name}",
    retries=2,
    cache_key_fn=_cache_key,
    persist_result=True,
)
async def call_layer(base_url: str, run: str, name: str, layer: str) -> dict[str, Any]:
    """One HTTP call: the layer's JSON for one object."""
    response = await client(base_url).chat.completions.create(
        model="gpt-4o-mini",
        response_format={"type": "json_object"},
        messages=[
            {"role": "system", "content": "You document data models. Answer in JSON."},
            {"role": "user", "content": f"Object {name}: select id, amount from orders"},
            {"role": "user", "content": f"Fill {layer} only."},
        ],
    )
    answer: dict[str, Any] = json.loads(response.choices[0].message.content or "{}")
    return answer


@flow(name="bare-object", flow_run_name="{name}", persist_result=False)
async def bare_object(base_url: str, run: str, name: str) -> int:
    """Six tasks, one after another (docgen's default: no layers in parallel)."""
    for layer in LAYERS:
        await call_layer(base_url, run, name, layer)
    return len(LAYERS)


@flow(name="bare-job", persist_result=False)
async def bare_job(base_url: str, objects: int, concurrency: int) -> int:
    """One subflow per object, `concurrency` at a time."""
    run = uuid.uuid4().hex[:12]
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> int:
        async with gate:
            return await bare_object(base_url, run, f"obj_{index:05d}")

    done = await asyncio.gather(*(one(i) for i in range(objects)))
    return sum(done)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fake-url", required=True)
    parser.add_argument("--objects", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    fake_admin(args.fake_url, "config", {"reset": True, "latency": args.latency})
    print(RUN_START, file=sys.stderr, flush=True)
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    calls = asyncio.run(bare_job(args.fake_url, args.objects, args.concurrency))
    run_seconds = time.perf_counter() - started
    cpu_seconds = _cpu_seconds() - cpu_before
    print(RUN_END, file=sys.stderr, flush=True)
    stats = fake_admin(args.fake_url, "stats")
    result = {
        "objects": args.objects,
        "concurrency": args.concurrency,
        "latency": args.latency,
        "runs": [
            {
                "run_seconds": round(run_seconds, 3),
                "cpu_seconds": round(cpu_seconds, 3),
                "calls": calls,
                "llm_requests": stats["requests"],
                "status": "completed" if calls == 6 * args.objects else "incomplete",
                "failed": args.objects - calls // 6,
            }
        ],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
