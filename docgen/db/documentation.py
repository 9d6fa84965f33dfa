"""metadata.object_documentation: versions of an object's documentation.

A new version is numbered max+1 under a lock on the object row and becomes the only current
one in the same transaction; the partial unique index `object_documentation_one_current`
makes a second current row impossible even for code that forgets this module.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from docgen.errors import NotFound

# the domain types live in docgen.model; re-exported for older imports
from docgen.model import LAYER_COLUMNS as LAYER_COLUMNS
from docgen.model import REVIEW_STATES as REVIEW_STATES
from docgen.model import Documentation as Documentation

_JSON_COLUMNS = set(LAYER_COLUMNS[1:]) | {"generation_metadata", "layer_reviews"}

_COLUMNS = (
    "id, object_id, organization_id, executive_summary, business_narrative,"
    " transformation_cards, code_explanations, business_rules, impact_analysis,"
    " complexity_score, version, is_current, generation_status, generated_by_model,"
    " generation_metadata, job_id, input_hash, created_at, updated_at, review_state,"
    " reviewed_by, reviewed_at, review_reason, layer_reviews, edited_layers, proposed_for,"
    " source_code"
)
_SELECT = f"SELECT {_COLUMNS} FROM metadata.object_documentation"


def _doc(row: sa.Row[Any]) -> Documentation:
    return Documentation.model_validate(row._mapping)


def insert_version(
    conn: Connection,
    organization_id: UUID,
    object_id: UUID,
    *,
    layers: dict[str, Any],
    complexity_score: int | None,
    generated_by_model: str | None,
    generation_metadata: dict[str, Any],
    generation_status: str = "completed",
    job_id: UUID | None = None,
    input_hash: str | None = None,
    proposal: bool = False,
    review: dict[str, Any] | None = None,
    protect: bool = False,
) -> Documentation:
    """Store a new current version; the previous current one stays as history.

    `proposal=True` stores it beside the current version instead (not current, review state
    `proposed`, superseding an older pending proposal). `review` sets review columns
    (review_state, reviewed_by, reviewed_at, layer_reviews, edited_layers, source_code).
    `protect=True` (what generation uses) makes it a proposal when the current version has
    layers a person edited or approved, decided under the object's lock.
    """
    locked = conn.execute(
        sa.text(
            "SELECT id FROM metadata.objects WHERE id = :o AND organization_id = :org FOR UPDATE"
        ),
        {"o": object_id, "org": organization_id},
    ).first()
    if locked is None:
        raise NotFound(f"object {object_id} does not exist in organization {organization_id}")
    if protect and not proposal:
        existing = current(conn, object_id)
        proposal = existing is not None and bool(existing.protected_layers())
    version = conn.execute(
        sa.text(
            "SELECT coalesce(max(version), 0) + 1 FROM metadata.object_documentation"
            " WHERE object_id = :o"
        ),
        {"o": object_id},
    ).scalar_one()
    review = dict(review or {})
    if proposal:
        conn.execute(
            sa.text(
                "UPDATE metadata.object_documentation SET review_state = 'superseded',"
                " updated_at = now() WHERE object_id = :o AND review_state = 'proposed'"
            ),
            {"o": object_id},
        )
        review.update(
            review_state="proposed",
            proposed_for=conn.execute(
                sa.text(
                    "SELECT version FROM metadata.object_documentation"
                    " WHERE object_id = :o AND is_current"
                ),
                {"o": object_id},
            ).scalar(),
        )
    else:
        conn.execute(
            sa.text(
                "UPDATE metadata.object_documentation SET is_current = false, updated_at = now()"
                " WHERE object_id = :o AND is_current"
            ),
            {"o": object_id},
        )
    values: dict[str, Any] = {column: layers.get(column) for column in LAYER_COLUMNS}
    for column in ("transformation_cards", "code_explanations", "business_rules"):
        if values[column] is None:
            values[column] = []
    values.update(
        object_id=object_id,
        organization_id=organization_id,
        complexity_score=complexity_score,
        version=version,
        is_current=not proposal,
        generation_status=generation_status,
        generated_by_model=generated_by_model,
        generation_metadata=generation_metadata,
        job_id=job_id,
        input_hash=input_hash,
        **review,
    )
    names = list(values)
    placeholders = [f"CAST(:{n} AS jsonb)" if n in _JSON_COLUMNS else f":{n}" for n in names]
    params = {
        n: (json.dumps(v) if n in _JSON_COLUMNS and v is not None else v) for n, v in values.items()
    }
    row = conn.execute(
        sa.text(
            f"INSERT INTO metadata.object_documentation ({', '.join(names)})"
            f" VALUES ({', '.join(placeholders)}) RETURNING {_COLUMNS}"
        ),
        params,
    ).one()
    return _doc(row)


def unchanged_current(
    conn: Connection,
    object_id: UUID,
    *,
    layers: dict[str, Any],
    complexity_score: int | None,
    generated_by_model: str | None,
    input_hash: str | None,
) -> Documentation | None:
    """The current version if a new one would say exactly the same: made from the same input
    (hash), by the same model, with equal layers and complexity. Storing it again would only
    add a version `docs diff` shows as unchanged."""
    found = current(conn, object_id)
    if (
        found is None
        or found.generation_status != "completed"
        or input_hash is None
        or (found.input_hash, found.generated_by_model, found.complexity_score)
        != (input_hash, generated_by_model, complexity_score)
    ):
        return None
    for column in LAYER_COLUMNS:
        new = layers.get(column)
        if new is None and column in (
            "transformation_cards",
            "code_explanations",
            "business_rules",
        ):
            new = []
        if json.loads(json.dumps(new)) != getattr(found, column):
            return None
    return found


def get(conn: Connection, documentation_id: UUID) -> Documentation:
    row = conn.execute(sa.text(f"{_SELECT} WHERE id = :i"), {"i": documentation_id}).first()
    if row is None:
        raise NotFound(f"unknown documentation {documentation_id}")
    return _doc(row)


def current(conn: Connection, object_id: UUID) -> Documentation | None:
    row = conn.execute(
        sa.text(f"{_SELECT} WHERE object_id = :o AND is_current"), {"o": object_id}
    ).first()
    return _doc(row) if row else None


def current_for_objects(conn: Connection, object_ids: list[UUID]) -> dict[UUID, Documentation]:
    if not object_ids:
        return {}
    rows = conn.execute(
        sa.text(f"{_SELECT} WHERE object_id = ANY(:ids) AND is_current"),
        {"ids": list(object_ids)},
    )
    return {r.object_id: _doc(r) for r in rows}


def history(conn: Connection, object_id: UUID) -> list[Documentation]:
    rows = conn.execute(
        sa.text(f"{_SELECT} WHERE object_id = :o ORDER BY version"), {"o": object_id}
    )
    return [_doc(r) for r in rows]


def get_version(conn: Connection, object_id: UUID, version: int) -> Documentation:
    row = conn.execute(
        sa.text(f"{_SELECT} WHERE object_id = :o AND version = :v"), {"o": object_id, "v": version}
    ).first()
    if row is None:
        raise NotFound(f"object {object_id} has no documentation version {version}")
    return _doc(row)


def make_current(conn: Connection, object_id: UUID, version: int) -> Documentation:
    """Make an existing version the current one again (rollback); history is kept."""
    target = get_version(conn, object_id, version)
    conn.execute(
        sa.text("SELECT id FROM metadata.objects WHERE id = :o FOR UPDATE"), {"o": object_id}
    )
    conn.execute(
        sa.text(
            "UPDATE metadata.object_documentation SET is_current = false, updated_at = now()"
            " WHERE object_id = :o AND is_current AND version <> :v"
        ),
        {"o": object_id, "v": version},
    )
    conn.execute(
        sa.text(
            "UPDATE metadata.object_documentation SET is_current = true, updated_at = now(),"
            " review_state = CASE WHEN review_state IN ('proposed', 'superseded') THEN 'draft'"
            " ELSE review_state END WHERE id = :i"
        ),
        {"i": target.id},
    )
    return get(conn, target.id)
