"""A live PostgreSQL database: tables, views and materialized views of chosen schemas.

Everything comes from the catalog in one read-only transaction: columns with their types and
comments, view definitions (`pg_get_viewdef`), and dependencies from `pg_depend` through the
views' rewrite rules, so a view over a view over a table gets both edges. Relations in other
schemas that a view reads are kept as external names. Partitions are folded into their parent.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from docgen.database_url import has_password, mask_url, psycopg_url
from docgen.errors import SourceError
from docgen.model import Column, ObjectType
from docgen.sources.base import SourceObject, SourceResult

_RELATIONS = sa.text(
    """
    SELECT c.oid, n.nspname AS schema_name, c.relname AS name, c.relkind,
           obj_description(c.oid, 'pg_class') AS comment,
           CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END AS definition
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY(:schemas)
       AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
       AND NOT c.relispartition
     ORDER BY n.nspname, c.relname
    """
)
_COLUMNS = sa.text(
    """
    SELECT a.attrelid AS oid, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS data_type,
           col_description(a.attrelid, a.attnum) AS comment, a.attnotnull AS not_null
      FROM pg_attribute a
     WHERE a.attrelid = ANY(:oids) AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attrelid, a.attnum
    """
)
# views and materialized views depend on relations through their rewrite rule
_DEPENDENCIES = sa.text(
    """
    SELECT DISTINCT r.ev_class AS dependent, d.refobjid AS referenced,
           rn.nspname AS ref_schema, rc.relname AS ref_name
      FROM pg_rewrite r
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                      AND d.refclassid = 'pg_class'::regclass
      JOIN pg_class rc ON rc.oid = d.refobjid
      JOIN pg_namespace rn ON rn.oid = rc.relnamespace
     WHERE r.ev_class = ANY(:oids) AND d.refobjid <> r.ev_class
       AND rc.relkind IN ('r', 'p', 'v', 'm', 'f')
    """
)
_KINDS: dict[str, ObjectType] = {"r": "table", "p": "table", "f": "table", "v": "view", "m": "view"}
_MATERIALIZATION = {
    "r": "table",
    "p": "table",
    "f": "foreign_table",
    "v": "view",
    "m": "materialized_view",
}


def password_in_url(url: str) -> bool:
    return has_password(url)


def read_postgres(url: str, *, schemas: list[str] | None = None) -> SourceResult:
    """SOURCE is a postgresql:// URL, or env:VARIABLE naming an environment variable that
    holds one (so the password stays out of command lines and flow parameters)."""
    schemas = schemas or ["public"]
    if url.startswith("env:"):
        variable = url[4:]
        if not os.environ.get(variable):
            raise SourceError(f"environment variable {variable} is not set")
        url = os.environ[variable]
    if not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise SourceError("a PostgreSQL source must be a postgresql:// URL")
    try:
        engine = sa.create_engine(psycopg_url(url), poolclass=sa.pool.NullPool)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise SourceError(f"malformed PostgreSQL URL {mask_url(url)}") from exc
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            database = conn.execute(sa.text("SELECT current_database()")).scalar_one()
            present = set(
                conn.execute(
                    sa.text("SELECT nspname FROM pg_namespace WHERE nspname = ANY(:s)"),
                    {"s": schemas},
                ).scalars()
            )
            missing = [s for s in schemas if s not in present]
            if missing:
                raise SourceError(f"{mask_url(url)} has no schema {', '.join(missing)}")
            relations = conn.execute(_RELATIONS, {"schemas": schemas}).all()
            oids = [r.oid for r in relations]
            columns: dict[int, list[Any]] = defaultdict(list)
            for row in conn.execute(_COLUMNS, {"oids": oids}):
                columns[row.oid].append(row)
            dependencies: dict[int, list[Any]] = defaultdict(list)
            for row in conn.execute(_DEPENDENCIES, {"oids": oids}):
                dependencies[row.dependent].append(row)
    except sa.exc.DBAPIError as exc:
        reason = " ".join(str(exc.orig).split())[:200] if exc.orig else type(exc).__name__
        raise SourceError(f"cannot read PostgreSQL at {mask_url(url)}: {reason}") from exc
    except sa.exc.ArgumentError as exc:
        raise SourceError(f"malformed PostgreSQL URL {mask_url(url)}") from exc
    finally:
        engine.dispose()
    if not relations:
        raise SourceError(f"no tables or views in schema {', '.join(schemas)} of {mask_url(url)}")

    key = {r.oid: f"postgres:{database}.{r.schema_name}.{r.name}" for r in relations}
    objects = []
    for r in relations:
        cols = [
            Column(name=c.name, data_type=c.data_type, description=c.comment or None)
            for c in columns[r.oid]
        ]
        upstream, external = [], []
        for dep in sorted(dependencies[r.oid], key=lambda d: (d.ref_schema, d.ref_name)):
            if dep.referenced in key:
                upstream.append(key[dep.referenced])
            else:
                external.append(f"{dep.ref_schema}.{dep.ref_name}")
        objects.append(
            SourceObject(
                unique_key=key[r.oid],
                name=f"{r.schema_name}.{r.name}",
                object_type=_KINDS[r.relkind],
                code=_code(r, cols),
                dialect="postgres",
                columns=cols,
                upstream_keys=upstream,
                external_upstreams=external,
                database_name=database,
                schema_name=r.schema_name,
                description=r.comment or None,
                materialization=_MATERIALIZATION[r.relkind],
                properties={"relkind": r.relkind},
            )
        )
    host = psycopg_url(url)
    server = f"{host.host or 'localhost'}:{host.port or 5432}"
    scope = f"postgres:{server}/{database}/{','.join(sorted(schemas))}"
    return SourceResult(kind="postgres", scope=scope, objects=objects)


def _code(relation: Any, columns: list[Column]) -> str:
    qualified = f"{relation.schema_name}.{relation.name}"
    if relation.relkind in ("v", "m"):
        what = "MATERIALIZED VIEW" if relation.relkind == "m" else "VIEW"
        return f"CREATE {what} {qualified} AS\n{relation.definition.strip()}\n"
    body = ",\n".join(
        f"    {c.name} {c.data_type}"
        + (f"  -- {' '.join(c.description.split())}" if c.description else "")
        for c in columns
    )
    return f"CREATE TABLE {qualified} (\n{body}\n);\n"
