"""`docgen docs history | diff | rollback | show | approve | reject | edit | pending`: the
versions of one object's documentation and their review.

OBJECT is an object id, or its name (or unique key) together with --org.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.engine import Connection

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
            {
                **f.__dict__,
                "id": str(v.id),
                "status": v.generation_status,
                "review_state": v.review_state,
                "reviewed_by": v.reviewed_by,
                "edited_layers": v.edited_layers,
            }
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
            f"  {f.tokens} tokens  {f.cost}  {v.review_state}{failed}{_masked(v)}\n"
        )


def _masked(doc: Documentation) -> str:
    """What privacy masking hid from the LLM for this version ('' when nothing)."""
    masked = doc.generation_metadata.get("privacy_masked") or {}
    if not isinstance(masked, dict) or not masked:
        return ""
    return "  masked: " + ", ".join(f"{kind} {count}" for kind, count in sorted(masked.items()))


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
        from docgen.review import pending_proposal

        proposal = pending_proposal(conn, obj.id) if v1 is None and v2 is None else None
        current = next((v for v in versions if v.is_current), None)
        if proposal is not None and current is not None:  # what awaits review
            old_number, new_number = current.version, proposal.version
        else:
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


# --- review (docgen/review.py) ----------------------------------------------------------------

LAYER = typer.Option(None, "--layer", help="One layer, e.g. business_rules (default: all).")
VERSION = typer.Option(
    None, "--version", help="The version (default: the pending proposal, else the current one)."
)
BY = typer.Option(
    None,
    "--by",
    envvar="DOCGEN_USER",
    help="Who reviews (default: $DOCGEN_USER, else the login name).",
)


FROM_FILE = typer.Option(
    None, "--file", help="Read the new layer from a file instead of opening $EDITOR."
)


def _reviewer(by: str | None) -> str:
    import getpass

    name = (by or "").strip() or getpass.getuser()
    if len(name) > 200:
        raise InvalidInput("--by is longer than 200 characters")
    return name


def _review(object_ref: str, org: str | None, act: Callable[[Connection, Any], Any]) -> None:
    """Resolve OBJECT, apply one review action in a transaction, report it."""
    with transaction(engine()) as conn:
        result = act(conn, resolve_object(conn, object_ref, org))
    err.print(result.message, markup=False)
    sys.stdout.write(f"{result.doc.id}\n")


@app.command()
def approve(
    object_ref: str = OBJECT,
    org: str | None = ORG,
    layer: str | None = LAYER,
    version: int | None = VERSION,
    by: str | None = BY,
) -> None:
    """Approve what awaits review: a proposal becomes current; with --layer only that layer
    is approved (from a proposal: copied into a new current version)."""
    from docgen import review

    reviewer = _reviewer(by)
    _review(
        object_ref,
        org,
        lambda conn, obj: review.approve(conn, obj, by=reviewer, layer=layer, version=version),
    )


@app.command()
def reject(
    object_ref: str = OBJECT,
    reason: str = typer.Option(..., "--reason", help="Why (shown to the team)."),
    org: str | None = ORG,
    layer: str | None = LAYER,
    version: int | None = VERSION,
    by: str | None = BY,
) -> None:
    """Reject what awaits review (a proposal stays out of the catalog), with a reason."""
    from docgen import review

    reviewer = _reviewer(by)
    _review(
        object_ref,
        org,
        lambda conn, obj: review.reject(
            conn, obj, by=reviewer, reason=reason, layer=layer, version=version
        ),
    )


@app.command()
def edit(
    object_ref: str = OBJECT,
    layer: str = typer.Option(..., "--layer", help="The layer to edit, e.g. executive_summary."),
    org: str | None = ORG,
    from_file: Path | None = FROM_FILE,
    by: str | None = BY,
) -> None:
    """Edit one layer of the current version in $EDITOR (text for the summary, JSON for the
    others); it is checked against the layer's shape and stored as a new, human-edited
    version that regenerations will not replace silently."""
    from docgen import review

    checked = review.check_layer(layer)
    assert checked is not None
    with transaction(engine()) as conn:
        obj = resolve_object(conn, object_ref, org)
        base = documentation.current(conn, obj.id)
        if base is None:
            raise NotFound(f"object {obj.name} has no documentation to edit yet")
        original = review.layer_text(base, checked)
    if from_file is not None:
        try:
            text = from_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read {from_file}: {exc.strerror}") from None
    else:
        text = _edit_in_editor(original, ".txt" if checked == "executive_summary" else ".json")
    value = review.parse_layer_text(checked, text)
    with transaction(engine()) as conn:
        obj = resolve_object(conn, object_ref, org)
        current = documentation.current(conn, obj.id)
        if current is None or current.id != base.id:
            raise InvalidInput(
                f"{obj.name} got a new version while you were editing; run the command again"
            )
        stored = review.edit_layer(conn, obj, checked, value, by=_reviewer(by))
    if stored is None:
        err.print(f"{obj.name}: {checked} unchanged; nothing stored", markup=False)
        return
    err.print(f"{obj.name}: v{stored.version} stored with your {checked}", markup=False)
    sys.stdout.write(f"{stored.id}\n")


def _edit_in_editor(text: str, suffix: str) -> str:
    """Open $VISUAL/$EDITOR on `text` in a temporary file and return what was saved."""
    import os
    import shlex
    import subprocess
    import tempfile

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise InvalidInput("set $EDITOR (or use --file FILE) to edit documentation")
    with tempfile.TemporaryDirectory(prefix="docgen-edit-") as folder:
        path = Path(folder) / f"layer{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            result = subprocess.run([*shlex.split(editor), str(path)], check=False)
        except OSError as exc:
            raise InvalidInput(f"cannot start the editor {editor!r}: {exc.strerror}") from None
        if result.returncode != 0:
            raise InvalidInput(f"the editor exited with {result.returncode}; nothing stored")
        return path.read_text(encoding="utf-8")


@app.command()
def pending(
    org: str = typer.Option(..., "--org", help="Organization name or id."),
    drafts: bool = typer.Option(
        False, "--drafts", help="Also list current versions nobody has reviewed yet."
    ),
    as_json: bool = AS_JSON,
) -> None:
    """List what awaits review: proposals made beside approved or edited documentation."""
    from docgen import review
    from docgen.db.orgs import get_organization

    with transaction(engine()) as conn:
        organization = get_organization(conn, org)
        items = review.pending(conn, organization.id, include_drafts=drafts)
    rows = [
        {
            "object_id": str(i.obj.id),
            "name": i.obj.name,
            "version": i.doc.version,
            "state": i.doc.review_state,
            "current_version": i.current_version,
            "created_at": i.doc.created_at.isoformat(),
        }
        for i in items
    ]
    if as_json:
        print_json({"organization": organization.name, "pending": rows})
        return
    if not rows:
        err.print(f"nothing awaits review in {organization.name}", markup=False)
        return
    for row in rows:
        what = (
            f"proposal v{row['version']} beside current v{row['current_version']}"
            if row["state"] == "proposed"
            else f"v{row['version']} not reviewed yet"
        )
        sys.stdout.write(f"{row['name']}  {what}\n")
    err.print(
        "review with: docgen docs diff NAME --org ORG, then docgen docs approve|reject NAME",
        markup=False,
    )
