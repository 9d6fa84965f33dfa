"""metadata.objects: reading objects and turning a user's selection into object ids.

Writing objects from sources (with content hashes and removal marks) is `docgen.ingest`'s job;
`insert_object` here is the plain primitive it and the tests use.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection

from docgen.errors import InvalidInput, NotFound, PermissionDenied
from docgen.model import OBJECT_TYPES, Column, DataObject, ObjectType, Selection

__all__ = [
    "OBJECT_TYPES",
    "Column",
    "DataObject",
    "ObjectType",
    "Selection",
    "downstream_ids",
    "get_object",
    "get_objects",
    "insert_object",
    "list_objects",
    "resolve_selection",
]

_COLUMNS = (
    "id, organization_id, object_type, name, unique_key, code, compiled_code, language, dialect,"
    " columns, upstream_object_ids, source_path, source_kind, database_name, schema_name,"
    " description, materialization, tags, properties, content_hash, removed_at, created_at,"
    " updated_at"
)


def _object(row: sa.Row[Any]) -> DataObject:
    return DataObject.model_validate(row._mapping)


def insert_object(conn: Connection, organization_id: UUID, **fields: Any) -> DataObject:
    """Insert one object; `fields` are metadata.objects columns (name, unique_key, code...)."""
    values: dict[str, Any] = {"organization_id": organization_id, **fields}
    values.setdefault("unique_key", values.get("name"))
    values.setdefault("object_type", "view")
    values.setdefault("content_hash", "")
    if "columns" in values:
        values["columns"] = json.dumps(
            [c.model_dump() if isinstance(c, BaseModel) else c for c in values["columns"]]
        )
    if "properties" in values:
        values["properties"] = json.dumps(values["properties"])
    names = list(values)
    placeholders = [
        f"CAST(:{n} AS jsonb)" if n in ("columns", "properties") else f":{n}" for n in names
    ]
    row = conn.execute(
        sa.text(
            f"INSERT INTO metadata.objects ({', '.join(names)}) VALUES ({', '.join(placeholders)})"
            f" RETURNING {_COLUMNS}"
        ),
        values,
    ).one()
    return _object(row)


def get_object(conn: Connection, object_id: UUID) -> DataObject:
    row = conn.execute(
        sa.text(f"SELECT {_COLUMNS} FROM metadata.objects WHERE id = :i"), {"i": object_id}
    ).first()
    if row is None:
        raise NotFound(f"unknown object {object_id}")
    return _object(row)


def get_objects(conn: Connection, object_ids: list[UUID]) -> dict[UUID, DataObject]:
    if not object_ids:
        return {}
    rows = conn.execute(
        sa.text(f"SELECT {_COLUMNS} FROM metadata.objects WHERE id = ANY(:ids)"),
        {"ids": list(object_ids)},
    )
    return {r.id: _object(r) for r in rows}


def list_objects(
    conn: Connection, organization_id: UUID, *, include_removed: bool = False
) -> list[DataObject]:
    removed = "" if include_removed else " AND removed_at IS NULL"
    rows = conn.execute(
        sa.text(
            f"SELECT {_COLUMNS} FROM metadata.objects WHERE organization_id = :o{removed}"
            " ORDER BY name, unique_key"
        ),
        {"o": organization_id},
    )
    return [_object(r) for r in rows]


def downstream_ids(conn: Connection, object_id: UUID) -> list[UUID]:
    """Objects that list `object_id` among their upstreams (one level)."""
    rows = conn.execute(
        sa.text(
            "SELECT id FROM metadata.objects WHERE :i = ANY(upstream_object_ids)"
            " AND removed_at IS NULL ORDER BY name"
        ),
        {"i": object_id},
    )
    return [r.id for r in rows]


def resolve_selection(conn: Connection, organization_id: UUID, selection: Selection) -> list[UUID]:
    """The selected object ids, de-duplicated, in a stable order (explicit ids first).

    Explicit ids must exist and belong to the organization; globs and --all only see the
    organization's objects that are not marked removed. An empty result is an error.
    """
    chosen: list[UUID] = []
    seen: set[UUID] = set()
    if selection.object_ids:
        found = get_objects(conn, list(dict.fromkeys(selection.object_ids)))
        for object_id in dict.fromkeys(selection.object_ids):
            obj = found.get(object_id)
            if obj is None:
                raise NotFound(f"unknown object {object_id}")
            if obj.organization_id != organization_id:
                raise PermissionDenied(
                    f"object {object_id} does not belong to organization {organization_id}"
                )
            if object_id not in seen:
                seen.add(object_id)
                chosen.append(object_id)
    if selection.select or selection.all:
        for obj in list_objects(conn, organization_id):
            if obj.id in seen:
                continue
            if (selection.all and not obj.properties.get("disabled")) or any(
                fnmatch.fnmatchcase(obj.name, pattern)
                or fnmatch.fnmatchcase(obj.unique_key, pattern)
                for pattern in selection.select
            ):
                seen.add(obj.id)
                chosen.append(obj.id)
    if not chosen:
        raise InvalidInput("the selection matches no objects of this organization")
    return chosen
