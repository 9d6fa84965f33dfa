"""`docgen docs history | diff | rollback | show`: the versions of one object's documentation.

OBJECT is an object id, or its name (or unique key) together with --org.
"""

from __future__ import annotations

import sys

import typer

from docgen.cli._common import engine, err, print_json, printable
from docgen.db import documentation
from docgen.db.documentation import Documentation
from docgen.db.engine import transaction
from docgen.errors import InvalidInput, NotFound
from docgen.render.data import Link, object_lineage, resolve_object, version_facts

app = typer.Typer(
    help="Documentation versions of one object: history, show, diff, rollback.",
    no_args_is_help=True,
)

OBJECT = typer.Argument(..., help="Object id, or its name with --org.")
ORG = typer.Option(None, "--org", help="Organization name or id (to find OBJECT by name).")
AS_JSON = typer.Option(False, "--json", help="Print JSON.")


@app.command()
def history(object_ref: str = OBJECT, org: str | None = ORG, as_json: bool = AS_JSON) -> None:
    """List an object's documentation versions, oldest first; `*` marks the current one."""
    with transaction(engine()) as conn:
        obj = resolve_object(conn, object_ref, org)
        versions = documentation.history(conn, obj.id)
    if not versions:
        raise NotFound(f"object {obj.name} has no documentation yet")
    rows = [version_facts(v) for v in versions]
    if as_json:
        data = [
            {**f.__dict__, "id": str(v.id), "status": v.generation_status}
            for f, v in zip(rows, versions, strict=True)
        ]
        print_json({"object_id": str(obj.id), "name": obj.name, "versions": data})
        return
    err.print(f"{obj.name} ({obj.unique_key})", markup=False)
    for f, v in zip(rows, versions, strict=True):
        failed = f"  not generated: {', '.join(f.failed_layers)}" if f.failed_layers else ""
        sys.stdout.write(
            f"{'*' if f.is_current else ' '} v{f.version}  {f.generated_at}  {v.generation_status}"
            f"  {f.model}  prompt {f.prompt_version}  complexity {f.complexity}"
            f"  {f.tokens} tokens  {f.cost}{failed}\n"
        )


def _pick(versions: list[Documentation], v1: int | None, v2: int | None) -> tuple[int, int]:
    if len(versions) < 2 and (v1 is None or v2 is None):
        raise InvalidInput("the object has only one documentation version; nothing to compare")
    current = next((v.version for v in versions if v.is_current), versions[-1].version)
    if v1 is not None:
        return v1, (v2 if v2 is not None else current)
    numbers = [v.version for v in versions]
    before = [n for n in numbers if n < current]
    return (max(before) if before else min(n for n in numbers if n > current)), current


@app.command()
def diff(
    object_ref: str = OBJECT,
    v1: int | None = typer.Argument(None, help="Older version (default: the one before current)."),
    v2: int | None = typer.Argument(None, help="Newer version (default: the current one)."),
    org: str | None = ORG,
    as_json: bool = AS_JSON,
) -> None:
    """Compare two versions layer by layer (default: previous against current)."""
    from docgen.render.diff import diff_versions

    with transaction(engine()) as conn:
        obj = resolve_object(conn, object_ref, org)
        versions = documentation.history(conn, obj.id)
        if not versions:
            raise NotFound(f"object {obj.name} has no documentation yet")
        old_number, new_number = _pick(versions, v1, v2)
        old = documentation.get_version(conn, obj.id, old_number)
        new = documentation.get_version(conn, obj.id, new_number)
    result = diff_versions(old, new)
    if as_json:
        print_json({"object_id": str(obj.id), "name": obj.name, **result.as_json()})
        return
    sys.stdout.write(f"{printable(obj.name)}\n{result.render()}")


@app.command()
def rollback(
    object_ref: str = OBJECT,
    version: int = typer.Argument(..., help="The version to make current again."),
    org: str | None = ORG,
) -> None:
    """Make an earlier version current again; every version stays in the history."""
    with transaction(engine()) as conn:
        obj = resolve_object(conn, object_ref, org)
        before = documentation.current(conn, obj.id)
        restored = documentation.make_current(conn, obj.id, version)
    was = f" (was v{before.version})" if before and before.version != version else ""
    err.print(f"{obj.name}: version {restored.version} is current{was}", markup=False)
    sys.stdout.write(f"{restored.id}\n")


@app.command()
def show(
    object_ref: str = OBJECT,
    version: int | None = typer.Option(None, "--version", help="A version (default: current)."),
    org: str | None = ORG,
    as_json: bool = AS_JSON,
) -> None:
    """Print one version of an object's documentation as Markdown (--json: the stored
    version with its lineage)."""
    from docgen.render.markdown import render_object_markdown

    with transaction(engine()) as conn:
        obj = resolve_object(conn, object_ref, org)
        doc = (
            documentation.get_version(conn, obj.id, version)
            if version is not None
            else documentation.current(conn, obj.id)
        )
        upstream, downstream = object_lineage(conn, obj)
    if doc is None:
        raise NotFound(f"object {obj.name} has no documentation yet")
    if as_json:

        def links(found: list[Link]) -> list[dict[str, str]]:
            return [{"id": str(k.object_id), "name": k.name, "type": k.object_type} for k in found]

        print_json(
            {
                "object_id": str(obj.id),
                "name": obj.name,
                "documentation": doc.model_dump(mode="json"),
                "upstream": links(upstream),
                "downstream": links(downstream),
            }
        )
        return
    sys.stdout.write(
        render_object_markdown(obj, doc, upstream=upstream, downstream=downstream, links=False)
    )
