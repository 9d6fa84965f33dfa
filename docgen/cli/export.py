"""`docgen export`: the documentation as an HTML catalog, Markdown files, or dbt schema .yml
descriptions written back into a dbt project."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from docgen.cli._common import engine, err
from docgen.db.engine import transaction
from docgen.errors import InvalidInput
from docgen.render.data import Catalog, load_catalog
from docgen.render.dbt_yaml import WRITING_ACTIONS, DbtProject, load_project, write_back

FORMATS = ("html", "markdown", "dbt-yaml")

OUT = typer.Option(
    None,
    "--out",
    help="Output directory (html, markdown): new, empty, or a previous docgen export (its "
    "stale pages are removed); for dbt-yaml, the dbt project.",
)
FORCE = typer.Option(
    False,
    "--force",
    help="html, markdown: write into a non-empty folder that is not a docgen export "
    "(replaces same-named files, deletes nothing).",
)
PROJECT = typer.Option(
    None, "--project", help="dbt-yaml: the dbt project whose schema .yml files are edited."
)
SELECT = typer.Option(
    None, "--select", help="Only objects whose name matches this glob (repeatable)."
)
APPROVED_ONLY = typer.Option(
    False, "--approved-only", help="Only documentation a person approved (docgen docs approve)."
)


def export_command(
    org: str = typer.Option(..., "--org", help="Organization name or id."),
    fmt: str = typer.Option(..., "--format", help="html, markdown or dbt-yaml."),
    out_text: str | None = OUT,
    project: Path | None = PROJECT,
    select: list[str] | None = SELECT,
    overwrite: bool = typer.Option(
        False, "--overwrite", help="dbt-yaml: replace human-written descriptions too."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="dbt-yaml: print the diff and write nothing."
    ),
    with_narrative: bool = typer.Option(
        False, "--with-narrative", help="dbt-yaml: append the business narrative."
    ),
    force: bool = FORCE,
    approved_only: bool = APPROVED_ONLY,
) -> None:
    """Export the current documentation of an organization's objects."""
    if fmt not in FORMATS:
        raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if out_text is not None and not out_text.strip():
        raise InvalidInput('--out must name a folder (got ""); use --out . for this one')
    out = Path(out_text) if out_text is not None else None
    if fmt == "dbt-yaml":
        if force:
            raise InvalidInput("--force only applies to --format html or markdown")
        target = _dbt_project(out, project)
        with transaction(engine()) as conn:
            catalog = load_catalog(conn, org, select or None, approved_only=approved_only)
        _dbt_yaml(catalog, target, overwrite, dry_run, with_narrative)
        return
    flags = (("--overwrite", overwrite), ("--dry-run", dry_run))
    used = [name for name, value in (*flags, ("--with-narrative", with_narrative)) if value]
    if project is not None:
        used.append("--project")
    if used:
        raise InvalidInput(f"{', '.join(used)} only apply to --format dbt-yaml")
    if out is None:
        raise InvalidInput(f"--format {fmt} needs --out DIR")
    from docgen.render.html import write_html
    from docgen.render.markdown import write_markdown

    writer = write_html if fmt == "html" else write_markdown
    with transaction(engine()) as conn:
        catalog = load_catalog(conn, org, select or None, approved_only=approved_only)
    written = writer(catalog, out, force=force)
    err.print(
        f"wrote {len(written)} files to {out} ({len(catalog.documented)} of "
        f"{len(catalog.entries)} objects documented)",
        markup=False,
        soft_wrap=True,
    )
    sys.stdout.write(f"{written[0]}\n")


def _dbt_project(out: Path | None, project: Path | None) -> DbtProject:
    """The dbt project to edit, checked before any database work."""
    if out is not None and project is not None and out.resolve() != project.resolve():
        raise InvalidInput("give the dbt project once: --project DIR (or --out DIR), not both")
    target = project or out
    if target is None:
        raise InvalidInput("--format dbt-yaml needs --project DIR (the dbt project to edit)")
    return load_project(target)


def _dbt_yaml(
    catalog: Catalog, target: DbtProject, overwrite: bool, dry_run: bool, with_narrative: bool
) -> None:
    plan = write_back(
        target,
        [(e.obj, e.doc) for e in catalog.entries],
        overwrite=overwrite,
        with_narrative=with_narrative,
        dry_run=dry_run,
    )
    for warning in plan.warnings:
        err.print(f"warning: {warning}", markup=False, soft_wrap=True)
    for outcome in plan.outcomes:
        err.print(
            f"{outcome.schema_file}: {outcome.model}: {outcome.action}",
            markup=False,
            soft_wrap=True,
        )
    if plan.not_in_yaml:
        err.print(
            f"not in any schema .yml (add an entry to write them): {', '.join(plan.not_in_yaml)}",
            markup=False,
            soft_wrap=True,
        )
    counts = plan.counts()
    kept = counts["kept_human"]
    summary = ", ".join(f"{counts[a]} {a}" for a in sorted(WRITING_ACTIONS))
    err.print(
        f"{summary}, {kept} human descriptions kept, {plan.columns_written} column descriptions"
        " written" + (" (dry run)" if dry_run else ""),
        soft_wrap=True,
    )
    if dry_run:
        sys.stdout.write(plan.diff())
    else:
        for rel in sorted(plan.changes):
            sys.stdout.write(f"{plan.project.root / rel}\n")
