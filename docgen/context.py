"""What the LLM (or the offline analyser) is told about one object.

The context holds the object itself (code, compiled code, columns, human description), the
current documentation of its upstream objects (so a mart's documentation builds on its
staging models' summaries) and the names of its downstream consumers (for the impact layer).

The organization's prompt policies apply here, once, for every consumer (prompts, input
hashes, estimates, the offline analyser): with privacy on, the object's code and compiled
code are masked (`docgen.privacy`) and `masked` counts what was replaced; `style` carries the
house style (`docgen.style`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from docgen.db import documentation
from docgen.db.objects import get_objects
from docgen.db.policies import PrivacySettings, prompt_policies
from docgen.errors import NotFound
from docgen.model import Column, DataObject
from docgen.privacy import mask_code
from docgen.style import HouseStyle


@dataclass(frozen=True)
class RelatedObject:
    id: UUID
    name: str
    object_type: str
    #: the current executive summary, or the human description, or None
    summary: str | None = None
    #: upstream only: its declared columns and the code it runs (the offline analyser resolves
    #: `select *` over them)
    columns: tuple[Column, ...] = ()
    code: str = ""
    language: str = "sql"
    dialect: str | None = None


@dataclass(frozen=True)
class ObjectContext:
    object: DataObject
    upstream: tuple[RelatedObject, ...] = ()
    downstream: tuple[RelatedObject, ...] = ()
    #: the organization's house style (None: no style set)
    style: HouseStyle | None = None
    #: what privacy masking replaced in the code, by kind: (("email", 2), ("card", 1))
    masked: tuple[tuple[str, int], ...] = ()

    @property
    def masked_counts(self) -> dict[str, int]:
        return dict(self.masked)


def apply_privacy(obj: DataObject, privacy: PrivacySettings) -> tuple[DataObject, dict[str, int]]:
    """The object with its code and compiled code masked, and the counts by kind."""
    if not privacy.enabled:
        return obj, {}
    counts: dict[str, int] = {}
    update: dict[str, str] = {}
    for attribute in ("code", "compiled_code"):
        code = getattr(obj, attribute)
        if not code:
            continue
        masked = mask_code(
            code, language=obj.language, dialect=obj.dialect, max_literal=privacy.max_literal
        )
        update[attribute] = masked.code
        if attribute == "compiled_code" or not obj.compiled_code:  # count what the LLM reads
            counts = masked.counts
    return obj.model_copy(update=update), counts


def load_context(conn: Connection, object_id: UUID) -> ObjectContext:
    contexts = load_contexts(conn, [object_id])
    if object_id not in contexts:
        raise NotFound(f"unknown object {object_id}")
    return contexts[object_id]


def load_contexts(conn: Connection, object_ids: list[UUID]) -> dict[UUID, ObjectContext]:
    """Contexts of many objects in four queries (job estimates cover thousands)."""
    objects = get_objects(conn, object_ids)
    upstream_ids = {u for obj in objects.values() for u in obj.upstream_object_ids}
    neighbours = get_objects(conn, list(upstream_ids - objects.keys()))
    neighbours.update(objects)
    docs = documentation.current_for_objects(conn, list(upstream_ids))
    rows = conn.execute(
        sa.text(
            "SELECT o.id, o.name, o.object_type, o.description, u.target"
            " FROM metadata.objects AS o"
            " CROSS JOIN LATERAL unnest(o.upstream_object_ids) AS u(target)"
            " WHERE u.target = ANY(:ids) AND o.removed_at IS NULL"
        ),
        {"ids": list(objects)},
    )
    downstream: dict[UUID, list[RelatedObject]] = {}
    for r in rows:
        downstream.setdefault(r.target, []).append(
            RelatedObject(r.id, r.name, r.object_type, r.description)
        )
    contexts = {}
    for object_id, obj in objects.items():
        related = [neighbours[u] for u in obj.upstream_object_ids if u in neighbours]
        upstream = tuple(
            RelatedObject(
                u.id,
                u.name,
                u.object_type,
                (docs[u.id].executive_summary if u.id in docs else None) or u.description,
                tuple(u.columns),
                u.effective_code,
                u.language,
                u.dialect,
            )
            for u in sorted(related, key=lambda o: (o.name, o.unique_key))
        )
        below = sorted(downstream.get(object_id, []), key=lambda r: (r.name, str(r.id)))
        contexts[object_id] = ObjectContext(obj, upstream, tuple(below))
    return _with_policies(conn, contexts)


def _with_policies(
    conn: Connection, contexts: dict[UUID, ObjectContext]
) -> dict[UUID, ObjectContext]:
    policies = prompt_policies(conn, [c.object.organization_id for c in contexts.values()])
    for object_id, ctx in contexts.items():
        policy = policies[ctx.object.organization_id]
        obj, counts = apply_privacy(ctx.object, policy.privacy)
        contexts[object_id] = replace(
            ctx,
            object=obj,
            style=None if policy.style.empty else policy.style,
            masked=tuple(sorted(counts.items())),
        )
    return contexts
