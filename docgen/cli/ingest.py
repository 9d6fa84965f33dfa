"""`docgen ingest` and `docgen objects list`."""

from __future__ import annotations

import json
import sys
from enum import StrEnum

import typer
from rich.table import Table
from rich.text import Text

from docgen.cli._common import engine, err, id_column, out, printable
from docgen.db import orgs
from docgen.db.engine import transaction
from docgen.db.objects import list_objects

objects_app = typer.Typer(help="The organization's registered objects.", no_args_is_help=True)

#: warnings printed before "... and N more" (all of them with --json)
SHOWN_WARNINGS = 20


class Kind(StrEnum):
    dbt = "dbt"
    sql = "sql"
    postgres = "postgres"
    python = "python"


KIND = typer.Argument(
    ...,
    help="dbt (project folder or manifest.json), sql (folder of .sql files),"
    " postgres (database URL) or python (folder of .py files).",
)
SOURCE = typer.Argument(..., help="Path or, for postgres, a postgresql:// URL.")
DIALECT = typer.Option(
    None, "--dialect", help="SQL dialect: snowflake, bigquery, postgres, redshift, duckdb..."
)
SCHEMA = typer.Option(
    None, "--schema", help="postgres: schema to read (repeatable; default public)."
)
CTES = typer.Option(False, "--ctes", help="sql: register each CTE as its own object.")
ORG = typer.Option(..., "--org", help="Organization name or id.")
AS_JSON = typer.Option(False, "--json", help="Print JSON.")


def ingest_command(
    kind: Kind = KIND,
    source: str = SOURCE,
    org: str = ORG,
    dialect: str | None = DIALECT,
    schema: list[str] | None = SCHEMA,
    ctes: bool = CTES,
    as_json: bool = AS_JSON,
) -> None:
    """Register the objects of a source; prints added/changed/unchanged/removed counts."""
    from docgen.ingest import ingest_source

    eng = engine()
    with transaction(eng) as conn:
        organization = orgs.get_organization(conn, org)
    report = ingest_source(
        eng,
        organization.id,
        kind.value,
        source,
        dialect=dialect,
        schemas=schema or None,
        ctes=ctes,
    )
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    for warning in report.warnings[:SHOWN_WARNINGS]:
        err.print(Text.assemble(("warning", "yellow"), " ", printable(str(warning))))
    if len(report.warnings) > SHOWN_WARNINGS:
        err.print(
            f"... and {len(report.warnings) - SHOWN_WARNINGS} more warnings (--json lists all)"
        )
    out.print(
        f"{kind.value} {report.scope}: {report.added} added, {report.changed} changed,"
        f" {report.unchanged} unchanged, {report.removed} removed,"
        f" {len(report.warnings)} warnings"
    )


@objects_app.command("list")
def list_command(
    org: str = ORG,
    include_removed: bool = typer.Option(False, "--include-removed", help="Also removed objects."),
    as_json: bool = AS_JSON,
) -> None:
    """The organization's objects with their type, upstreams and source."""
    with transaction(engine()) as conn:
        organization = orgs.get_organization(conn, org)
        objects = list_objects(conn, organization.id, include_removed=include_removed)
    if as_json:
        rows = [o.model_dump(mode="json", exclude={"code", "compiled_code"}) for o in objects]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    names = {o.id: o.name for o in objects}
    table = Table(id_column(), "type", "name", "upstream", "source", "removed", box=None)
    for o in objects:
        upstream = ", ".join(names.get(u, str(u)[:8]) for u in o.upstream_object_ids)
        table.add_row(
            str(o.id),
            o.object_type,
            o.name,
            upstream,
            o.source_path or o.source_kind or "",
            "removed" if o.removed_at else "",
        )
    out.print(table)
    err.print(f"{len(objects)} objects")
