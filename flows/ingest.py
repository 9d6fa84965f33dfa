"""ingest: register a source's objects for an organization, from the Prefect UI or a schedule.

Two tasks: `read-source` (parses the dbt project, SQL folder, database catalog or Python
files; touches nothing stored) and `store-objects` (one transaction). The counts and every
warning go to a Markdown artifact `ingest-<organization>`. With `document_changes`, the
nightly-redocumentation flow runs afterwards for the organization, so what was added or
changed (and everything downstream of it) gets documented.
"""

from __future__ import annotations

from typing import Literal

import anyio
from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from docgen.db import orgs
from docgen.db.engine import get_engine, transaction
from docgen.errors import SourceError
from docgen.ingest import IngestReport, read_source, store
from docgen.sources.base import SourceResult
from docgen.sources.postgres import password_in_url
from flows.forms import IngestSource, OrganizationRef, has_password
from flows.secrets import load_secret, load_secret_blocks

#: `source="secret:BLOCK"`: a PostgreSQL URL kept in a Prefect Secret block
SECRET_PREFIX = "secret:"

#: postgres: the schemas read unless the form names others
DEFAULT_SCHEMAS: list[str] = ["public"]

#: warnings listed in the artifact (the rest are counted)
ARTIFACT_WARNINGS = 200


@task(name="read-source", cache_policy=NO_CACHE)
async def read_source_task(
    kind: str, source: str, dialect: str | None, schemas: list[str] | None, ctes: bool
) -> SourceResult:
    if kind == "postgres" and source.startswith(SECRET_PREFIX):
        # resolved here, inside the task, so the URL is never a parameter Prefect stores
        source = await load_secret(source.removeprefix(SECRET_PREFIX), "source")
    return await anyio.to_thread.run_sync(
        lambda: read_source(kind, source, dialect=dialect, schemas=schemas, ctes=ctes)
    )


@task(name="store-objects", cache_policy=NO_CACHE)
async def store_objects(organization: str, result: SourceResult) -> IngestReport:
    def _store() -> IngestReport:
        with transaction(get_engine()) as conn:
            organization_id = orgs.get_organization(conn, organization).id
            return store(conn, organization_id, result)

    return await anyio.to_thread.run_sync(_store)


def report_markdown(report: IngestReport) -> str:
    lines = [
        f"# Ingest {report.kind}: {report.scope}",
        "",
        "| added | changed | unchanged | removed | warnings |",
        "|---:|---:|---:|---:|---:|",
        f"| {report.added} | {report.changed} | {report.unchanged} | {report.removed}"
        f" | {len(report.warnings)} |",
    ]
    if report.warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- `{w}`" for w in report.warnings[:ARTIFACT_WARNINGS]]
        if len(report.warnings) > ARTIFACT_WARNINGS:
            lines.append(f"- ... and {len(report.warnings) - ARTIFACT_WARNINGS} more")
    return "\n".join(lines) + "\n"


@flow(name="ingest", persist_result=False)
async def ingest(
    organization: OrganizationRef,
    kind: Literal["dbt", "sql", "postgres", "python"],
    source: IngestSource,
    dialect: str = "",
    schemas: list[str] = DEFAULT_SCHEMAS,
    ctes: bool = False,
    document_changes: bool = False,
) -> IngestReport:
    """Register the objects of a dbt project (folder or manifest.json), a folder of SQL files,
    a PostgreSQL database's schemas or Python dataframe code for an organization.

    Args:
        organization: organization name or id.
        kind: dbt, sql, postgres or python.
        source: a path on the worker's machine; for postgres a postgresql:// URL without
            password (libpq reads PGPASSWORD or ~/.pgpass), env:VARIABLE naming the
            worker's environment variable that holds the URL, or secret:BLOCK naming a
            Prefect Secret block that holds it. A URL with a password is refused before
            the run is created (Prefect would store it with the run's parameters).
        dialect: SQL dialect of the code (snowflake, bigquery, postgres, duckdb...); empty:
            the project's own (dbt) or sqlglot's default.
        schemas: postgres only: schemas to read.
        ctes: sql only: register each CTE as its own object.
        document_changes: afterwards, document what is new or changed (nightly-redocumentation).
    """
    logger = get_run_logger()
    # the deployment's server refuses these before the run exists (flows/forms.py); a
    # direct call of the flow gets here
    if has_password(source) or (kind == "postgres" and password_in_url(source)):
        raise SourceError(
            "flow parameters are stored by Prefect: give the database URL without its password"
            " (set PGPASSWORD or ~/.pgpass on the worker), as env:VARIABLE or as secret:BLOCK"
        )
    await load_secret_blocks()
    result = await read_source_task(kind, source, dialect or None, list(schemas) or None, ctes)
    report = await store_objects(organization, result)
    logger.info(
        "%s: %d added, %d changed, %d unchanged, %d removed, %d warnings",
        report.scope,
        report.added,
        report.changed,
        report.unchanged,
        report.removed,
        len(report.warnings),
    )
    await acreate_markdown_artifact(
        key=f"ingest-{report.organization_id}",
        markdown=report_markdown(report),
        description=f"ingest {report.kind} {report.scope}",
    )
    if document_changes:
        from flows.nightly import nightly_redocumentation

        await nightly_redocumentation(organization=str(report.organization_id))
    return report
