"""Store what a source holds as metadata.objects of an organization.

The source is read completely first (`docgen.sources`); only then is anything written, in one
transaction under an advisory lock per organization and source scope. So a source that
cannot be read, or a crash half-way, leaves the stored objects as they were.

- New objects are inserted, objects whose fields differ are updated, the rest is untouched
  (ingesting the same source twice changes nothing, not even `updated_at`).
- `content_hash` is a SHA-256 over an object's code, compiled code and language and the hashes
  of its upstream objects, so editing one model changes its hash and every hash downstream.
- Objects of the same scope that the source no longer holds are marked removed
  (`removed_at`), never deleted: their documentation stays. One that comes back is restored.
- Relations a source reads but does not define (`raw.orders` in a SQL folder) are matched by
  name against the organization's other objects (a dbt source, a PostgreSQL table); the
  names that match nothing stay in `properties.external_upstreams`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection, Engine

from docgen.db import orgs
from docgen.db.engine import transaction
from docgen.db.objects import list_objects
from docgen.errors import InvalidInput
from docgen.model import DataObject
from docgen.sources.base import IngestWarning, SourceKind, SourceObject, SourceResult

SOURCE_KINDS: tuple[SourceKind, ...] = ("dbt", "sql", "postgres", "python")


class IngestReport(BaseModel):
    organization_id: UUID
    kind: SourceKind
    scope: str
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    warnings: list[IngestWarning] = Field(default_factory=list)

    @property
    def total(self) -> int:
        return self.added + self.changed + self.unchanged


def read_source(
    kind: str,
    source: str | Path,
    *,
    dialect: str | None = None,
    schemas: list[str] | None = None,
    ctes: bool = False,
) -> SourceResult:
    """Read a source without touching docgen's database."""
    if kind == "dbt":
        from docgen.sources.dbt import read_dbt

        return read_dbt(source, dialect=dialect)
    if kind == "sql":
        from docgen.sources.sql import read_sql

        return read_sql(source, dialect=dialect, ctes=ctes)
    if kind == "postgres":
        from docgen.sources.postgres import read_postgres

        return read_postgres(str(source), schemas=schemas)
    if kind == "python":
        from docgen.sources.python import read_python

        return read_python(source)
    raise InvalidInput(f"unknown source kind {kind!r} (use {', '.join(SOURCE_KINDS)})")


def ingest_source(
    engine: Engine,
    organization_id: UUID,
    kind: str,
    source: str | Path,
    *,
    dialect: str | None = None,
    schemas: list[str] | None = None,
    ctes: bool = False,
) -> IngestReport:
    result = read_source(kind, source, dialect=dialect, schemas=schemas, ctes=ctes)
    with transaction(engine) as conn:
        return store(conn, organization_id, result)


# --- storing --------------------------------------------------------------------------------

_FIELDS = (
    "object_type", "name", "code", "compiled_code", "language", "dialect", "columns",
    "upstream_object_ids", "source_path", "source_kind", "database_name", "schema_name",
    "description", "materialization", "tags", "properties", "content_hash",
)  # fmt: skip


def _aliases(name: str) -> list[str]:
    parts = name.lower().split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def _external_index(others: list[DataObject]) -> dict[str, list[DataObject]]:
    """Organization objects by every name a query could use for them."""
    index: dict[str, list[DataObject]] = {}
    for obj in others:
        names = {*_aliases(obj.name)}
        relation = obj.properties.get("relation")
        if isinstance(relation, str):
            names.update(_aliases(relation))
        if obj.schema_name and "." not in obj.name:
            names.add(f"{obj.schema_name}.{obj.name}".lower())
        for name in names:
            index.setdefault(name, []).append(obj)
    return index


def _content_hashes(
    objects: dict[str, SourceObject], external_hashes: dict[str, list[str]]
) -> dict[str, str]:
    """Each object's hash over its code and its upstreams' hashes (cycles cut, not followed)."""
    hashes: dict[str, str] = {}
    visiting: set[str] = set()

    def visit(key: str) -> str:
        if key in hashes:
            return hashes[key]
        visiting.add(key)
        obj = objects[key]
        upstream = sorted(
            [visit(k) if k not in visiting else f"cycle:{k}" for k in obj.upstream_keys]
            + external_hashes.get(key, [])
        )
        payload = json.dumps(
            [obj.code, obj.compiled_code or "", obj.language, upstream], ensure_ascii=False
        )
        visiting.discard(key)
        hashes[key] = hashlib.sha256(payload.encode()).hexdigest()
        return hashes[key]

    for key in objects:
        # iterative depth guard: deep chains recurse, so walk upstream-first without recursion
        _visit_iteratively(key, objects, hashes, visit)
    return hashes


def _visit_iteratively(
    key: str, objects: dict[str, SourceObject], hashes: dict[str, str], visit: Any
) -> None:
    """Hash the upstreams of `key` deepest-first so `visit` never recurses far."""
    stack, seen, order = [key], set(), []
    while stack:
        current = stack.pop()
        if current in seen or current in hashes:
            continue
        seen.add(current)
        order.append(current)
        stack.extend(k for k in objects[current].upstream_keys if k in objects and k not in hashes)
    for current in reversed(order):
        visit(current)


def store(conn: Connection, organization_id: UUID, result: SourceResult) -> IngestReport:
    """Write a read source into metadata.objects (the caller owns the transaction)."""
    orgs.get_organization(conn, organization_id)
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"docgen-ingest:{organization_id}:{result.scope}"},
    )
    report = IngestReport(
        organization_id=organization_id, kind=result.kind, scope=result.scope,
        warnings=result.warnings,
    )  # fmt: skip
    objects: dict[str, SourceObject] = {}
    unusable: set[str] = set()
    for obj in result.objects:
        if problem := unusable_reason(obj):
            report.warnings.append(
                IngestWarning(
                    path=_printable(obj.source_path or obj.unique_key),
                    message=f"object '{_printable(obj.name)}' {problem}; skipped, the rest of "
                    "the source is stored",
                )
            )
            unusable.add(obj.unique_key)
            continue
        if obj.unique_key in objects:
            report.warnings.append(
                IngestWarning(
                    path=obj.source_path or obj.unique_key,
                    message=f"{obj.unique_key} defined twice; the first one is kept",
                )
            )
            continue
        objects[obj.unique_key] = obj
    for obj in objects.values():
        obj.upstream_keys = [k for k in obj.upstream_keys if k in objects and k != obj.unique_key]

    existing = {o.unique_key: o for o in list_objects(conn, organization_id, include_removed=True)}
    index = _external_index(
        [o for k, o in existing.items() if k not in objects and o.removed_at is None]
    )
    external_ids: dict[str, list[UUID]] = {}
    external_hashes: dict[str, list[str]] = {}
    unresolved: dict[str, list[str]] = {}
    for key, obj in objects.items():
        for name in obj.external_upstreams:
            matches = index.get(name.lower(), [])
            if len(matches) == 1:
                external_ids.setdefault(key, []).append(matches[0].id)
                external_hashes.setdefault(key, []).append(matches[0].content_hash)
            else:
                unresolved.setdefault(key, []).append(name)
    hashes = _content_hashes(objects, external_hashes)
    ids = {key: existing[key].id if key in existing else uuid.uuid4() for key in objects}

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, obj in objects.items():
        properties = {**obj.properties, "ingest_scope": result.scope}
        if unresolved.get(key):
            properties["external_upstreams"] = sorted(set(unresolved[key]))
        row: dict[str, Any] = {
            "object_type": obj.object_type,
            "name": obj.name,
            "code": obj.code,
            "compiled_code": obj.compiled_code,
            "language": obj.language,
            "dialect": obj.dialect,
            "columns": [c.model_dump() for c in obj.columns],
            "upstream_object_ids": list(
                dict.fromkeys([ids[k] for k in obj.upstream_keys] + external_ids.get(key, []))
            ),
            "source_path": obj.source_path,
            "source_kind": result.kind,
            "database_name": obj.database_name,
            "schema_name": obj.schema_name,
            "description": obj.description,
            "materialization": obj.materialization,
            "tags": list(obj.tags),
            "properties": properties,
            "content_hash": hashes[key],
        }
        before = existing.get(key)
        if before is None:
            inserts.append({"id": ids[key], "unique_key": key, **row})
            report.added += 1
        elif before.removed_at is None and _same(before, row):
            report.unchanged += 1
        else:
            updates.append({"id": ids[key], **row})
            report.changed += 1

    kept = set(result.kept_paths)
    gone = [
        o.id
        for k, o in existing.items()
        if k not in objects
        and k not in unusable  # kept as it was, like an unreadable file's objects
        and o.removed_at is None
        and o.properties.get("ingest_scope") == result.scope
        and o.source_path not in kept
    ]
    _write(conn, organization_id, inserts, updates, gone)
    report.removed = len(gone)
    return report


#: the longest object name or unique key stored (a btree index entry must stay small)
MAX_NAME_CHARS = 1000


def unusable_reason(obj: SourceObject) -> str | None:
    """Why an object cannot be stored (PostgreSQL text holds no NUL byte; a name must be
    short and not blank), or None. Checked for every source kind before anything is
    written, so one bad object never aborts the ingest of the others."""
    for label, value in (("name", obj.name), ("unique key", obj.unique_key)):
        if not value or not value.strip():
            return f"has a blank {label}"
        if len(value) > MAX_NAME_CHARS:
            return f"has a {label} of {len(value):,} characters (at most {MAX_NAME_CHARS:,})"
    where = _nul_field(obj)
    if where:
        return f"contains a NUL byte in its {where}"
    return None


def _nul_field(obj: SourceObject) -> str | None:
    fields: dict[str, Any] = {
        "name": obj.name,
        "unique key": obj.unique_key,
        "code": obj.code,
        "compiled code": obj.compiled_code,
        "description": obj.description,
        "path": obj.source_path,
        "location": (obj.database_name, obj.schema_name),
        "columns": [c.model_dump() for c in obj.columns],
        "tags": obj.tags,
        "properties": obj.properties,
        "upstreams": (obj.upstream_keys, obj.external_upstreams),
    }
    for label, value in fields.items():
        if _has_nul(value):
            return label
    return None


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _printable(text: str | None, limit: int = 80) -> str:
    """Text for a warning line: control characters escaped (a NUL shows as \\x00), long
    text cut with '...'."""
    value = "".join(c if c.isprintable() else repr(c)[1:-1] for c in (text or "")[:limit])
    return value + ("..." if text and len(text) > limit else "")


def _same(before: DataObject, row: dict[str, Any]) -> bool:
    current = before.model_dump(include=set(_FIELDS))
    return all(current[name] == row[name] for name in _FIELDS)


def _params(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "columns": json.dumps(row["columns"]),
        "properties": json.dumps(row["properties"]),
    }


def _write(
    conn: Connection,
    organization_id: UUID,
    inserts: list[dict[str, Any]],
    updates: list[dict[str, Any]],
    gone: list[UUID],
) -> None:
    assignments = ", ".join(
        f"{f} = CAST(:{f} AS jsonb)" if f in ("columns", "properties") else f"{f} = :{f}"
        for f in _FIELDS
    )
    if inserts:
        names = ["id", "unique_key", *_FIELDS]
        values = ", ".join(
            f"CAST(:{n} AS jsonb)" if n in ("columns", "properties") else f":{n}" for n in names
        )
        conn.execute(
            sa.text(
                f"INSERT INTO metadata.objects (organization_id, {', '.join(names)})"
                f" VALUES (:organization_id, {values})"
            ),
            [{"organization_id": organization_id, **_params(r)} for r in inserts],
        )
    if updates:
        conn.execute(
            sa.text(
                f"UPDATE metadata.objects SET {assignments}, removed_at = NULL, updated_at = now()"
                " WHERE id = :id AND organization_id = :organization_id"
            ),
            [{"organization_id": organization_id, **_params(r)} for r in updates],
        )
    if gone:
        conn.execute(
            sa.text(
                "UPDATE metadata.objects SET removed_at = now(), updated_at = now()"
                " WHERE id = ANY(:ids) AND organization_id = :o"
            ),
            {"ids": gone, "o": organization_id},
        )
