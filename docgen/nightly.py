"""What nightly re-documentation selects: objects whose documentation is out of date.

An object is stale when it has no current documentation, or when the hash of what its
documentation would be made from now (code and compiled code, columns, the current
documentation of its upstream objects, prompt version, model) differs from the hash stored
with its current version (or with a proposal still awaiting review: docgen.review).
Everything downstream of a stale object is stale too: once the
upstream is re-documented, its new summary is part of their context.
"""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from docgen.context import load_contexts
from docgen.db import documentation, orgs
from docgen.db.objects import list_objects
from docgen.prompts import context_hash
from docgen.providers.offline import OFFLINE_MODEL
from docgen.review import latest_hashes

SYSTEM_USER_EMAIL = "nightly@system.docgen"


def model_for(conn: Connection, organization_id: UUID) -> str:
    settings = orgs.get_llm_settings(conn, organization_id)
    return OFFLINE_MODEL if settings.provider == "offline" else settings.model


def stale_objects(conn: Connection, organization_id: UUID) -> list[UUID]:
    """Ids of the organization's current objects that need new documentation."""
    objects = list_objects(conn, organization_id)
    ids = [o.id for o in objects]
    if not ids:
        return []
    model = model_for(conn, organization_id)
    contexts = load_contexts(conn, ids)
    current = documentation.current_for_objects(conn, ids)
    made_from = latest_hashes(conn, ids)  # current versions and pending proposals
    changed = {
        object_id
        for object_id in ids
        if object_id not in current
        or context_hash(contexts[object_id], model) not in made_from.get(object_id, set())
    }
    downstream: dict[UUID, list[UUID]] = {}
    for obj in objects:
        for parent in obj.upstream_object_ids:
            downstream.setdefault(parent, []).append(obj.id)
    stale = set(changed)
    frontier = list(changed)
    while frontier:
        for child in downstream.get(frontier.pop(), []):
            if child not in stale:
                stale.add(child)
                frontier.append(child)
    return [object_id for object_id in ids if object_id in stale]


def system_user(conn: Connection, organization_id: UUID) -> orgs.User:
    """The system user that triggers nightly jobs, an admin of the organization."""
    return orgs.add_user(conn, organization_id, SYSTEM_USER_EMAIL, "admin", is_system=True)


def organizations_to_check(conn: Connection, organization: str | UUID | None) -> list[UUID]:
    if organization is not None:
        return [orgs.get_organization(conn, organization).id]
    return [r.id for r in conn.execute(sa.text("SELECT id FROM enterprise.organizations"))]
