"""Ingestion figures: synthetic dbt projects of 1,000 and 10,000 models, real dbt projects
with their packages (`--corpus DIR`, laid out by benchmarks/dbt_corpus.py), and any real dbt
projects you have on disk.

    python -m benchmarks.ingest [--corpus DIR] [--real DIR ...] [--expected-script PATH]
                                [--no-synthetic]

Per project: SQL models rendered / total and parsed by sqlglot in the project's dialect /
total, and why the others did not render, by category.

For each project: read time, store time (first ingest and an unchanged re-ingest) on the
embedded PostgreSQL, models registered, lineage compared with the expected ref()/source()
graph (the generator's for synthetic projects; for real ones, the JSON printed by
`--expected-script DIR`, e.g. a regex scan of their ref()/source() calls), warnings.
Writes the figures into benchmarks/results.json under "ingest" (and prints them).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlglot

from benchmarks.dbt_corpus import install, lay_out
from benchmarks.synthetic_dbt import generate_project
from docgen.db import orgs
from docgen.db.engine import get_engine, transaction
from docgen.ingest import store
from docgen.sources.base import SourceObject
from docgen.sources.dbt import read_dbt

RESULTS = Path(__file__).resolve().parent / "results.json"


def _display(obj: SourceObject) -> str:
    if obj.unique_key.startswith("source."):
        return "source." + obj.unique_key.split(".", 2)[2]
    return obj.name


def compare(objects: list[SourceObject], expected: dict[str, list[str]]) -> dict[str, Any]:
    """Models expected vs registered, and edges expected vs found (refs to models the project
    does not define count as found when the object records them as unresolved)."""
    names = {o.unique_key: _display(o) for o in objects}
    models = {o.name: o for o in objects if o.properties.get("resource_type") == "model"}
    missing = sorted(m for m in expected if m not in models)
    missing_edges = extra_edges = 0
    examples: list[str] = []
    for model, upstream in expected.items():
        if model not in models:
            continue
        obj = models[model]
        found = {names[k] for k in obj.upstream_keys}
        found |= {
            r.removeprefix("source ").replace(" ", ".") if r.startswith("source ") else r
            for r in obj.properties.get("unresolved_refs", [])
        }
        found = {f"source.{f}" if "." in f and not f.startswith("source.") else f for f in found}
        want = set(upstream)
        missing_edges += len(want - found)
        extra_edges += len(found - want)
        if (want - found or found - want) and len(examples) < 5:
            examples.append(
                f"{model}: missing {sorted(want - found)[:3]}, extra {sorted(found - want)[:3]}"
            )
    return {
        "models_expected": len(expected),
        "models_registered": len(models),
        "models_missing": missing[:10],
        "edges_expected": sum(len(v) for v in expected.values()),
        "edges_missing": missing_edges,
        "edges_extra": extra_edges,
        "examples": examples,
    }


def _category(problem: str) -> str:
    """A render problem without its particulars: the reason by kind."""
    if problem.startswith("uses names neither"):
        return "undefined: " + problem.split(": ", 1)[1][:60]
    return re.sub(r"'[^']*'", "'...'", problem)[:80]


def render_figures(objects: list[SourceObject], dialect: str | None) -> dict[str, Any]:
    """SQL models rendered and parsed (sqlglot, the project's dialect), reasons by category."""
    models = [
        o for o in objects if o.properties.get("resource_type") == "model" and o.language == "sql"
    ]
    parsed = 0
    for obj in models:
        if obj.compiled_code:
            try:
                sqlglot.parse(obj.compiled_code, read=dialect)
                parsed += 1
            except sqlglot.errors.SqlglotError:
                pass
    reasons = Counter(
        _category(str(o.properties.get("render_problem") or "not rendered"))
        for o in models
        if not o.compiled_code
    )
    total = len(models) or 1
    return {
        "sql_models": len(models),
        "rendered": sum(1 for o in models if o.compiled_code),
        "rendered_pct": round(100 * sum(1 for o in models if o.compiled_code) / total, 1),
        "parsed": parsed,
        "parsed_pct": round(100 * parsed / total, 1),
        "not_rendered_by_reason": dict(reasons.most_common()),
    }


def measure(
    path: Path, expected: dict[str, list[str]] | None, dialect: str | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    result = read_dbt(path, dialect=dialect)
    read_seconds = time.perf_counter() - started
    engine = get_engine()
    with transaction(engine) as conn:
        organization = orgs.create_organization(conn, f"bench-ingest-{time.time_ns()}")
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        with transaction(engine) as conn:
            report = store(conn, organization.id, result)
        timings.append((time.perf_counter() - started, report))
    (first, report), (again, rerun) = timings
    figures: dict[str, Any] = {
        "objects": len(result.objects),
        "read_seconds": round(read_seconds, 2),
        "store_seconds": round(first, 2),
        "unchanged_restore_seconds": round(again, 2),
        "rerun_unchanged": rerun.unchanged,
        "rerun_changed": rerun.changed + rerun.added,
        "warnings": len(result.warnings),
        "crashes": 0,
        **render_figures(result.objects, dialect or _dialect_of(result.objects)),
    }
    if expected is not None:
        figures["lineage"] = compare(result.objects, expected)
    return figures


class _InProcessPool:
    """Rendering in this process without limits: only to measure what the bounded child
    processes cost. Never used by docgen itself."""

    def __init__(self, spec: dict[str, Any], macro_files: list[dict[str, str]], *_: Any) -> None:
        from docgen.sources.dbt.sandbox import Renderer

        self.renderer = Renderer(spec)
        for item in macro_files:
            self.renderer.load_macro_file(item["package"], item["text"])
        self.renderer.finish_macros()

    def render_all(self, requests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from docgen.sources.dbt.sandbox import ModelRequest

        return {k: self.renderer.render(ModelRequest(**r)) for k, r in requests.items()}


def render_cost(path: Path, dialect: str | None) -> dict[str, Any]:
    """Seconds to read a project: rendering in this process (unbounded, unsafe) against the
    bounded child processes with 1 and 2 workers."""
    from docgen.sources.dbt import folder
    from docgen.sources.dbt.render_worker import RenderLimits, RenderPool

    figures: dict[str, Any] = {}
    try:
        folder.RenderPool = _InProcessPool  # type: ignore[assignment,misc]
        started = time.perf_counter()
        read_dbt(path, dialect=dialect)
        figures["in_process_s"] = round(time.perf_counter() - started, 2)
    finally:
        folder.RenderPool = RenderPool  # type: ignore[misc]
    for workers in (1, 2):
        started = time.perf_counter()
        read_dbt(path, dialect=dialect, limits=RenderLimits(workers=workers))
        figures[f"children_{workers}_s"] = round(time.perf_counter() - started, 2)
    return figures


def _dialect_of(objects: list[SourceObject]) -> str | None:
    return next((o.dialect for o in objects if o.dialect), None)


def _render_cost_only(args: argparse.Namespace) -> None:
    costs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        generate_project(Path(tmp), 1000, seed=1, broken_share=0.01)
        if args.mirrors.is_dir():
            for repo in ("dbt-labs/dbt-utils", "metaplane/dbt-expectations"):
                install(Path(tmp), args.mirrors, repo)
        costs["synthetic_1000"] = render_cost(Path(tmp), "snowflake")
        print(json.dumps({"synthetic_1000": costs["synthetic_1000"]}), flush=True)
    if args.corpus:
        for entry in lay_out(args.corpus, args.mirrors):
            costs[entry["name"]] = render_cost(Path(entry["path"]), entry["dialect"])
            print(json.dumps({entry["name"]: costs[entry["name"]]}), flush=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["ingest_render_cost"] = costs
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    from benchmarks.__main__ import write_report

    write_report(results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, help="lay out real projects here and measure")
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--real", nargs="*", default=[], type=Path)
    parser.add_argument("--expected-script", type=Path)
    parser.add_argument("--no-synthetic", action="store_true")
    parser.add_argument(
        "--render-cost", action="store_true", help="only the cost of bounded rendering"
    )
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    if args.render_cost:
        _render_cost_only(args)
        return
    if not args.no_synthetic:
        for size in (1000, 10000):
            with tempfile.TemporaryDirectory() as tmp:
                project = generate_project(Path(tmp), size, seed=1, broken_share=0.01)
                if args.mirrors.is_dir():  # its packages.yml names them: install like dbt deps
                    for repo in ("dbt-labs/dbt-utils", "metaplane/dbt-expectations"):
                        install(Path(tmp), args.mirrors, repo)
                figures[f"synthetic_{size}"] = measure(Path(tmp), project.models)
                print(json.dumps({f"synthetic_{size}": figures[f"synthetic_{size}"]}), flush=True)
    if args.corpus:
        for entry in lay_out(args.corpus, args.mirrors):
            key = f"corpus:{entry['name']}"
            try:
                figures[key] = {
                    "source": entry["commit"],
                    **measure(Path(entry["path"]), None, dialect=entry["dialect"]),
                }
            except Exception as exc:  # noqa: BLE001 - a crash is a figure here
                figures[key] = {"crashes": 1, "error": repr(exc)}
            print(json.dumps({key: figures[key]}), flush=True)
    for path in args.real:
        expected = None
        if args.expected_script:
            done = subprocess.run(
                [sys.executable, str(args.expected_script), str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            expected = json.loads(done.stdout)
        try:
            figures[f"real:{path.name}"] = measure(path, expected)
        except Exception as exc:  # noqa: BLE001 - a crash is a figure here
            figures[f"real:{path.name}"] = {"crashes": 1, "error": repr(exc)}
        print(json.dumps({f"real:{path.name}": figures[f"real:{path.name}"]}), flush=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault("ingest", {}).update(figures)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    from benchmarks.__main__ import write_report

    write_report(results)


if __name__ == "__main__":
    main()
