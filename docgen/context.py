"""What the LLM (or the offline analyser) is told about one object.

The context holds the object itself (code, compiled code, columns, human description), the
current documentation of its upstream objects (so a mart's documentation builds on its
staging models' summaries) and the names of its downstream consumers (for the impact layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from docgen.db import documentation
from docgen.db.objects import DataObject, get_object, get_objects


@dataclass(frozen=True)
class RelatedObject:
    id: UUID
    name: str
    object_type: str
    #: the current executive summary, or the human description, or None
    summary: str | None = None


@dataclass(frozen=True)
class ObjectContext:
    object: DataObject
    upstream: tuple[RelatedObject, ...] = ()
    downstream: tuple[RelatedObject, ...] = ()


def load_context(conn: Connection, object_id: UUID) -> ObjectContext:
    obj = get_object(conn, object_id)
    upstream_objects = get_objects(conn, obj.upstream_object_ids)
    docs = documentation.current_for_objects(conn, list(upstream_objects))
    upstream = tuple(
        RelatedObject(
            u.id,
            u.name,
            u.object_type,
            (docs[u.id].executive_summary if u.id in docs else None) or u.description,
        )
        for u in sorted(upstream_objects.values(), key=lambda o: (o.name, o.unique_key))
    )
    rows = conn.execute(
        sa.text(
            "SELECT id, name, object_type, description FROM metadata.objects"
            " WHERE :i = ANY(upstream_object_ids) AND removed_at IS NULL"
            " ORDER BY name, unique_key"
        ),
        {"i": object_id},
    )
    downstream = tuple(RelatedObject(r.id, r.name, r.object_type, r.description) for r in rows)
    return ObjectContext(obj, upstream, downstream)
